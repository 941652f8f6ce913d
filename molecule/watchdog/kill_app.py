"""kill -9 the SHS app of a COI node, twice, and time how long until /ping answers pong again.

1. SIGKILL to the app process itself (a crash, the OOM killer): the container's init exits with 137
   and Docker's restart policy (`restart: always` in the shs role) starts the container again.
2. `docker kill` (SIGKILL through the engine): Docker takes it for a deliberate stop and its restart
   policy stands down. A container left stopped is what the watchdog is for: it starts it at its next
   check (verify.yml then finds the action in the node's journal).

/ping is polled every 50 ms from here (the controller) on the node's address, port 80, as a client on
the VM's network would. Prints one JSON object. Usage: kill_app.py NODE NETWORK PROJECT SERVICE
"""

import datetime
import http.client
import json
import os
import signal
import subprocess
import sys
import time

BUDGET = 30.0  # s: give up waiting (the verify task asserts the real budget, 10 s)


def docker(*args):
    return subprocess.run(['docker', *args], check=True, capture_output=True, text=True).stdout.strip()


def inspect(name):
    return json.loads(docker('inspect', name))[0]


def ping(host):
    conn = http.client.HTTPConnection(host, 80, timeout=0.5)
    try:
        conn.request('GET', '/ping')
        response = conn.getresponse()
        return response.status == 200 and response.read().strip() == b'pong'
    except (OSError, http.client.HTTPException):
        return False
    finally:
        conn.close()


def wait(host, healthy, since):
    """Seconds since `since` until ping(host) == healthy (None after BUDGET)."""
    while time.monotonic() - since < BUDGET:
        if ping(host) == healthy:
            return round(time.monotonic() - since, 2)
        time.sleep(0.05)
    return None


def watchdog_pinged(node, since):
    """Wait for a /ping the watchdog sent (from the node itself: 127.0.0.1) that the app answered after `since`.
    The app logs every request it completes (main.log in its log directory, on the node's disk)."""
    deadline = time.monotonic() + BUDGET
    while time.monotonic() < deadline:
        tail = subprocess.run(['docker', 'exec', node, 'sh', '-c', 'tail -n 200 /opt/bongo/logs/*/main.log'],
                              capture_output=True, text=True).stdout
        for line in tail.splitlines():
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            if (entry.get('url_path'), entry.get('status'), entry.get('remote')) == ('/ping', 200, '127.0.0.1') \
                    and log_time(entry.get('timestamp', '')) > since:
                return
        time.sleep(0.2)
    sys.exit('no /ping of the watchdog answered within %s s' % BUDGET)


def log_time(stamp):
    """The app log's timestamp (2026-12-01T13:01:52.997+00:00) as a Unix time; 0 if it is not one."""
    try:
        return datetime.datetime.fromisoformat(stamp).timestamp()
    except ValueError:
        return 0.0


def app_process(container):
    """Host pid of the app (the child of the container's init: the shs role sets init: true)."""
    lines = docker('top', container, '-eo', 'pid,args').splitlines()[1:]
    pids = [int(line.split(None, 1)[0]) for line in lines
            if '/app/bingo' in line and 'docker-init' not in line]
    if len(pids) != 1:
        sys.exit('expected one /app/bingo process in %s, got %r' % (container, lines))
    return pids[0]


def kill(host, container, how):
    before = inspect(container)
    started = time.monotonic()
    if how == 'process':
        os.kill(app_process(container), signal.SIGKILL)
    else:
        docker('kill', '--signal', 'KILL', container)
    down = wait(host, False, started)
    healthy = wait(host, True, started)
    after = inspect(container)
    restarted_by_docker = after['RestartCount'] > before['RestartCount']
    return {
        'seconds_to_healthy': healthy,
        'seconds_to_down': down,
        'started_again': after['State']['StartedAt'] != before['State']['StartedAt'] and after['State']['Running'],
        # Docker counts only its own policy restarts; any other start here is the watchdog's.
        'brought_back_by': 'docker restart policy' if restarted_by_docker else 'watchdog',
        'restart_count': [before['RestartCount'], after['RestartCount']],
    }


def main(node, network, project, service):
    host = inspect(node)['NetworkSettings']['Networks'][network]['IPAddress']
    ids = docker('ps', '-aq', '--filter', 'label=com.docker.compose.project=' + project,
                 '--filter', 'label=com.docker.compose.service=' + service).split()
    if len(ids) != 1:
        sys.exit('expected one container of service %s in project %s, got %r' % (service, project, ids))
    container = inspect(ids[0])['Id']
    if wait(host, True, time.monotonic()) is None:
        sys.exit('/ping on %s does not answer before the test' % host)
    result = {'container': container[:12], 'node_address': host, 'began_at': time.time()}
    result['process_kill'] = kill(host, container, 'process')
    # The second kill is a new incident only once the watchdog has seen the app healthy again.
    watchdog_pinged(node, time.time())
    result['docker_kill'] = kill(host, container, 'docker')
    print(json.dumps(result, sort_keys=True))


if __name__ == '__main__':
    main(*sys.argv[1:])
