"""The load generator and the bench's wiring on a tiny local target (tests/bench/conftest.py): the schedule is
kept whatever the target's speed (open model), the mix and the lists lane are what they say, and `python -m bench`
runs scenarios end to end, writes its files and exits 1 when a bar is missed."""

import asyncio
import os
import time

import pytest

from bench import __main__ as bench_main
from bench import loadgen, stats
from bench.loadgen import Ids, LoadGenerator

IDS = Ids(movies=10, customers=20, sessions=200)


def test_requests_start_on_schedule_while_earlier_ones_are_still_running(target):
    slow = target(delay={'/db_dummy': 0.5})
    gen = LoadGenerator(slow.url, [(1.0, 40)], IDS, mix=(('GET /db_dummy', 1),), list_lane=False)
    samples = asyncio.run(gen.run())
    assert len(samples) == 40 and all(s.status == 200 for s in samples)
    # 40 requests 25 ms apart, each taking 0.5 s: a closed loop would have one or two in flight; here ~20 are.
    assert slow.max_in_flight >= 15, slow.max_in_flight
    arrivals = sorted(t for t, _, path in slow.seen if path == '/db_dummy')
    assert arrivals[-1] - arrivals[0] == pytest.approx(39 / 40, abs=0.1)   # not stretched by the slow answers
    assert gen.generator['lag_p99_ms'] < 50 and gen.generator['scheduled'] == 40
    assert all(s.latency >= 0.5 for s in samples)
    assert 0 <= gen.generator['cpu_pct_of_one_core'] < 100


def test_the_mix_covers_the_endpoints_and_sessions_are_deleted_again(target):
    local = target()
    gen = LoadGenerator(local.url, [(2.0, 100)], IDS, list_lane=True, list_pause=0.1)
    samples = asyncio.run(gen.run())
    summary = stats.summarize(samples, 2.0)
    assert set(dict(loadgen.MIX)) | {'DELETE /api/session/{id}'} <= set(summary)
    assert set(loadgen.LIST_ENDPOINTS) <= set(summary)
    assert sum(summary[e]['count'] for e in dict(loadgen.MIX)) == 200  # the rate counts arrivals, not the lists
    assert summary['POST /api/session']['count'] == summary['DELETE /api/session/{id}']['count'] > 0
    assert local.sessions == {}   # every created session deleted
    # one list request at a time: never two list paths in flight (the target delays nothing: check the order)
    lists = [path for _, method, path in local.seen if path in ('/api/movie', '/api/customer', '/api/session')
             and method == 'GET']
    assert lists[:3] == ['/api/movie', '/api/customer', '/api/session']
    ids = [int(path.rsplit('/', 1)[1]) for _, method, path in local.seen if path.startswith('/api/movie/')]
    assert ids and min(ids) >= 1 and max(ids) <= IDS.movies
    ages = [s.age for s in samples if s.endpoint == 'GET /long_dummy']
    assert ages and all(a is not None and a < 10 for a in ages)


def test_keep_sessions_remembers_every_acknowledged_write(target):
    local = target()
    gen = LoadGenerator(local.url, [(1.0, 30)], IDS, mix=(('POST /api/session', 1),), list_lane=False,
                        keep_sessions=True)
    asyncio.run(gen.run())
    assert sorted(gen.acknowledged) == sorted(local.sessions) and len(gen.acknowledged) == 30


def test_no_answer_is_an_error_with_its_reason():
    gen = LoadGenerator('http://127.0.0.1:9', [(0.5, 10)], IDS, mix=(('GET /db_dummy', 1),), list_lane=False)
    samples = asyncio.run(gen.run())
    assert len(samples) == 5 and all(s.status == 0 and s.error for s in samples)
    assert stats.summarize(samples, 0.5)['GET /db_dummy']['error_pct'] == 100.0


def test_a_bad_mix_is_refused_naming_the_endpoint():
    with pytest.raises(ValueError, match='mix: unknown endpoint.*GET /nope'):
        LoadGenerator('http://127.0.0.1:9', [(1, 1)], IDS, mix=(('GET /nope', 1),))


def test_discover_ids_reads_the_list_lengths(target):
    assert loadgen.discover_ids(target().url) == Ids(movies=10, customers=20, sessions=200)


def test_bench_runs_scenarios_end_to_end_and_writes_its_files(target, tmp_path, json_file, capsys):
    local = target(cache_ttl=1.0)
    code = bench_main.main(['--url', local.url, '--scenarios', 'load,cache', '--time-scale', '0.05',
                            '--out', str(tmp_path)])
    out = capsys.readouterr().out
    assert code == 0, out
    results = json_file(tmp_path / 'results.json')
    assert set(results['results']) == {'load', 'cache'}
    assert results['machine']['cores'] == os.cpu_count()
    peak = results['results']['load']['summary']['peak']
    assert 100 < sum(row['rps'] for name, row in peak.items() if name in dict(loadgen.MIX)) < 140
    cache = results['results']['cache']['figures']
    assert cache['max age s'] <= 2.0 and cache['max age minus the request latency s'] <= cache['max age s']
    for name in ('load.png', 'cache.png', 'summary.md', 'load.samples.json'):
        assert (tmp_path / name).is_file(), name
    assert '| load | p90 POST /operation @120 RPS |' in out and 'plots: ' in out


def test_bench_exits_1_when_a_bar_is_missed(target, tmp_path, capsys):
    slow = target(delay={'/operation': 0.45})
    code = bench_main.main(['--url', slow.url, '--scenarios', 'load', '--time-scale', '0.05', '--out', str(tmp_path)])
    out = capsys.readouterr().out
    assert code == 1
    assert '**missed**' in out and 'p90 POST /operation @120 RPS' in out.split('bar(s) missed:')[1]


def test_unknown_scenarios_are_refused_by_name(capsys):
    with pytest.raises(SystemExit) as exited:
        bench_main.main(['--scenarios', 'load,nope'])
    assert exited.value.code == 2 and 'SCENARIOS: unknown nope' in capsys.readouterr().err


def test_an_operator_scenario_marks_the_action_and_reads_the_lbs_view(target, tmp_path):
    """app-kill's wiring on the local target: the action runs on time, is marked, and the LB page's down/up turn
    into the figures (a stand-in stack: the kill flips the target's page, no docker)."""
    from bench import scenarios
    from bench.stack import Stack
    local = target()

    class LocalStack(Stack):
        killed = []

        def node(self, tier, index=0):
            return dict(name='node-%s-%d' % (tier, index), hostname='shs-%s-%d' % (tier, index + 1), ip='127.0.0.1')

        def nodes(self, tier=None):
            return []   # no LB node of its own: the page through the entry point (the target) only

        def kill_service(self, node, service):
            self.killed.append((time.monotonic(), node['hostname'], service))
            local.down_until['shs-app-1'] = time.time() + 1.0   # the page shows app-1 down for 1 s

        def down_time(self, container):
            return 0.5
    stack = LocalStack(local.url)
    ctx = scenarios.Context(stack, IDS, str(tmp_path), lambda message: None, time_scale=0.1)
    result = scenarios.app_kill(ctx)
    figures = result['figures']
    assert stack.killed and stack.killed[0][1:] == ('shs-app-1', 'shs')
    assert result['marks'][0]['name'] == 'app-kill' and result['marks'][0]['t'] == pytest.approx(1.5, abs=0.3)
    assert figures['failed_requests'] == 0 and figures['longest_success_gap_s'] < 0.5
    assert figures['lb_marked_peer_down_after_s'] < 0.7
    assert 0.8 < figures['all_peers_up_again_after_s'] < 2.0
    assert (tmp_path / 'app-kill.png').is_file() and (tmp_path / 'app-kill.samples.json').is_file()
