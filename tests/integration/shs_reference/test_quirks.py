"""bingo's misbehaviours, each switched on with small parameters (all are off by default)."""

import time

from support import wait_for


def test_crash_after_interval_with_seeded_exit_code(services, prepared_db):
    env = {'SHS_QUIRK_CRASH_AFTER': '2', 'SHS_QUIRK_SEED': '7'}
    # Two instances with the same seed, started together: same exit code.
    first = services.start(prepared_db, env=env, wait=False)
    second = services.start(prepared_db, env=env, wait=False)
    for service in (first, second):
        service.wait_ready()
        assert service.get('/ping').text == 'pong'  # it serves until it dies

    def exited(service):
        status, code = service.state()
        return code if status == 'exited' else None
    codes = [wait_for(lambda: exited(s), timeout=10, interval=0.1, what='crash') for s in (first, second)]
    assert time.monotonic() - first.started >= 2
    assert codes[0] != 0 and codes[0] == codes[1]
    death = next(r for r in first.layout.log_records() if r['msg'] == 'We all gonna die')
    assert death['exit_code'] == codes[0] and death['level'] == 'fatal'


def test_rps_limit_answers_429(services, prepared_db):
    service = services.start(prepared_db, config={'quirks': {'rps_limit': 5}})
    answers = [service.get('/ping') for _ in range(30)]  # a burst: far more than 5 in one second
    limited = [r for r in answers if r.status_code == 429]
    assert limited and all('Too many requests' in r.text for r in limited)
    assert any(r.status_code == 200 for r in answers)
    assert {r.status_code for r in answers} <= {200, 429}
    time.sleep(1.1)  # a new one-second window
    assert service.get('/ping').status_code == 200


def test_sick_ping_spells(services, prepared_db):
    # healthy 1 s, sick 1 s, healthy 1 s, ...
    service = services.start(prepared_db, env={'SHS_QUIRK_SICK_PING': '1', 'SHS_QUIRK_SICK_HEALTHY': '1',
                                               'SHS_QUIRK_SICK_DURATION': '1', 'SHS_QUIRK_SEED': '1'})
    seen = []
    deadline = time.monotonic() + 6
    while time.monotonic() < deadline and seen[-3:] != ['pong', 'sick', 'pong']:
        r = service.get('/ping')
        state = 'pong' if (r.status_code, r.text) == (200, 'pong') else (
            'sick' if (r.status_code, r.text) == (500, 'I feel bad') else repr((r.status_code, r.text)))
        if state == 'sick':
            assert service.get('/').status_code == 200  # only /ping feels bad
        if not seen or seen[-1] != state:
            seen.append(state)
        time.sleep(0.05)
    assert seen[-3:] == ['pong', 'sick', 'pong'], seen


def test_memory_growth(services, prepared_db):
    mib = 1024 * 1024
    leaky = services.start(prepared_db, env={'SHS_QUIRK_LEAK_BYTES': str(mib)}, wait=False)
    healthy = services.start(prepared_db, wait=False)
    growth = {}
    for name, service in (('leaky', leaky), ('healthy', healthy)):
        service.wait_ready()
        before = service.rss_kib()
        for _ in range(60):
            assert service.get('/ping').status_code == 200
        growth[name] = service.rss_kib() - before
    assert growth['leaky'] >= 50 * 1024, growth  # ~1 MiB kept per request
    assert growth['healthy'] < 10 * 1024, growth


def test_quirks_are_off_by_default(services, prepared_db):
    service = services.start(prepared_db)
    answers = [service.get('/ping') for _ in range(150)]
    assert all((r.status_code, r.text) == (200, 'pong') for r in answers)
    quirks = next(r for r in service.layout.log_records() if r['msg'] == 'quirks')
    assert quirks['crash'] == {'enabled': False} and quirks['rps_limit'] == 0
    assert not quirks['sick_ping']['enabled'] and quirks['leak_bytes_per_request'] == 0
