"""Fixtures shared by every test: images built from files/images, a real PostgreSQL, containers.

Helpers (docker, free_port, wait_for, start_postgres, ...) live in tests/support.py:
`from support import docker, wait_for`. Everything a test starts is labelled
with support.TEST_LABEL (unique per run) and removed when the test session ends.
"""

import uuid

import pytest

import images  # tools/images.py (tools/ is in pytest.ini's pythonpath)
from support import TEST_LABEL, docker, start_postgres

pytest_plugins = ['localcloud_fixture']


@pytest.fixture(scope='session')
def image():
    """image('shs') -> tag of the built image (built once per session, reused when unchanged)."""
    built = {}

    def get(name):
        if name not in built:
            built[name] = images.build(name, quiet=True)
        return built[name]
    return get


@pytest.fixture(scope='session', autouse=True)
def _cleanup_test_containers():
    yield
    ids = docker('ps', '-aq', '--filter', 'label=' + TEST_LABEL, check=False).stdout.split()
    if ids:
        docker('rm', '-f', '-v', *ids, check=False)


@pytest.fixture
def container(request):
    """container(image, *docker_run_args, cmd=[...]) -> container id; removed after the test."""
    started = []

    def run(ref, *args, cmd=(), name=None):
        name = name or 'fp-test-%s' % uuid.uuid4().hex[:8]
        docker('run', '-d', '--label', TEST_LABEL, '--name', name, *args, ref, *cmd)
        started.append(name)
        return name
    yield run
    for name in started:
        docker('rm', '-f', '-v', name, check=False)


@pytest.fixture(scope='session')
def postgres(image):
    """One PostgreSQL for the whole session (tests that need a fresh one use start_postgres)."""
    pg = start_postgres(image('postgres'))
    yield pg
    docker('rm', '-f', '-v', pg.name, check=False)
