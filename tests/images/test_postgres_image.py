"""Smoke test of files/images/postgres: it starts, serves SQL with password auth, keeps data, stops cleanly."""

import uuid

from support import TEST_LABEL, assert_stops_cleanly, docker, start_postgres, wait_for


def test_serves_sql_with_password_auth(postgres):
    assert postgres.psql('SELECT 40 + 2') == '42'
    assert postgres.psql('SHOW server_version').startswith('15.')
    # Remote (TCP) logins need the password: scram, never trust.
    denied = docker('exec', postgres.name, 'psql', '-h', '127.0.0.1', '-U', postgres.user, '-d', postgres.db,
                    '-w', '-c', 'SELECT 1', check=False)
    assert denied.returncode != 0
    assert 'password' in denied.stderr
    assert postgres.psql("SELECT rolpassword LIKE 'SCRAM-SHA-256$%' FROM pg_authid WHERE rolname = current_user",
                         ) == 't'


def test_refuses_to_start_without_password(image):
    name = 'fp-test-pg-nopw-%s' % uuid.uuid4().hex[:6]
    result = docker('run', '--rm', '--label', TEST_LABEL, '--name', name, image('postgres'), check=False)
    assert result.returncode != 0
    assert 'POSTGRES_PASSWORD' in result.stderr


def test_data_and_settings_survive_restart_and_stop_is_clean(image, tmp_path):
    conf = tmp_path / 'tuning.conf'
    conf.write_text('work_mem = 12MB\n')
    conf.chmod(0o644)
    volume = 'fp-test-pgdata-%s' % uuid.uuid4().hex[:6]
    init_sql = tmp_path / 'init.sql'
    init_sql.write_text('CREATE TABLE seeded (v int); INSERT INTO seeded VALUES (7);\n')
    init_sql.chmod(0o644)
    docker('volume', 'create', '--label', TEST_LABEL, volume)
    try:
        pg = start_postgres(image('postgres'), extra_args=(
            '-v', volume + ':/var/lib/postgresql/data',
            '-v', '%s:/etc/postgresql/conf.d/tuning.conf:ro' % conf,
            '-v', '%s:/docker-entrypoint-initdb.d/init.sql:ro' % init_sql))
        assert pg.psql('SHOW work_mem') == '12MB'
        assert pg.psql('SELECT v FROM seeded') == '7'
        pg.psql('INSERT INTO seeded VALUES (8)')

        assert_stops_cleanly(pg.name, within=5, grace=20)

        docker('start', pg.name)
        wait_for(lambda: docker('exec', pg.name, 'pg_isready', '-h', '127.0.0.1', check=False).returncode == 0,
                 timeout=30, what='postgres back after restart')
        assert pg.psql('SELECT string_agg(v::text, \',\' ORDER BY v) FROM seeded') == '7,8'
        docker('rm', '-f', pg.name)
    finally:
        docker('volume', 'rm', '-f', volume, check=False)


def test_a_fresh_disk_root_is_refused_and_its_subdirectory_works(image, tmp_path):
    # A new ext4 file system's root holds lost+found (as localcloud's fresh x-yc-disks do): initdb refuses it as
    # PGDATA, which is why the postgres role points PGDATA at a subdirectory of the disk's mount.
    disk = tmp_path / 'disk'
    (disk / 'lost+found').mkdir(parents=True)
    (disk / 'lost+found').chmod(0o700)
    name = 'fp-test-pg-disk-%s' % uuid.uuid4().hex[:6]
    refused = docker('run', '--rm', '--label', TEST_LABEL, '--name', name, '-e', 'POSTGRES_PASSWORD=x',
                     '-v', '%s:/var/lib/postgresql/data' % disk, image('postgres'), check=False, timeout=60)
    assert refused.returncode != 0
    assert 'lost+found' in refused.stdout + refused.stderr
    pg = start_postgres(image('postgres'), extra_args=('-v', '%s:/var/lib/postgresql/data' % disk,
                                                       '-e', 'PGDATA=/var/lib/postgresql/data/pgdata'))
    try:
        assert pg.psql('SELECT 40 + 2') == '42'
        assert (disk / 'pgdata' / 'PG_VERSION').exists() and (disk / 'lost+found').is_dir()
    finally:
        docker('rm', '-f', pg.name, check=False)
