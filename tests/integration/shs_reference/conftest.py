"""Fixtures for the SHS reference service tests: the image, databases, running services."""

import uuid

import pytest

from shs_helpers import SMALL, Layout, Services, make_config
from support import TEST_LABEL, docker


@pytest.fixture(scope='session')
def shs_image(image):
    return image('shs')


def _run_oneshot(shs_image, args, cmd, timeout=120):
    return docker('run', '--rm', '--label', TEST_LABEL, '--network', 'host', *args, shs_image, *cmd,
                  check=False, timeout=timeout)


@pytest.fixture(scope='session')
def run_bingo(shs_image):
    """run_bingo(layout_or_None, *bingo_args, docker_args=(), env={}) -> CompletedProcess (container removed)."""
    def run(layout, *args, docker_args=(), env=None):
        env_args = [a for k, v in (env or {}).items() for a in ('-e', '%s=%s' % (k, v))]
        mounts = layout.mounts if layout else []
        return _run_oneshot(shs_image, [*mounts, *env_args, *docker_args], ['/app/bingo', *args])
    return run


@pytest.fixture(scope='session')
def new_db(postgres):
    """new_db() -> name of a new, empty database in the session PostgreSQL."""
    def make():
        name = 'shs_%s' % uuid.uuid4().hex[:10]
        postgres.psql('CREATE DATABASE %s' % name)
        return name
    return make


@pytest.fixture(scope='session')
def tmp_root(tmp_path_factory):
    def make(prefix='opt'):
        return str(tmp_path_factory.mktemp(prefix))
    return make


@pytest.fixture(scope='session')
def prepare(run_bingo, postgres, tmp_root):
    """prepare(db, **counts) -> CompletedProcess of `bingo prepare_db` with explicit counts."""
    def run(db, customers=SMALL['customers'], movies=SMALL['movies'], sessions=SMALL['sessions']):
        layout = Layout(tmp_root(), make_config(postgres, db))
        return run_bingo(layout, 'prepare_db', '--customers', str(customers), '--movies', str(movies),
                         '--sessions', str(sessions))
    return run


@pytest.fixture
def services(shs_image, postgres, tmp_root):
    pool = Services(shs_image, postgres, tmp_root)
    yield pool
    pool.cleanup()


@pytest.fixture(scope='module')
def module_services(shs_image, postgres, tmp_root):
    pool = Services(shs_image, postgres, tmp_root)
    yield pool
    pool.cleanup()


@pytest.fixture(scope='session')
def prepared_db(new_db, prepare):
    """A database prepared once with the SMALL counts (tests must not change its seeded rows)."""
    db = new_db()
    result = prepare(db)
    assert result.returncode == 0, result.stdout + result.stderr
    return db
