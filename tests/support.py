"""Helpers for tests: docker CLI, free ports, polling, a PostgreSQL container. Import with `from support import ...`."""

import socket
import subprocess
import time
import uuid

TEST_LABEL = 'org.filmopoisk.test=1'


def docker(*args, check=True, timeout=120):
    """Run the docker CLI; return CompletedProcess with text stdout/stderr."""
    return subprocess.run(['docker'] + list(args), check=check, text=True, timeout=timeout,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def free_port():
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


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
