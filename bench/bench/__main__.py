"""make bench: the SLA bench of issue 12 against the stack `make up` deployed (or --url).

    python -m bench                                  # the default scenarios (under 20 minutes)
    python -m bench --scenarios load,app-kill        # some of them (make bench SCENARIOS=load,app-kill)
    python -m bench --list                           # what there is
    python -m bench --db-full                        # + the database at full scale, indexes vs. none (minutes)

Writes <out>/results.json (every figure), <out>/summary.md (figure vs. bar), <out>/<scenario>.png and the raw
samples; prints the table. Exit 0: every bar met; 1: a bar missed; 2: the bench could not run.
"""

import argparse
import os
import platform
import sys
import time
import traceback

from bench import loadgen, report, scenarios
from bench.stack import ROOT, Stack

# quirks includes the app rollouts (to the quirks-on app and back); app-rollout alone is a marker change.
# cache comes late: it reads the /long_dummy answers of the scenarios before it (>= 3 minutes of them).
DEFAULT = ('load', 'app-kill', 'app-node-kill', 'lb-node-kill', 'pg-restart', 'app-rollout', 'app-restart',
           'lb-rollout', 'api-kill', 'quirks', 'cache', 'startup', 'ratios', 'automation')
EXTRA = ('db-full',)


def machine():
    with open('/proc/meminfo') as handle:
        total_kb = int(handle.readline().split()[1])
    return {'cores': os.cpu_count(), 'memory': '%.0f GB' % (total_kb / 2 ** 20), 'kernel': platform.release(),
            'load average at start': '%.2f %.2f %.2f' % os.getloadavg(), 'python': platform.python_version()}


def parse(argv):
    parser = argparse.ArgumentParser(prog='python -m bench', description=__doc__.split('\n')[0])
    parser.add_argument('--url', default=os.environ.get('BENCH_URL', 'https://127.0.0.1:8443'),
                        help='the published entry point (default: make up\'s https://127.0.0.1:8443)')
    parser.add_argument('--scenarios', default=os.environ.get('SCENARIOS', ''),
                        help='comma-separated; default: %s' % ','.join(DEFAULT))
    parser.add_argument('--out', default=None, help='output directory (default .run/bench/<time>)')
    parser.add_argument('--prefix', default='shs', help='shs_prefix of the deployment (node hostnames)')
    parser.add_argument('--state-dir', default=None, help="localcloud's state dir (default .run/localcloud)")
    parser.add_argument('--db-full', action='store_true', help='also the full-scale database step (minutes)')
    parser.add_argument('--seed', type=int, default=1)
    parser.add_argument('--time-scale', type=float, default=float(os.environ.get('BENCH_TIME_SCALE', '1')),
                        help='multiply the load and cache durations (e.g. 0.25 for a quick look; figures vary)')
    parser.add_argument('--list', action='store_true', help='list the scenarios and exit')
    args = parser.parse_args(argv)
    chosen = [s.strip() for s in args.scenarios.split(',') if s.strip()] or list(DEFAULT)
    if args.db_full and 'db-full' not in chosen:
        chosen.append('db-full')
    unknown = [s for s in chosen if s not in scenarios.SCENARIOS]
    if unknown:
        parser.error('SCENARIOS: unknown %s (known: %s)' % (', '.join(unknown), ', '.join(scenarios.SCENARIOS)))
    args.chosen = chosen
    return args


def wait_healthy(stack, log, timeout=240):
    """Before a scenario: every app peer up on the LB's page and /ping answering through the entry point."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        page = stack.health()
        if stack.serving(page):
            return round(time.monotonic() - started, 1)
        time.sleep(1)
    raise RuntimeError('the stack is not healthy after %d s (LB page: %s): is it up? (make up)'
                       % (timeout, stack.health()))


def main(argv=None):
    args = parse(sys.argv[1:] if argv is None else argv)
    if args.list:
        print('\n'.join('%s%s' % (name, '' if name in DEFAULT else ' (not in the default run)')
                        for name in scenarios.SCENARIOS))
        return 0
    out = report.ensure_dir(args.out or os.path.join(ROOT, '.run', 'bench', time.strftime('%Y%m%d-%H%M%S')))
    stack = Stack(args.url, args.state_dir, args.prefix)
    log = loadgen.log
    log('bench: %s -> %s (scenarios: %s)' % (args.url, out, ', '.join(args.chosen)))
    try:
        wait_healthy(stack, log)
        ids = loadgen.discover_ids(args.url)
    except Exception as exc:
        log('bench: cannot start: %s' % exc)
        return 2
    log('bench: data ids: %s' % ids)
    ctx = scenarios.Context(stack, ids, out, log, args.seed, args.time_scale)
    results, started, failed = {}, time.monotonic(), []
    info = dict(machine=machine(), url=args.url, ids=ids.__dict__, scenarios=args.chosen,
                started=time.strftime('%Y-%m-%d %H:%M:%S %Z'))
    for name in args.chosen:
        t0 = time.monotonic()
        log('==> %s (%.0f s into the bench)' % (name, t0 - started))
        try:
            waited = wait_healthy(stack, log)
            if waited >= 1:
                log('  stack healthy again after %.0f s' % waited)
            found = scenarios.SCENARIOS[name](ctx)
        except Exception as exc:  # one broken scenario must not lose the others' figures
            log('  %s failed: %s' % (name, exc))
            traceback.print_exc()
            failed.append(name)
            found = {name: dict(figures={'error': str(exc)}, bars=[report.bar('scenario ran', 0, 1, '==')])}
        else:
            found = found['_multi'] if '_multi' in found else {name: found}
        for key, value in found.items():
            value['took_s'] = round(time.monotonic() - t0, 1)
            results[key] = value
            for b in value.get('bars', []):
                if not b['met']:
                    log('  MISSED %s: %s %s %s' % (b['name'], b['value'], b['op'], b['limit']))
        report.write_json(os.path.join(out, 'results.json'), dict(info, results=results))
    info['took_s'] = round(time.monotonic() - started, 1)
    report.write_json(os.path.join(out, 'results.json'), dict(info, results=results))
    machine_line = dict(info['machine'], shared='yes (other engineers\' tests ran at the same time)',
                        **{'bench took': '%.0f s' % info['took_s']})
    table = report.markdown(results, machine_line)
    peak = results.get('load', {}).get('summary', {}).get('peak')
    if peak:
        table += '\nLoad at %d RPS, per endpoint:\n\n' % scenarios.PEAK + report.endpoint_table(peak)
    with open(os.path.join(out, 'summary.md'), 'w') as handle:
        handle.write(table)
    print(table)
    plots = sorted(p for p in os.listdir(out) if p.endswith('.png'))
    print('results: %s' % os.path.join(out, 'results.json'))
    print('plots: %s' % ', '.join(os.path.join(out, p) for p in plots))
    missed = report.missed(results)
    if missed:
        print('%d bar(s) missed: %s' % (len(missed), '; '.join('%s: %s' % (s, b['name']) for s, b in missed)))
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
