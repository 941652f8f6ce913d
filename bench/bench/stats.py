"""Figures from request records: percentiles, per-endpoint summaries, per-second timelines, gaps.

A record is a `Sample` (bench/loadgen.py): when it was due, what it asked, the status, the latency. Pure functions,
no I/O, so the unit tests check the math on hand-made samples.
"""

import bisect
import math
from collections import Counter, defaultdict


def percentile(values, q):
    """The q-th percentile (0..100) by linear interpolation between closest ranks (numpy's default); None if empty."""
    if not 0 <= q <= 100:
        raise ValueError('percentile q must be within 0..100, got %r' % (q,))
    ordered = sorted(values)
    if not ordered:
        return None
    rank = (len(ordered) - 1) * q / 100.0
    low, high = math.floor(rank), math.ceil(rank)
    if low == high:
        return ordered[low]
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def is_error(sample):
    """A failed request as the user sees it: no answer (status 0), or a 4xx/5xx."""
    return sample.status == 0 or sample.status >= 400


def is_idempotent(sample):
    """Idempotent by method (RFC 9110 9.2.2): every method but POST here; a DELETE of a created session counts as
    idempotent (sending it again deletes nothing more)."""
    return not sample.endpoint.startswith('POST ')


def started(sample):
    """When the request really started (s since the run's start): due + the generator's lag."""
    return sample.due + sample.lag


def in_flight_at(samples, t):
    """The requests started before `t` that had not finished by then (their answer, or failure, came later)."""
    return [s for s in samples if started(s) <= t < s.due + s.latency]


def action_failures(samples, at, done=None):
    """How the failures of the requests that ended after `at` (an operator action) split: by idempotence, and
    whether the request was already in flight at `at`, started while the action ran (until `done`: a VM's removal
    takes a moment, and the node dies somewhere within it), or started after it. The bench sees the requests in
    flight overall, not per node: `in_flight_*` count every node's, an upper bound of those on the node the action
    hit."""
    flight = in_flight_at(samples, at)
    flying = set(map(id, flight))
    done = at if done is None else done
    failed = [s for s in samples if is_error(s) and s.due + s.latency > at]
    later = [s for s in failed if id(s) not in flying]
    return dict(
        in_flight_at_action=len(flight),
        in_flight_non_idempotent_at_action=sum(1 for s in flight if not is_idempotent(s)),
        failed_idempotent=sum(1 for s in failed if is_idempotent(s)),
        failed_non_idempotent=sum(1 for s in failed if not is_idempotent(s)),
        failed_in_flight_at_action=len(failed) - len(later),
        failed_started_during_action=sum(1 for s in later if started(s) <= done),
        failed_started_after_action=sum(1 for s in later if started(s) > done))


def window(samples, start=None, end=None):
    """The samples due within [start, end) (seconds since the run's start)."""
    return [s for s in samples if (start is None or s.due >= start) and (end is None or s.due < end)]


def summarize(samples, duration):
    """Per endpoint: count, RPS (over duration s), p50/p75/p90/p99 (ms, successful requests), errors, statuses."""
    by_endpoint = defaultdict(list)
    for sample in samples:
        by_endpoint[sample.endpoint].append(sample)
    summary = {}
    for endpoint, group in sorted(by_endpoint.items()):
        ok = [s.latency * 1000.0 for s in group if not is_error(s)]
        errors = sum(1 for s in group if is_error(s))
        summary[endpoint] = dict(
            count=len(group), rps=round(len(group) / duration, 2) if duration > 0 else None,
            p50_ms=_round(percentile(ok, 50)), p75_ms=_round(percentile(ok, 75)),
            p90_ms=_round(percentile(ok, 90)), p99_ms=_round(percentile(ok, 99)),
            max_ms=_round(max(ok) if ok else None),
            errors=errors, error_pct=round(100.0 * errors / len(group), 3),
            statuses={str(k): v for k, v in sorted(Counter(s.status for s in group).items())})
    return summary


def failures(samples):
    """{endpoint: {status or error text: count}} of the failed requests (status 0 shows its error text)."""
    found = defaultdict(Counter)
    for sample in samples:
        if is_error(sample):
            if sample.status:  # an HTTP error; `error` says who answered when the bench can tell (the LB itself)
                key = '%d %s' % (sample.status, sample.error) if sample.error else str(sample.status)
            else:
                key = sample.error or 'no answer'
            found[sample.endpoint][key] += 1
    return {endpoint: dict(counter) for endpoint, counter in sorted(found.items())}


def longest_success_gap(samples, start=None, end=None):
    """The longest time (s) without a successful answer finishing, within [start, end) of the answers' end times.

    The window's edges count as answers: a run whose last answers all failed shows that as a gap.
    """
    done = sorted(s.due + s.latency for s in samples if not is_error(s))
    if start is not None:
        done = [t for t in done if t >= start]
        done.insert(0, start)
    if end is not None:
        done = [t for t in done if t < end]
        done.append(end)
    if len(done) < 2:
        return None
    return round(max(b - a for a, b in zip(done, done[1:])), 3)


def success_gaps(samples, start=None, end=None, over=1.0):
    """[(from, seconds)] of every stretch longer than `over` s without a successful answer finishing (the window's
    edges count as answers, as in longest_success_gap)."""
    done = sorted(s.due + s.latency for s in samples if not is_error(s))
    if start is not None:
        done = [start] + [t for t in done if t >= start]
    if end is not None:
        done = [t for t in done if t < end] + [end]
    return [(round(a, 3), round(b - a, 3)) for a, b in zip(done, done[1:]) if b - a > over]


def rejections_with_room(samples, pages, limit, status=429):
    """The `status` answers (429: too many requests) that came while the LB's pages showed peers enough for the
    load: (up peers) x `limit` RPS above the requests the bench started in the second before the answer.

    pages: [(t, up peers)] on the load's clock, the fewest any LB node's page showed at that poll. What the bench
    cannot see is each peer's own count (the LB's budget, the app's one-second windows): "room" here is the
    cluster's, from the offered rate, not a peer's."""
    pages = sorted(pages)
    starts = sorted(started(s) for s in samples)
    found = []
    for sample in samples:
        if sample.status != status:
            continue
        t = sample.due + sample.latency
        i = bisect.bisect_right(pages, (t, float('inf'))) - 1
        if i < 0 or pages[i][1] is None:
            continue
        offered = bisect.bisect_right(starts, t) - bisect.bisect_left(starts, t - 1.0)
        if pages[i][1] * limit > offered:
            found.append(sample)
    return found


def timeline(samples, seconds, step=1.0):
    """Per step (by due time): offered, ok, errors, p50/p90/p99 (ms) of the successful ones; for the plots."""
    count = max(1, math.ceil(seconds / step - 1e-9))  # no empty bin after the last due time
    bins = [dict(t=round(i * step, 3), offered=0, ok=0, errors=0, latencies=[]) for i in range(count)]
    for sample in samples:
        index = int(sample.due / step)
        if 0 <= index < len(bins):
            row = bins[index]
            row['offered'] += 1
            if is_error(sample):
                row['errors'] += 1
            else:
                row['ok'] += 1
                row['latencies'].append(sample.latency * 1000.0)
    for row in bins:
        latencies = row.pop('latencies')
        for q in (50, 90, 99):
            row['p%d_ms' % q] = _round(percentile(latencies, q))
    return bins


def _round(value):
    return None if value is None else round(value, 2)
