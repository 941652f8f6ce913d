"""bingo's misbehaviours, each opt-in and driven by one seeded RNG so a run can be replayed.

- crash: the process exits with a random non-zero code after a random 10-25 min (or `after` s);
- sick_ping: /ping answers 500 "I feel bad" for spells (healthy for U(healthy_seconds), then sick
  for U(sick_seconds), and so on);
- rps_limit: above N requests in the current second, answer 429 "Too many requests";
- leak_bytes_per_request: every request keeps that many bytes (touched, so RSS really grows).
"""

import os
import random
import time

# Exit codes the crash picks from: like bingo, "random", and never 0.
CRASH_CODES = (1, 2, 3, 4, 5, 42, 99, 101, 111, 127)


class Quirks:
    def __init__(self, cfg, clock=time.monotonic):
        q = cfg['quirks']
        self.seed = q['seed'] if q['seed'] is not None else int.from_bytes(os.urandom(4), 'big')
        self._rng = random.Random(self.seed)
        self._clock = clock

        crash = q['crash']
        self.crash_enabled = bool(crash['enabled'])
        if crash.get('after') is not None:
            self.crash_after = float(crash['after'])
        else:
            self.crash_after = self._rng.uniform(crash['min_seconds'], crash['max_seconds'])
        self.crash_code = self._rng.choice(CRASH_CODES)

        sick = q['sick_ping']
        self.sick_enabled = bool(sick['enabled'])
        self._healthy_range = sick['healthy_seconds']
        self._sick_range = sick['sick_seconds']
        self._sick = False
        self._spell_ends = self._clock() + self._rng.uniform(*self._healthy_range)

        self.rps_limit = int(q['rps_limit'])
        self._window = 0
        self._count = 0

        self.leak_bytes = int(q['leak_bytes_per_request'])
        self._leaked = []

    def describe(self):
        return {
            'seed': self.seed,
            'crash': {'enabled': self.crash_enabled, 'after_seconds': round(self.crash_after, 3),
                      'exit_code': self.crash_code} if self.crash_enabled else {'enabled': False},
            'sick_ping': {'enabled': self.sick_enabled, 'healthy_seconds': self._healthy_range,
                          'sick_seconds': self._sick_range},
            'rps_limit': self.rps_limit,
            'leak_bytes_per_request': self.leak_bytes,
        }

    def ping_is_sick(self):
        """Advance the healthy/sick spell schedule to now; True while in a sick spell."""
        if not self.sick_enabled:
            return False
        now = self._clock()
        while now >= self._spell_ends:
            self._sick = not self._sick
            span = self._sick_range if self._sick else self._healthy_range
            # max(): a zero-length spell must not loop forever on the same instant
            self._spell_ends += max(self._rng.uniform(*span), 1e-3)
        return self._sick

    def over_rps_limit(self):
        """Count this request in the current one-second window; True when it is over the limit."""
        if not self.rps_limit:
            return False
        second = int(self._clock())
        if second != self._window:
            self._window, self._count = second, 0
        self._count += 1
        return self._count > self.rps_limit

    def leak(self):
        if self.leak_bytes:
            # b'x' * n is memset-filled: the pages are touched, unlike a lazily mapped bytearray(n).
            self._leaked.append(b'x' * self.leak_bytes)

    @property
    def leaked_bytes(self):
        return len(self._leaked) * self.leak_bytes
