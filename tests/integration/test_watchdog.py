"""The watchdog program against real containers of the SHS image on this machine's Docker engine.

Each test renders roles/watchdog (ansible-playbook, include_role) for a container of a unique compose
project, runs the program and the settings file the fragment delivers on the host with python3 (as the unit
does: --config), and breaks the app: kill -9, a hung process, memory over the limit. Traffic goes to
127.0.0.1 only. Decoys (same service label, another project) must stay untouched.
"""

import calendar
import hashlib
import http.client
import json
import os
import re
import signal
import subprocess
import sys
import time
import uuid

import pytest

from support import docker, free_port, render_role, wait_for

# The interpreter the unit uses on a VM (watchdog_python); the test venv's python as a fallback.
PYTHON = '/usr/bin/python3' if os.path.exists('/usr/bin/python3') else sys.executable
APP_PORT = 8080
EMAIL = 'watchdog@filmopoisk.test'
RECOVERY_BUDGET = 10.0  # s: kill -9 of the app -> /ping healthy again


def render_script(tmp_path, **role_vars):
    """Render the role with these watchdog_* vars; return the paths of the program and of its settings file
    as the fragment delivers them."""
    _, payload = render_role(tmp_path, 'watchdog', 'watchdog_payload',
                             {'watchdog_' + k: v for k, v in role_vars.items()})
    files = {item['path']: item['content'] for item in payload['files']}
    script, config = tmp_path / 'shs-watchdog.py', tmp_path / 'shs-watchdog.json'
    script.write_text(files['/usr/local/lib/filmopoisk/shs-watchdog.py'])  # the role's default paths
    script.chmod(0o755)
    config.write_text(files['/etc/filmopoisk/shs-watchdog.json'])
    return script, config


class Watchdog:
    """The program running on the host like its unit runs it; its log (stderr) goes to a file the test reads."""

    def __init__(self, rendered, log_path, extra_env=None):
        script, config = rendered
        self.log_path = log_path
        self._log = open(log_path, 'w')
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(('SHS_WATCHDOG_', 'JOURNAL_STREAM', 'COMPOSE_PROJECT_NAME'))}
        env.update(extra_env or {})
        self.proc = subprocess.Popen([PYTHON, '-u', str(script), '--config', str(config)], stdout=self._log,
                                     stderr=subprocess.STDOUT, env=env)
        self.wait_log(r'started: checking', timeout=15)

    def log(self):
        with open(self.log_path) as handle:
            return handle.read()

    def wait_log(self, pattern, timeout=30, after=0):
        """The first log line (after character offset `after`) matching pattern."""
        def find():
            assert self.proc.poll() is None, 'watchdog exited (%s):\n%s' % (self.proc.returncode, self.log())
            match = re.search('^.*' + pattern + '.*$', self.log()[after:], re.M)
            return match.group(0) if match else None
        return wait_for(find, timeout=timeout, interval=0.1, what='watchdog log /%s/' % pattern)

    def terminate(self):
        """SIGTERM; returns (exit code, seconds it took)."""
        started = time.monotonic()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = self.proc.wait()
        self._log.close()
        return code, time.monotonic() - started


@pytest.fixture
def watchdogs():
    started = []

    def run(rendered, log_path, extra_env=None):
        wd = Watchdog(rendered, log_path, extra_env)
        started.append(wd)
        return wd
    yield run
    for wd in started:
        wd.terminate()
        print('--- watchdog log (%s) ---\n%s' % (wd.log_path, wd.log()))


def ping(port, timeout=1.0):
    conn = http.client.HTTPConnection('127.0.0.1', port, timeout=timeout)
    try:
        conn.request('GET', '/ping')
        response = conn.getresponse()
        return response.status == 200 and response.read().decode().strip() == 'pong'
    except (OSError, http.client.HTTPException):
        return False
    finally:
        conn.close()


def compose_labels(project, service='shs'):
    return ['--label', 'com.docker.compose.project=' + project, '--label', 'com.docker.compose.service=' + service,
            '--label', 'com.docker.compose.oneoff=False']


def start_app(container, image_ref, project, port, env=()):
    """The SHS reference service as compose would label it, published on 127.0.0.1:port."""
    log_dir = '/opt/bongo/logs/' + hashlib.sha1(EMAIL.encode()).hexdigest()[:10]
    boot = ('mkdir -p %s && printf "student_email: %s\\n" > /tmp/config.yaml && exec /app/bingo run_server'
            % (log_dir, EMAIL))
    args = compose_labels(project) + ['-p', '127.0.0.1:%d:%d' % (port, APP_PORT), '-e', 'SHS_CONFIG=/tmp/config.yaml',
                                      '-e', 'SHS_HTTP_PORT=%d' % APP_PORT]
    for item in env:
        args += ['-e', item]
    name = container(image_ref, *args, cmd=['sh', '-c', boot], name='fp-test-wd-%s' % uuid.uuid4().hex[:8])
    wait_for(lambda: ping(port), timeout=60, what='the app answering /ping on 127.0.0.1:%d' % port)
    return name


def state(name):
    return json.loads(docker('inspect', '--format', '{{json .State}}', name).stdout)


def started_at(name):
    """State.StartedAt as a Unix time (Docker writes RFC 3339 with nanoseconds)."""
    stamp = state(name)['StartedAt']
    whole, _, fraction = stamp.rstrip('Z').partition('.')
    return calendar.timegm(time.strptime(whole, '%Y-%m-%dT%H:%M:%S')) + float('0.' + (fraction or '0'))


def container_id(name):
    return docker('inspect', '--format', '{{.Id}}', name).stdout.strip()


def wait_healthy(port, timeout):
    started = time.monotonic()
    wait_for(lambda: ping(port, timeout=0.5), timeout=timeout, interval=0.05, what='/ping healthy again')
    return time.monotonic() - started


@pytest.fixture
def project():
    return 'fp-wd-%s' % uuid.uuid4().hex[:10]


def test_kill_9_recovers_within_10_s_and_other_projects_are_untouched(image, container, watchdogs, project,
                                                                      tmp_path):
    shs = image('shs')
    port = free_port()
    app = start_app(container, shs, project, port)
    app_id = container_id(app)
    other = project + '-other'
    decoy_running = container(shs, *compose_labels(other), cmd=['sleep', 'infinity'])
    decoy_exited = container(shs, *compose_labels(other), cmd=['true'])
    wait_for(lambda: state(decoy_exited)['Status'] == 'exited', timeout=30, what='decoy exited')
    decoy_before = {name: state(name) for name in (decoy_running, decoy_exited)}

    # Defaults of the role (interval 3 s, timeout 2 s, 2 failures, grace 10 s) except where the app is.
    rendered = render_script(tmp_path, port=port, project=project)
    wd = watchdogs(rendered, tmp_path / 'watchdog.log')

    times = []
    for round_ in range(3):
        offset = len(wd.log())
        time.sleep(1.0 + round_)  # different phases relative to the 3 s check schedule
        docker('kill', '-s', 'KILL', app)
        times.append(wait_healthy(port, timeout=30))
        line = wd.wait_log(r'starting container ', timeout=5, after=offset)
        assert app_id[:12] in line and 'name %s' % app in line and 'project %s' % project in line, line
        assert '/ping failed:' in line and 'the container is exited (exit code 137)' in line, line
        wd.wait_log(r'answers /ping again', timeout=10, after=offset)
    print('kill -9 -> /ping healthy again: %s s' % ', '.join('%.2f' % t for t in times))
    assert max(times) < RECOVERY_BUDGET, times

    for name, before in decoy_before.items():
        after = state(name)
        assert (after['Status'], after['StartedAt']) == (before['Status'], before['StartedAt']), name
    log = wd.log()
    assert container_id(decoy_running)[:12] not in log and container_id(decoy_exited)[:12] not in log

    code, took = wd.terminate()
    assert code == 0 and took < 5, (code, took)
    assert re.search(r'stopping on SIGTERM$', wd.log(), re.M)


def test_hung_app_is_restarted_after_consecutive_failures(image, container, watchdogs, project, tmp_path):
    port = free_port()
    app = start_app(container, image('shs'), project, port)
    started_before = state(app)['StartedAt']
    # Role defaults (3 s / 2 s / 2 failures / restart -t 3) but a shorter grace, so the test need not wait 10 s.
    rendered = render_script(tmp_path, port=port, project=project, startup_grace=3)
    wd = watchdogs(rendered, tmp_path / 'watchdog.log')
    # past the startup grace of the freshly started container (the watchdog counts it from State.StartedAt)
    wait_for(lambda: time.time() - started_at(app) > 3, timeout=30, interval=0.1, what='the startup grace over')

    pid = state(app)['Pid']
    os.kill(pid, signal.SIGSTOP)  # hung: the port still accepts connections, nothing answers
    took = wait_healthy(port, timeout=40)
    print('SIGSTOP (hung app) -> /ping healthy again: %.2f s' % took)
    line = wd.wait_log(r'restarting container ', timeout=5)
    assert 'name %s' % app in line and '2 consecutive /ping failures: no answer within 2 s' in line, line
    assert re.search(r'/ping failed \(1/2\): no answer within 2 s', wd.log())
    assert state(app)['StartedAt'] != started_before
    # interval 3 + 2 failed checks (2 s timeout each) + docker restart -t 3 + boot: well under 20 s
    assert took < 20


def test_memory_limit_restarts_the_container(image, container, watchdogs, project, tmp_path):
    port = free_port()
    app = start_app(container, image('shs'), project, port)
    started_before = state(app)['StartedAt']
    rendered = render_script(tmp_path, port=port, project=project, memory_limit_mb=1, startup_grace=2, interval=1)
    wd = watchdogs(rendered, tmp_path / 'watchdog.log')
    line = wd.wait_log(r'restarting container .*memory usage', timeout=20)
    assert 'name %s' % app in line and re.search(r'memory usage [\d.]+ MiB is over the limit of 1 MiB', line), line
    wait_healthy(port, timeout=15)
    assert state(app)['StartedAt'] != started_before


def test_without_a_project_an_ambiguous_match_is_never_touched(image, container, watchdogs, project, tmp_path):
    shs = image('shs')
    port = free_port()
    app = start_app(container, shs, project, port)
    container(shs, *compose_labels(project + '-other'), cmd=['sleep', 'infinity'])
    rendered = render_script(tmp_path, port=port, project='', interval=1, timeout=1)
    wd = watchdogs(rendered, tmp_path / 'watchdog.log')
    docker('kill', '-s', 'KILL', app)
    killed = state(app)
    line = wd.wait_log(r'compose projects .* have service shs: not touching any', timeout=10)
    assert project in line and project + '-other' in line, line
    # checked on past the point where it would have acted (watchdog_failures, 2 by default): still hands off
    wd.wait_log(r'/ping failed \(3 in a row\)', timeout=15)
    assert state(app)['Status'] == 'exited' and state(app)['StartedAt'] == killed['StartedAt']
    assert 'starting container' not in wd.log() and 'restarting container' not in wd.log()


def test_compose_project_name_from_the_environment_picks_this_hosts_container(image, container, watchdogs,
                                                                              project, tmp_path):
    """With watchdog_project empty, COMPOSE_PROJECT_NAME (a local COI node's /etc/environment) names the
    project: among two projects with service shs only that project's container is restarted."""
    shs = image('shs')
    port = free_port()
    app = start_app(container, shs, project, port)
    other = container(shs, *compose_labels(project + '-other'), cmd=['sleep', 'infinity'])
    other_before = state(other)
    rendered = render_script(tmp_path, port=port, project='', interval=1, timeout=1)
    wd = watchdogs(rendered, tmp_path / 'watchdog.log', {'COMPOSE_PROJECT_NAME': project})
    docker('kill', '-s', 'KILL', app)
    line = wd.wait_log(r'starting container', timeout=10)
    assert 'project %s)' % project in line, line
    wait_healthy(port, 10)
    wd.wait_log(r'answers /ping again', timeout=10)  # the incident is over for the watchdog too
    assert state(other)['Running'] and 'not touching any' not in wd.log()
    assert state(other)['StartedAt'] == other_before['StartedAt']  # not restarted either
