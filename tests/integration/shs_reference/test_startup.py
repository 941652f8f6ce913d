"""The startup request: bingo GETs an outside URL before serving. Tests point it at loopback only."""

import http.server
import socket
import threading
import time

import pytest

from support import docker, free_port, wait_for

TIMEOUT = 3


@pytest.fixture
def silent_server():
    """A listening socket that accepts connections (kernel backlog) and never answers."""
    sock = socket.socket()
    sock.bind(('127.0.0.1', 0))
    sock.listen(16)
    yield 'http://127.0.0.1:%d/runtime_version' % sock.getsockname()[1]
    sock.close()


@pytest.fixture
def answering_server():
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass
    server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield 'http://127.0.0.1:%d/runtime_version' % server.server_address[1]
    server.shutdown()
    server.server_close()


def startup_record(service):
    return next(r for r in service.layout.log_records() if r['msg'] == 'startup request done')


def test_no_answer_delays_serving_until_the_timeout(services, prepared_db, silent_server):
    service = services.start(prepared_db, config={'startup_request': {'url': silent_server, 'timeout': TIMEOUT}})
    elapsed = service.wait_ready()
    assert TIMEOUT <= elapsed < TIMEOUT + 10
    record = startup_record(service)
    assert record['result'] == 'timed out' and record['waited'] >= TIMEOUT


def test_refused_connection_serves_at_once(services, prepared_db):
    closed = 'http://127.0.0.1:%d/runtime_version' % free_port()  # nothing listens there
    service = services.start(prepared_db, env={'SHS_STARTUP_URL': closed, 'SHS_STARTUP_TIMEOUT': str(TIMEOUT)})
    elapsed = service.wait_ready()
    assert elapsed < TIMEOUT - 1
    record = startup_record(service)
    assert record['result'] == 'failed' and record['waited'] < 1


def test_answered_request_is_logged(services, prepared_db, answering_server):
    service = services.start(prepared_db, env={'SHS_STARTUP_URL': answering_server})
    assert service.wait_ready() < TIMEOUT
    record = startup_record(service)
    assert (record['result'], record['status']) == ('answered', 204)


def test_stop_while_waiting_is_prompt(services, prepared_db, silent_server):
    service = services.start(prepared_db, wait=False,
                             config={'startup_request': {'url': silent_server, 'timeout': 60}})
    wait_for(lambda: 'startup request' in [r['msg'] for r in service.layout.log_records()], timeout=10,
             what='startup request started')
    started = time.monotonic()
    docker('stop', '-t', '10', service.name)
    assert time.monotonic() - started < 3
    assert service.state() == ('exited', 0)


def test_no_startup_request_by_default(services, prepared_db):
    service = services.start(prepared_db)
    assert not [r for r in service.layout.log_records() if r['msg'].startswith('startup request')]
