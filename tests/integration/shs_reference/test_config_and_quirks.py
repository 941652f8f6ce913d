"""In-process checks of the service's config loading and quirk schedules (no container needed)."""

import importlib.util
import os
import sys

import pytest
import yaml

from support import REPO_ROOT


def _image_package(name, context):
    """A package of an image's build context, loaded by file location: it runs inside the image, nothing installs it
    on the test machine (and the context is not put on the import path)."""
    directory = os.path.join(REPO_ROOT, context, name)
    spec = importlib.util.spec_from_file_location(name, os.path.join(directory, '__init__.py'),
                                                  submodule_search_locations=[directory])
    package = importlib.util.module_from_spec(spec)
    sys.modules[name] = package
    spec.loader.exec_module(package)
    return package


_image_package('shs_reference', 'files/images/shs')
from shs_reference import config  # noqa: E402
from shs_reference.quirks import Quirks  # noqa: E402


def load(tmp_path, data, env=None):
    path = tmp_path / 'config.yaml'
    path.write_text(yaml.safe_dump(data) if not isinstance(data, str) else data)
    return config.load(str(path), environ=env or {})


def test_bingo_config_works_unchanged(tmp_path):
    cfg = load(tmp_path, {'student_email': 'a@b.c', 'postgres_cluster': {
        'hosts': [{'address': 'db', 'port': 5432}], 'user': 'u', 'password': 'p', 'db_name': 'd',
        'ssl_mode': 'disable', 'use_closest_node': False}})
    assert cfg['http_port'] == config.derived_port('a@b.c')
    assert 10000 <= cfg['http_port'] < 50000
    assert cfg['quirks']['rps_limit'] == 0 and cfg['startup_request']['url'] == ''


@pytest.mark.parametrize('data,needle', [
    ('[1, 2]', 'YAML mapping'),
    ('student_email: ""', 'student_email'),
    ({'postgres_cluster': {'hosts': []}}, 'hosts'),
    ({'postgres_cluster': {'hosts': [{'address': 'x', 'port': 'y'}]}}, 'port'),
    ({'postgres_cluster': {'ssl_mode': 'maybe'}}, 'ssl_mode'),
    ({'postgres_cluster': 'db'}, 'postgres_cluster must be a mapping'),
    ({'http_port': 70000}, 'http_port'),
    ({'quirks': {'rps_limit': -1}}, 'rps_limit'),
    ({'quirks': {'crash': {'min_seconds': 'soon'}}}, 'min_seconds'),
    ({'quirks': {'crash': {'enabled': 'yes please'}}}, 'enabled'),
    ({'quirks': {'sick_ping': {'sick_seconds': [5, 1]}}}, 'sick_seconds'),
    ({'startup_request': {'timeout': 'long'}}, 'timeout'),
    ('student_email: [', 'failed to read config data'),
])
def test_invalid_config_is_a_config_error(tmp_path, data, needle):
    with pytest.raises(config.ConfigError, match=needle):
        load(tmp_path, data)


def test_empty_sections_keep_defaults_and_env_overrides(tmp_path):
    cfg = load(tmp_path, 'quirks:\nstartup_request:\n', env={
        'SHS_HTTP_PORT': '18000', 'SHS_STARTUP_URL': 'http://127.0.0.1:1/', 'SHS_QUIRK_SICK_PING': 'on',
        'SHS_QUIRK_SICK_DURATION': '2,4', 'SHS_QUIRK_SICK_HEALTHY': '3', 'SHS_QUIRK_LEAK_BYTES': '10'})
    assert cfg['http_port'] == 18000 and cfg['startup_request'] == {'url': 'http://127.0.0.1:1/', 'timeout': 30}
    assert cfg['quirks']['sick_ping'] == {'enabled': True, 'healthy_seconds': [3.0, 3.0], 'sick_seconds': [2.0, 4.0]}
    assert cfg['quirks']['leak_bytes_per_request'] == 10
    assert config.masked(cfg)['postgres_cluster']['password'] == config.MASK
    assert cfg['postgres_cluster']['password'] == 'postgres'  # masking copies


def quirks(clock, **overrides):
    cfg = config.defaults()
    for key, value in overrides.items():
        cfg['quirks'][key] = value
    return Quirks(cfg, clock=clock)


def test_sick_spells_follow_the_schedule():
    now = [100.0]
    q = quirks(lambda: now[0], seed=3,
               sick_ping={'enabled': True, 'healthy_seconds': [10, 10], 'sick_seconds': [2, 2]})
    states = []
    for t in range(0, 30):
        now[0] = 100.0 + t + 0.5
        states.append(q.ping_is_sick())
    # healthy 0-10 s, sick 10-12 s, healthy 12-22 s, sick 22-24 s, ...
    assert [t for t, sick in enumerate(states) if sick] == [10, 11, 22, 23]


def test_rps_limit_window_and_seeded_crash():
    now = [50.2]
    q = quirks(lambda: now[0], rps_limit=3, seed=11, crash={'enabled': True, 'after': None,
                                                            'min_seconds': 600, 'max_seconds': 1500})
    assert [q.over_rps_limit() for _ in range(5)] == [False, False, False, True, True]
    now[0] = 51.0  # next second: a fresh window
    assert not q.over_rps_limit()
    assert 600 <= q.crash_after <= 1500 and q.crash_code != 0
    again = quirks(lambda: 0.0, seed=11, crash={'enabled': True, 'after': None, 'min_seconds': 600,
                                                'max_seconds': 1500})
    assert (again.crash_after, again.crash_code) == (q.crash_after, q.crash_code)


def test_everything_off_by_default():
    q = quirks(lambda: 0.0)
    assert not q.crash_enabled and not q.ping_is_sick() and not q.over_rps_limit()
    q.leak()
    assert q.leaked_bytes == 0
