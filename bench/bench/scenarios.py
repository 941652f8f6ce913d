"""The scenarios of `make bench` (issue 12). Each takes a Context and returns
{'figures': {...}, 'bars': [report.bar(...)], 'summary': {endpoint: ...}, 'plots': [...], ...}.

Operator actions run at ACTION_AT s into a 120 RPS load; the LB's /hck_status is polled every 0.5 s meanwhile, so
the figures say when the LB marked the lost peer down and when every peer was up again.
"""

import asyncio
import json
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import sys
import time
from collections import Counter

import aiohttp

from bench import loadgen, report, stats
from bench.loadgen import LoadGenerator, Sample
from bench.stack import ROOT

PEAK, STABLE = 120, 60
ACTION_AT = 15.0
ERROR_BAR_PCT = {'GET /api/session': 5.0}   # the brief's exception; every other endpoint: 1 %


class Context:
    def __init__(self, stack, ids, out, log, seed=1, time_scale=1.0):
        self.stack, self.ids, self.out, self.log, self.seed = stack, ids, out, log, seed
        self.time_scale = time_scale  # < 1 shortens every load (the bench's own tests; quick looks)
        self.long_dummy, self.long_dummy_span = [], 0.0  # every scenario's /long_dummy answers, for `cache`
        self.long_dummy_calm = []  # those of the scenarios without an operator action (`load`)

    def seconds(self, seconds):
        return max(1.0, seconds * self.time_scale)

    def path(self, name):
        return os.path.join(self.out, name)


# --- shared pieces -------------------------------------------------------------------------------------------

class HealthWatch:
    """Polls the LB's /hck_status every `every` s in threads, on the load's clock: `rows` [(t, {host: up} or None)]
    through the entry point (the node the NLB picks answers), `per_lb` {LB hostname: rows} on each LB node directly
    (each node has a checker of its own: a peer is out once every node's page shows it down)."""

    def __init__(self, stack, gen, every=0.5, lb_nodes=None):
        self.stack, self.gen, self.every, self.rows = stack, gen, every, []
        self._stop = threading.Event()
        if lb_nodes is None:
            try:
                lb_nodes = stack.nodes('lb') if stack is not None else []
            except (RuntimeError, OSError, subprocess.SubprocessError):  # no docker: the entry point's page only
                lb_nodes = []
        scheme = stack.url.split(':', 1)[0] if stack is not None else 'https'
        self.lb_urls = {n['hostname']: '%s://%s' % (scheme, n['ip']) for n in lb_nodes if n.get('ip')}
        self.per_lb = {host: [] for host in self.lb_urls}

    @staticmethod
    def peers(page):
        try:
            return None if page is None else {p['host'].split('.')[0]: bool(p['up']) for p in page['peers']}
        except (KeyError, TypeError, AttributeError):
            return None

    async def __call__(self, gen):
        def poll(rows, url):
            while not self._stop.is_set():
                rows.append((round(gen.now(), 2), self.peers(self.stack.health(timeout=1.0, url=url))))
                self._stop.wait(self.every)
        sources = [(self.rows, None)] + [(self.per_lb[host], url) for host, url in self.lb_urls.items()]
        threads = [threading.Thread(target=poll, args=source, daemon=True) for source in sources]
        for thread in threads:
            thread.start()
        while gen.now() < gen.planned() and not gen._stop.is_set():
            await asyncio.sleep(0.2)
        self._stop.set()
        for thread in threads:
            await asyncio.to_thread(thread.join)

    def marked_down(self, host, after, rows=None):
        """Seconds from `after` until the LB's page showed `host` down (None: never)."""
        for t, peers in self.rows if rows is None else rows:
            if t >= after and peers is not None and peers.get(host) is False:
                return round(t - after, 2)
        return None

    def marked_down_everywhere(self, host, after):
        """Seconds from `after` until every LB node that answered showed `host` down (the slowest node's figure;
        None: one never did). Without per-node pages: the entry point's."""
        found = []
        for rows in self.per_lb.values():
            if any(t >= after and peers is not None for t, peers in rows):
                found.append(self.marked_down(host, after, rows))
        if not found:
            return self.marked_down(host, after)
        return None if None in found else max(found)

    def up_counts(self):
        """[(t, up peers)]: at each poll, the fewest peers up on the pages of the LB nodes answering then (a node
        that does not answer takes no traffic: left out). Without per-node pages: the entry point's."""
        polls = sorted(((t, host, peers) for host, rows in self.per_lb.items() for t, peers in rows),
                       key=lambda poll: poll[:2])
        if not polls:
            polls = [(t, '', peers) for t, peers in self.rows]
        latest, found = {}, []
        for t, host, peers in polls:
            if peers is None:
                latest.pop(host, None)
            else:
                latest[host] = sum(1 for up in peers.values() if up)
            found.append((t, min(latest.values()) if latest else None))
        return found

    def all_up(self, after):
        """Seconds from `after` until the page showed the whole group up again (as many peers up as the group's
        size: the page also lists the names a rollout's extra VM may take), after having shown less (None: never);
        0 when it never showed less after `after`."""
        need = self.stack.app_size() if self.stack is not None else None
        seen_down = False
        for t, peers in self.rows:
            if t < after:
                continue
            ok = bool(peers) and (sum(1 for up in peers.values() if up) >= need if need else all(peers.values()))
            if not ok:
                seen_down = True
            elif seen_down:
                return round(t - after, 2)
        return 0.0 if not seen_down else None


def save_samples(ctx, name, gen):
    report.write_json(ctx.path('%s.samples.json' % name),
                      dict(marks=gen.marks, generator=gen.generator, rows=[s.to_row() for s in gen.samples]))


def load_samples(path):
    with open(path) as handle:
        data = json.load(handle)
    return [Sample.from_row(row) for row in data['rows']], data.get('marks', [])


def run_load(ctx, name, phases, *actions, health=True, calm=False, **options):
    """Run phases of the mix with actions alongside; save the samples, draw the plot; (gen, watch). calm: no
    operator action in it (its /long_dummy answers are the cache scenario's latency sample)."""
    gen = LoadGenerator(ctx.stack.url, phases, ctx.ids, seed=ctx.seed, progress=ctx.log, **options)
    watch = HealthWatch(ctx.stack, gen) if health else None
    asyncio.run(gen.run(*actions, *([watch] if watch else [])))
    save_samples(ctx, name, gen)
    found = [s for s in gen.samples if s.endpoint == 'GET /long_dummy']
    if found:
        ctx.long_dummy.extend(found)
        ctx.long_dummy_span += gen.planned()
        if calm:
            ctx.long_dummy_calm.extend(found)
    report.plot(ctx.path('%s.png' % name), '%s (%s)' % (name, ', '.join('%g RPS x %gs' % (r, min(s, gen.planned()))
                                                                 for s, r in phases)),
                gen.samples, gen.planned(), gen.marks)
    return gen, watch


def error_bars(summary, prefix=''):
    return [report.bar('%serrors %s' % (prefix, endpoint), row['error_pct'], ERROR_BAR_PCT.get(endpoint, 1.0), '<=',
                       '%') for endpoint, row in summary.items()]


def operator_figures(gen, watch, at, lost=None, tier='app', done=None):
    """The per-scenario figures of an operator action at `at` s (over by `done` s): of the requests that ended after
    it (those in flight at the action included: a kill fails those first)."""
    after = [s for s in gen.samples if s.due + s.latency > at]
    figures = dict(
        action_at_s=round(at, 2),
        failed_requests=sum(1 for s in after if stats.is_error(s)),
        failed_pct_after_action=round(100.0 * sum(1 for s in after if stats.is_error(s)) / max(1, len(after)), 3),
        longest_success_gap_s=stats.longest_success_gap(gen.samples, start=at, end=gen.planned()),
        success_gaps_over_1s=stats.success_gaps(gen.samples, start=at, end=gen.planned(), over=1.0)[:10],
        failures_by_endpoint=stats.failures(after))
    # Idempotent or not, in flight at the action, started while it ran, or after it (over every node: see stats).
    figures.update(stats.action_failures(gen.samples, at, done))
    if done is not None:
        figures['action_took_s'] = round(done - at, 2)
    if watch is not None and lost and tier == 'app':
        figures['lb_marked_peer_down_after_s'] = watch.marked_down(lost, at)
        figures['peer_out_on_every_lb_after_s'] = watch.marked_down_everywhere(lost, at)
        figures['all_peers_up_again_after_s'] = watch.all_up(at)
    return figures


def idempotent_bars(figures, prefix=''):
    """Issue 13's bars of a lost app peer: no idempotent request fails; the non-idempotent ones that fail are at
    most those in flight at the loss (the bench counts those of every node: an upper bound of the lost node's)."""
    return [report.bar('%sfailed idempotent requests' % prefix, figures['failed_idempotent'], 0, '=='),
            report.bar('%sfailed non-idempotent <= in flight at the action' % prefix,
                       figures['failed_non_idempotent'], figures['in_flight_non_idempotent_at_action'], '<=', '',
                       'in flight: every node\'s (the bench cannot see which node a request went to); of the failed, '
                       '%d were in flight, %d started while the action ran, %d after it'
                       % (figures['failed_in_flight_at_action'], figures['failed_started_during_action'],
                          figures['failed_started_after_action']))]


def app_loss_bars(figures):
    return idempotent_bars(figures) + [
        report.bar('peer out on every LB node\'s page', figures.get('peer_out_on_every_lb_after_s'), 1.0, '<=', 's',
                   'the pages are polled every 0.5 s'),
        report.bar('replacement healthy (LB sees all peers up)', figures.get('all_peers_up_again_after_s'), 15, '<=',
                   's', 'locally')]


def in_thread(fn, *args):
    return asyncio.to_thread(fn, *args)


async def at_time(gen, t):
    while gen.now() < t:
        await asyncio.sleep(0.05)


# --- 1. load ---------------------------------------------------------------------------------------------------

def load(ctx, stable_s=60, peak_s=60):
    stable_s, peak_s = ctx.seconds(stable_s), ctx.seconds(peak_s)
    phases = [(stable_s, STABLE), (peak_s, PEAK)]
    gen, _ = run_load(ctx, 'load', phases, health=False, calm=True)
    stable_s, peak_s = phases[0][0], phases[1][0]
    stable = stats.summarize(stats.window(gen.samples, 0, stable_s), stable_s)
    peak = stats.summarize(stats.window(gen.samples, stable_s, stable_s + peak_s), peak_s)
    bars = [report.bar('p90 %s @%d RPS' % (e, PEAK), peak.get(e, {}).get('p90_ms'), 400, '<', 'ms')
            for e in loadgen.SLA_ENDPOINTS]
    bars += error_bars(stable, '@%d RPS ' % STABLE) + error_bars(peak, '@%d RPS ' % PEAK)
    ld = peak.get('GET /long_dummy', {})
    bars.append(report.bar('p75 GET /long_dummy @%d RPS' % PEAK, ld.get('p75_ms'), 1000, '<', 'ms'))
    return dict(summary={'stable': stable, 'peak': peak}, generator=gen.generator, bars=bars,
                figures={'generator CPU % of one core': gen.generator['cpu_pct_of_one_core'],
                         'generator lag p99 ms': gen.generator['lag_p99_ms'],
                         'generator lag max ms': gen.generator['lag_max_ms']},
                plots=[ctx.path('load.png')])


# --- 2. operator actions at 120 RPS --------------------------------------------------------------------------

def _operator(ctx, name, seconds, action, tier='app', lost=None, bars_for=None, then=None):
    """`action` at ACTION_AT s into `seconds` of the peak load, marked where it starts and where it returned ("<name>
    done"); `then`, if given, runs after it (a wait that is not part of the action)."""
    seconds = ctx.seconds(seconds)

    async def act(gen):
        await at_time(gen, ctx.seconds(ACTION_AT))
        gen.mark(name)
        await in_thread(action)
        gen.mark(name + ' done')
        if then is not None:
            await in_thread(then)
    gen, watch = run_load(ctx, name, [(seconds, PEAK)], act)
    at = gen.marks[0]['t']
    done = gen.marks[1]['t'] if len(gen.marks) > 1 else None
    figures = operator_figures(gen, watch, at, lost, tier, done)
    summary = stats.summarize(gen.samples, seconds)
    bars = bars_for(figures, summary) if bars_for else []
    return dict(figures=figures, summary=summary, generator=gen.generator, bars=bars, marks=gen.marks,
                health=watch.rows if watch else None, plots=[ctx.path('%s.png' % name)],
                up_counts=watch.up_counts() if watch else None)


def app_kill(ctx, seconds=45):
    """docker kill of app-1's SHS container (the watchdog's / restart policy's case)."""
    node = ctx.stack.node('app', 0)
    result = _operator(ctx, 'app-kill', seconds, lambda: ctx.stack.kill_service(node, 'shs'),
                       lost=node['hostname'], bars_for=lambda figures, summary: app_loss_bars(figures))
    result['figures']['app_down_s (docker FinishedAt -> StartedAt)'] = ctx.stack.down_time(
        ctx.stack.service_container(node, 'shs'))
    return result


def app_node_kill(ctx, seconds=90):
    """The VM of app-2 is gone (its node container and services removed): the group must heal it."""
    node = ctx.stack.node('app', 1)

    def bars_for(figures, summary):
        return [report.bar('app node back (LB sees all peers up)', figures.get('all_peers_up_again_after_s'), 60,
                           '<', 's', 'grader: failed node back in < 1 min'),
                report.bar('failed requests after the loss', figures['failed_pct_after_action'], 1.0, '<=', '%',
                           'grader: loss of a node invisible to users')] + app_loss_bars(figures)
    return _operator(ctx, 'app-node-kill', seconds, lambda: ctx.stack.remove_node(node), lost=node['hostname'],
                     bars_for=bars_for)


def lb_node_kill(ctx, seconds=60, replace_timeout=300):
    """One of the LB group's VMs gone (node container and services removed) behind the network load balancer: the
    other one carries the load, the NLB's checks take the lost one out, the group re-creates it."""
    node = ctx.stack.node('lb', 0)
    before = ctx.stack.group_instances('lb') or []
    replaced = {}

    def wait():
        replaced.update(wait_replaced(ctx.stack, 'lb', before, replace_timeout, time.monotonic()))

    def bars_for(figures, summary):
        return [report.bar('longest gap in successful answers (no moment with no LB answering)',
                           figures['longest_success_gap_s'], 1.0, '<=', 's'),
                report.bar('failed requests after the kill', figures['failed_pct_after_action'], 0.5, '<=', '%'),
                report.bar('failed requests that started once the VM was gone', figures['failed_started_after_action'],
                           0, '==', '', 'only those in flight may fail: at the kill, or sent while the removal ran '
                           '(%.2f s; the node dies within it): %d in flight, %d during (on any node: the bench cannot '
                           'tell which LB node had a request)' % (figures['action_took_s'],
                                                                  figures['failed_in_flight_at_action'],
                                                                  figures['failed_started_during_action']))]
    result = _operator(ctx, 'lb-node-kill', seconds, lambda: ctx.stack.remove_node(node), tier='lb',
                       bars_for=bars_for, then=wait)
    result['figures']['entry_point_back_after_s'] = _first_success_after_failures(ctx, result)
    result['figures'].update(killed_node=node['hostname'], lb_instances_before=before, **replaced)
    result['bars'].append(report.bar('LB node replaced (%d RUNNING_ACTUAL)' % max(1, len(before)),
                                     replaced.get('replaced_after_s'), replace_timeout, '<', 's',
                                     'the group\'s instances through the API'))
    return result


def wait_replaced(stack, tier, before, timeout, since, every=1.0):
    """After a VM of the group was removed: seconds (from `since`, monotonic) until the group again has as many
    instances as before, all RUNNING_ACTUAL, once it has shown the loss (an instance not RUNNING_ACTUAL, or other
    names). {'replaced_after_s': s or None, 'lb_instances_after': [(name, status)]}."""
    size = len(before) or 2
    names = sorted(name for name, _ in before)
    seen_loss, found = False, None
    while time.monotonic() - since < timeout:
        found = stack.group_instances(tier)
        if found is not None:
            whole = len(found) == size and all(status == 'RUNNING_ACTUAL' for _, status in found)
            if not whole or sorted(name for name, _ in found) != names:
                seen_loss = True
            if whole and seen_loss:
                return dict(replaced_after_s=round(time.monotonic() - since, 1), lb_instances_after=found)
        time.sleep(every)
    return dict(replaced_after_s=None, lb_instances_after=found)


def _first_success_after_failures(ctx, result):
    samples, _ = load_samples(ctx.path('%s.samples.json' % 'lb-node-kill'))
    at = result['figures']['action_at_s']
    failed = [s.due + s.latency for s in samples if s.due >= at and stats.is_error(s)]
    if not failed:
        return 0.0
    last_failure = max(failed)
    return round(last_failure - at, 2)


def _rollout(ctx, name, extra, seconds=600, tail=15.0, playbook='site.yml', gap_bar=False):
    """A playbook (site.yml with a payload change; rolling_restart.yml) while the load runs; the load ends `tail` s
    after it returns. Bars: rc 0 and no failed request (issue 13); gap_bar: no gap > 1 s in successful answers."""
    outcome = {}

    tail = ctx.seconds(tail)

    async def act(gen):
        await at_time(gen, ctx.seconds(ACTION_AT))
        gen.mark('%s starts' % os.path.basename(playbook))
        code, took, tail_text = await in_thread(lambda: ctx.stack.playbook(playbook, *extra,
                                                                           log=ctx.path('%s.site.log' % name)))
        gen.mark('%s done' % os.path.basename(playbook))
        outcome.update(rc=code, site_yml_s=round(took, 1))
        if code != 0:
            ctx.log('%s failed (rc %d): %s' % (playbook, code, tail_text[-1500:]))
        gen.end_at(gen.now() + tail)
    gen, watch = run_load(ctx, name, [(seconds, PEAK)], act)
    at = gen.marks[0]['t']
    figures = operator_figures(gen, watch, at, None, 'lb')
    figures.update(outcome)
    if watch:
        down = sorted({host for t, peers in watch.rows if t >= at and peers for host, up in peers.items() if not up})
        figures['peers_seen_down'] = down
    end = gen.samples and max(s.due for s in gen.samples)
    summary = stats.summarize(gen.samples, end or 1)
    bars = [report.bar('%s rc' % os.path.basename(playbook), outcome.get('rc'), 0, '=='),
            report.bar('failed requests', figures['failed_requests'], 0, '==')]
    if gap_bar:
        bars.append(report.bar('longest gap in successful answers', figures['longest_success_gap_s'], 1.0, '<=', 's'))
    return dict(figures=figures, summary=summary, generator=gen.generator, bars=bars, marks=gen.marks,
                health=watch.rows if watch else None, plots=[ctx.path('%s.png' % name)])


def app_rollout(ctx):
    marker = json.dumps({'shs_environment': {'SHS_BENCH_ROLLOUT': str(int(time.time()))}})
    result = _rollout(ctx, 'app-rollout', ['-e', marker])
    # Back to the inventory's app (not measured), as lb-rollout does for the LB: otherwise the next site.yml (that of
    # lb-rollout) rolls the app group back too, and its figures mix app restarts into the LB's rollout (the first
    # run of 0.5.0 did: both app VMs seen down during lb-rollout).
    code, took, _ = ctx.stack.site_yml(log=ctx.path('app-rollout-restore.site.log'))
    result['figures'].update(restore_rc=code, restore_site_yml_s=round(took, 1))
    return result


def app_restart(ctx):
    """playbooks/rolling_restart.yml on the app group (the operator's rolling restart) under load."""
    return _rollout(ctx, 'app-restart', ['-e', 'shs_rolling_tier=app'], playbook='playbooks/rolling_restart.yml')


def lb_rollout(ctx):
    # A harmless payload change of the LB group only: its error log level, the other one than the running LB's.
    node = ctx.stack.node('lb', 0)
    conf = ctx.stack.exec(node, 'grep', '-h', 'error_log', '/etc/filmopoisk/openresty/nginx.conf')
    level = 'notice' if ' info;' in conf else 'info'
    result = _rollout(ctx, 'lb-rollout', ['-e', 'openresty_error_log_level=%s' % level], gap_bar=True)
    # Back to the inventory's LB (not measured): otherwise the next scenario's site.yml would roll the LB back and
    # its figures would mix an LB restart into an app rollout (the first full run did).
    code, took, _ = ctx.stack.site_yml(log=ctx.path('lb-rollout-restore.site.log'))
    result['figures'].update(restore_rc=code, restore_site_yml_s=round(took, 1))
    return result


def api_kill(ctx, dead_s=60, tail=15.0):
    """The localcloud API server SIGKILLed at ACTION_AT under load and kept dead `dead_s` s (the data plane: the
    NLB's HAProxy and the COI nodes, runs on), then started again as `make up` does and site.yml run: no request
    may fail, the groups come back as they were, and site.yml changes nothing."""
    listen = ctx.stack.endpoint_info()['endpoint'].rsplit('/', 1)[-1]
    before = {tier: ctx.stack.group_instances(tier) for tier in ('app', 'lb', 'db')}
    outcome = {}

    async def act(gen):
        await at_time(gen, ctx.seconds(ACTION_AT))
        gen.mark('API server SIGKILL')
        try:
            outcome['killed_pid'] = await in_thread(ctx.stack.kill_api)
        except BaseException:
            gen.end_at(gen.now())
            raise
        await at_time(gen, gen.now() + dead_s)
        gen.mark('API server started')
        try:
            outcome['new_pid'] = await in_thread(ctx.stack.start_api, listen)
            code, took, text = await in_thread(lambda: ctx.stack.site_yml(log=ctx.path('api-kill.site.log')))
            gen.mark('site.yml done')
            outcome.update(site_yml_rc=code, site_yml_s=round(took, 1), site_yml_changed=stats_recap(text))
        finally:  # the load's phase is only an upper bound: it ends `tail` s after this, or at once on an error
            gen.end_at(gen.now() + tail)
    gen, watch = run_load(ctx, 'api-kill', [(ctx.seconds(ACTION_AT) + dead_s + 600, PEAK)], act)
    at = gen.marks[0]['t']
    figures = operator_figures(gen, watch, at, None, 'api')
    figures.update(outcome, api_down_s=round(gen.marks[1]['t'] - at, 1))
    after = {tier: ctx.stack.group_instances(tier) for tier in ('app', 'lb', 'db')}
    intact = all(before[t] is not None and sorted(before[t]) == sorted(after[t] or []) for t in before)
    figures.update(instances_before=before, instances_after=after, state_intact=intact)
    end = gen.samples and max(s.due for s in gen.samples)
    return dict(figures=figures, summary=stats.summarize(gen.samples, end or 1), generator=gen.generator,
                marks=gen.marks, health=watch.rows if watch else None, plots=[ctx.path('api-kill.png')],
                bars=[report.bar('failed requests', figures['failed_requests'], 0, '=='),
                      report.bar('site.yml after the restart rc', outcome.get('site_yml_rc'), 0, '=='),
                      report.bar('site.yml after the restart changed', outcome.get('site_yml_changed'), 0, '=='),
                      report.bar('groups\' instances as before (names, RUNNING_ACTUAL)', intact, True, '==')])


def pg_restart(ctx, seconds=45):
    """PostgreSQL restarted while sessions are written: every session the API acknowledged (201) must read back."""
    db = ctx.stack.node('db', 0)

    async def act(gen):
        await at_time(gen, ACTION_AT)
        gen.mark('postgres restart')
        await in_thread(ctx.stack.restart_service, db, 'postgres')
        gen.mark('postgres back')
    gen, watch = run_load(ctx, 'pg-restart', [(seconds, PEAK)], act, keep_sessions=True)
    at = gen.marks[0]['t']
    figures = operator_figures(gen, watch, at, None, 'db')
    figures['restart_took_s'] = round(gen.marks[1]['t'] - at, 2)
    lost = asyncio.run(_read_back(ctx.stack.url, gen.acknowledged))
    figures.update(acknowledged_writes=len(gen.acknowledged), lost_writes=len(lost), lost_ids=lost[:20])
    summary = stats.summarize(gen.samples, seconds)
    return dict(figures=figures, summary=summary, generator=gen.generator, marks=gen.marks,
                bars=[report.bar('acknowledged session writes lost', len(lost), 0, '==')],
                plots=[ctx.path('pg-restart.png')])


async def _read_back(url, ids):
    """GET every id (through the LB); then DELETE it (the bench leaves no sessions behind). Returns lost ids."""
    lost = []
    connector = aiohttp.TCPConnector(ssl=False, limit=8)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=30)) as client:
        async def one(session_id):
            for _ in range(3):  # a transport error is retried: only a 404 is a lost write
                try:
                    async with client.get('%s/api/session/%d' % (url, session_id)) as response:
                        if response.status == 404:
                            lost.append(session_id)
                            return
                        if response.status == 200:
                            async with client.delete('%s/api/session/%d' % (url, session_id)):
                                return
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(1)
            lost.append(session_id)
        semaphore = asyncio.Semaphore(8)

        async def limited(session_id):
            async with semaphore:
                await one(session_id)
        await asyncio.gather(*(limited(i) for i in ids))
    return sorted(lost)


# --- the app as bingo really runs (quirks on, time-compressed) -------------------------------------------------

# A crash after 60 s of every process life (so each instance crashes and is restarted during the run), sick /ping
# spells of 5-15 s after healthy ones of 30-50 s, bingo's 100 RPS per instance, 20 kB kept per request.
QUIRKS = {'SHS_QUIRK_CRASH_AFTER': '60', 'SHS_QUIRK_SICK_PING': '1', 'SHS_QUIRK_SICK_HEALTHY': '30,50',
          'SHS_QUIRK_SICK_DURATION': '5,15', 'SHS_QUIRK_RPS_LIMIT': '100', 'SHS_QUIRK_LEAK_BYTES': '20000'}


def quirks(ctx, seconds=75, node_lost_s=75):
    """The app as bingo runs: four results. `app-rollout`: site.yml turns the quirks on (the app payload change of
    the brief's rolling update; the new instances' quirks start to act during it); `quirks`: 120 RPS on it;
    `quirks-node-lost`: the same with app-2's node removed; `app-rollout-back`: site.yml back to the inventory's
    app (the old instances crash and sicken meanwhile)."""
    results = {}
    ctx.log('  quirks-rollout: site.yml -e shs_environment=%s' % json.dumps(QUIRKS))
    results['quirks-rollout'] = _rollout(ctx, 'quirks-rollout', ['-e', json.dumps({'shs_environment': QUIRKS})])
    try:
        if results['quirks-rollout']['figures'].get('rc') != 0:
            raise RuntimeError('site.yml (quirks on) failed: see %s' % ctx.path('quirks-rollout.site.log'))
        _wait_all_up(ctx)
        gen, watch = run_load(ctx, 'quirks', [(seconds, PEAK)])
        summary = stats.summarize(gen.samples, seconds)
        figures = dict(failed_requests=sum(1 for s in gen.samples if stats.is_error(s)),
                       failed_pct=round(100.0 * sum(1 for s in gen.samples if stats.is_error(s))
                                        / max(1, len(gen.samples)), 3),
                       longest_success_gap_s=stats.longest_success_gap(gen.samples, 0, seconds),
                       failures_by_endpoint=stats.failures(gen.samples),
                       peer_down_spells=_down_spells(watch))
        figures.update(stats.action_failures(gen.samples, 0.0))
        figures.update(rejection_figures(gen, watch))
        results['quirks'] = dict(figures=figures, summary=summary, generator=gen.generator,
                                 bars=error_bars(summary) + quirks_bars(figures), plots=[ctx.path('quirks.png')])
        _wait_all_up(ctx)
        node = ctx.stack.node('app', 1)
        lost = _operator(ctx, 'quirks-node-lost', node_lost_s, lambda: ctx.stack.remove_node(node),
                         lost=node['hostname'])
        gen_rows = load_samples(ctx.path('quirks-node-lost.samples.json'))[0]
        lost['figures'].update(rejection_figures(None, None, gen_rows, lost.pop('up_counts', None)))
        lost['bars'] = error_bars(lost['summary']) + quirks_bars(lost['figures'])
        results['quirks-node-lost'] = lost
        _wait_all_up(ctx)
    finally:
        ctx.log("  app-rollout-back: site.yml (the inventory's app, quirks off)")
        results['app-rollout-back'] = _rollout(ctx, 'app-rollout-back', [])
    return {'_multi': results}


RPS_LIMIT = int(QUIRKS['SHS_QUIRK_RPS_LIMIT'])  # bingo's, and the LB's openresty_peer_rps_limit default


def rejection_figures(gen, watch, samples=None, up_counts=None):
    """The 429s of a run: how many, how many the LB answered itself (no peer had room in its budget), and how many
    came while the LB nodes' pages showed peers enough for the offered rate (stats.rejections_with_room)."""
    samples = gen.samples if samples is None else samples
    up_counts = watch.up_counts() if up_counts is None and watch is not None else (up_counts or [])
    busy = [s for s in samples if s.status == 429]
    return {'429s': len(busy), '429s the LB answered itself (every peer at its limit)': sum(1 for s in busy if s.error),
            '429s while the pages showed peers with room': len(stats.rejections_with_room(samples, up_counts,
                                                                                           RPS_LIMIT))}


def quirks_bars(figures):
    return [report.bar('failed idempotent requests', figures['failed_idempotent'], 0, '=='),
            report.bar('429s while the pages showed peers with room', figures['429s while the pages showed peers '
                                                                              'with room'], 0, '==', '',
                       'room: (peers up on every LB node\'s page) x %d RPS > the RPS offered; the peers\' own counts '
                       'are not visible' % RPS_LIMIT)]


def _wait_all_up(ctx, timeout=180):
    """Every app peer up on the LB's page (quirks make it flap: the next scenario starts from a whole group)."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        page = ctx.stack.health()
        if ctx.stack.serving(page):
            return
        time.sleep(0.5)


def _down_spells(watch):
    """How many times a peer went from up to down on the LB's page."""
    count, last = 0, {}
    for _, peers in watch.rows if watch else []:
        for host, up in (peers or {}).items():
            if last.get(host) and not up:
                count += 1
            last[host] = up
    return count


# --- 3. cache ----------------------------------------------------------------------------------------------------

def cache(ctx, seconds=180, rate=10):
    """/long_dummy's p75/p99 and the oldest copy seen (its body's generated_at_unix) over >= `seconds` of load: the
    answers the earlier scenarios of this run got when they span that long, else a run of its own. The p99 bar is
    taken over the calm scenarios' answers (`load`: no operator action, whose slow spells are not the cache's), or
    over the run of its own."""
    seconds = ctx.seconds(seconds)
    own = ctx.long_dummy_span < seconds
    if not own:
        samples, span, source = ctx.long_dummy, ctx.long_dummy_span, 'the earlier scenarios of this run'
        calm = ctx.long_dummy_calm or samples
    else:
        gen, _ = run_load(ctx, 'cache', [(seconds, rate)], mix=(('GET /long_dummy', 1),), list_lane=False,
                          health=False)
        samples, span, source = gen.samples, seconds, '%g RPS of /long_dummy only' % rate
        calm = samples
    ages = [s.age for s in samples if s.age is not None]
    # The age is taken when the answer arrived: an upper bound (it includes the answer's own trip and the client's
    # delay); minus the request's latency it is a lower bound (the copy's age when the request was due).
    floor = [s.age - s.latency for s in samples if s.age is not None]
    summary = stats.summarize(samples, span)
    row = summary.get('GET /long_dummy', {})
    # Cached: what the LB's cache answered (X-Cache-Status HIT, STALE, UPDATING...), not its fills (MISS, EXPIRED).
    cached = [s for s in calm if s.cache in CACHED]
    cached_row = stats.summarize(cached, span).get('GET /long_dummy', {})
    # The bar's figure counts from when the request was sent: the latency from its due time less the generator's
    # lag in sending it (reported by itself), which is the client's delay, not the cache's.
    sent = [(s.latency - s.lag) * 1000.0 for s in cached if not stats.is_error(s)]
    sent_p99 = round(stats.percentile(sent, 99), 2) if sent else None
    figures = {'max age s': round(max(ages), 2) if ages else None, 'p75 ms': row.get('p75_ms'),
               'p99 ms': row.get('p99_ms'), 'answers with a marker': len(ages), 'over s': round(span, 1),
               'max age minus the request latency s': round(max(floor), 2) if floor else None,
               'from': source, 'calm answers': len(calm), 'calm answers by X-Cache-Status': dict(
                   sorted(Counter(s.cache or 'none' for s in calm).items())),
               'cached p75 ms': cached_row.get('p75_ms'), 'cached p99 ms (from the due time)': cached_row.get('p99_ms'),
               'cached p99 ms': sent_p99}
    bars = [report.bar('GET /long_dummy p75', row.get('p75_ms'), 1000, '<', 'ms')]
    if any(s.cache for s in calm):  # the LB's header: without it (another target) a hit cannot be told
        bars.append(report.bar('cached GET /long_dummy p99 (calm answers)', sent_p99, 10, '<', 'ms',
                               'from the send; from the due time (with the generator\'s lag): %s ms'
                               % cached_row.get('p99_ms')))
    bars.append(report.bar('GET /long_dummy max age over %.0f s' % seconds, figures['max age s'], 60, '<=', 's'))
    return dict(figures=figures, summary=summary, plots=[ctx.path('cache.png')] if own else [], bars=bars)


CACHED = ('HIT', 'STALE', 'UPDATING', 'REVALIDATED')  # nginx's $upstream_cache_status of an answer from the cache


# --- 4. start-up ---------------------------------------------------------------------------------------------------

def startup(ctx):
    """The SHS image started on loopback twice: its startup request refused (as the REJECT rule makes it) vs.
    hanging (a local listener that never answers, as 8.8.8.8 without the rule); seconds to the first pong."""
    image = subprocess.run([sys.executable, os.path.join(ROOT, 'tools', 'images.py'), 'tag', 'shs'], check=True,
                           capture_output=True, text=True).stdout.strip()
    hold = socket.socket()
    hold.bind(('127.0.0.1', 0))
    hold.listen(16)  # accepts (the kernel does) and never answers
    refused = socket.socket()
    refused.bind(('127.0.0.1', 0))  # bound, never listening: connection refused
    figures = {}
    try:
        for case, port in (('rejected', refused.getsockname()[1]), ('hanging', hold.getsockname()[1])):
            figures['%s: start to first pong s' % case] = _first_pong(image, 'http://127.0.0.1:%d/runtime_version'
                                                                      % port)
    finally:
        hold.close()
        refused.close()
    return dict(figures=figures, bars=[])


def _first_pong(image, startup_url, limit=90):
    with tempfile.TemporaryDirectory() as work:
        port = _free_port()
        email = 'bench@example.com'
        import hashlib
        logs = os.path.join(work, 'logs', hashlib.sha1(email.encode()).hexdigest()[:10])
        os.makedirs(logs)
        os.makedirs(os.path.join(work, 'bingo'))
        with open(os.path.join(work, 'bingo', 'config.yaml'), 'w') as handle:
            handle.write('student_email: %s\npostgres_cluster:\n  hosts: [{address: 127.0.0.1, port: 1}]\n'
                         '  user: x\n  password: x\n  db_name: x\n  ssl_mode: disable\n' % email)
        for root, dirs, _ in os.walk(work):
            for d in dirs:
                os.chmod(os.path.join(root, d), 0o777)
        name = 'shs-bench-startup-%d' % port
        env = ['-e', 'SHS_HTTP_HOST=127.0.0.1', '-e', 'SHS_HTTP_PORT=%d' % port, '-e', 'SHS_STARTUP_URL=' + startup_url]
        started = time.monotonic()
        subprocess.run(['docker', 'run', '-d', '--name', name, '--network', 'host', *env,
                        '-v', '%s/bingo:/opt/bingo:ro' % work, '-v', '%s/logs:/opt/bongo/logs' % work, image],
                       check=True, capture_output=True)
        try:
            while time.monotonic() - started < limit:
                try:
                    with socket.create_connection(('127.0.0.1', port), timeout=1) as conn:
                        conn.sendall(b'GET /ping HTTP/1.0\r\n\r\n')
                        if b'pong' in conn.recv(4096):
                            return round(time.monotonic() - started, 2)
                except OSError:
                    pass
                time.sleep(0.1)
            return None
        finally:
            subprocess.run(['docker', 'rm', '-f', name], capture_output=True)


def _free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


# --- 5. ratios, side by side -------------------------------------------------------------------------------------

ID_MIX = (('GET /api/movie/{id}', 1), ('GET /api/customer/{id}', 1), ('GET /api/session/{id}', 1),
          ('POST /operation', 1))


def ratios(ctx, seconds=20, rate=30, saturate_s=10, concurrency=16):
    """LB vs. direct-to-app and the entry point vs. the LB node direct, at the same rate at the same time; cached
    /long_dummy vs. a small page the LB serves itself (stub_status: the ceiling), closed loop."""
    app, lb = ctx.stack.node('app', 0), ctx.stack.node('lb', 0)
    scheme = ctx.stack.url.split(':', 1)[0]
    targets = {'entry point': ctx.stack.url, 'LB node direct': '%s://%s' % (scheme, lb['ip']),
               'app node direct': 'http://%s' % app['ip']}

    async def side_by_side():
        gens = {name: LoadGenerator(url, [(seconds, rate)], ctx.ids, mix=ID_MIX, list_lane=False, seed=ctx.seed)
                for name, url in targets.items()}
        await asyncio.gather(*(g.run() for g in gens.values()))
        return gens
    gens = asyncio.run(side_by_side())
    p = {}
    figures = {}
    for name, gen in gens.items():
        ok = [s.latency * 1000 for s in gen.samples if not stats.is_error(s)]
        p[name] = (stats.percentile(ok, 50), stats.percentile(ok, 90))
        figures['%s p50/p90 ms' % name] = '%.1f / %.1f' % p[name] if ok else 'n/a'
        figures['%s errors' % name] = sum(1 for s in gen.samples if stats.is_error(s))
    if all(p[n][0] for n in p):
        figures['LB / direct-to-app p50'] = round(p['LB node direct'][0] / p['app node direct'][0], 2)
        figures['entry point / LB node p50'] = round(p['entry point'][0] / p['LB node direct'][0], 2)
    cached = asyncio.run(saturate(ctx.stack.url + '/long_dummy', saturate_s, concurrency))
    static = asyncio.run(saturate(ctx.stack.url + '/nginx-status', saturate_s, concurrency))
    figures.update({'cached /long_dummy RPS (closed loop, %d conns)' % concurrency: cached,
                    'LB stub_status RPS (the ceiling)': static,
                    'cached / ceiling': round(cached / static, 2) if static else None})
    # Issue 13's ratios, closed loop with wrk (C, two threads: the Python client above is a limit of its own).
    lb_url = targets['LB node direct']
    tool = 'wrk' if shutil.which('wrk') else 'aiohttp (no wrk)'
    entry = throughput(ctx.stack.url + '/long_dummy', saturate_s, concurrency)
    direct = throughput(lb_url + '/long_dummy', saturate_s, concurrency)
    stub = throughput(lb_url + '/nginx-status', saturate_s, concurrency)
    nlb_ratio = round(entry['rps'] / direct['rps'], 2) if entry['rps'] and direct['rps'] else None
    cache_ratio = round(direct['rps'] / stub['rps'], 2) if direct['rps'] and stub['rps'] else None
    figures.update({'closed loop tool': '%s, %d connections, %g s each' % (tool, concurrency, saturate_s),
                    'cached /long_dummy RPS via the entry point (NLB, %d LB nodes)' % len(ctx.stack.nodes('lb')):
                        entry['rps'],
                    'cached /long_dummy RPS on %s direct' % lb['hostname']: direct['rps'],
                    '/nginx-status RPS on %s direct' % lb['hostname']: stub['rps'],
                    'NLB overhead: entry point / LB node direct': nlb_ratio,
                    'cached /long_dummy / static page, same LB node': cache_ratio,
                    'closed loop errors (entry, direct, static)': [entry['errors'], direct['errors'], stub['errors']]})
    return dict(figures=figures, bars=[
        report.bar('NLB overhead: cached /long_dummy via the entry point / LB node direct', nlb_ratio, 0.8, '>=', 'x',
                   'the entry point spreads over every LB node, the direct run hits one'),
        report.bar('cached /long_dummy / /nginx-status on the same LB node', cache_ratio, 0.8, '>=', 'x')])


def parse_wrk(text):
    """{'rps': float, 'errors': int} of wrk's output: Requests/sec, plus non-2xx/3xx answers and socket errors."""
    import re
    rps = re.search(r'^Requests/sec:\s*([\d.]+)', text, re.M)
    errors = sum(int(n) for n in re.findall(r'Non-2xx or 3xx responses:\s*(\d+)', text))
    socket_errors = re.search(r'Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)', text)
    if socket_errors:
        errors += sum(int(n) for n in socket_errors.groups())
    return {'rps': float(rps.group(1)) if rps else None, 'errors': errors}


def throughput(url, seconds, concurrency, threads=2):
    """Closed-loop answers per second of one URL: wrk when installed (certificates not verified, like curl -k),
    else the Python client (saturate)."""
    if not shutil.which('wrk'):
        return {'rps': asyncio.run(saturate(url, seconds, concurrency)), 'errors': None}
    command = ['wrk', '-t%d' % threads, '-c%d' % max(concurrency, threads), '-d%ds' % max(1, round(seconds)), url]
    done = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 60)
    return parse_wrk(done.stdout)


async def saturate(url, seconds, concurrency):
    """Answers per second with `concurrency` requests always in flight (closed loop)."""
    done = 0
    deadline = time.monotonic() + seconds
    connector = aiohttp.TCPConnector(ssl=False, limit=concurrency)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=10)) as client:
        async def worker():
            nonlocal done
            while time.monotonic() < deadline:
                try:
                    async with client.get(url) as response:
                        await response.read()
                        if response.status == 200:
                            done += 1
                except aiohttp.ClientError:
                    pass
        started = time.monotonic()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return round(done / (time.monotonic() - started), 1)


# --- 7. automation -------------------------------------------------------------------------------------------------

def automation(ctx):
    """Wall time of a no-op site.yml re-run and its API calls by method (localcloud's call log: localcloud is
    restarted with --call-log for it, then again without, as `make up` runs it)."""
    from collections import Counter
    stop = ['playbooks/localcloud.yml', '-e', 'localcloud_state=absent']
    ctx.stack.playbook(*stop)
    try:
        code, _, text = ctx.stack.playbook('playbooks/localcloud.yml', '-e', 'localcloud_call_log=true')
        if code != 0:
            raise RuntimeError('localcloud with --call-log did not start: %s' % text[-1500:])
        code, took, text = ctx.stack.site_yml('-e', 'localcloud_call_log=true', log=ctx.path('automation.log'))
        calls = ctx.stack.admin('GET', '/calls')['calls']
    finally:
        ctx.stack.playbook(*stop)
        ctx.stack.playbook('playbooks/localcloud.yml')
    changed = stats_recap(text)
    per_method = Counter(call['method'].rsplit('.', 1)[-1] for call in calls)
    figures = {'no-op site.yml wall s': round(took, 1), 'API calls': len(calls), 'changed': changed,
               'calls by method': dict(sorted(per_method.items()))}
    return dict(figures=figures, bars=[report.bar('no-op site.yml changed', changed, 0, '==')])


def stats_recap(output):
    import re
    match = re.search(r'localhost\s+: ok=\d+\s+changed=(\d+)', output)
    return int(match.group(1)) if match else None


# --- 6. database at full scale (behind --db-full) -------------------------------------------------------------

def db_full(ctx, seconds=30, rate=10):
    """A PostgreSQL and an SHS of their own on loopback (not the deployment), prepare_db --scale full (5M sessions):
    GET /api/session/{id} at `rate` RPS and GET /api/session (one at a time) without indexes, then with the
    postgres role's (roles/postgres/defaults/main.yml postgres_indexes), the same load again."""
    import hashlib
    import secrets

    import yaml
    with open(os.path.join(ROOT, 'roles', 'postgres', 'defaults', 'main.yml')) as handle:
        indexes = yaml.safe_load(handle)['postgres_indexes']
    tag = {name: subprocess.run([sys.executable, os.path.join(ROOT, 'tools', 'images.py'), 'tag', name], check=True,
                                capture_output=True, text=True).stdout.strip() for name in ('postgres', 'shs')}
    run_id = secrets.token_hex(3)
    pg, app = 'shs-bench-db-pg-' + run_id, 'shs-bench-db-shs-' + run_id
    password = secrets.token_hex(12)
    work = tempfile.mkdtemp(prefix='shs-bench-db-')
    figures = {}
    try:
        pg_port, http_port = _free_port(), _free_port()
        subprocess.run(['docker', 'run', '-d', '--name', pg, '-p', '127.0.0.1:%d:5432' % pg_port, '-e',
                        'POSTGRES_USER=shs', '-e', 'POSTGRES_PASSWORD=' + password, '-e', 'POSTGRES_DB=shs',
                        tag['postgres']], check=True, capture_output=True)
        for _ in range(120):
            if subprocess.run(['docker', 'exec', pg, 'pg_isready', '-h', '127.0.0.1', '-U', 'shs', '-d', 'shs'],
                              capture_output=True).returncode == 0:
                break
            time.sleep(0.5)
        email = 'bench@example.com'
        os.makedirs(os.path.join(work, 'logs', hashlib.sha1(email.encode()).hexdigest()[:10]))
        os.makedirs(os.path.join(work, 'bingo'))
        with open(os.path.join(work, 'bingo', 'config.yaml'), 'w') as handle:
            handle.write('student_email: %s\npostgres_cluster:\n  hosts: [{address: 127.0.0.1, port: %d}]\n'
                         '  user: shs\n  password: %s\n  db_name: shs\n  ssl_mode: disable\n'
                         'http_host: 127.0.0.1\nhttp_port: %d\n' % (email, pg_port, password, http_port))
        for root, dirs, _ in os.walk(work):
            for d in dirs:
                os.chmod(os.path.join(root, d), 0o777)
        os.chmod(os.path.join(work, 'bingo', 'config.yaml'), 0o644)
        mounts = ['--network', 'host', '-v', '%s/bingo:/opt/bingo:ro' % work, '-v', '%s/logs:/opt/bongo/logs' % work]
        ctx.log('  prepare_db --scale full')
        started = time.monotonic()
        subprocess.run(['docker', 'run', '--rm', *mounts, tag['shs'], '/app/bingo', 'prepare_db', '--scale', 'full'],
                       check=True, capture_output=True)
        figures['prepare_db full s'] = round(time.monotonic() - started, 1)
        subprocess.run(['docker', 'run', '-d', '--name', app, *mounts, tag['shs']], check=True, capture_output=True)
        url = 'http://127.0.0.1:%d' % http_port
        for _ in range(100):
            try:
                if stack_fetch(url + '/ping', 1)[1] == 'pong':
                    break
            except OSError:
                time.sleep(0.2)
        ids = loadgen.Ids(movies=29000, customers=500000, sessions=5000000)
        mix = (('GET /api/session/{id}', 1),)

        def measure(label):
            gen = LoadGenerator(url, [(ctx.seconds(seconds), rate)], ids, mix=mix, lists=('GET /api/session',),
                                list_pause=0.0, timeout=60, seed=ctx.seed, progress=ctx.log)
            asyncio.run(gen.run())
            summary = stats.summarize(gen.samples, ctx.seconds(seconds))
            for endpoint in ('GET /api/session/{id}', 'GET /api/session'):
                row = summary.get(endpoint, {})
                figures['%s %s p50/p90 ms' % (label, endpoint)] = '%s / %s' % (row.get('p50_ms'), row.get('p90_ms'))
                figures['%s %s errors %%' % (label, endpoint)] = row.get('error_pct')
            return summary
        ctx.log('  without indexes: %g RPS of GET /api/session/{id} + GET /api/session one at a time' % rate)
        without = measure('no indexes:')
        sql = ''.join('CREATE %sINDEX IF NOT EXISTS %s ON %s (%s);' % ('UNIQUE ' if i.get('unique') else '', i['name'],
                                                                      i['table'], i['columns']) for i in indexes)
        started = time.monotonic()
        subprocess.run(['docker', 'exec', '-e', 'PGPASSWORD=' + password, pg, 'psql', '-h', '127.0.0.1', '-U', 'shs',
                        '-d', 'shs', '-v', 'ON_ERROR_STOP=1', '-qc', sql + 'ANALYZE;'], check=True, capture_output=True)
        figures['role indexes built s'] = round(time.monotonic() - started, 1)
        ctx.log('  with the role\'s indexes')
        with_indexes = measure('indexes:')
        a = without.get('GET /api/session/{id}', {}).get('p90_ms')
        b = with_indexes.get('GET /api/session/{id}', {}).get('p90_ms')
        figures['GET /api/session/{id} p90 without / with'] = round(a / b, 1) if a and b else None
    finally:
        subprocess.run(['docker', 'rm', '-f', '-v', pg, app], capture_output=True)
        subprocess.run(['rm', '-rf', work])
    return dict(figures=figures, bars=[report.bar('indexed GET /api/session/{id} p90', b, 400, '<', 'ms')],
                summary={'without': without, 'with': with_indexes})


def stack_fetch(url, timeout):
    from bench.stack import fetch
    return fetch(url, timeout)


SCENARIOS = {
    'load': load, 'app-kill': app_kill, 'app-node-kill': app_node_kill, 'pg-restart': pg_restart,
    'lb-node-kill': lb_node_kill, 'app-rollout': app_rollout, 'app-restart': app_restart, 'lb-rollout': lb_rollout,
    'api-kill': api_kill, 'quirks': quirks,
    'cache': cache, 'startup': startup, 'ratios': ratios, 'automation': automation, 'db-full': db_full,
}
