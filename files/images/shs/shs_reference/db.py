"""PostgreSQL access: one lazily created asyncpg pool, bingo's queries, errors mapped to HTTP.

Every query returns JSON text built by PostgreSQL itself (row_to_json / json_agg), so a 100k-row
list is never turned into Python objects and back.
"""

import asyncio
import time

import asyncpg

LIST_LIMIT = 100000
RETRY_AFTER_FAILURE = 1.0  # s: while the DB is down, fail fast instead of piling up connect attempts

# Errors that mean "the database is not reachable / not usable right now" -> 503.
UNAVAILABLE = (
    OSError,
    asyncio.TimeoutError,
    asyncpg.InterfaceError,  # includes ConnectionDoesNotExistError (server went away mid-query)
    asyncpg.PostgresConnectionError,
    asyncpg.CannotConnectNowError,
    asyncpg.AdminShutdownError,
    asyncpg.CrashShutdownError,
    asyncpg.TooManyConnectionsError,
    asyncpg.InvalidPasswordError,
    asyncpg.InvalidAuthorizationSpecificationError,
    asyncpg.InvalidCatalogNameError,  # database does not exist
    asyncpg.InternalClientError,  # a pooled connection the server had closed (see Database.fetchval)
)


class DbUnavailable(Exception):
    """The database cannot serve the request; becomes a 503 JSON answer."""


def connect_kwargs(cfg, timeout=5):
    """asyncpg connect arguments from bingo's postgres_cluster section.

    Several hosts are tried in order (libpq semantics). use_closest_node is accepted and ignored.
    """
    pgc = cfg['postgres_cluster']
    ssl = pgc['ssl_mode']
    password = pgc.get('password')
    return {
        'host': [h['address'] for h in pgc['hosts']],
        'port': [h.get('port', 5432) for h in pgc['hosts']],
        'user': pgc['user'],
        'password': None if password is None else str(password),
        'database': pgc['db_name'],
        'ssl': False if ssl == 'disable' else ssl,
        'timeout': timeout,
    }


MOVIE = 'id, name, year, duration'
CUSTOMER = 'id, name, surname, birthday, email'
SESSION = 'id, start_time, customer_id, movie_id'

# The list endpoints: bingo's heavy ORDER BY ... LIMIT 100000 queries.
LIST_SQL = {
    'movie': 'SELECT %s FROM movies ORDER BY year DESC, name LIMIT %d' % (MOVIE, LIST_LIMIT),
    'customer': 'SELECT %s FROM customers ORDER BY surname, name, birthday DESC, id DESC LIMIT %d'
                % (CUSTOMER, LIST_LIMIT),
    'session': 'SELECT %s FROM sessions ORDER BY id DESC LIMIT %d' % (SESSION, LIST_LIMIT),
}
# string_agg keeps the order of its sorted sub-select (json_agg would add a newline per row).
LIST_JSON = {kind: "SELECT '[' || coalesce(string_agg(row_to_json(t)::text, ','), '') || ']' FROM (%s) t" % sql
             for kind, sql in LIST_SQL.items()}
ONE_JSON = {
    'movie': 'SELECT row_to_json(t)::text FROM (SELECT %s FROM movies WHERE id = $1 LIMIT 1) t' % MOVIE,
    'customer': 'SELECT row_to_json(t)::text FROM (SELECT %s FROM customers WHERE id = $1 LIMIT 1) t'
                % CUSTOMER,
    'session': 'SELECT row_to_json(t)::text FROM (SELECT %s FROM sessions WHERE id = $1 LIMIT 1) t' % SESSION,
}
# The id comes from the column default (nextval('sessions_id_seq')), as in a database bingo prepared.
# Only sessions whose customer and movie exist are inserted.
INSERT_SESSION = ('WITH t AS (INSERT INTO sessions (start_time, customer_id, movie_id) '
                  'SELECT $1, $2, $3 WHERE EXISTS (SELECT 1 FROM customers WHERE id = $2) '
                  'AND EXISTS (SELECT 1 FROM movies WHERE id = $3) RETURNING %s) '
                  'SELECT row_to_json(t)::text FROM t' % SESSION)
DELETE_SESSION = ('WITH t AS (DELETE FROM sessions WHERE id = $1 RETURNING %s) '
                  'SELECT row_to_json(t)::text FROM t LIMIT 1' % SESSION)


class Database:
    def __init__(self, cfg):
        self._kwargs = connect_kwargs(cfg)
        self._size = cfg['db_pool_size']
        self._pool = None
        self._lock = asyncio.Lock()
        self._failed_at = None
        self._last_error = None

    async def pool(self):
        if self._pool is not None:
            return self._pool
        async with self._lock:
            if self._pool is not None:
                return self._pool
            if self._failed_at is not None and time.monotonic() - self._failed_at < RETRY_AFTER_FAILURE:
                raise DbUnavailable('database unavailable: %s' % self._last_error)
            try:
                # min_size=1: the first request after start does not pay for a full pool of connects.
                self._pool = await asyncpg.create_pool(min_size=1, max_size=self._size,
                                                       command_timeout=60, **self._kwargs)
            except UNAVAILABLE as exc:
                self._failed_at, self._last_error = time.monotonic(), describe(exc)
                raise DbUnavailable('database unavailable: %s' % self._last_error)
            self._failed_at = None
            return self._pool

    async def close(self):
        if self._pool is not None:
            try:
                await asyncio.wait_for(self._pool.close(), 5)
            except (asyncio.TimeoutError, *UNAVAILABLE):
                self._pool.terminate()

    async def fetchval(self, sql, *args):
        pool = await self.pool()
        try:
            async with pool.acquire() as conn:
                try:
                    return await conn.fetchval(sql, *args)
                except asyncpg.InternalClientError:
                    # Seen when the server killed an idle pooled connection (pg_terminate_backend,
                    # restart): the protocol state is broken, so this connection must not be reused.
                    conn.terminate()
                    raise
        except UNAVAILABLE as exc:
            raise DbUnavailable('database unavailable: %s' % describe(exc))
        except asyncpg.UndefinedTableError as exc:
            raise DbUnavailable('database is not prepared (run `bingo prepare_db`): %s' % exc)

    async def exists(self, table, row_id):
        return await self.fetchval('SELECT EXISTS (SELECT 1 FROM %s WHERE id = $1)' % table, row_id)


def describe(exc):
    return '%s: %s' % (type(exc).__name__, exc) if str(exc) else type(exc).__name__
