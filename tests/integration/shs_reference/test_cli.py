"""The image and the command line: bingo's commands, config handling, refusals."""

import hashlib
import json

import yaml

from shs_helpers import Layout, log_dir_name, make_config
from support import docker


def test_image_contract(shs_image):
    info = json.loads(docker('image', 'inspect', shs_image).stdout)[0]['Config']
    assert info['Cmd'] == ['/app/bingo', 'run_server']
    assert info['User'] == '10001:10001'
    out = docker('run', '--rm', '--entrypoint', 'sh', shs_image, '-c',
                 'id -un; id -u; test -d /opt/bingo && test -d /opt/bongo/logs && echo dirs-ok').stdout.split()
    assert out == ['bingo', '10001', 'dirs-ok']


def test_bare_run_prints_hello_world(run_bingo):
    result = run_bingo(None)
    assert (result.returncode, result.stdout) == (0, 'Hello world\n')


def test_help_version_completion(run_bingo):
    commands = ['completion', 'help', 'prepare_db', 'print_current_config', 'print_default_config',
                'run_server', 'version']
    for args in (['help'], ['--help'], ['-h']):
        result = run_bingo(None, *args)
        assert result.returncode == 0
        assert all(c in result.stdout for c in commands), result.stdout
    version = run_bingo(None, 'version')
    assert version.returncode == 0 and 'shs-reference' in version.stdout
    completion = run_bingo(None, 'completion', 'bash')
    assert completion.returncode == 0 and 'complete -F _bingo bingo' in completion.stdout
    unknown = run_bingo(None, 'frobnicate')
    assert unknown.returncode != 0 and 'unknown command' in unknown.stderr


def test_print_default_config_has_bingo_keys(run_bingo):
    result = run_bingo(None, 'print_default_config')
    assert result.returncode == 0
    cfg = yaml.safe_load(result.stdout)
    assert cfg['student_email'] == 'test@example.com'
    assert cfg['postgres_cluster'] == {
        'hosts': [{'address': 'localhost', 'port': 5432}], 'user': 'postgres', 'password': 'postgres',
        'db_name': 'postgres', 'ssl_mode': 'disable', 'use_closest_node': False}
    # our own keys are all off / derived by default
    assert cfg['http_port'] is None and cfg['startup_request']['url'] == ''
    assert cfg['quirks']['rps_limit'] == 0 and not cfg['quirks']['crash']['enabled']


def test_print_current_config_masks_password_and_derives_port(run_bingo, postgres, tmp_root):
    cfg = make_config(postgres, 'whatever')
    del cfg['http_port']
    layout = Layout(tmp_root(), cfg)
    result = run_bingo(layout, 'print_current_config')
    assert result.returncode == 0, result.stderr
    assert postgres.password not in result.stdout
    shown = yaml.safe_load(result.stdout)
    assert shown['postgres_cluster']['password'] == '********'
    assert shown['student_email'] == cfg['student_email']
    digest = hashlib.sha1(cfg['student_email'].encode()).hexdigest()
    assert shown['http_port'] == 10000 + int(digest[10:14], 16) % 40000

    # env overrides of our keys are shown as effective values
    result = run_bingo(layout, 'print_current_config',
                       env={'SHS_HTTP_PORT': '12345', 'SHS_QUIRK_CRASH_AFTER': '5', 'SHS_QUIRK_RPS_LIMIT': '100'})
    shown = yaml.safe_load(result.stdout)
    assert shown['http_port'] == 12345
    assert shown['quirks']['crash'] == {'enabled': True, 'after': 5.0, 'min_seconds': 600, 'max_seconds': 1500}
    assert shown['quirks']['rps_limit'] == 100


def test_config_errors_are_reported(run_bingo, postgres, tmp_root):
    missing = run_bingo(None, 'print_current_config')
    assert missing.returncode != 0
    assert '/opt/bingo/config.yaml' in missing.stderr and 'Traceback' not in missing.stderr

    layout = Layout(tmp_root(), make_config(postgres, 'x', http_port='eighty'))
    bad = run_bingo(layout, 'run_server')
    assert bad.returncode != 0 and 'http_port' in bad.stderr and 'Traceback' not in bad.stderr

    bad_env = run_bingo(Layout(tmp_root(), make_config(postgres, 'x')), 'print_current_config',
                        env={'SHS_QUIRK_RPS_LIMIT': 'lots'})
    assert bad_env.returncode != 0 and 'SHS_QUIRK_RPS_LIMIT' in bad_env.stderr


def test_refuses_to_run_as_root(run_bingo, postgres, tmp_root):
    layout = Layout(tmp_root(), make_config(postgres, 'x'))
    for command in ('run_server', 'prepare_db'):
        result = run_bingo(layout, command, docker_args=['--user', '0'])
        assert result.returncode != 0
        assert 'root' in result.stderr, result.stderr
    # nothing was started or written
    assert layout.log_records() == []


def test_missing_log_dir_is_a_clear_error(run_bingo, postgres, tmp_root):
    layout = Layout(tmp_root(), make_config(postgres, 'x'), make_log_dir=False)
    result = run_bingo(layout, 'run_server')
    assert result.returncode != 0
    expected = '/opt/bongo/logs/%s' % log_dir_name(layout.cfg['student_email'])
    assert expected in result.stderr and 'does not exist' in result.stderr, result.stderr
    assert 'Traceback' not in result.stderr
