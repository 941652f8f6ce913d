"""Roles shs and postgres render payload fragments: right content, deterministic, bad vars named."""

import hashlib

import pytest
import yaml

from support import render_role

SHS_VARS = {'shs_image': 'cr.example/shs:1', 'shs_student_email': 'student@example.com',
            'shs_db_password': 'Pa55-word', 'shs_db_hosts': [{'address': 'db-1.internal', 'port': 6432}]}
PG_VARS = {'postgres_image': 'cr.example/postgres:1', 'postgres_password': 'Pa55-word',
           'postgres_allowed_cidrs': ['10.10.0.0/24', '10.20.0.0/24'], 'postgres_memory_mb': 4096}


def test_shs_payload(tmp_path):
    _, payload = render_role(tmp_path, 'shs', 'shs_payload', SHS_VARS)
    log_dir = '/opt/bongo/logs/' + hashlib.sha1(b'student@example.com').hexdigest()[:10]
    service = payload['compose']['services']['shs']
    assert service['image'] == 'cr.example/shs:1'
    assert service['ports'] == ['80:8080']
    assert service['restart'] == 'always' and service['init'] is True
    assert '%s:%s' % (log_dir, log_dir) in service['volumes']

    config_file, = payload['files']
    assert config_file['path'] == '/opt/bingo/config.yaml' and config_file['permissions'] == '0600'
    config = yaml.safe_load(config_file['content'])
    assert config['student_email'] == 'student@example.com'
    assert config['postgres_cluster']['hosts'] == [{'address': 'db-1.internal', 'port': 6432}]
    assert config['postgres_cluster']['password'] == 'Pa55-word'
    assert config['http_port'] == 8080

    bootcmd = [cmd if isinstance(cmd, str) else ' '.join(cmd) for cmd in payload['bootcmd']]
    assert any(log_dir in cmd and '-o 10001' in cmd for cmd in bootcmd)
    assert any('DOCKER-USER -p tcp -d 8.8.8.8 --dport 80 -j REJECT' in cmd for cmd in bootcmd)
    assert ['chown', '10001:10001', '/opt/bingo/config.yaml'] in payload['runcmd']


def test_shs_no_block_rule_when_address_empty(tmp_path):
    _, payload = render_role(tmp_path, 'shs', 'shs_payload', dict(SHS_VARS, shs_blocked_startup_address=''))
    assert not [cmd for cmd in payload['bootcmd'] if 'iptables' in str(cmd)]


def test_postgres_payload(tmp_path):
    _, payload = render_role(tmp_path, 'postgres', 'postgres_payload', PG_VARS)
    compose = payload['compose']
    server = compose['services']['postgres']
    assert server['environment']['POSTGRES_PASSWORD'] == 'Pa55-word'
    assert '/mnt/pgdata:/var/lib/postgresql/data' in server['volumes']
    # never the mount point itself: a fresh ext4 disk's root holds lost+found, which initdb refuses
    assert server['environment']['PGDATA'] == '/var/lib/postgresql/data/pgdata'
    assert compose['x-yc-disks'][0]['host_path'] == '/mnt/pgdata'
    files = {f['path']: f['content'] for f in payload['files']}
    hba = files['/etc/filmopoisk/postgres/pg_hba.conf']
    assert 'host    all       all   10.10.0.0/24  scram-sha-256' in hba
    assert 'host    all       all   10.20.0.0/24  scram-sha-256' in hba
    assert 'trust' not in hba.replace('local   all       all            trust', '')
    tuning = files['/etc/filmopoisk/postgres/tuning.conf']
    assert "shared_buffers = '1024MB'" in tuning
    assert "effective_cache_size = '3072MB'" in tuning
    indexes = files['/etc/filmopoisk/postgres/indexes.sql']
    assert 'CREATE INDEX CONCURRENTLY IF NOT EXISTS sessions_customer_id_idx ON sessions (customer_id);' in indexes
    assert compose['services']['postgres-indexes']['network_mode'] == 'service:postgres'


@pytest.mark.parametrize('role,fact,good', [('shs', 'shs_payload', SHS_VARS), ('postgres', 'postgres_payload', PG_VARS)])
def test_rendering_is_deterministic(tmp_path, role, fact, good):
    (tmp_path / 'a').mkdir()
    (tmp_path / 'b').mkdir()
    _, first = render_role(tmp_path / 'a', role, fact, good)
    _, second = render_role(tmp_path / 'b', role, fact, good)
    assert (tmp_path / 'a' / (fact + '.json')).read_bytes() == (tmp_path / 'b' / (fact + '.json')).read_bytes()
    assert first == second


@pytest.mark.parametrize('role,good,bad,named', [
    ('shs', SHS_VARS, {'shs_port': 70000}, 'shs_port'),
    ('shs', SHS_VARS, {'shs_app_port': 'eighty'}, 'shs_app_port'),
    ('shs', SHS_VARS, {'shs_student_email': 'not-an-email'}, 'shs_student_email'),
    ('shs', SHS_VARS, {'shs_db_ssl_mode': 'sometimes'}, 'shs_db_ssl_mode'),
    ('shs', SHS_VARS, {'shs_blocked_startup_address': '8.8.8.800'}, 'shs_blocked_startup_address'),
    ('shs', SHS_VARS, {'shs_health_path': 'ping'}, 'shs_health_path'),
    ('postgres', PG_VARS, {'postgres_port': 0}, 'postgres_port'),
    ('postgres', PG_VARS, {'postgres_allowed_cidrs': ['10.0.0.1']}, 'postgres_allowed_cidrs'),
    ('postgres', PG_VARS, {'postgres_allowed_cidrs': ['10.0.0.0/33']}, 'postgres_allowed_cidrs'),
    ('postgres', PG_VARS, {'postgres_memory_mb': 100}, 'postgres_memory_mb'),
    ('postgres', PG_VARS, {'postgres_password': ''}, 'postgres_password'),
    ('postgres', PG_VARS, {'postgres_data_subdir': '../etc'}, 'postgres_data_subdir'),
    ('postgres', PG_VARS, {'postgres_data_subdir': 'lost+found'}, 'postgres_data_subdir'),
])
def test_bad_vars_fail_naming_the_var(tmp_path, role, good, bad, named):
    result, payload = render_role(tmp_path, role, role + '_payload', dict(good, **bad), check=False)
    assert result.returncode != 0 and payload is None
    assert named in result.stdout + result.stderr
    # The password never shows, even when rendering fails.
    assert 'Pa55-word' not in result.stdout + result.stderr


def test_shs_prepare_job_runs_next_to_postgres(tmp_path):
    _, payload = render_role(tmp_path, 'shs', 'shs_prepare_payload', dict(SHS_VARS, shs_prepare_scale='small'))
    job = payload['compose']['services']['shs-prepare-db']
    assert job['command'] == ['/app/bingo', 'prepare_db', '--scale', 'small']
    assert job['restart'] == 'on-failure'
    assert job['network_mode'] == 'service:postgres'
    assert job['depends_on'] == {'postgres': {'condition': 'service_healthy'}}
    config = yaml.safe_load(payload['files'][0]['content'])
    # The job reaches the server through the shared namespace, whatever shs_db_hosts says.
    assert config['postgres_cluster']['hosts'] == [{'address': '127.0.0.1', 'port': 5432}]
    assert config['postgres_cluster']['password'] == 'Pa55-word'


def test_roles_say_what_their_group_needs(tmp_path):
    """shs_group / postgres_group next to the payloads: health check, ports, disks (tasks/instance_group.yml)."""
    _, app = render_role(tmp_path, 'shs', 'shs_group', dict(SHS_VARS, shs_port=8081, shs_health_path='/healthz'))
    assert app == {'ports': [8081], 'health_check': {'http_options': {'port': 8081, 'path': '/healthz'}}}
    (tmp_path / 'pg').mkdir()
    _, db = render_role(tmp_path / 'pg', 'postgres', 'postgres_group', dict(PG_VARS, postgres_port=6432))
    assert db == {'ports': [6432], 'health_check': {'tcp_options': {'port': 6432}},
                  'disks': [{'device_name': 'pgdata'}], 'deploy_policy': {'max_expansion': 0}}
