"""Kill one app peer under a request loop through the LB node; measure failures, ejection and readmission.

Run on the controller by verify.yml. The request loop is a client on the scenario network (GET /ping on
the LB node's address, port 80, a new connection per request, RATE per second) for the whole run: before
the kill, while the peer is down, while it comes back and a little after. The peer's state is read from
the LB's health page, which only loopback may read, so it is fetched inside the LB node (docker exec
curl). Its `last_change` (the LB's clock) timestamps the down/up transitions.

Twice: under the loop (where the LB's passive ejection usually acts first), then with no traffic (only
the active health check can eject). Modes: `container` kills the peer's app container (docker kill:
SIGKILL, and Docker's restart policy stands down) and starts it again; `node` kills the whole peer node
and starts it again (a VM crash); `blackhole` makes the peer node vanish from the network while it keeps
running: its netns drops every packet in and out (iptables in the node), so connects to it time out and
the connections the LB keeps alive to it get no FIN or RST; then the rules are removed.

Times: `eject_s` from the fault in effect (the command that makes it has returned) to the LB's
`last_change`, `eject_from_start_s` from before that command; the bounds are tests/health_bounds.py's.

Prints one JSON object. Usage: failover.py LB_NODE PEER_NODE NETWORK MODE
"""

import http.client
import json
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

RATE = 50.0          # client requests per second
BEFORE_KILL = 2.0    # s of load before the kill
DOWN_FOR = 2.0       # s the peer stays down after the LB marked it down (no traffic)
# ... under the loop: longer than the client timeout (10 s), so a request left waiting on the failed peer
# instead of being retried on the other one shows as failed
DOWN_UNDER_LOAD = 12.0
AFTER_UP = 2.0       # s of load after the LB marked it up again
BUDGET = 60.0        # s: give up waiting for a state change


def docker(*args, check=True):
    return subprocess.run(['docker', *args], check=check, capture_output=True, text=True).stdout.strip()


def address(node, network):
    return json.loads(docker('inspect', node))[0]['NetworkSettings']['Networks'].get(network, {}).get('IPAddress')


def health(lb_node):
    return json.loads(docker('exec', lb_node, 'curl', '-sf', '--max-time', '2', 'http://localhost/hck_status'))


def peer(lb_node, name):
    return next(p for p in health(lb_node)['peers'] if p['host'] == name)


def get(host, path, timeout=10.0):
    conn = http.client.HTTPConnection(host, 80, timeout=timeout)
    try:
        conn.request('GET', path)
        response = conn.getresponse()
        return response.status, response.read().decode(errors='replace').strip()
    finally:
        conn.close()


def wait_for(what, predicate, interval=0.1):
    deadline = time.monotonic() + BUDGET
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise SystemExit('timed out after %ss waiting for %s' % (BUDGET, what))


class Load:
    """GET /ping at RATE per second on the LB until stopped; every result kept."""

    def __init__(self, host):
        self.host = host
        self.results = []
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run)

    def one(self):
        started = time.monotonic()
        try:
            status, body = get(self.host, '/ping')
            outcome = 'ok' if (status, body) == (200, 'pong') else 'HTTP %d %r' % (status, body[:40])
        except (OSError, http.client.HTTPException) as exc:
            outcome = repr(exc)
        with self.lock:
            self.results.append((time.time(), outcome, time.monotonic() - started))

    def run(self):
        with ThreadPoolExecutor(max_workers=32) as pool:
            t0, i = time.monotonic(), 0
            while not self.stop.is_set():
                delay = t0 + i / RATE - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                pool.submit(self.one)
                i += 1


def fail_peer(lb_node, peer_node, network, mode, lb=None):
    """Kill the peer and start it again (under the request loop when `lb` is an address); figures."""
    wait_for('both peers up', lambda: all(p['up'] and p['address'] for p in health(lb_node)['peers']))
    before = peer(lb_node, peer_node)
    victim = peer_node
    if mode == 'container':
        victim = docker('ps', '-q', '--filter', 'label=com.docker.compose.project=coi-' + peer_node,
                        '--filter', 'label=com.docker.compose.service=shs')
    load = Load(lb) if lb else None
    if load:
        load.thread.start()
        time.sleep(BEFORE_KILL)  # paces the load: requests on both peers first
    killed_at = time.time()
    if mode == 'blackhole':
        docker('exec', victim, 'sh', '-c', 'iptables -I INPUT 1 -j DROP && iptables -I OUTPUT 1 -j DROP')
    else:
        docker('kill', victim)
    gone_at = time.time()
    down = wait_for('the peer marked down', lambda: (lambda p: not p['up'] and p)(peer(lb_node, peer_node)))
    time.sleep(DOWN_UNDER_LOAD if load else DOWN_FOR)  # the peer stays out (under load: requests go on meanwhile)

    started_at = time.time()
    if mode == 'blackhole':
        docker('exec', victim, 'sh', '-c', 'iptables -D INPUT -j DROP && iptables -D OUTPUT -j DROP')
    else:
        docker('start', victim)
    # When the peer itself serves again (seen from here, on its possibly new address): readmission is
    # counted from then, the rest is its boot.
    serving_at = wait_for('the peer answering /ping', lambda: (lambda a: a and _pong(a) and time.time())(
        address(peer_node, network)), interval=0.05)
    up = wait_for('the peer marked up', lambda: (lambda p: p['up'] and p)(peer(lb_node, peer_node)))
    figures = {
        'eject_s': round(down['last_change'] - gone_at, 2),
        'eject_from_start_s': round(down['last_change'] - killed_at, 2),
        'last_result_down': down['last_result'],
        'passive_ejections': down['passive_ejections'] - before['passive_ejections'],
        'readmit_s': round(up['last_change'] - serving_at, 2),
        'start_to_up_s': round(up['last_change'] - started_at, 2),
        'address_before': before['address'],
        'address_after': up['address'],
    }
    if load:
        time.sleep(AFTER_UP)  # paces the load: requests on both peers again
        load.stop.set()
        load.thread.join()
        results = sorted(load.results)
        failed = [r for r in results if r[1] != 'ok']
        latencies = sorted(r[2] for r in results)
        figures.update({
            'requests': len(results),
            'requests_while_peer_down': len([r for r in results if killed_at <= r[0] <= up['last_change']]),
            'failed': len(failed),
            'failed_samples': [r[1] for r in failed[:5]],
            'latency_p50_s': round(latencies[len(latencies) // 2], 3),
            'latency_p99_s': round(latencies[int(len(latencies) * 0.99)], 3),
            'latency_max_s': round(latencies[-1], 3),
        })
    return figures


def main(lb_node, peer_node, network, mode):
    result = {'mode': mode, 'check': health(lb_node)['check']}
    # Under load the LB's passive ejection (failed requests) usually marks the peer down first ...
    result['under_load'] = fail_peer(lb_node, peer_node, network, mode, lb=address(lb_node, network))
    # ... with no traffic only the active health check can: its own timing.
    result['quiet'] = fail_peer(lb_node, peer_node, network, mode)
    print(json.dumps(result, sort_keys=True))


def _pong(host):
    try:
        return get(host, '/ping', timeout=0.5) == (200, 'pong')
    except (OSError, http.client.HTTPException):
        return False


if __name__ == '__main__':
    main(*sys.argv[1:])
