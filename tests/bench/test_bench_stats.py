"""bench/stats.py and bench/report.py: the math and the parsing the figures rest on (hand-made samples)."""

import pytest

from bench import report, stats
from bench.loadgen import Sample, schedule
from bench.scenarios import HealthWatch, load_samples, save_samples, stats_recap


def sample(due, status=200, latency=0.01, endpoint='GET /x', **kw):
    return Sample(due, endpoint, status, latency, **kw)


def test_percentile_interpolates_between_ranks_like_numpy():
    values = [15, 20, 35, 40, 50]
    assert stats.percentile(values, 0) == 15
    assert stats.percentile(values, 50) == 35
    assert stats.percentile(values, 100) == 50
    assert stats.percentile(values, 90) == pytest.approx(46.0)  # numpy.percentile(values, 90)
    assert stats.percentile(values, 75) == pytest.approx(40.0)
    assert stats.percentile(list(range(1, 101)), 99) == pytest.approx(99.01)
    assert stats.percentile([7], 99) == 7
    assert stats.percentile([], 50) is None
    with pytest.raises(ValueError, match='percentile q'):
        stats.percentile([1], 101)


def test_summarize_counts_errors_and_takes_percentiles_of_successes_only():
    samples = [sample(i * 0.1, latency=0.1 * (i + 1)) for i in range(9)] + [sample(1.0, status=503, latency=9),
                                                                           sample(1.1, status=0, latency=9)]
    row = stats.summarize(samples, duration=2.0)['GET /x']
    assert row['count'] == 11 and row['rps'] == 5.5
    assert row['errors'] == 2 and row['error_pct'] == pytest.approx(18.182)
    assert row['p50_ms'] == pytest.approx(500.0) and row['max_ms'] == pytest.approx(900.0)  # the 9 s failures left out
    assert row['statuses'] == {'0': 1, '200': 9, '503': 1}
    assert stats.failures(samples) == {'GET /x': {'503': 1, 'no answer': 1}}


def test_longest_success_gap_counts_the_window_edges():
    samples = [sample(t, latency=0.0) for t in (0, 1, 2, 6, 7)] + [sample(3, status=502), sample(4, status=502)]
    assert stats.longest_success_gap(samples) == 4.0   # 2 -> 6
    assert stats.longest_success_gap(samples, start=0, end=10) == 4.0
    assert stats.longest_success_gap(samples, start=6.5, end=20) == 13.0  # nothing answered after 7
    assert stats.longest_success_gap([], start=0, end=5) == 5.0


def test_timeline_bins_by_due_time():
    samples = [sample(0.1, latency=0.01), sample(0.5, status=500), sample(1.2, latency=0.03)]
    rows = stats.timeline(samples, seconds=3)
    assert [(r['t'], r['offered'], r['ok'], r['errors']) for r in rows] == [(0, 2, 1, 1), (1, 1, 1, 0), (2, 0, 0, 0)]
    assert rows[1]['p50_ms'] == 30.0 and rows[2]['p90_ms'] is None


def test_schedule_is_evenly_spaced_per_phase_and_checks_its_input():
    due = list(schedule([(1, 4), (1, 2)]))
    assert due == [0.0, 0.25, 0.5, 0.75, 1.0, 1.5]
    with pytest.raises(ValueError, match='phases'):
        list(schedule([(0, 10)]))
    with pytest.raises(ValueError, match='phases'):
        list(schedule([]))


def test_samples_round_trip_through_the_saved_file(tmp_path):
    class Gen:
        marks = [{'t': 1.0, 'name': 'kill'}]
        generator = {'cpu_pct_of_one_core': 3.0}
        samples = [sample(0.5, age=12.5), sample(0.75, status=0, error='ClientOSError')]

    class Ctx:
        def path(self, name):
            return str(tmp_path / name)
    save_samples(Ctx(), 'x', Gen)
    samples, marks = load_samples(str(tmp_path / 'x.samples.json'))
    assert samples == Gen.samples and marks == Gen.marks


def test_health_watch_finds_when_the_lb_marked_the_peer_down_and_all_up_again():
    watch = HealthWatch(stack=None, gen=None)
    watch.rows = [(9.0, {'shs-app-1': True, 'shs-app-2': True}), (10.5, {'shs-app-1': True, 'shs-app-2': True}),
                  (13.0, {'shs-app-1': True, 'shs-app-2': False}), (14.0, None),
                  (30.0, {'shs-app-1': True, 'shs-app-2': False}), (31.5, {'shs-app-1': True, 'shs-app-2': True})]
    assert watch.marked_down('shs-app-2', after=10.0) == 3.0
    assert watch.marked_down('shs-app-1', after=10.0) is None
    assert watch.all_up(after=10.0) == 21.5
    watch.rows = watch.rows[:2]
    assert watch.all_up(after=10.0) == 0.0   # never seen down


def test_recap_parsing():
    assert stats_recap('PLAY RECAP ****\nlocalhost                  : ok=48   changed=0    unreachable=0') == 0
    assert stats_recap('PLAY RECAP ****\nlocalhost   : ok=48   changed=21   unreachable=0') == 21
    assert stats_recap('no recap') is None


def test_bars_and_the_markdown_table_say_what_is_missed_and_by_how_much():
    ok = report.bar('p90 GET /db_dummy', 120.0, 400, '<', 'ms')
    bad = report.bar('p90 GET /operation', 450.0, 400, '<', 'ms')
    none = report.bar('max age', None, 60, '<=', 's')
    assert ok['met'] and not bad['met'] and not none['met']
    with pytest.raises(ValueError, match='op'):
        report.bar('x', 1, 1, '>')
    results = {'load': {'bars': [ok, bad], 'figures': {'generator lag p99 ms': 2.5}}, 'cache': {'bars': [none]}}
    assert [(s, b['name']) for s, b in report.missed(results)] == [('load', 'p90 GET /operation'), ('cache', 'max age')]
    table = report.markdown(results, {'cores': 2})
    assert '| load | p90 GET /db_dummy | 120.0 ms | < 400 ms | met |' in table
    assert '| load | p90 GET /operation | 450.0 ms | < 400 ms | **missed** (by 50.0 ms) |' in table
    assert '| cache | max age | n/a | <= 60 s | **missed** |' in table
    assert 'Machine: cores 2' in table


def test_plot_writes_a_png(tmp_path):
    samples = [sample(i * 0.1, latency=0.01 + (i % 7) / 100, endpoint='GET /%d' % (i % 3)) for i in range(50)]
    path = report.plot(str(tmp_path / 'p.png'), 'title', samples + [sample(2.0, status=502)], 5,
                       marks=[{'t': 2.0, 'name': 'kill'}])
    with open(path, 'rb') as handle:
        assert handle.read(8) == b'\x89PNG\r\n\x1a\n'
