"""A drained app node (issue 13): an app VM that shuts down gracefully leaves the LB before its app stops.

Two local COI nodes (coinode.Node, as localcloud's instances are) boot the instance metadata the app tier
ships: the shs role's fragment (the reference app) and the watchdog role's (watchdog + drain unit), merged by
the collection's coi_metadata filter. An LB container runs the openresty role's rendered config in front of
them (as tests/integration/test_openresty_lb.py does), with the role's default health check. Under GET + POST
load through the LB, `Node.stop()` of one node (`docker stop -t 30`: systemd in the node shuts down, the drain
unit stops first, coi-compose.service stops the app last) must fail no request; the stopped app's own request
log shows no request from the LB after the LB could have marked it down, and the app stopped only after the
drain. Traffic goes to 127.0.0.1 (the LB's published port) and to containers this module creates only.
"""

import datetime
import hashlib
import importlib.util
import json
import os
import threading
import time
import uuid

import coinode
import pytest
import requests
import yaml

from health_bounds import bounds
from support import TEST_LABEL, docker, render_role, wait_for
from test_openresty_lb import compose_to_docker_args, write_files

pytestmark = pytest.mark.slow

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EMAIL = 'drain@filmopoisk.test'
LOG_DIR = '/opt/bongo/logs/' + hashlib.sha1(EMAIL.encode()).hexdigest()[:10]
LABEL_KEY, LABEL_VALUE = TEST_LABEL.split('=', 1)
# The openresty role's default check (ms in the role): the LB runs with it, the drain's default is made from it.
INTERVAL, FALL, RISE, TIMEOUT = 2.0, 3, 2, 1.0
# A drained peer refuses the check's connection at once (TCP reset): marked down within fall intervals.
MARK_DOWN = bounds(INTERVAL, FALL, RISE, TIMEOUT)
LONGEST_REQUEST = 1.5  # s: /long_dummy (1 s) and a margin; a request the LB sent just before the mark-down ends by then
RATE = 60.0  # requests per second through the LB: GET /ping, POST /operation, GET /long_dummy


def _load_filter():
    spec = importlib.util.spec_from_file_location('coi_metadata_filter',
                                                  os.path.join(ROOT, 'plugins', 'filter', 'coi_metadata.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.coi_metadata


class Stack:
    pass


@pytest.fixture(scope='module')
def stack(image, tmp_path_factory):
    shs_image, lb_image, node_image = image('shs'), image('lb'), image('coi-node')
    tmp = tmp_path_factory.mktemp('drain')
    suffix = uuid.uuid4().hex[:6]
    network = 'fp-test-drainnet-' + suffix
    docker('network', 'create', '--label', TEST_LABEL, network)
    nodes, lb = [], 'fp-test-drain-lb-' + suffix
    try:
        gateway = json.loads(docker('network', 'inspect', network).stdout)[0]['IPAM']['Config'][0]['Gateway']
        _, shs_payload = render_role(tmp, 'shs', 'shs_payload', {
            'shs_image': shs_image, 'shs_student_email': EMAIL, 'shs_db_password': 'unused',
            'shs_db_hosts': [{'address': 'db.invalid', 'port': 5432}],  # /ping and /operation need no database
            'shs_blocked_startup_address': '192.0.2.1'})
        # The watchdog role's defaults (the drain's too), as playbooks/tasks/app.yml renders it (port 80).
        _, watchdog_payload = render_role(tmp, 'watchdog', 'watchdog_payload', {'watchdog_port': 80})
        config = next(f for f in watchdog_payload['files'] if f['path'].endswith('.json'))
        drain_seconds = json.loads(config['content'])['settings']['drain_seconds']
        metadata = _load_filter()([shs_payload, watchdog_payload], project_name='shs')
        state = str(tmp / 'nodes')
        for letter in 'ab':
            nodes.append(coinode.Node('fp-drain-%s-%s' % (letter, suffix), metadata, network, image=node_image,
                                      fqdn='shs-%s-%s.filmopoisk.test' % (letter, suffix),
                                      labels={LABEL_KEY: LABEL_VALUE}, state_dir=state))
        for node in nodes:
            node.start()
        for node in nodes:
            node.wait_ready(120)

        _, lb_payload = render_role(tmp, 'openresty', 'openresty_payload', {
            'openresty_upstream_peers': [node.fqdn for node in nodes],
            'openresty_upstream_port': 80,  # the VM port (the node REDIRECTs it to the app's 8080)
            'openresty_status_allow': ['127.0.0.1/32', gateway + '/32'],
            'openresty_tls_selfsigned_dir': str(tmp / 'tls'),
            'openresty_worker_processes': '2'})
        root = str(tmp / 'lbroot')
        write_files(lb_payload, root)
        service = lb_payload['compose']['services']['openresty']
        docker('run', '-d', '--label', TEST_LABEL, '--name', lb, '--network', network,
               *compose_to_docker_args(service, root), lb_image)
        port = docker('port', lb, '80/tcp').stdout.strip().splitlines()[0].rsplit(':', 1)[1]

        s = Stack()
        s.nodes, s.lb, s.http, s.drain_seconds = nodes, lb, 'http://127.0.0.1:%s' % port, drain_seconds
        s.lb_address = json.loads(docker('inspect', lb).stdout)[0]['NetworkSettings']['Networks'][network]['IPAddress']
        wait_for(lambda: all(p['up'] and p['address'] for p in health(s)['peers']), timeout=60,
                 what='both peers resolved and up')
        yield s
    finally:
        print(docker('logs', '--tail', '30', lb, check=False).stderr[-3000:])
        docker('rm', '-f', lb, check=False)
        for node in nodes:
            node.remove()
        docker('network', 'rm', network, check=False)


def health(s):
    return requests.get(s.http + '/hck_status', timeout=2).json()


def peer_state(s, host):
    return next(p for p in health(s)['peers'] if p['host'] == host)


class Load:
    """GET /ping, POST /operation and GET /long_dummy in turn through the LB at `rate` per second (one thread per
    request, kept-alive client sessions); every result kept as (time.time(), request, outcome)."""

    def __init__(self, url, rate=RATE, workers=48):
        self.url, self.rate, self.workers = url, rate, workers
        self.results, self.lock, self.stop = [], threading.Lock(), threading.Event()
        self.local = threading.local()
        self.thread = threading.Thread(target=self.run)

    def one(self, i):
        session = getattr(self.local, 'session', None) or requests.Session()
        self.local.session = session
        at = time.time()
        kind = ('GET /ping', 'POST /operation', 'GET /long_dummy')[i % 3]
        try:
            if kind == 'GET /ping':
                response = session.get(self.url + '/ping', timeout=10)
                ok = (response.status_code, response.text) == (200, 'pong')
            elif kind == 'POST /operation':
                response = session.post(self.url + '/operation', json={'operation': i}, timeout=10)
                ok = response.status_code == 200 and response.json().get('result') == i * i
            else:
                response = session.get(self.url + '/long_dummy', timeout=10)
                ok = response.status_code == 200 and response.json().get('message') == 'long dummy'
            outcome = 'ok' if ok else 'HTTP %d %r' % (response.status_code, response.text[:60])
        except (requests.RequestException, ValueError) as exc:
            outcome = repr(exc)
        with self.lock:
            self.results.append((at, kind, outcome))

    def run(self):
        from concurrent.futures import ThreadPoolExecutor
        with ThreadPoolExecutor(max_workers=self.workers) as pool:
            t0, i = time.monotonic(), 0
            while not self.stop.is_set():
                delay = t0 + i / self.rate - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                pool.submit(self.one, i)
                i += 1

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join()


def app_log(node):
    """The node's app log (JSON lines; the node's /opt is a host directory): [(epoch seconds, record)]."""
    path = os.path.join(node.node_dir, 'fs') + LOG_DIR + '/main.log'
    out = []
    with open(path) as handle:
        for line in handle:
            record = json.loads(line)
            out.append((datetime.datetime.fromisoformat(record['timestamp']).timestamp(), record))
    return out


def shut_down_under_load(stack, victim, how):
    """`how` ('stop' or 'restart') the node under load; the figures, the drain's checks asserted."""
    seen_down = []

    def watch_lb():  # the victim's state on the LB when it was first seen down (later its name may be gone too)
        while not seen_down and not load.stop.is_set():
            state = peer_state(stack, victim.fqdn)
            if not state['up']:
                seen_down.append(state)
            time.sleep(0.1)

    with Load(stack.http) as load:
        time.sleep(4)  # requests on both peers, connections kept alive to both
        watcher = threading.Thread(target=watch_lb)
        watcher.start()
        began = time.time()
        getattr(victim, how)()  # docker stop / restart -t 30 of the node: a graceful shutdown
        stopped = time.time()
        if how == 'restart':  # back in the LB: it boots, the app starts, the LB's check lets it in again
            wait_for(lambda: peer_state(stack, victim.fqdn)['up'], timeout=90, interval=0.2, what='readmitted')
            readmitted = time.time()
        time.sleep(3)  # the other peer carries on (restart: both again)
    watcher.join()
    assert seen_down, 'the LB never marked the node down'
    down = seen_down[0]
    log = app_log(victim)
    shutdown = [at for at, r in log if r.get('msg') == 'shutting down' and at >= began]
    lifecycle = [(round(at - began, 2), r['msg'], r.get('pid')) for at, r in log
                 if at >= began and r.get('msg') != 'request completed']
    assert shutdown, lifecycle
    if how == 'stop':  # stopped once: the watchdog never started it again
        assert len(shutdown) == 1 and not [m for _, m, _ in lifecycle if m == 'server started'], lifecycle
    from_lb = [at for at, r in log if r.get('msg') == 'request completed' and r.get('remote') == stack.lb_address]
    before_shutdown = [at for at in from_lb if at <= shutdown[0]]
    failed = [r for r in load.results if r[2] != 'ok']
    figures = {
        'requests': len(load.results), 'failed': len(failed), '%s_s' % how: stopped - began,
        'marked_down_after_s': down['last_change'] - began,
        'last_request_after_s': max(before_shutdown) - began,
        'app_stopped_after_s': shutdown[0] - began,
        'requests_before': len([1 for at in from_lb if at < began]),
        'requests_while_draining': len([1 for at in before_shutdown if at >= began]),
        'last_result': down['last_result'], 'drain_s': stack.drain_seconds,
        'started_while_draining': len([1 for at, r in log if began <= at <= shutdown[0]
                                       and r.get('msg') == 'server started']), 'lifecycle': lifecycle[:8]}
    if how == 'restart':
        figures['readmitted_after_s'] = readmitted - began
        figures['requests_after_readmission'] = len([1 for at in from_lb if at > shutdown[0]])
    print('\ndrained %s: %s' % (how, ', '.join('%s %s' % (k, ('%.2f' % v) if isinstance(v, float) else v)
                                              for k, v in sorted(figures.items()))))
    assert failed == [], failed[:5]
    assert figures['requests_before'] > 0  # the victim was serving
    # The LB marked it down on its own check (refused at once), within fall intervals of the drain's start.
    assert not down['up'] and figures['marked_down_after_s'] <= MARK_DOWN['eject_max'] + 0.5, figures
    assert down['last_result'] == 'connect: connection refused', figures  # the drain's reset, the app still up
    # No request reached the victim's app after the LB could have marked it down (+ one in flight then), ...
    assert figures['last_request_after_s'] <= MARK_DOWN['eject_max'] + 0.5 + LONGEST_REQUEST, figures
    assert max(before_shutdown) <= down['last_change'] + LONGEST_REQUEST, figures
    # ... and the app was stopped only after the drain (no sooner than drain_seconds after the stop began), the
    # watchdog never starting it meanwhile, the stop taking about the drain.
    assert figures['app_stopped_after_s'] >= stack.drain_seconds - 0.5, figures
    assert figures['started_while_draining'] == 0, figures
    assert stack.drain_seconds <= stopped - began <= stack.drain_seconds + 12, figures
    return figures


def test_a_restarted_node_is_drained_and_comes_back(stack):
    """Node.restart (docker restart -t 30): what localcloud's rolling restart and restart-type updates do."""
    figures = shut_down_under_load(stack, stack.nodes[0], 'restart')
    assert figures['requests_after_readmission'] > 0  # serving again after the boot (no drain rules left)
    # Started again at the boot (no ordering cycle with coi-compose.service dropped their jobs), so the next
    # shutdown (the next test) is drained too.
    units = stack.nodes[0].exec('systemctl is-active shs-watchdog.service shs-drain.service coi-compose.service',
                                check=False).stdout.split()
    assert units == ['active'] * 3, units
    cycles = stack.nodes[0].exec('journalctl --no-pager | grep -c "ordering cycle"', check=False).stdout.strip()
    assert cycles == '0', stack.nodes[0].exec('journalctl --no-pager | grep -i cycle', check=False).stdout


def test_a_stopped_node_is_drained_before_its_app_stops(stack):
    """Node.stop (docker stop -t 30): a VM shut down for good (stopped group, scale-in on Yandex Cloud)."""
    shut_down_under_load(stack, stack.nodes[0], 'stop')
