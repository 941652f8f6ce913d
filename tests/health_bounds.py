"""How fast the LB's health checker may mark a peer down and up again: the one formula pytest and molecule check.

    bounds(interval_s, fall, rise, timeout_s, fails_after_s=0.0) -> {'eject_max', 'eject_min', 'readmit_max', ...}
    python tests/health_bounds.py '{"interval_ms": 1000, "timeout_ms": 1000, "fall": 3, "rise": 2}' [timeout|at-once]
        prints the same as JSON (molecule/openresty/verify.yml; the check settings come from /hck_status)

The checker (roles/openresty/files/lua/filmopoisk/healthcheck.lua) starts a round at most `interval` after the
previous one (every worker's timer ticks each interval; a lock lets one worker probe). So from the moment a peer
stops answering, the first failing probe starts within one interval and the `fall`-th within `fall` intervals;
it ends `fails_after_s` later: at once when the connection is refused or the name is gone, after `timeout` when
connects time out (a vanished VM). Readmission is the same with `rise`; a good probe takes milliseconds.
Under traffic, passive ejection (failed requests) may mark the peer down sooner, never later.

How a test measures, so that the slack covers only the LB's timer jitter on a busy host (not the docker CLI):
the LB's own `last_change` timestamp, minus a time taken *after* the fault took effect for the upper bounds
(the command that makes it has returned) and *before* it for the lower bound.
"""

import json
import sys

SLACK = 0.5  # s: ngx timers fire late on 2 busy cores; the lock may shift a round by up to 0.1 interval


def bounds(interval_s, fall, rise, timeout_s, fails_after_s=0.0, slack=SLACK):
    """Bounds in seconds. fails_after_s: how long one failing probe takes (0, or timeout_s when connects time out)."""
    assert 0 <= fails_after_s <= timeout_s, 'a probe gives up after timeout_s'
    return {
        # fault in effect -> marked down (last_change)
        'eject_max': round(fall * interval_s + fails_after_s + slack, 3),
        # fault started -> marked down, with no traffic (active check alone): fall - 1 intervals at least
        'eject_min': round((fall - 1) * interval_s + fails_after_s - slack, 3),
        # peer serving again -> marked up
        'readmit_max': round(rise * interval_s + slack, 3),
        # first good probe (its last_probe) -> marked up: rise - 1 more rounds
        'readmit_after_first_good_max': round((rise - 1) * interval_s + slack, 3),
        'slack': slack,
    }


def from_check(check, fails='at-once'):
    """bounds() from the `check` object of the LB's /hck_status page (interval_ms, timeout_ms, fall, rise)."""
    interval, timeout = check['interval_ms'] / 1000.0, check['timeout_ms'] / 1000.0
    return bounds(interval, check['fall'], check['rise'], timeout, timeout if fails == 'timeout' else 0.0)


if __name__ == '__main__':
    print(json.dumps(from_check(json.loads(sys.argv[1]), *sys.argv[2:3]), sort_keys=True))
