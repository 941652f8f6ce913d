"""`bingo prepare_db`: bingo's schema, deterministic data, no indexes, idempotent."""

from shs_helpers import Layout, make_config
from support import free_port

COUNTS = {'customers': 700, 'movies': 90, 'sessions': 4000}

# One digest over every seeded row: equal digests mean equal data.
CHECKSUM = """SELECT md5(
    (SELECT string_agg(c::text, ';' ORDER BY id) FROM customers c) ||
    (SELECT string_agg(m::text, ';' ORDER BY id) FROM movies m) ||
    (SELECT string_agg(s::text, ';' ORDER BY id) FROM sessions s))"""


def counts(postgres, db):
    return {t: int(postgres.psql('SELECT count(*) FROM %s' % t, db=db)) for t in COUNTS}


def test_prepare_db_twice(postgres, new_db, prepare):
    db = new_db()
    first = prepare(db, **COUNTS)
    assert first.returncode == 0, first.stdout + first.stderr
    assert 'created tables' in first.stdout and 'done' in first.stdout
    assert counts(postgres, db) == COUNTS
    assert postgres.psql('SELECT version, dirty FROM schema_migrations', db=db) == '1|f'
    checksum = postgres.psql(CHECKSUM, db=db)

    second = prepare(db, **COUNTS)
    assert second.returncode == 0, second.stdout + second.stderr
    assert 'already prepared' in second.stdout and 'created' not in second.stdout
    assert counts(postgres, db) == COUNTS
    assert postgres.psql(CHECKSUM, db=db) == checksum

    # the same counts in another database give the very same rows
    other = new_db()
    assert prepare(other, **COUNTS).returncode == 0
    assert postgres.psql(CHECKSUM, db=other) == checksum


def test_schema_is_bingos_without_indexes(postgres, prepared_db):
    columns = postgres.psql(
        "SELECT table_name || '.' || column_name || ':' || data_type FROM information_schema.columns "
        "WHERE table_schema = 'public' ORDER BY table_name, ordinal_position", db=prepared_db).splitlines()
    assert columns == [
        'customers.id:bigint', 'customers.name:text', 'customers.surname:text', 'customers.birthday:date',
        'customers.email:text',
        'movies.id:bigint', 'movies.name:text', 'movies.year:integer', 'movies.duration:integer',
        'schema_migrations.version:bigint', 'schema_migrations.dirty:boolean',
        'sessions.id:bigint', 'sessions.start_time:timestamp without time zone', 'sessions.customer_id:bigint',
        'sessions.movie_id:bigint',
    ]
    assert postgres.psql("SELECT count(*) FROM pg_indexes WHERE schemaname = 'public'", db=prepared_db) == '0'
    assert postgres.psql("SELECT count(*) FROM pg_constraint WHERE connamespace = 'public'::regnamespace",
                         db=prepared_db) == '0'
    # seeded ids are 1..N and every session points at an existing customer and movie
    assert postgres.psql('SELECT min(id), max(id), count(DISTINCT id) FROM sessions', db=prepared_db) \
        == '1|100050|100050'
    assert postgres.psql('SELECT count(*) FROM sessions s WHERE NOT EXISTS '
                         '(SELECT 1 FROM customers c WHERE c.id = s.customer_id) OR NOT EXISTS '
                         '(SELECT 1 FROM movies m WHERE m.id = s.movie_id)', db=prepared_db) == '0'


def test_prepare_db_bad_arguments_and_unreachable_db(run_bingo, postgres, tmp_root):
    layout = Layout(tmp_root(), make_config(postgres, 'x'))
    bad = run_bingo(layout, 'prepare_db', '--scale', 'huge')
    assert bad.returncode != 0 and 'huge' in bad.stderr
    bad = run_bingo(layout, 'prepare_db', '--movies', '0')
    assert bad.returncode != 0 and 'at least 1' in bad.stderr

    cfg = make_config(postgres, 'x')
    cfg['postgres_cluster']['hosts'] = [{'address': '127.0.0.1', 'port': free_port()}]  # nothing listens
    down = run_bingo(Layout(tmp_root(), cfg), 'prepare_db')
    assert down.returncode != 0
    assert 'cannot connect' in down.stdout and 'Traceback' not in down.stdout + down.stderr
