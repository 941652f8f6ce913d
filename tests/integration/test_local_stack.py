"""`make up`'s playbook: PostgreSQL + two SHS instances on loopback, idempotent, check mode safe, `down` cleans up."""

import os
import re
import subprocess
import sys

import requests

from support import REPO_ROOT, ansible_env, docker, free_port

PLAYBOOK = os.path.join(REPO_ROOT, 'playbooks', 'local_stack.yml')


def run_playbook(*args):
    result = subprocess.run([os.path.join(os.path.dirname(sys.executable), 'ansible-playbook'), PLAYBOOK, *args],
                            cwd=REPO_ROOT, env=ansible_env(), text=True, capture_output=True, timeout=600)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    recap = re.search(r'localhost\s+:\s+ok=(\d+)\s+changed=(\d+)', result.stdout)
    return result.stdout, int(recap.group(2))


def test_the_playbook_has_no_templates_or_tools_of_its_own():
    """It renders through the roles: no copy of the app's config template, nothing reached in tools/."""
    with open(PLAYBOOK) as handle:
        text = handle.read()
    assert 'tools/' not in text and 'filmopoisk.shs.shs' in text
    assert not os.path.exists(os.path.join(REPO_ROOT, 'playbooks', 'templates', 'local_stack', 'config.yaml.j2'))


def test_up_is_idempotent_serves_and_down_removes_everything(tmp_path):
    project = 'fp-test-stack-%d' % os.getpid()
    ports = [free_port(), free_port()]
    extra = ['-e', '{"local_stack_project": "%s", "local_stack_dir": "%s", "local_stack_postgres_port": %d,'
             ' "local_stack_shs_ports": [%d, %d]}' % (project, tmp_path / 'stack', free_port(), *ports)]
    try:
        output, changed = run_playbook(*extra)
        assert changed > 0
        for port in ports:
            assert requests.get('http://127.0.0.1:%d/ping' % port, timeout=5).text == 'pong'
            session = requests.get('http://127.0.0.1:%d/api/session/1' % port, timeout=5).json()
            assert session['id'] == 1 and {'start_time', 'customer_id', 'movie_id'} <= set(session)
        password = (tmp_path / 'stack' / 'secrets' / 'postgres_password').read_text().strip()
        assert len(password) == 32 and password not in output
        # The stack runs what the roles render: config.yaml is the shs role's, the images the roles' defaults.
        config = (tmp_path / 'stack' / 'shs-1' / 'opt' / 'bingo' / 'config.yaml').read_text()
        assert config.startswith('# Managed by filmopoisk.shs.shs\n') and password in config
        images = {c: docker('inspect', '-f', '{{.Config.Image}}', '%s-%s-1' % (project, c)).stdout.strip()
                  for c in ('postgres', 'shs-1')}
        assert images == {'postgres': 'filmopoisk/postgres:latest', 'shs-1': 'filmopoisk/shs:latest'}

        output, changed = run_playbook(*extra)
        assert changed == 0, output[-3000:]
        output, changed = run_playbook('--check', *extra)
        assert changed == 0, output[-3000:]
    finally:
        run_playbook('-e', 'local_stack_state=absent', *extra)
    left = docker('ps', '-aq', '--filter', 'label=com.docker.compose.project=' + project).stdout.split()
    assert left == []
    assert docker('volume', 'ls', '-q', '--filter', 'label=com.docker.compose.project=' + project).stdout.split() == []
    assert not (tmp_path / 'stack').exists()
