"""Helpers for the SHS reference service tests (fixtures in conftest.py use them).

Every service runs from the image as its non-root user with `--network host`, bound to 127.0.0.1
on a free port, with its config bind-mounted at /opt/bingo/config.yaml and a log directory at
/opt/bongo/logs; it talks to the session PostgreSQL (a fresh database per use, so tests never
see each other's data).
"""

import hashlib
import json
import os
import time
import uuid

import requests
import yaml

from support import TEST_LABEL, docker, free_port, wait_for

# No proxy from the environment: every request goes straight to 127.0.0.1.
http = requests.Session()
http.trust_env = False

# Small enough to prepare in well under a second; sessions just above the list LIMIT (100000).
SMALL = {'customers': 2000, 'movies': 300, 'sessions': 100050}


def log_dir_name(email):
    return hashlib.sha1(email.encode()).hexdigest()[:10]


def make_config(pg, db, **extra):
    cfg = {
        'student_email': 'student-%s@example.com' % uuid.uuid4().hex[:6],
        'postgres_cluster': {
            'hosts': [{'address': pg.host, 'port': pg.port}],
            'user': pg.user, 'password': pg.password, 'db_name': db,
            'ssl_mode': 'disable', 'use_closest_node': False,
        },
        'http_host': '127.0.0.1',
        'http_port': free_port(),
    }
    cfg.update(extra)
    return cfg


class Layout:
    """A host directory laid out like a node's /opt: bingo/config.yaml and bongo/logs/<hash>/."""

    def __init__(self, root, cfg, make_log_dir=True):
        self.root = root
        self.cfg = cfg
        self.config_dir = os.path.join(root, 'bingo')
        self.logs = os.path.join(root, 'bongo', 'logs')
        os.makedirs(self.config_dir, exist_ok=True)
        os.makedirs(self.logs, exist_ok=True)
        with open(os.path.join(self.config_dir, 'config.yaml'), 'w') as handle:
            yaml.safe_dump(cfg, handle)
        self.log_dir = os.path.join(self.logs, log_dir_name(cfg['student_email']))
        if make_log_dir:
            os.makedirs(self.log_dir, exist_ok=True)
        # The image user (uid 10001) reads the config and writes the logs.
        for dirpath, dirnames, filenames in os.walk(root):
            os.chmod(dirpath, 0o777)
            for name in filenames:
                os.chmod(os.path.join(dirpath, name), 0o666)

    @property
    def mounts(self):
        return ['-v', '%s:/opt/bingo:ro' % self.config_dir, '-v', '%s:/opt/bongo/logs' % self.logs]

    @property
    def log_file(self):
        return os.path.join(self.log_dir, 'main.log')

    def log_records(self):
        try:
            with open(self.log_file) as handle:
                return [json.loads(line) for line in handle if line.strip()]
        except FileNotFoundError:
            return []


class Service:
    """A running service container."""

    def __init__(self, name, layout, started):
        self.name = name
        self.layout = layout
        self.started = started  # time.monotonic() just before `docker run`
        self.base = 'http://127.0.0.1:%d' % layout.cfg['http_port']

    def url(self, path):
        return self.base + path

    def get(self, path, **kw):
        return http.get(self.url(path), timeout=kw.pop('timeout', 15), **kw)

    def request(self, method, path, **kw):
        return http.request(method, self.url(path), timeout=kw.pop('timeout', 15), **kw)

    def state(self):
        out = docker('inspect', '--format', '{{.State.Status}} {{.State.ExitCode}}', self.name).stdout.split()
        return out[0], int(out[1])

    def answers(self):
        try:
            return http.get(self.url('/'), timeout=1).status_code == 200
        except requests.RequestException:
            status, code = self.state()
            if status == 'exited':
                raise AssertionError('service exited with %d:\n%s' % (code, self.logs()))
            return False

    def wait_ready(self, timeout=20):
        wait_for(self.answers, timeout=timeout, interval=0.05, what='%s answering' % self.name)
        return time.monotonic() - self.started

    def logs(self):
        result = docker('logs', self.name, check=False)
        return result.stdout + result.stderr

    def rss_kib(self):
        status = docker('exec', self.name, 'cat', '/proc/1/status').stdout
        return int(next(line.split()[1] for line in status.splitlines() if line.startswith('VmRSS:')))


class Services:
    """Starts service containers; removes them at teardown."""

    def __init__(self, shs_image, postgres, tmp_root):
        self.shs_image, self.postgres, self.tmp_root = shs_image, postgres, tmp_root
        self.names = []

    def start(self, db, config=None, env=None, docker_args=(), wait=True, make_log_dir=True):
        cfg = make_config(self.postgres, db, **(config or {}))
        layout = Layout(self.tmp_root(), cfg, make_log_dir=make_log_dir)
        name = 'fp-test-shs-%s' % uuid.uuid4().hex[:8]
        env_args = [a for k, v in (env or {}).items() for a in ('-e', '%s=%s' % (k, v))]
        started = time.monotonic()
        docker('run', '-d', '--label', TEST_LABEL, '--name', name, '--network', 'host',
               *layout.mounts, *env_args, *docker_args, self.shs_image)
        self.names.append(name)
        service = Service(name, layout, started)
        if wait:
            service.wait_ready()
        return service

    def cleanup(self):
        if self.names:
            docker('rm', '-f', '-v', *self.names, check=False)
