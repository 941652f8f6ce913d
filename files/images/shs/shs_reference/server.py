"""`run_server`: the HTTP API, bingo-compatible, on aiohttp + asyncpg."""

import asyncio
import datetime
import json
import os
import re
import signal
import sys
import time

import asyncpg
from aiohttp import ClientConnectorError, ClientError, ClientSession, ClientTimeout, web

from . import VERSION
from .db import DELETE_SESSION, INSERT_SESSION, LIST_JSON, ONE_JSON, Database, DbUnavailable, describe
from .quirks import Quirks

LONG_DUMMY_SECONDS = 1.0
BIGINT_MIN, BIGINT_MAX = -2 ** 63, 2 ** 63 - 1
ID_RE = re.compile(r'-?[0-9]{1,19}\Z')

ENDPOINTS = [
    'GET /', 'GET /ping', 'GET /long_dummy', 'GET /db_dummy', 'POST /operation',
    'GET /api/movie', 'GET /api/movie/{id}', 'GET /api/customer', 'GET /api/customer/{id}',
    'GET /api/session', 'GET /api/session/{id}', 'POST /api/session', 'DELETE /api/session/{id}',
]


class BadRequest(Exception):
    """Malformed client input; becomes a 400 JSON answer with this message."""


def json_response(payload, status=200):
    text = payload if isinstance(payload, str) else json.dumps(payload)
    return web.Response(text=text, status=status, content_type='application/json')


def error_response(status, message, headers=None):
    return web.Response(text=json.dumps({'error': message, 'status': status}), status=status,
                        content_type='application/json', headers=headers)


def parse_id(text):
    if not ID_RE.match(text):
        raise BadRequest('id must be an integer, got %r' % text)
    value = int(text)
    if not BIGINT_MIN <= value <= BIGINT_MAX:
        raise BadRequest('id out of range: %s' % text)
    return value


def strict_int(value):
    """An integer from JSON: true/false and 1.5 are not integers (bool is an int in Python)."""
    return isinstance(value, int) and not isinstance(value, bool)


async def json_object(request):
    try:
        body = await request.json()  # aiohttp reads and decodes; any Content-Type is accepted
    except (ValueError, UnicodeDecodeError):
        raise BadRequest('request body must be a JSON object')
    if not isinstance(body, dict):
        raise BadRequest('request body must be a JSON object')
    return body


def _utc_now():
    return datetime.datetime.now(datetime.timezone.utc)


class Handlers:
    def __init__(self, db, quirks):
        self.db = db
        self.quirks = quirks

    async def index(self, request):
        return json_response({'service': 'shs-reference', 'compatible_with': 'bingo', 'version': VERSION,
                              'message': 'Hello from the SHS reference service', 'endpoints': ENDPOINTS})

    async def ping(self, request):
        if self.quirks.ping_is_sick():
            return web.Response(status=500, text='I feel bad')
        return web.Response(text='pong')

    async def long_dummy(self, request):
        # The generation timestamp lets a cache in front be checked for freshness.
        await asyncio.sleep(LONG_DUMMY_SECONDS)
        now = _utc_now()
        return json_response({'message': 'long dummy', 'generated_at': now.isoformat(timespec='milliseconds'),
                              'generated_at_unix': now.timestamp()})

    async def db_dummy(self, request):
        started = time.perf_counter()
        await self.db.fetchval('SELECT pg_sleep(0.1)')
        return json_response({'status': 'ok', 'query': 'SELECT pg_sleep(0.1)',
                              'duration_ms': round((time.perf_counter() - started) * 1000, 1)})

    async def operation(self, request):
        body = await json_object(request)
        if 'operation' not in body:
            raise BadRequest('field "operation" is required')
        number = body['operation']
        if not strict_int(number) or not BIGINT_MIN <= number <= BIGINT_MAX:
            raise BadRequest('field "operation" must be a 64-bit integer')
        return json_response({'operation': number, 'result': number * number, 'status': 'done'})

    def lister(self, kind):
        async def handler(request):
            return json_response(await self.db.fetchval(LIST_JSON[kind]))
        return handler

    def getter(self, kind):
        async def handler(request):
            row_id = parse_id(request.match_info['id'])
            found = await self.db.fetchval(ONE_JSON[kind], row_id)
            if found is None:
                return error_response(404, '%s %d not found' % (kind, row_id))
            return json_response(found)
        return handler

    async def create_session(self, request):
        body = await json_object(request)
        ids = {}
        for field in ('customer_id', 'movie_id'):
            if field not in body:
                raise BadRequest('field "%s" is required' % field)
            if not strict_int(body[field]) or not BIGINT_MIN <= body[field] <= BIGINT_MAX:
                raise BadRequest('field "%s" must be an integer' % field)
            ids[field] = body[field]
        start_time = parse_start_time(body.get('start_time'))
        created = await self.db.fetchval(INSERT_SESSION, start_time, ids['customer_id'], ids['movie_id'])
        if created is None:
            # Nothing inserted: say which reference is dangling.
            for table, field in (('customers', 'customer_id'), ('movies', 'movie_id')):
                if not await self.db.exists(table, ids[field]):
                    raise BadRequest('%s %d does not exist' % (field, ids[field]))
            raise BadRequest('session not created')
        return json_response(created, status=201)

    async def delete_session(self, request):
        row_id = parse_id(request.match_info['id'])
        deleted = await self.db.fetchval(DELETE_SESSION, row_id)
        if deleted is None:
            return error_response(404, 'session %d not found' % row_id)
        return json_response(deleted)


def parse_start_time(value):
    """Optional ISO 8601 start_time; aware times are stored in UTC (the column has no time zone)."""
    if value is None:
        return _utc_now().replace(tzinfo=None, microsecond=0)
    if not isinstance(value, str):
        raise BadRequest('field "start_time" must be an ISO 8601 string')
    try:
        parsed = datetime.datetime.fromisoformat(value)
    except ValueError:
        raise BadRequest('field "start_time" is not an ISO 8601 date-time: %r' % value)
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(datetime.timezone.utc).replace(tzinfo=None)
    return parsed


def make_app(db, quirks, log):
    handlers = Handlers(db, quirks)

    @web.middleware
    async def frame(request, handler):
        """Quirks, error mapping (never a 500 for bad input) and the per-request log line."""
        started = time.perf_counter()
        quirks.leak()
        if quirks.over_rps_limit():
            response = error_response(429, 'Too many requests')
        else:
            try:
                response = await handler(request)
            except web.HTTPException as exc:  # router 404/405, body too large, ...
                headers = {'Allow': exc.headers['Allow']} if 'Allow' in exc.headers else None
                response = error_response(exc.status, exc.reason, headers)
            except BadRequest as exc:
                response = error_response(400, str(exc))
            except DbUnavailable as exc:
                response = error_response(503, str(exc))
            except asyncpg.DataError as exc:  # e.g. an id beyond an int4 column of a bingo-made DB
                response = error_response(400, 'invalid value: %s' % exc)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a bug: answer 500, keep serving, log it
                log.event('handler failed', level='error', url_path=request.path, error=describe(exc))
                response = error_response(500, 'internal error')
        log.request(method=request.method, url_path=request.path, status=response.status,
                    event_duration=round((time.perf_counter() - started) * 1000, 3),
                    remote=request.remote)
        return response

    app = web.Application(middlewares=[frame])
    router = app.router
    router.add_get('/', handlers.index)
    router.add_get('/ping', handlers.ping)
    router.add_get('/long_dummy', handlers.long_dummy)
    router.add_get('/db_dummy', handlers.db_dummy)
    router.add_post('/operation', handlers.operation)
    for kind in ('movie', 'customer', 'session'):
        router.add_get('/api/%s' % kind, handlers.lister(kind))
        router.add_get('/api/%s/{id}' % kind, handlers.getter(kind))
    router.add_post('/api/session', handlers.create_session)
    router.add_delete('/api/session/{id}', handlers.delete_session)
    return app


async def startup_request(cfg, log):
    """bingo GETs an outside URL before serving: no answer -> wait up to the timeout; refused -> go on."""
    url = cfg['startup_request']['url']
    if not url:
        return
    timeout = float(cfg['startup_request']['timeout'])
    log.event('startup request', url=url, timeout=timeout)
    started = time.monotonic()
    outcome = {}
    try:
        async with ClientSession(timeout=ClientTimeout(total=timeout)) as session:
            async with session.get(url) as response:
                await response.read()
                outcome = {'result': 'answered', 'status': response.status}
    except asyncio.TimeoutError:
        outcome = {'result': 'timed out'}
    except ClientConnectorError as exc:  # refused, unreachable: nothing to wait for
        outcome = {'result': 'failed', 'error': describe(exc)}
    except (ClientError, OSError, ValueError) as exc:
        outcome = {'result': 'failed', 'error': describe(exc)}
    log.event('startup request done', url=url, waited=round(time.monotonic() - started, 3), **outcome)


async def serve(cfg, log):
    loop = asyncio.get_running_loop()
    # Signals first: as PID 1 in a container, an unhandled SIGTERM would be ignored, also while the
    # startup request is still waiting.
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)

    quirks = Quirks(cfg)
    log.event('quirks', **quirks.describe())
    if quirks.crash_enabled:  # counted from the start of the process, like bingo's lifetime
        loop.call_later(quirks.crash_after, _crash, quirks, log)

    startup = loop.create_task(startup_request(cfg, log))
    stopping = loop.create_task(stop.wait())
    await asyncio.wait({startup, stopping}, return_when=asyncio.FIRST_COMPLETED)
    if stop.is_set():
        startup.cancel()
        log.event('shutting down', during='startup request')
        return 0

    db = Database(cfg)
    app = make_app(db, quirks, log)
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    host, port = cfg['http_host'], cfg['http_port']
    # shutdown_timeout: in-flight requests get 5 s on stop (docker stop waits 10 s by default).
    site = web.TCPSite(runner, host, port, reuse_address=True, backlog=1024, shutdown_timeout=5.0)
    try:
        await site.start()
    except OSError as exc:
        await runner.cleanup()
        log.event('cannot listen', level='fatal', host=host, port=port, error=describe(exc))
        return 1
    log.start()
    log.event('server started', host=host, port=port)
    sys.stdout.write('My congratulations.\nYou were able to start the server (shs-reference %s).\n'
                     'Listening on %s:%d\n' % (VERSION, host, port))
    sys.stdout.flush()

    # Open the first DB connection now, so the first request does not pay for it (failures are fine).
    async def warm_up():
        try:
            await db.pool()
        except DbUnavailable as exc:
            log.event('database not reachable yet', level='warning', error=str(exc))
    warm = loop.create_task(warm_up())

    await stopping
    log.event('shutting down')
    warm.cancel()
    await runner.cleanup()
    await db.close()
    await log.stop()
    return 0


def _crash(quirks, log):
    log.event('We all gonna die', level='fatal', exit_code=quirks.crash_code,
              uptime_seconds=round(quirks.crash_after, 3))
    log.flush()
    sys.stdout.flush()
    os._exit(quirks.crash_code)  # no cleanup, like a real crash


def run(cfg, log):
    return asyncio.run(serve(cfg, log))
