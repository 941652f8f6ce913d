"""Every endpoint against a prepared database: status, content type and content."""

import datetime
import json
import time

import pytest

from shs_helpers import SMALL
from support import docker, wait_for

JSON = 'application/json'


@pytest.fixture(scope='module')
def svc(module_services, prepared_db):
    return module_services.start(prepared_db)


def rows(postgres, db, sql):
    """Rows of a query as JSON objects (PostgreSQL renders them, like the service does)."""
    out = postgres.psql("SELECT coalesce(json_agg(t), '[]') FROM (%s) t" % sql, db=db)
    return json.loads(out)


def is_json(response):
    return response.headers['Content-Type'].startswith(JSON)


def test_index(svc):
    r = svc.get('/')
    assert r.status_code == 200 and is_json(r)
    body = r.json()
    assert body['compatible_with'] == 'bingo' and 'GET /api/session/{id}' in body['endpoints']


def test_ping_is_plain_pong(svc):
    r = svc.get('/ping')
    assert (r.status_code, r.text) == (200, 'pong')
    assert r.headers['Content-Type'].startswith('text/plain')


def test_long_dummy_takes_a_second_and_is_timestamped(svc):
    started = time.monotonic()
    first = svc.get('/long_dummy')
    elapsed = time.monotonic() - started
    assert first.status_code == 200 and is_json(first)
    assert elapsed >= 1.0
    generated = datetime.datetime.fromisoformat(first.json()['generated_at'])
    now = datetime.datetime.now(datetime.timezone.utc)
    assert abs((now - generated).total_seconds()) < 5
    assert abs(first.json()['generated_at_unix'] - generated.timestamp()) < 0.01
    second = svc.get('/long_dummy')
    assert second.json()['generated_at_unix'] - first.json()['generated_at_unix'] >= 1.0


def test_db_dummy_sleeps_in_postgres(svc):
    started = time.monotonic()
    r = svc.get('/db_dummy')
    assert r.status_code == 200 and is_json(r)
    assert time.monotonic() - started >= 0.1
    assert r.json()['status'] == 'ok' and r.json()['duration_ms'] >= 100


@pytest.mark.parametrize('number', [0, 7, -12, 2 ** 40])
def test_operation(svc, number):
    r = svc.request('POST', '/operation', json={'operation': number})
    assert r.status_code == 200 and is_json(r)
    assert r.json() == {'operation': number, 'result': number * number, 'status': 'done'}


@pytest.mark.parametrize('kind,table,columns', [
    ('movie', 'movies', 'id, name, year, duration'),
    ('customer', 'customers', 'id, name, surname, birthday, email'),
    ('session', 'sessions', 'id, start_time, customer_id, movie_id'),
])
def test_get_one(svc, postgres, prepared_db, kind, table, columns):
    for row_id in (1, 42, SMALL[table]):
        r = svc.get('/api/%s/%d' % (kind, row_id))
        assert r.status_code == 200 and is_json(r)
        expected = rows(postgres, prepared_db, 'SELECT %s FROM %s WHERE id = %d' % (columns, table, row_id))
        assert [r.json()] == expected
    missing = svc.get('/api/%s/%d' % (kind, 10 ** 9))
    assert missing.status_code == 404 and is_json(missing) and 'not found' in missing.json()['error']


def test_list_movies(svc, postgres, prepared_db):
    r = svc.get('/api/movie')
    assert r.status_code == 200 and is_json(r)
    got = r.json()
    assert len(got) == SMALL['movies']
    assert set(got[0]) == {'id', 'name', 'year', 'duration'}
    # ties on (year, name) may come in any order: compare the sort keys and the set of rows
    expected = rows(postgres, prepared_db, 'SELECT year, name FROM movies ORDER BY year DESC, name')
    assert [{'year': m['year'], 'name': m['name']} for m in got] == expected
    assert sorted(m['id'] for m in got) == list(range(1, SMALL['movies'] + 1))


def test_list_customers(svc, postgres, prepared_db):
    r = svc.get('/api/customer')
    assert r.status_code == 200 and is_json(r)
    expected = rows(postgres, prepared_db, 'SELECT id, name, surname, birthday, email FROM customers '
                                           'ORDER BY surname, name, birthday DESC, id DESC')
    assert r.json() == expected and len(expected) == SMALL['customers']


def test_list_sessions_is_limited_to_100000(svc):
    got = svc.get('/api/session', timeout=60).json()
    assert len(got) == 100000  # the database holds SMALL['sessions'] = 100050
    assert [s['id'] for s in got[:3]] == [100050, 100049, 100048]
    assert got[-1]['id'] == 51 and set(got[0]) == {'id', 'start_time', 'customer_id', 'movie_id'}


def test_create_get_delete_session(svc, postgres, prepared_db):
    r = svc.request('POST', '/api/session', json={'customer_id': 5, 'movie_id': 7})
    assert r.status_code == 201 and is_json(r)
    created = r.json()
    assert created['id'] > SMALL['sessions']  # the sequence continues after the seeded ids
    assert (created['customer_id'], created['movie_id']) == (5, 7)
    start = datetime.datetime.fromisoformat(created['start_time'])
    assert abs((datetime.datetime.utcnow() - start).total_seconds()) < 60  # default: now, UTC

    assert svc.get('/api/session/%d' % created['id']).json() == created
    assert postgres.psql('SELECT customer_id, movie_id FROM sessions WHERE id = %d' % created['id'],
                         db=prepared_db) == '5|7'

    deleted = svc.request('DELETE', '/api/session/%d' % created['id'])
    assert deleted.status_code == 200 and deleted.json() == created
    assert svc.get('/api/session/%d' % created['id']).status_code == 404
    again = svc.request('DELETE', '/api/session/%d' % created['id'])
    assert again.status_code == 404 and is_json(again)


def test_create_session_with_start_time(svc):
    r = svc.request('POST', '/api/session',
                    json={'customer_id': 1, 'movie_id': 1, 'start_time': '2024-05-06T10:00:00+03:00'})
    assert r.status_code == 201
    assert r.json()['start_time'] == '2024-05-06T07:00:00'  # stored in UTC
    naive = {'customer_id': 1, 'movie_id': 1, 'start_time': '2024-05-06 10:00:00'}
    second = svc.request('POST', '/api/session', json=naive)
    assert second.json()['start_time'] == '2024-05-06T10:00:00' and second.json()['id'] > r.json()['id']
    for session in (r.json(), second.json()):
        assert svc.request('DELETE', '/api/session/%d' % session['id']).status_code == 200


@pytest.mark.parametrize('body,needle', [
    ({'customer_id': 10 ** 9, 'movie_id': 1}, 'customer_id'),
    ({'customer_id': 1, 'movie_id': 10 ** 9}, 'movie_id'),
])
def test_create_session_with_unknown_references(svc, postgres, prepared_db, body, needle):
    before = postgres.psql('SELECT count(*) FROM sessions', db=prepared_db)
    r = svc.request('POST', '/api/session', json=body)
    assert r.status_code == 400 and needle in r.json()['error']
    assert postgres.psql('SELECT count(*) FROM sessions', db=prepared_db) == before


BAD_REQUESTS = [
    # (method, path, body, status)
    ('GET', '/api/movie/abc', None, 400),
    ('GET', '/api/customer/1.5', None, 400),
    ('GET', '/api/session/99999999999999999999', None, 400),
    ('DELETE', '/api/session/x1', None, 400),
    ('GET', '/api/session/-1', None, 404),
    ('GET', '/no/such/path', None, 404),
    ('GET', '/api/movie/1/extra', None, 404),
    ('GET', '/api/movies', None, 404),
    ('POST', '/api/movie', '{}', 405),
    ('DELETE', '/api/movie/1', None, 405),
    ('PUT', '/api/session/1', '{}', 405),
    ('GET', '/operation', None, 405),
    ('POST', '/ping', '', 405),
    ('POST', '/operation', 'not json', 400),
    ('POST', '/operation', '', 400),
    ('POST', '/operation', '[1]', 400),
    ('POST', '/operation', '{}', 400),
    ('POST', '/operation', '{"operation": "7"}', 400),
    ('POST', '/operation', '{"operation": 1.5}', 400),
    ('POST', '/operation', '{"operation": true}', 400),
    ('POST', '/operation', '{"operation": null}', 400),
    ('POST', '/operation', '{"operation": %d}' % 2 ** 70, 400),
    ('POST', '/operation', b'{"operation": "\xff"}', 400),
    ('POST', '/api/session', '{"customer_id": 1', 400),
    ('POST', '/api/session', '{}', 400),
    ('POST', '/api/session', '{"customer_id": 1}', 400),
    ('POST', '/api/session', '{"customer_id": "1", "movie_id": 1}', 400),
    ('POST', '/api/session', '{"customer_id": 1, "movie_id": false}', 400),
    ('POST', '/api/session', '{"customer_id": 1, "movie_id": 1, "start_time": "yesterday"}', 400),
    ('POST', '/api/session', '{"customer_id": 1, "movie_id": 1, "start_time": 5}', 400),
]


@pytest.mark.parametrize('method,path,body,status', BAD_REQUESTS,
                         ids=['%s %s %s' % (m, p, b) for m, p, b, _ in BAD_REQUESTS])
def test_bad_input_is_a_client_error(svc, method, path, body, status):
    r = svc.request(method, path, data=body, headers={'Content-Type': JSON})
    assert r.status_code == status, r.text
    assert is_json(r) and r.json()['status'] == status and r.json()['error']
    if status == 405:
        assert 'Allow' in r.headers


def test_every_request_is_logged(svc):
    path = '/api/movie/3?marker=%d' % time.monotonic_ns()
    assert svc.get(path).status_code == 200

    def logged():
        return [r for r in svc.layout.log_records()
                if r['msg'] == 'request completed' and r.get('url_path') == '/api/movie/3']
    records = wait_for(logged, timeout=5, what='request line in main.log')
    record = records[-1]
    assert record['status'] == 200 and record['method'] == 'GET' and record['event_duration'] >= 0
    messages = [r['msg'] for r in svc.layout.log_records()]
    assert 'Prepare app.' in messages and 'server started' in messages
    # the config in the start record is masked
    assert svc.layout.cfg['postgres_cluster']['password'] not in open(svc.layout.log_file).read()


def test_stops_cleanly_on_sigterm(services, prepared_db):
    service = services.start(prepared_db)
    started = time.monotonic()
    docker('stop', '-t', '10', service.name)
    assert time.monotonic() - started < 5
    assert service.state() == ('exited', 0)
    assert 'shutting down' in [r['msg'] for r in service.layout.log_records()]
