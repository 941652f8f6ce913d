"""Helpers for tests: docker CLI, free ports, polling, a PostgreSQL container. Import with `from support import ...`."""

import json
import os
import random
import socket
import subprocess
import sys
import time
import uuid

# Everything a test run starts carries this label; the value is per run, so parallel runs never
# clean up each other's containers.
TEST_LABEL = 'org.filmopoisk.test=%s' % uuid.uuid4().hex[:12]


def docker(*args, check=True, timeout=120):
    """Run the docker CLI; return CompletedProcess with text stdout/stderr."""
    return subprocess.run(['docker'] + list(args), check=check, text=True, timeout=timeout,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def free_port():
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def free_listener_port():
    """A free loopback port a network load balancer listener may have: YC allows 1-32767
    (network_load_balancer_service.proto), below Linux's ephemeral range, where free_port() picks."""
    while True:
        port = random.randint(20000, 32000)
        with socket.socket() as sock:
            try:
                sock.bind(('127.0.0.1', port))
            except OSError:
                continue
            return port


def wait_for(predicate, timeout, interval=0.2, what='condition'):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            result = predicate()
            if result:
                return result
        except Exception as exc:  # keep polling; report the last error on timeout
            last = exc
        time.sleep(interval)
    raise AssertionError('timed out after %ss waiting for %s (last error: %r)' % (timeout, what, last))


class Postgres:
    """A running PostgreSQL container published on 127.0.0.1:port."""

    def __init__(self, name, port, user, password, db):
        self.name, self.port, self.user, self.password, self.db = name, port, user, password, db
        self.host = '127.0.0.1'

    def psql(self, sql, db=None, check=True):
        """Run SQL inside the container as the superuser; return stdout (unaligned, tuples only)."""
        result = docker('exec', '-e', 'PGPASSWORD=' + self.password, self.name, 'psql', '-h', '127.0.0.1',
                        '-U', self.user, '-d', db or self.db, '-v', 'ON_ERROR_STOP=1', '-At', '-c', sql,
                        check=check)
        return result.stdout.strip()

    @property
    def dsn(self):
        return 'postgresql://%s:%s@%s:%s/%s' % (self.user, self.password, self.host, self.port, self.db)


def start_postgres(image_ref, user='shs', password=None, db='shs', extra_args=()):
    password = password or uuid.uuid4().hex
    name = 'fp-test-pg-%s' % uuid.uuid4().hex[:8]
    docker('run', '-d', '--label', TEST_LABEL, '--name', name, '-p', '127.0.0.1::5432',
           '-e', 'POSTGRES_USER=' + user, '-e', 'POSTGRES_PASSWORD=' + password, '-e', 'POSTGRES_DB=' + db,
           *extra_args, image_ref)
    port = int(docker('port', name, '5432/tcp').stdout.strip().splitlines()[0].rsplit(':', 1)[1])
    pg = Postgres(name, port, user, password, db)
    wait_for(lambda: docker('exec', name, 'pg_isready', '-h', '127.0.0.1', '-U', user, '-d', db,
                            check=False).returncode == 0, timeout=60, what='postgres ready')
    return pg


REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def ansible_env():
    """Environment for running ansible-playbook from the checkout (filmopoisk.shs resolves via .collections)."""
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(REPO_ROOT, 'ansible.cfg'),
               ANSIBLE_NOCOLOR='1', ANSIBLE_FORCE_COLOR='0')
    env['PATH'] = os.path.dirname(sys.executable) + os.pathsep + env.get('PATH', '')
    return env


def render_role(tmp_path, role, fact, role_vars, check=True):
    """Run filmopoisk.shs.<role> in a throwaway playbook; return (CompletedProcess, fact value or None)."""
    out = tmp_path / ('%s.json' % fact)
    playbook = tmp_path / 'render.yml'
    playbook.write_text(json.dumps([{
        'hosts': 'localhost', 'gather_facts': False,
        'tasks': [
            {'ansible.builtin.include_role': {'name': 'filmopoisk.shs.' + role}, 'vars': role_vars},
            {'ansible.builtin.copy': {'content': '{{ %s | to_json }}' % fact, 'dest': str(out), 'mode': '0600'}},
        ]}]))
    result = subprocess.run([os.path.join(os.path.dirname(sys.executable), 'ansible-playbook'), str(playbook)],
                            cwd=REPO_ROOT, env=ansible_env(), text=True, capture_output=True, timeout=120)
    if check and result.returncode != 0:
        raise AssertionError('rendering %s failed:\n%s\n%s' % (role, result.stdout[-3000:], result.stderr[-2000:]))
    value = json.loads(out.read_text()) if result.returncode == 0 else None
    return result, value


def assert_stops_cleanly(name, within, grace=30):
    """`docker stop` of a container finishes in under `within` seconds with exit code 0."""
    started = time.monotonic()
    docker('stop', '-t', str(grace), name, timeout=grace + 30)
    took = time.monotonic() - started
    assert took < within, 'docker stop took %.1f s' % took
    assert docker('inspect', '-f', '{{.State.ExitCode}}', name).stdout.strip() == '0'


def wait_operation_done(sdk, operation_id, timeout=30):
    """Wait until the API reports the operation done (OperationService.Get); return the operation."""
    from yandex.cloud.operation.operation_service_pb2 import GetOperationRequest
    from yandex.cloud.operation.operation_service_pb2_grpc import OperationServiceStub
    stub = sdk.client(OperationServiceStub)
    return wait_for(lambda: (lambda op: op.done and op)(stub.Get(GetOperationRequest(operation_id=operation_id))),
                    timeout, interval=0.2, what='operation %s done' % operation_id)
