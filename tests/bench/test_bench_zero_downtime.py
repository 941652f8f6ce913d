"""The figures and bars of issue 13 (zero-downtime operations): which failures count against which bar, the LB
nodes' pages, the 429s with room, the cache hits, wrk's output, and the new scenarios' wiring on the local target
(tests/bench/conftest.py) with a stand-in stack: no docker, no localcloud."""

import asyncio
import time

import pytest

from bench import report, scenarios, stats
from bench.loadgen import Ids, LoadGenerator, Sample
from bench.scenarios import HealthWatch
from bench.stack import Stack

IDS = Ids(movies=10, customers=20, sessions=200)
UP, DOWN = True, False


def sample(due, status=200, latency=0.01, endpoint='GET /x', **kw):
    return Sample(due, endpoint, status, latency, **kw)


def test_failures_after_an_action_split_by_idempotence_and_by_in_flight_or_later():
    samples = [
        sample(9.9, 502, 0.5, 'POST /operation'),             # in flight at 10, failed: the one a kill may fail
        sample(9.95, 200, 0.2, 'GET /db_dummy'),              # in flight, answered
        sample(9.0, 502, 0.5, 'POST /operation'),             # over before the action: not its failure
        sample(5.0, 500, 1.0, 'GET /x'),                      # over before the action
        sample(9.9, 503, 0.3, 'GET /api/movie/{id}', lag=0.2),  # due before, started after (late start)
        sample(10.5, 502, 0.1, 'POST /api/session'),          # started after
        sample(11.0, 0, 10.0, 'GET /api/customer/{id}', error='ServerDisconnectedError'),
        sample(12.0, 404, 0.01, 'DELETE /api/session/{id}'),  # idempotent per HTTP
    ]
    assert [s.endpoint for s in stats.in_flight_at(samples, 10.0)] == ['POST /operation', 'GET /db_dummy']
    assert stats.action_failures(samples, 10.0) == dict(
        in_flight_at_action=2, in_flight_non_idempotent_at_action=1, failed_idempotent=3, failed_non_idempotent=2,
        failed_in_flight_at_action=1, failed_started_during_action=0, failed_started_after_action=4)
    # The action took until 10.6 s (a VM's removal): what started before that may have reached the node before it died.
    assert stats.action_failures(samples, 10.0, done=10.6) == dict(
        in_flight_at_action=2, in_flight_non_idempotent_at_action=1, failed_idempotent=3, failed_non_idempotent=2,
        failed_in_flight_at_action=1, failed_started_during_action=2, failed_started_after_action=2)
    assert not stats.is_idempotent(sample(0, endpoint='POST /api/session'))
    assert stats.is_idempotent(sample(0, endpoint='DELETE /api/session/{id}'))


def test_success_gaps_lists_every_stretch_over_the_limit():
    samples = [sample(t, latency=0.0) for t in (0, 1, 2, 6, 7)] + [sample(3, status=502)]
    assert stats.success_gaps(samples, start=0, end=10, over=1.0) == [(2.0, 4.0), (7.0, 3.0)]
    assert stats.success_gaps(samples, start=0, end=7.5, over=5.0) == []


def test_429s_count_as_with_room_only_while_the_pages_showed_peers_enough_for_the_offered_rate():
    samples = [sample(i / 120.0, latency=0.001) for i in range(1200)]   # 120 RPS for 10 s
    for t in (3.0, 6.0, 9.0):
        samples[int(t * 120)] = sample(t, status=429, latency=0.001)
    pages = [(0.0, 2), (5.0, 1), (8.0, None)]   # 2 x 100 > 120: room; 1 x 100 < 120: none; no page: unknown
    found = stats.rejections_with_room(samples, pages, limit=100)
    assert [s.due for s in found] == [3.0]
    assert stats.rejections_with_room(samples, [(0.0, 1)], limit=200) == found + [samples[720], samples[1080]]


def test_the_lbs_own_429_and_the_cache_status_are_recorded(target):
    local = target(cache_status='HIT', cache_ttl=0.3, busy={'/operation'})
    gen = LoadGenerator(local.url, [(1.0, 60)], IDS, mix=(('POST /operation', 1), ('GET /long_dummy', 1)),
                        list_lane=False)
    samples = asyncio.run(gen.run())
    operations = [s for s in samples if s.endpoint == 'POST /operation']
    assert operations and all(s.status == 429 and s.error == 'LB: every peer at its limit' for s in operations)
    assert stats.failures(samples) == {'POST /operation': {'429 LB: every peer at its limit': len(operations)}}
    caches = {s.cache for s in samples if s.endpoint == 'GET /long_dummy'}
    assert caches == {'HIT', 'MISS'}
    # the saved row keeps it; a row of an older file (7 fields) reads with none
    one = [s for s in samples if s.cache][0]
    assert Sample.from_row(one.to_row()).cache == one.cache
    assert Sample.from_row(one.to_row()[:7]).cache == ''


def test_health_watch_reads_each_lb_nodes_page():
    watch = HealthWatch(stack=None, gen=None)
    assert watch.per_lb == {}
    watch.rows = [(10.6, {'shs-app-1': UP, 'shs-app-2': DOWN})]
    assert watch.marked_down_everywhere('shs-app-2', 10.0) == 0.6   # no node pages: the entry point's
    watch.per_lb = {
        'shs-lb-1': [(9.0, {'shs-app-1': UP, 'shs-app-2': UP}), (10.5, {'shs-app-1': UP, 'shs-app-2': DOWN}),
                     (11.0, {'shs-app-1': UP, 'shs-app-2': DOWN})],
        'shs-lb-2': [(9.2, {'shs-app-1': UP, 'shs-app-2': UP}), (10.7, {'shs-app-1': UP, 'shs-app-2': UP}),
                     (11.2, {'shs-app-1': UP, 'shs-app-2': DOWN})],
        'shs-lb-3': [(10.1, None)],   # never answered: not counted
    }
    assert watch.marked_down_everywhere('shs-app-2', 10.0) == 1.2   # the slower node
    assert watch.marked_down_everywhere('shs-app-1', 10.0) is None
    assert watch.up_counts() == [(9.0, 2), (9.2, 2), (10.1, 2), (10.5, 1), (10.7, 1), (11.0, 1), (11.2, 1)]
    assert HealthWatch.peers({'peers': [{'host': 'shs-app-1.internal', 'up': True}]}) == {'shs-app-1': True}
    assert HealthWatch.peers({'unexpected': 1}) is None


def test_the_whole_group_up_is_its_size_not_every_name_on_the_page():
    """The LB lists the names a rollout's extra VM may take (shs_app_surge): down while no VM has them. The group is
    whole when as many peers are up as its target size."""
    class Sized(Stack):
        def group_size(self, tier):
            return 2 if tier == 'app' else None

    stack = Sized('https://127.0.0.1:1')
    watch = HealthWatch(stack=stack, gen=None)
    watch.rows = [(9.0, {'shs-app-1': UP, 'shs-app-2': UP, 'shs-app-3': DOWN}),   # the spare name: no VM has it
                  (10.5, {'shs-app-1': UP, 'shs-app-2': DOWN, 'shs-app-3': DOWN}),
                  (12.0, {'shs-app-1': UP, 'shs-app-2': DOWN, 'shs-app-3': UP}),   # the extra VM of a rollout
                  (14.0, {'shs-app-1': UP, 'shs-app-2': UP, 'shs-app-3': DOWN})]
    assert watch.all_up(10.0) == 2.0
    assert watch.all_up(13.0) == 0.0
    assert stack.serving({'up': 2, 'total': 3}) and not stack.serving({'up': 1, 'total': 3})
    assert not stack.serving(None) and not stack.serving({'up': 0, 'total': 0})
    # without the API (no size): every peer on the page
    bare = Sized('https://127.0.0.1:1')
    bare.group_size = lambda tier: None
    assert bare.serving({'up': 3, 'total': 3}) and not bare.serving({'up': 2, 'total': 3})


def test_a_bar_can_ask_for_at_least():
    ratio = report.bar('NLB overhead', 0.93, 0.8, '>=', 'x')
    low = report.bar('cached / static', 0.5, 0.8, '>=', 'x')
    assert ratio['met'] and not low['met'] and not report.bar('x', None, 0.8, '>=')['met']
    table = report.markdown({'ratios': {'bars': [ratio, low]}}, {})
    assert '| ratios | NLB overhead | 0.9 x | >= 0.8 x | met |' in table
    assert '| ratios | cached / static | 0.5 x | >= 0.8 x | **missed** (by -0.3 x) |' in table


def test_wrk_output_is_parsed():
    text = '''Running 10s test @ https://127.0.0.1:8443/long_dummy
  2 threads and 16 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     1.23ms  456.00us  12.34ms   89.00%
    Req/Sec     6.50k   300.00     7.00k    70.00%
  129876 requests in 10.01s, 45.67MB read
  Socket errors: connect 0, read 3, write 0, timeout 2
  Non-2xx or 3xx responses: 7
Requests/sec:  12974.63
Transfer/sec:      4.56MB
'''
    assert scenarios.parse_wrk(text) == {'rps': 12974.63, 'errors': 12}
    assert scenarios.parse_wrk('') == {'rps': None, 'errors': 0}


def test_wait_replaced_needs_the_loss_seen_then_the_whole_group_running():
    before = [('lb-a', 'RUNNING_ACTUAL'), ('lb-b', 'RUNNING_ACTUAL')]

    class Scripted:
        def __init__(self, *answers):
            self.answers = list(answers)

        def group_instances(self, tier):
            assert tier == 'lb'
            return self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
    new = [('lb-b', 'RUNNING_ACTUAL'), ('lb-c', 'RUNNING_ACTUAL')]
    stack = Scripted(before, None, [('lb-b', 'RUNNING_ACTUAL')], [('lb-b', 'RUNNING_ACTUAL'), ('lb-c', 'STARTING')],
                     new)
    found = scenarios.wait_replaced(stack, 'lb', before, 5, time.monotonic(), every=0.01)
    assert found['lb_instances_after'] == new and found['replaced_after_s'] is not None
    # the same names again (re-created in place): the loss shows as a status
    again = Scripted(before, [('lb-a', 'RUNNING_ACTUAL'), ('lb-b', 'DELETING_INSTANCE')], before)
    assert scenarios.wait_replaced(again, 'lb', before, 5, time.monotonic(), every=0.01)['replaced_after_s'] is not None
    # the group never showed the loss: not replaced
    assert scenarios.wait_replaced(Scripted(before), 'lb', before, 0.1, time.monotonic(),
                                   every=0.01)['replaced_after_s'] is None


def test_cache_takes_the_p99_over_the_cached_answers_only(target, tmp_path):
    """The LB's fills (MISS: the upstream's 1 s) are not cached answers; without the header no p99 bar at all."""
    local = target(cache_status='HIT', cache_ttl=0.5, miss_delay=0.3)
    ctx = scenarios.Context(Stack(local.url), IDS, str(tmp_path), lambda message: None, time_scale=0.02)
    result = scenarios.cache(ctx)
    figures, bars = result['figures'], {b['name']: b for b in result['bars']}
    assert set(figures['calm answers by X-Cache-Status']) == {'HIT', 'MISS'}
    assert figures['p99 ms'] >= 300 > figures['cached p99 ms']
    assert bars['cached GET /long_dummy p99 (calm answers)']['value'] == figures['cached p99 ms']
    # the bar's figure counts from the send: never more than from the due time (which adds the generator's lag)
    assert figures['cached p99 ms'] <= figures['cached p99 ms (from the due time)'] < 300
    plain = scenarios.cache(scenarios.Context(Stack(target(cache_ttl=0.5).url), IDS, str(tmp_path),
                                              lambda message: None, time_scale=0.02))
    assert not [b for b in plain['bars'] if 'p99' in b['name']]


class StandIn(Stack):
    """The stack's operator hooks on the local target: records what the scenario did, changes nothing."""

    def __init__(self, url, instances=None, recap_changed=0):
        super().__init__(url)
        self.calls, self.recap_changed = [], recap_changed
        self.instances = instances or {}

    def nodes(self, tier=None):
        return []

    def node(self, tier, index=0):
        return dict(name='node-%s-%d' % (tier, index), hostname='shs-%s-%d' % (tier, index + 1), ip='127.0.0.1')

    def endpoint_info(self):
        return {'endpoint': '127.0.0.1:19051'}

    def group_instances(self, tier):
        answers = self.instances.get(tier, [[]])
        return answers.pop(0) if len(answers) > 1 else answers[0]

    def group_size(self, tier):
        return None  # no API: a page is whole when every peer on it is up

    def kill_api(self):
        self.calls.append(('kill_api', time.monotonic()))
        return 4242

    def start_api(self, listen):
        self.calls.append(('start_api', listen, time.monotonic()))
        return 4343

    def remove_node(self, node):
        self.calls.append(('remove_node', node['hostname']))

    def playbook(self, playbook, *extra, log=None):
        self.calls.append(('playbook', playbook) + extra)
        return 0, 0.2, 'PLAY RECAP ***\nlocalhost                  : ok=40   changed=%d    unreachable=0' % (
            self.recap_changed)


def test_api_kill_kills_waits_starts_again_and_reads_site_yml_s_recap(target, tmp_path):
    local = target()
    group = [('shs-app-1', 'RUNNING_ACTUAL'), ('shs-app-2', 'RUNNING_ACTUAL')]
    stack = StandIn(local.url, instances={'app': [group], 'lb': [[('shs-lb-1', 'RUNNING_ACTUAL')]], 'db': [[]]})
    ctx = scenarios.Context(stack, IDS, str(tmp_path), lambda message: None, time_scale=0.1)
    result = scenarios.api_kill(ctx, dead_s=1.0, tail=0.5)
    figures, bars = result['figures'], {b['name']: b for b in result['bars']}
    kill, start, site = stack.calls
    assert kill[0] == 'kill_api' and start[:2] == ('start_api', '127.0.0.1:19051') and site == ('playbook', 'site.yml')
    assert start[2] - kill[1] == pytest.approx(1.0, abs=0.3)
    assert [m['name'] for m in result['marks']] == ['API server SIGKILL', 'API server started', 'site.yml done']
    assert figures['killed_pid'] == 4242 and figures['site_yml_changed'] == 0 and figures['state_intact'] is True
    assert all(b['met'] for b in bars.values()), bars
    assert set(bars) == {'failed requests', 'site.yml after the restart rc', 'site.yml after the restart changed',
                         "groups' instances as before (names, RUNNING_ACTUAL)"}

    # a group that changed meanwhile and a site.yml that changed something miss their bars
    changed = StandIn(local.url, recap_changed=3,
                      instances={'app': [group, group[:1]], 'lb': [[]], 'db': [[]]})
    result = scenarios.api_kill(scenarios.Context(changed, IDS, str(tmp_path), lambda message: None,
                                                  time_scale=0.1), dead_s=0.5, tail=0.5)
    missed = {b['name'] for b in result['bars'] if not b['met']}
    assert missed == {'site.yml after the restart changed', "groups' instances as before (names, RUNNING_ACTUAL)"}


def test_app_restart_runs_the_rolling_restart_playbook_under_load_and_bars_failures(target, tmp_path):
    local = target()
    stack = StandIn(local.url)
    ctx = scenarios.Context(stack, IDS, str(tmp_path), lambda message: None, time_scale=0.1)
    result = scenarios.SCENARIOS['app-restart'](ctx)
    assert stack.calls == [('playbook', 'playbooks/rolling_restart.yml', '-e', 'shs_rolling_tier=app')]
    assert [m['name'] for m in result['marks']] == ['rolling_restart.yml starts', 'rolling_restart.yml done']
    assert {b['name']: b['met'] for b in result['bars']} == {'rolling_restart.yml rc': True, 'failed requests': True}
    assert result['figures']['failed_idempotent'] == 0 and result['figures']['longest_success_gap_s'] < 1.0


def test_lb_node_kill_removes_one_lb_node_and_waits_until_the_group_replaced_it(target, tmp_path):
    local = target()
    two = [('shs-lb-a', 'RUNNING_ACTUAL'), ('shs-lb-b', 'RUNNING_ACTUAL')]
    stack = StandIn(local.url, instances={'lb': [two, two[1:], [two[1], ('shs-lb-c', 'RUNNING_ACTUAL')]]})
    ctx = scenarios.Context(stack, IDS, str(tmp_path), lambda message: None, time_scale=0.05)
    result = scenarios.lb_node_kill(ctx)
    figures, bars = result['figures'], {b['name']: b for b in result['bars']}
    assert stack.calls == [('remove_node', 'shs-lb-1')] and figures['killed_node'] == 'shs-lb-1'
    assert figures['replaced_after_s'] is not None and figures['lb_instances_after'][1][0] == 'shs-lb-c'
    assert all(b['met'] for b in bars.values()), bars
    assert 'LB node replaced (2 RUNNING_ACTUAL)' in bars and 'failed requests that started once the VM was gone' in bars
    # the removal is marked where it starts and where it returned; the wait for the replacement comes after that
    assert [m['name'] for m in result['marks']] == ['lb-node-kill', 'lb-node-kill done']
    assert 0 <= figures['action_took_s'] < 1.0 and figures['failed_started_during_action'] == 0


def test_quirks_bars_count_failed_idempotent_requests_and_429s_with_room():
    samples = [sample(i / 120.0, latency=0.001, endpoint='GET /db_dummy') for i in range(600)]
    samples[120] = sample(1.0, status=429, latency=0.001, endpoint='GET /db_dummy')
    samples[480] = sample(4.0, status=429, latency=0.001, endpoint='POST /operation',
                          error='LB: every peer at its limit')
    figures = scenarios.rejection_figures(None, None, samples, [(0.0, 2), (3.0, 1)])
    assert figures == {'429s': 2, '429s the LB answered itself (every peer at its limit)': 1,
                       '429s while the pages showed peers with room': 1}
    figures.update(stats.action_failures(samples, 0.0))
    bars = {b['name']: b for b in scenarios.quirks_bars(figures)}
    assert bars['failed idempotent requests']['value'] == 1 and not bars['failed idempotent requests']['met']
    assert not bars['429s while the pages showed peers with room']['met']


def test_app_kill_reads_every_lb_nodes_page_and_bars_issue_13(target, tmp_path):
    """Two LB nodes' pages (both the local target: one page, two pollers): the peer is out once both showed it
    down; issue 13's bars of a lost peer are there and met (nothing failed)."""
    local = target()
    port = local.url.rsplit(':', 1)[1]

    class TwoLbs(StandIn):
        def nodes(self, tier=None):
            return [dict(name='lb-%d' % i, hostname='shs-lb-%d' % i, ip='127.0.0.1:%s' % port) for i in (1, 2)]

        def kill_service(self, node, service):
            local.down_until['shs-app-1'] = time.time() + 1.0

        def down_time(self, container):
            return 0.5
    ctx = scenarios.Context(TwoLbs(local.url), IDS, str(tmp_path), lambda message: None, time_scale=0.1)
    result = scenarios.app_kill(ctx)
    figures, bars = result['figures'], {b['name']: b for b in result['bars']}
    assert figures['peer_out_on_every_lb_after_s'] < 0.7
    assert figures['failed_idempotent'] == figures['failed_non_idempotent'] == 0
    assert figures['in_flight_at_action'] >= 0 and figures['success_gaps_over_1s'] == []
    assert set(bars) == {'failed idempotent requests', 'failed non-idempotent <= in flight at the action',
                         "peer out on every LB node's page", 'replacement healthy (LB sees all peers up)'}
    assert all(b['met'] for b in bars.values()), bars


def test_operator_figures_count_the_failures_in_flight_at_the_action_too():
    class Gen:
        samples = [sample(9.9, 502, 0.3, 'POST /operation'), sample(9.0, 502, 0.2, 'POST /operation'),
                   sample(10.5, 200, 0.01), sample(11.0, 0, 0.01, 'GET /db_dummy', error='ClientOSError')]

        def planned(self):
            return 12.0
    figures = scenarios.operator_figures(Gen(), None, 10.0)
    assert figures['failed_requests'] == 2 and figures['failed_pct_after_action'] == pytest.approx(66.667)
    assert figures['failures_by_endpoint'] == {'GET /db_dummy': {'ClientOSError': 1}, 'POST /operation': {'502': 1}}
    assert figures['failed_in_flight_at_action'] == 1 and figures['failed_started_after_action'] == 1
