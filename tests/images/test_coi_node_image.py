"""Smoke test of coinode/image (coi-node): a Container Optimized Image VM as an unprivileged container.

One node boots with a NoCloud seed (copied in before start, as localcloud will do) and the tests check what
a COI VM gives its payload: systemd running, cloud-init applied, the docker CLI + Compose v2 on the (host)
engine, iptables with NET_ADMIN, its own container id. The last test restarts it: clean stop, bootcmd
again, runcmd not again.
"""

import os
import tempfile
import textwrap
import time
import uuid

import pytest

from support import TEST_LABEL, assert_stops_cleanly, docker, wait_for

# The run flags documented in coinode/image/README.md.
NODE_FLAGS = (
    '--cgroupns=host', '-v', '/sys/fs/cgroup:/sys/fs/cgroup:rw', '--tmpfs', '/run', '--tmpfs', '/run/lock',
    '-v', '/var/run/docker.sock:/var/run/docker.sock', '--cap-add', 'NET_ADMIN',
)
BOOT_TIMEOUT = 20

USER_DATA = textwrap.dedent('''\
    #cloud-config
    bootcmd:
      - [sh, -c, 'mkdir -p /var/lib/coi-test && echo boot >> /var/lib/coi-test/bootcmd.log']
    write_files:
      - path: /etc/coi-test/greeting.txt
        content: |
          hello from cloud-init
        owner: root:adm
        permissions: '0640'
      - path: /etc/systemd/system/coi-test-web.service
        content: |
          [Unit]
          Description=a payload service started from runcmd
          [Service]
          ExecStart=/usr/bin/python3 -m http.server --bind 127.0.0.1 8080 --directory /etc/coi-test
          [Install]
          WantedBy=multi-user.target
    runcmd:
      - [sh, -c, 'echo run >> /var/lib/coi-test/runcmd.log']
      - [systemctl, daemon-reload]
      - [systemctl, enable, --now, --no-block, coi-test-web.service]
''')


def sh(node, script, check=True):
    return docker('exec', node, 'sh', '-c', script, check=check)


def system_state(node):
    return sh(node, 'systemctl is-system-running', check=False).stdout.strip()


def wait_running(node):
    """Poll until systemd reports `running`; return the seconds it took. Fails on `degraded`."""
    started = time.monotonic()
    try:
        state = wait_for(lambda: (lambda s: s if s in ('running', 'degraded') else None)(system_state(node)),
                         timeout=BOOT_TIMEOUT, interval=0.1, what='systemctl is-system-running')
    except AssertionError:
        status = docker('inspect', '-f', '{{.State.Status}} exit={{.State.ExitCode}}', node, check=False)
        jobs = sh(node, 'systemctl is-system-running; systemctl list-jobs --no-pager', check=False)
        pytest.fail('node not booted after %d s: container %s; %s%s' % (
            BOOT_TIMEOUT, (status.stdout + status.stderr).strip(), jobs.stdout, jobs.stderr))
    if state != 'running':
        failed = sh(node, 'systemctl --failed --no-legend; journalctl -b -p warning --no-pager | tail -30',
                    check=False).stdout
        pytest.fail('node booted %s, not running:\n%s' % (state, failed))
    return time.monotonic() - started


@pytest.fixture(scope='module')
def node(image):
    """A node created with a NoCloud seed and started: {'name', 'id', 'boot_seconds'}."""
    name = 'fp-test-coi-%s' % uuid.uuid4().hex[:8]
    node_id = docker('create', '--label', TEST_LABEL, '--name', name, '--hostname', name, *NODE_FLAGS,
                     image('coi-node')).stdout.strip()
    try:
        with tempfile.TemporaryDirectory() as seed:
            with open(os.path.join(seed, 'meta-data'), 'w') as handle:
                handle.write('instance-id: iid-%s\nlocal-hostname: %s\n' % (name, name))
            with open(os.path.join(seed, 'user-data'), 'w') as handle:
                handle.write(USER_DATA)
            for part in ('meta-data', 'user-data'):
                docker('cp', os.path.join(seed, part), '%s:/var/lib/cloud/seed/nocloud/%s' % (name, part))
        docker('start', name)
        yield {'name': name, 'id': node_id, 'boot_seconds': wait_running(name)}
    finally:
        docker('rm', '-f', '-v', name, check=False)


def test_boots_to_running(node):
    assert node['boot_seconds'] < BOOT_TIMEOUT
    assert sh(node['name'], 'systemctl --failed --no-legend').stdout.strip() == ''
    assert sh(node['name'], 'systemd-detect-virt --container').stdout.strip() == 'docker'
    assert sh(node['name'], 'hostname').stdout.strip() == node['name']


def test_cloud_init_applies_the_nocloud_seed(node):
    name = node['name']
    status = sh(name, 'cloud-init status --wait --long', check=False)
    assert status.returncode == 0, status.stdout + status.stderr
    assert 'status: done' in status.stdout
    assert 'DataSourceNoCloud' in status.stdout  # the seed, not the fallback None datasource

    assert sh(name, 'cat /etc/coi-test/greeting.txt').stdout == 'hello from cloud-init\n'
    assert sh(name, 'stat -c %a:%U:%G /etc/coi-test/greeting.txt').stdout.strip() == '640:root:adm'
    assert sh(name, 'cat /var/lib/coi-test/bootcmd.log').stdout == 'boot\n'
    assert sh(name, 'cat /var/lib/coi-test/runcmd.log').stdout == 'run\n'
    # The unit written by write_files and enabled from runcmd serves.
    wait_for(lambda: 'hello from cloud-init' in sh(name, 'curl -fsS http://127.0.0.1:8080/greeting.txt',
                                                     check=False).stdout,
             timeout=10, what='the payload unit started by runcmd')


def test_docker_cli_and_compose_use_the_host_engine(node):
    name = node['name']
    host_server = docker('version', '--format', '{{.Server.Version}}').stdout.strip()
    assert sh(name, 'docker version --format "{{.Server.Version}}"').stdout.strip() == host_server
    # The node sees itself through the host engine.
    assert sh(name, 'docker inspect --format "{{.Name}}" "$(coi-node-id)"').stdout.strip() == '/' + name
    assert sh(name, 'docker compose version').stdout.startswith('Docker Compose version v2.')
    # CLI only: no engine of its own in the node.
    assert sh(name, 'command -v dockerd containerd runc', check=False).stdout.strip() == ''


def test_coi_node_id_is_the_container_id(node):
    assert sh(node['name'], 'coi-node-id').stdout.strip() == node['id']


def test_iptables_docker_user_chain_rejects_output(node):
    name = node['name']
    url = 'http://127.0.0.1:8080/greeting.txt'
    wait_for(lambda: sh(name, 'curl -fsS %s' % url, check=False).returncode == 0, timeout=10,
             what='the payload unit answering')
    # What the shs role does on a COI VM (there the target is 8.8.8.8; tests stay on loopback).
    sh(name, 'iptables -N DOCKER-USER && iptables -I OUTPUT -j DOCKER-USER && '
             'iptables -A DOCKER-USER -p tcp -d 127.0.0.1 --dport 8080 -j REJECT --reject-with tcp-reset')
    rules = sh(name, 'iptables -S DOCKER-USER').stdout
    assert '-A DOCKER-USER -d 127.0.0.1/32 -p tcp -m tcp --dport 8080 -j REJECT --reject-with tcp-reset' in rules
    assert '-A OUTPUT -j DOCKER-USER' in sh(name, 'iptables -S OUTPUT').stdout

    started = time.monotonic()
    refused = sh(name, 'curl -sS --max-time 5 %s' % url, check=False)
    assert refused.returncode == 7, refused.stderr  # 7 = could not connect
    assert time.monotonic() - started < 3  # rejected at once, not after the 5 s timeout


def test_restart_stops_cleanly_and_reruns_only_bootcmd(node):
    name = node['name']
    sh(name, 'iptables -N DOCKER-USER 2>/dev/null; iptables -A DOCKER-USER -j RETURN')
    assert_stops_cleanly(name, within=15)

    docker('start', name)
    wait_running(name)
    status = sh(name, 'cloud-init status --wait', check=False)
    assert 'status: done' in status.stdout, status.stdout + status.stderr
    assert sh(name, 'cat /var/lib/coi-test/bootcmd.log').stdout == 'boot\nboot\n'  # every boot
    assert sh(name, 'cat /var/lib/coi-test/runcmd.log').stdout == 'run\n'  # once per instance-id
    assert sh(name, 'systemctl is-enabled coi-test-web.service').stdout.strip() == 'enabled'
    # A restart is a new network namespace: iptables rules are gone (so rules belong in bootcmd).
    assert sh(name, 'iptables -S DOCKER-USER', check=False).returncode != 0
    assert sh(name, 'coi-node-id').stdout.strip() == node['id']

    assert_stops_cleanly(name, within=15)
