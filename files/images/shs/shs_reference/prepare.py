"""`prepare_db`: bingo's schema and deterministic data, generated server-side with generate_series.

Everything happens in one transaction under an advisory lock: an interrupted run leaves nothing
behind, two instances running it at once do the work once, and a second run finds the
schema_migrations row and does nothing. No indexes or keys are created (bingo creates none;
adding them is the database role's job).
"""

import asyncio
import time

import asyncpg

from .db import UNAVAILABLE, describe, connect_kwargs

SCALES = {
    'small': {'customers': 5000, 'movies': 1000, 'sessions': 50000},
    'full': {'customers': 500000, 'movies': 29000, 'sessions': 5000000},
}
SCHEMA_VERSION = 1
LOCK_KEY = 0x5348535f50524550  # 'SHS_PREP': serialises concurrent prepare_db runs

FIRST_NAMES = ['Anna', 'Boris', 'Clara', 'Dmitry', 'Elena', 'Fedor', 'Galina', 'Igor', 'Julia', 'Kirill',
               'Lena', 'Maxim', 'Nina', 'Oleg', 'Polina', 'Roman', 'Sofia', 'Timur', 'Ulyana', 'Viktor']
SURNAMES = ['Ivanov', 'Petrov', 'Sidorov', 'Smirnov', 'Kuznetsov', 'Popov', 'Vasiliev', 'Sokolov',
            'Mikhailov', 'Novikov', 'Fedorov', 'Morozov', 'Volkov', 'Alekseev', 'Lebedev', 'Semenov',
            'Egorov', 'Pavlov', 'Kozlov', 'Stepanov', 'Nikolaev', 'Orlov', 'Andreev', 'Makarov', 'Zaitsev']
ADJECTIVES = ['Silent', 'Crimson', 'Lost', 'Golden', 'Broken', 'Hidden', 'Frozen', 'Burning', 'Last',
              'Wild', 'Dark', 'Bright', 'Endless', 'Secret', 'Iron', 'Northern', 'Quiet', 'Savage', 'Blue']
NOUNS = ['River', 'Empire', 'Garden', 'Station', 'Horizon', 'Winter', 'Signal', 'Harbor', 'Forest',
         'Mirror', 'Voyage', 'Kingdom', 'Shadow', 'Storm', 'Island', 'Machine', 'Letter']


def _array(items):
    return 'ARRAY[%s]' % ', '.join("'%s'" % item for item in items)


SCHEMA = [
    'CREATE TABLE schema_migrations (version bigint NOT NULL, dirty boolean NOT NULL)',
    'CREATE TABLE customers (id bigint NOT NULL, name text NOT NULL, surname text NOT NULL, '
    'birthday date NOT NULL, email text NOT NULL)',
    'CREATE TABLE movies (id bigint NOT NULL, name text NOT NULL, year integer NOT NULL, '
    'duration integer NOT NULL)',
    'CREATE SEQUENCE sessions_id_seq AS bigint',
    "CREATE TABLE sessions (id bigint NOT NULL DEFAULT nextval('sessions_id_seq'), "
    'start_time timestamp NOT NULL, customer_id bigint NOT NULL, movie_id bigint NOT NULL)',
    'ALTER SEQUENCE sessions_id_seq OWNED BY sessions.id',
]

# Pseudo-random but deterministic columns: multiplicative hashes of the row number.
SEED_SQL = {
    'customers': (
        'INSERT INTO customers (id, name, surname, birthday, email) '
        "SELECT i, n, s, DATE '1950-01-01' + ((i * 7919) %% 20000)::int, "
        "lower(n || '.' || s || '.' || i) || '@example.com' "
        'FROM (SELECT i, (%s)[1 + (i * 11 %% %d)::int] AS n, (%s)[1 + ((i * 31 + i / 7) %% %d)::int] AS s '
        'FROM generate_series(1, $1::bigint) AS i) g'
        % (_array(FIRST_NAMES), len(FIRST_NAMES), _array(SURNAMES), len(SURNAMES))),
    'movies': (
        'INSERT INTO movies (id, name, year, duration) '
        "SELECT i, (%s)[1 + (i * 7 %% %d)::int] || ' ' || (%s)[1 + ((i * 13 + i / 5) %% %d)::int] "
        "|| ' ' || (1 + i / 300), 1930 + (i * 37 %% 94)::int, 70 + (i * 53 %% 110)::int "
        'FROM generate_series(1, $1::bigint) AS i'
        % (_array(ADJECTIVES), len(ADJECTIVES), _array(NOUNS), len(NOUNS))),
    # $2 customers, $3 movies: every session points at existing rows.
    'sessions': (
        'INSERT INTO sessions (id, start_time, customer_id, movie_id) '
        "SELECT i, TIMESTAMP '2023-01-01' + ((i * 2654435761) % 31536000) * INTERVAL '1 second', "
        '1 + (i * 7919 + 17) % $2::bigint, 1 + (i * 104729 + 3) % $3::bigint '
        'FROM generate_series(1, $1::bigint) AS i'),
}


def counts_for(scale, customers=None, movies=None, sessions=None):
    counts = dict(SCALES[scale])
    for key, value in (('customers', customers), ('movies', movies), ('sessions', sessions)):
        if value is not None:
            counts[key] = value
    if counts['customers'] < 1 or counts['movies'] < 1 or counts['sessions'] < 0:
        raise ValueError('need at least 1 customer and 1 movie, and sessions >= 0')
    return counts


async def _state(conn):
    """(version, dirty) of the newest schema_migrations row, or None when there is none."""
    if not await conn.fetchval("SELECT to_regclass('schema_migrations') IS NOT NULL"):
        return None
    return await conn.fetchrow('SELECT version, dirty FROM schema_migrations ORDER BY version DESC LIMIT 1')


async def prepare(cfg, counts, log, out):
    def say(text, **fields):
        out(text)
        log.event(text, **fields)

    try:
        conn = await asyncpg.connect(**connect_kwargs(cfg, timeout=10))
    except UNAVAILABLE as exc:
        say('prepare_db: cannot connect to the database: %s' % describe(exc))
        return 1
    try:
        await conn.execute('SELECT pg_advisory_lock(%d)' % LOCK_KEY)
        state = await _state(conn)
        if state is not None and not state['dirty']:
            say('prepare_db: database already prepared (schema_migrations version %d): nothing to do'
                % state['version'], version=state['version'])
            return 0
        started = time.monotonic()
        async with conn.transaction():
            leftovers = [t for t in ('schema_migrations', 'customers', 'movies', 'sessions')
                         if await conn.fetchval('SELECT to_regclass($1) IS NOT NULL', t)]
            if leftovers:
                # Only reachable when someone else left a half-made schema: our own runs are atomic.
                say('prepare_db: dropping leftover tables of an unfinished preparation: %s' % ', '.join(leftovers))
                await conn.execute('DROP TABLE IF EXISTS %s CASCADE' % ', '.join(leftovers))
                await conn.execute('DROP SEQUENCE IF EXISTS sessions_id_seq')
            for statement in SCHEMA:
                await conn.execute(statement)
            say('prepare_db: created tables customers, movies, sessions, schema_migrations (no indexes)')
            for table in ('customers', 'movies', 'sessions'):
                step = time.monotonic()
                args = [counts[table]]
                if table == 'sessions':
                    args += [counts['customers'], counts['movies']]
                await conn.execute(SEED_SQL[table], *args)
                say('prepare_db: %s: %d rows in %.1f s' % (table, counts[table], time.monotonic() - step),
                    table=table, rows=counts[table])
            # New sessions (POST /api/session) continue after the seeded ids.
            await conn.execute("SELECT setval('sessions_id_seq', greatest(coalesce(max(id), 0), 1), "
                               'max(id) IS NOT NULL) FROM sessions')
            await conn.execute('INSERT INTO schema_migrations (version, dirty) VALUES ($1, false)', SCHEMA_VERSION)
            await conn.execute('ANALYZE customers; ANALYZE movies; ANALYZE sessions')
        elapsed = time.monotonic() - started
        say('prepare_db: done in %.1f s (schema_migrations version %d)' % (elapsed, SCHEMA_VERSION))
        return 0
    except UNAVAILABLE as exc:
        say('prepare_db: database connection lost: %s' % describe(exc))
        return 1
    except asyncpg.PostgresError as exc:
        say('prepare_db: failed: %s' % describe(exc))
        return 1
    finally:
        await conn.close()


def run(cfg, counts, log, out=print):
    return asyncio.run(prepare(cfg, counts, log, out))
