"""An open-model, constant-arrival-rate HTTP load generator (asyncio + aiohttp).

Requests start on a fixed schedule (request i of a phase at phase_start + i / rate) whether or not the earlier ones
have finished: a slow server gets more requests in flight, not fewer requests (no coordinated omission). Latency is
counted from the *due* time, so a start that was late counts against the figure, and the lateness itself (the
generator's scheduling lag) is reported with the generator's own CPU use: a reader sees whether the client kept up.

The list endpoints (`GET /api/{movie,customer,session}`: 100k-row sorts) are not part of the rate: one lane asks
them one at a time, one after the other, as the brief asks ("one at a time").
"""

import asyncio
import json
import random
import sys
import time
from dataclasses import dataclass

import aiohttp

from bench import stats


@dataclass(slots=True)
class Sample:
    due: float          # seconds since the run's start when the request was due
    endpoint: str       # 'GET /api/movie/{id}'
    status: int         # HTTP status; 0 = no answer (connection error, timeout)
    latency: float      # seconds from due to the end of the body
    lag: float = 0.0    # seconds the start was late
    error: str = ''     # for status 0: the exception's class; for a 429 the LB answered itself: who
    age: float = None   # /long_dummy: seconds since the body was generated (the cache's age)
    cache: str = ''     # /long_dummy: the LB's X-Cache-Status (HIT, STALE, UPDATING, MISS...), '' without one

    def to_row(self):
        return [round(self.due, 4), self.endpoint, self.status, round(self.latency, 5), round(self.lag, 5),
                self.error, None if self.age is None else round(self.age, 3), self.cache]

    @classmethod
    def from_row(cls, row):
        due, endpoint, status, latency, lag, error, age = row[:7]
        return cls(float(due), str(endpoint), int(status), float(latency), float(lag), str(error or ''),
                   None if age is None else float(age), str(row[7] if len(row) > 7 else '') or '')


@dataclass
class Ids:
    """The id ranges random {id} requests draw from (1..N: prepare_db's ids are contiguous)."""
    movies: int
    customers: int
    sessions: int


def schedule(phases):
    """Due times (s since start) of a list of (seconds, rate) phases: evenly spaced, 1/rate apart."""
    if not phases:
        raise ValueError('phases: at least one (seconds, rate) phase is needed')
    start = 0.0
    for seconds, rate in phases:
        if seconds <= 0 or rate < 0:
            raise ValueError('phases: seconds must be > 0 and rate >= 0, got (%r, %r)' % (seconds, rate))
        count = int(round(seconds * rate))
        for i in range(count):
            yield start + i / rate
        start += seconds


def duration(phases):
    return float(sum(seconds for seconds, _ in phases))


# The body of the 429 the LB answers itself when no peer has room (roles/openresty balancer.lua, admit()).
LB_BUSY = 'every peer is at its limit'

# The brief's mix (weights of the open-model rate). A session is created and then deleted by the same arrival.
MIX = (
    ('POST /operation', 20),
    ('GET /db_dummy', 20),
    ('GET /api/movie/{id}', 14),
    ('GET /api/customer/{id}', 14),
    ('GET /api/session/{id}', 14),
    ('POST /api/session', 6),  # + DELETE /api/session/{id} of the created one
    ('GET /long_dummy', 12),
)
LIST_ENDPOINTS = ('GET /api/movie', 'GET /api/customer', 'GET /api/session')
# The bars of the brief apply to these (p90 < 400 ms at 120 RPS, <= 1 % errors).
SLA_ENDPOINTS = ('POST /operation', 'GET /db_dummy', 'GET /api/movie/{id}', 'GET /api/customer/{id}',
                 'GET /api/session/{id}')


class LoadGenerator:
    """Run phases of constant-rate load against base_url with a weighted mix; collect a Sample per request.

    mix: ((endpoint, weight), ...) from MIX's endpoints; keep_sessions=True makes POST /api/session keep the
    session (no DELETE) and remember every id the API acknowledged in .acknowledged (the PostgreSQL scenario).
    """

    def __init__(self, base_url, phases, ids, mix=MIX, list_lane=True, list_pause=1.0, timeout=10.0, seed=1,
                 keep_sessions=False, progress=None, progress_every=10.0, lists=LIST_ENDPOINTS):
        self.base_url = base_url.rstrip('/')
        self.phases = list(phases)
        self.due_times = list(schedule(self.phases))
        self.ids = ids
        self.rng = random.Random(seed)
        names, weights = zip(*mix)
        unknown = [n for n in names if n not in dict(MIX)]
        if unknown:
            raise ValueError('mix: unknown endpoint(s) %s (known: %s)' % (', '.join(unknown), ', '.join(dict(MIX))))
        self.mix_names, self.mix_weights = names, weights
        self.list_lane, self.list_pause, self.lists = list_lane, list_pause, tuple(lists)
        self.timeout = aiohttp.ClientTimeout(total=timeout)
        self.keep_sessions = keep_sessions
        self.progress, self.progress_every = progress, progress_every
        self.samples, self.marks, self.acknowledged = [], [], []
        self.start = None
        self.end = None
        self.generator = {}

    def now(self):
        """Seconds since the run's start (for marks and scenario actions)."""
        return time.monotonic() - self.start

    def end_at(self, t):
        """End the load at t s (before the phases' end): a scenario whose action took less than the phases allow."""
        self.end = t

    def planned(self):
        """The run's length in s: the phases, or less when end_at() cut it."""
        return duration(self.phases) if self.end is None else min(self.end, duration(self.phases))

    def mark(self, name):
        """Mark a moment (an operator action) on the run's timeline and plots."""
        self.marks.append(dict(t=round(self.now(), 3), name=name))

    async def run(self, *actions):
        """Run the load; actions are coroutine functions called with this generator, concurrently with the load."""
        connector = aiohttp.TCPConnector(limit=0, ssl=False, ttl_dns_cache=300)  # self-signed LB: like curl -k
        async with aiohttp.ClientSession(connector=connector, timeout=self.timeout) as client:
            self.client = client
            self.start = time.monotonic()
            cpu0, wall0 = time.process_time(), time.monotonic()
            self._stop = asyncio.Event()
            helpers = [asyncio.create_task(self._progress())]
            if self.list_lane:
                helpers.append(asyncio.create_task(self._lists()))
            side = [asyncio.create_task(action(self)) for action in actions]
            in_flight = set()
            lags = []
            loop_start = self.start
            for due in self.due_times:
                if self.end is not None and due >= self.end:
                    break
                delay = loop_start + due - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                lag = max(0.0, time.monotonic() - loop_start - due)
                lags.append(lag)
                task = asyncio.create_task(self._arrival(due, lag))
                in_flight.add(task)
                task.add_done_callback(in_flight.discard)
            while self.now() < self.planned():  # the last interval, or until end_at() says
                await asyncio.sleep(min(0.2, max(0.0, self.planned() - self.now())))
            self._stop.set()
            if in_flight:
                await asyncio.wait(in_flight)
            side_results = await asyncio.gather(*side, return_exceptions=True)
            for task in helpers:
                task.cancel()
            await asyncio.gather(*helpers, return_exceptions=True)
            wall = time.monotonic() - wall0
            self.generator = dict(
                cpu_pct_of_one_core=round(100.0 * (time.process_time() - cpu0) / wall, 1),
                lag_p50_ms=_ms(stats.percentile(lags, 50)), lag_p99_ms=_ms(stats.percentile(lags, 99)),
                lag_max_ms=_ms(max(lags) if lags else None), scheduled=len(lags), wall_s=round(wall, 2))
        for result in side_results:
            if isinstance(result, BaseException):
                raise result
        return self.samples

    async def _arrival(self, due, lag):
        name = self.rng.choices(self.mix_names, self.mix_weights)[0]
        ids, rng = self.ids, self.rng
        if name == 'POST /operation':
            await self.request(name, 'POST', '/operation', due, lag, body={'operation': rng.randint(1, 10 ** 6)})
        elif name == 'GET /db_dummy':
            await self.request(name, 'GET', '/db_dummy', due, lag)
        elif name == 'GET /long_dummy':
            await self.request(name, 'GET', '/long_dummy', due, lag)
        elif name == 'POST /api/session':
            body = {'customer_id': rng.randint(1, ids.customers), 'movie_id': rng.randint(1, ids.movies)}
            status, data = await self.request(name, 'POST', '/api/session', due, lag, body=body)
            if status == 201 and isinstance(data, dict) and 'id' in data:
                if self.keep_sessions:
                    self.acknowledged.append(data['id'])
                else:
                    await self.request('DELETE /api/session/{id}', 'DELETE', '/api/session/%d' % data['id'],
                                       self.now(), 0.0)
        else:  # GET /api/<kind>/{id}
            kind = name.split('/')[2]
            top = {'movie': ids.movies, 'customer': ids.customers, 'session': ids.sessions}[kind]
            await self.request(name, 'GET', '/api/%s/%d' % (kind, rng.randint(1, top)), due, lag)

    async def request(self, endpoint, method, path, due, lag, body=None):
        """One request, recorded as a Sample; returns (status, parsed JSON body or None)."""
        status, data, error, age, cache = 0, None, '', None, ''
        try:
            async with self.client.request(method, self.base_url + path, json=body) as response:
                raw = await response.read()
                status = response.status
                cache = response.headers.get('X-Cache-Status', '')
            if raw[:1] in (b'{', b'['):
                try:
                    data = json.loads(raw)
                except ValueError:
                    data = None
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
            error = type(exc).__name__
        latency = self.now() - due
        if status == 429 and isinstance(data, dict) and LB_BUSY in str(data.get('error', '')):
            error = 'LB: every peer at its limit'  # the LB's own 429 (balancer.admit), not a peer's passed on
        if endpoint == 'GET /long_dummy' and isinstance(data, dict) and 'generated_at_unix' in data:
            age = max(0.0, time.time() - float(data['generated_at_unix']))
        self.samples.append(Sample(due, endpoint, status, latency, lag, error, age, cache))
        return status, data

    async def _lists(self):
        """The list endpoints, one request at a time, list_pause s apart."""
        i = 0
        while not self._stop.is_set():
            name = self.lists[i % len(self.lists)]
            i += 1
            await self.request(name, 'GET', name.split(' ', 1)[1], self.now(), 0.0)
            try:
                await asyncio.wait_for(self._stop.wait(), self.list_pause)
            except asyncio.TimeoutError:
                pass

    async def _progress(self):
        if not self.progress:
            return
        total = duration(self.phases)
        while True:
            await asyncio.sleep(self.progress_every)
            t = self.now()
            recent = [s for s in self.samples if s.due >= t - self.progress_every]
            errors = sum(1 for s in recent if stats.is_error(s))
            p90 = stats.percentile([s.latency * 1000 for s in recent if not stats.is_error(s)], 90)
            self.progress('  %5.0f/%.0f s  %5.1f RPS answered  errors %d  p90 %s ms' % (
                t, total, len(recent) / self.progress_every, errors, '-' if p90 is None else '%.0f' % p90))


def _ms(seconds):
    return None if seconds is None else round(seconds * 1000.0, 2)


def discover_ids(base_url, timeout=120.0):
    """The id ranges of the deployed data: the list endpoints' lengths (prepare_db's ids are 1..N; a session list is
    capped at 100 000 rows, so sessions = 10 per customer, prepare_db's ratio at both scales)."""
    async def lengths():
        connector = aiohttp.TCPConnector(ssl=False)
        async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=timeout)) as c:
            found = {}
            for kind in ('movie', 'customer'):
                async with c.get('%s/api/%s' % (base_url.rstrip('/'), kind)) as response:
                    if response.status != 200:
                        raise RuntimeError('GET /api/%s answered %d: is the stack up and prepared?'
                                           % (kind, response.status))
                    found[kind] = len(json.loads(await response.read()))
            return found
    found = asyncio.run(lengths())
    return Ids(movies=found['movie'], customers=found['customer'], sessions=10 * found['customer'])


def log(message):
    print(message, file=sys.stderr, flush=True)
