"""The bench's own tests: a tiny local target that answers like the stack (an aiohttp app on loopback, in a
thread with its own event loop). `bench` is the installed project bench/ (tools/setup.sh: pip install -e)."""

import asyncio
import json
import threading
import time

import pytest
from aiohttp import web



class Target:
    """SHS-shaped answers with a settable delay per path; counts what it saw and the most requests in flight."""

    def __init__(self, delay=None, cache_ttl=5.0, cache_status=None, busy=(), miss_delay=0.0):
        self.delay = dict(delay or {})
        self.cache_ttl = cache_ttl
        self.cache_status = cache_status  # X-Cache-Status of /long_dummy as the LB sends it: MISS on a fill, else this
        self.busy = set(busy)             # paths answered with the LB's own 429 (no peer has room)
        self.miss_delay = miss_delay      # s a /long_dummy fill takes (the upstream's answer)
        self.seen, self.in_flight, self.max_in_flight = [], 0, 0
        self.sessions, self.next_id = {}, 1000
        self.cached_at = 0.0
        self.down_until = {}   # host -> time.time() until which /hck_status shows it down
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()
        self.ready.wait(10)

    def _serve(self):
        asyncio.set_event_loop(self.loop)
        app = web.Application(middlewares=[self._count])
        app.router.add_route('*', '/{tail:.*}', self._handle)
        self.runner = web.AppRunner(app)
        self.loop.run_until_complete(self.runner.setup())
        site = web.TCPSite(self.runner, '127.0.0.1', 0)
        self.loop.run_until_complete(site.start())
        self.url = 'http://127.0.0.1:%d' % site._server.sockets[0].getsockname()[1]
        self.ready.set()
        self.loop.run_forever()

    @web.middleware
    async def _count(self, request, handler):
        self.seen.append((time.monotonic(), request.method, request.path))
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            await asyncio.sleep(self.delay.get(request.path, 0.0))
            return await handler(request)
        finally:
            self.in_flight -= 1

    async def _handle(self, request):
        path, method = request.path, request.method
        if path == '/hck_status':
            peers = [{'host': '%s.internal' % host, 'up': time.time() >= self.down_until.get(host, 0)}
                     for host in ('shs-app-1', 'shs-app-2')]
            return web.json_response({'up': sum(p['up'] for p in peers), 'total': 2, 'peers': peers})
        if path in ('/api/movie', '/api/customer', '/api/session') and method == 'GET':
            return web.json_response([{'id': i} for i in range(1, {'movie': 10, 'customer': 20}.get(
                path.rsplit('/', 1)[1], 30) + 1)])
        if path in self.busy:
            return web.json_response({'error': 'Too many requests: every peer is at its limit', 'status': 429},
                                     status=429, headers={'Retry-After': '1'})
        if path == '/long_dummy':  # a cache of cache_ttl s in front of it, as the LB's proxy_cache
            status = self.cache_status
            if time.time() - self.cached_at > self.cache_ttl:
                self.cached_at, status = time.time(), 'MISS'
                await asyncio.sleep(self.miss_delay)
            headers = {'X-Cache-Status': status} if self.cache_status else {}
            return web.json_response({'message': 'long dummy', 'generated_at_unix': self.cached_at}, headers=headers)
        if path == '/api/session' and method == 'POST':
            self.next_id += 1
            self.sessions[self.next_id] = await request.json()
            return web.json_response(dict(self.sessions[self.next_id], id=self.next_id), status=201)
        if path.startswith('/api/session/') and method == 'DELETE':
            found = self.sessions.pop(int(path.rsplit('/', 1)[1]), None)
            return web.json_response(found or {'error': 'not found'}, status=200 if found else 404)
        if path == '/operation':
            return web.json_response({'result': (await request.json())['operation'] ** 2})
        return web.json_response({'status': 'ok', 'path': path})

    def close(self):
        asyncio.run_coroutine_threadsafe(self.runner.cleanup(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


@pytest.fixture
def target():
    made = []

    def start(**options):
        made.append(Target(**options))
        return made[-1]
    yield start
    for one in made:
        one.close()


@pytest.fixture
def json_file():
    def read(path):
        with open(path) as handle:
            return json.load(handle)
    return read
