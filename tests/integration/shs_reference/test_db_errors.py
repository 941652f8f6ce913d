"""Database trouble is a 503 JSON answer, never a crash; the service recovers by itself."""

import pytest

from support import free_port, wait_for

VALID_SESSION = {'customer_id': 1, 'movie_id': 1}


def assert_503(response, needle):
    assert response.status_code == 503, response.text
    assert response.headers['Content-Type'].startswith('application/json')
    assert needle in response.json()['error']


@pytest.fixture
def unreachable(services, postgres):
    """A service whose database port has nothing listening."""
    config = {'postgres_cluster': {'hosts': [{'address': '127.0.0.1', 'port': free_port()}],
                                   'user': postgres.user, 'password': postgres.password, 'db_name': 'shs',
                                   'ssl_mode': 'disable', 'use_closest_node': False}}
    return services.start('shs', config=config)


def test_database_unreachable(unreachable):
    assert unreachable.get('/ping').text == 'pong'
    for _ in range(3):  # repeated failures stay 503 (no pile-up, no crash)
        assert_503(unreachable.get('/db_dummy'), 'unavailable')
    assert_503(unreachable.get('/api/movie/1'), 'unavailable')
    assert_503(unreachable.get('/api/session'), 'unavailable')
    assert_503(unreachable.request('POST', '/api/session', json=VALID_SESSION), 'unavailable')
    # input is checked before the database is asked
    assert unreachable.get('/api/movie/abc').status_code == 400
    assert unreachable.state() == ('running', 0)


def test_database_not_prepared(services, new_db):
    service = services.start(new_db())
    assert_503(service.get('/api/customer/1'), 'not prepared')
    assert_503(service.get('/api/customer'), 'not prepared')
    assert service.get('/db_dummy').status_code == 200  # needs no table


def test_recovers_after_connections_are_killed(services, postgres, prepared_db):
    service = services.start(prepared_db)
    assert service.get('/api/movie/1').status_code == 200
    killed = postgres.psql("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                           "WHERE datname = '%s' AND pid <> pg_backend_pid()" % prepared_db)
    assert int(killed) >= 1
    statuses = [service.get('/api/movie/1').status_code for _ in range(5)]
    assert set(statuses) <= {200, 503}
    wait_for(lambda: service.get('/api/movie/1').status_code == 200, timeout=5, what='recovery')
    assert service.state() == ('running', 0)
