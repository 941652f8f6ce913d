"""What a run writes: the JSON with every figure, the Markdown table (figure vs. bar), the PNG plots."""

import json
import os

from bench import stats


def bar(name, value, limit, op='<', unit='', note=''):
    """One bar of the brief: met when `value op limit` (a missing value misses the bar)."""
    if op not in ('<', '<=', '==', '>='):
        raise ValueError('bar %s: op must be <, <=, == or >=, got %r' % (name, op))
    met = value is not None and {'<': lambda: value < limit, '<=': lambda: value <= limit,
                                 '==': lambda: value == limit, '>=': lambda: value >= limit}[op]()
    return dict(name=name, value=value, limit=limit, op=op, unit=unit, met=bool(met), note=note)


def missed(results):
    """[(scenario, bar)] of every bar not met."""
    return [(name, b) for name, result in results.items() for b in result.get('bars', []) if not b['met']]


def _show(value, unit=''):
    if value is None:
        return 'n/a'
    if isinstance(value, float):
        value = ('%.1f' % value) if abs(value) < 1000 else ('%.0f' % value)
    return '%s%s' % (value, (' ' + unit) if unit else '')


def markdown(results, machine):
    """The summary: per scenario its bars (figure vs. bar, met or by how much missed), then its key figures."""
    lines = ['| scenario | figure | measured | bar | |', '|---|---|---|---|---|']
    for name, result in results.items():
        for b in result.get('bars', []):
            by = ''
            if not b['met'] and b['op'] != '==' and isinstance(b['value'], (int, float)) and b['limit']:
                by = ' (by %s)' % _show(b['value'] - b['limit'], b['unit'])
            lines.append('| %s | %s | %s | %s %s | %s%s |' % (
                name, b['name'], _show(b['value'], b['unit']), b['op'], _show(b['limit'], b['unit']),
                'met' if b['met'] else '**missed**', by))
        for key, value in result.get('figures', {}).items():
            lines.append('| %s | %s | %s | | |' % (name, key, _show(value) if not isinstance(value, dict)
                                                    else json.dumps(value, sort_keys=True)))
    lines.append('')
    lines.append('Machine: %s' % ', '.join('%s %s' % (k, v) for k, v in machine.items()))
    return '\n'.join(lines) + '\n'


def endpoint_table(summary):
    """Markdown table of a per-endpoint summary (stats.summarize)."""
    lines = ['| endpoint | RPS | p50 ms | p90 ms | p99 ms | errors % | statuses |', '|---|---|---|---|---|---|---|']
    for endpoint, row in summary.items():
        lines.append('| %s | %s | %s | %s | %s | %s | %s |' % (
            endpoint, _show(row['rps']), _show(row['p50_ms']), _show(row['p90_ms']), _show(row['p99_ms']),
            _show(row['error_pct']), ' '.join('%s:%d' % kv for kv in row['statuses'].items())))
    return '\n'.join(lines) + '\n'


def write_json(path, data):
    with open(path, 'w') as handle:
        json.dump(data, handle, indent=1, sort_keys=False, default=str)


def plot(path, title, samples, seconds, marks=(), step=1.0):
    """Offered and answered RPS, errors and latency percentiles per second, each operator action a vertical line;
    beside it the latency distribution per endpoint."""
    import matplotlib
    matplotlib.use('Agg')  # no display: files only
    import matplotlib.pyplot as plt

    rows = stats.timeline(samples, seconds, step)
    t = [r['t'] for r in rows]
    figure, axes = plt.subplots(4, 1, figsize=(11, 12), sharex=False)
    rps, err, lat, dist = axes
    rps.plot(t, [r['offered'] / step for r in rows], label='offered', color='grey', lw=1)
    rps.plot(t, [r['ok'] / step for r in rows], label='answered OK', color='tab:green', lw=1)
    rps.set_ylabel('requests/s')
    err.bar(t, [r['errors'] for r in rows], width=step, color='tab:red', label='failed')
    err.set_ylabel('failed per %gs' % step)
    for q, color in ((50, 'tab:blue'), (90, 'tab:orange'), (99, 'tab:red')):
        lat.plot(t, [r['p%d_ms' % q] for r in rows], label='p%d' % q, color=color, lw=1)
    lat.set_ylabel('latency ms (by due time)')
    lat.set_yscale('log')
    for axis in (rps, err, lat):
        for mark in marks:
            axis.axvline(mark['t'], color='black', ls='--', lw=0.8)
            axis.annotate(mark['name'], (mark['t'], 1), xycoords=('data', 'axes fraction'), fontsize=7,
                          rotation=90, va='top', ha='right')
        axis.set_xlabel('s since start')
        axis.legend(loc='upper left', fontsize=7)
        axis.grid(alpha=0.3)
    by_endpoint = {}
    for sample in samples:
        if not stats.is_error(sample):
            by_endpoint.setdefault(sample.endpoint, []).append(sample.latency * 1000.0)
    names = sorted(by_endpoint)
    if names:
        dist.boxplot([by_endpoint[n] for n in names], whis=(1, 99), showfliers=False)
        dist.set_xticks(range(1, len(names) + 1), names, rotation=20, fontsize=7)
        dist.set_yscale('log')
        dist.set_ylabel('latency ms (box p25-p75, whiskers p1-p99)')
        dist.grid(alpha=0.3)
    figure.suptitle(title)
    figure.tight_layout()
    figure.savefig(path, dpi=80)
    plt.close(figure)
    return path


def ensure_dir(path):
    os.makedirs(path, exist_ok=True)
    return path
