"""The network load balancers' data plane: HAProxy in TCP mode, in a container of its own.

Yandex Cloud's NLB forwards TCP/UDP on its listeners to the healthy targets of its attached target groups
(en/network-load-balancer/concepts/index.md, listener.md, health-check.md). Here one HAProxy serves every
listener of every ACTIVE load balancer of a localcloud. It runs as the docker container `localcloud-nlb-<owner>`
with `--network host` and `--restart unless-stopped`, so it is not a part of the API server: traffic keeps
flowing while the server is stopped, killed or restarting (as YC's data plane does not depend on its API).

    plane = dataplane(cloud)           # one per server
    plane.changed()                    # after a write to NLBs or target groups (re-reads the store, non-blocking)
    plane.wait_applied(timeout)        # until the running HAProxy has the current state
    plane.target_states(nlb_id, tg_id) # [(subnet_id, address, 'HEALTHY' | ...)]

The configuration is rendered from the store; it is applied by a reload (SIGUSR2 to HAProxy's master: new
workers take the listening sockets over, the old ones finish the connections they carry) only when it changed.
Health-check results survive a reload (the server-state file), so a reload never sends traffic to a target the
checks found down.
"""

import csv
import hashlib
import io
import logging
import os
import socket
import subprocess
import threading
import time

from yandex.cloud.loadbalancer.v1 import network_load_balancer_pb2 as nlb_pb2, target_group_pb2

log = logging.getLogger('localcloud.nlb')

IMAGE = 'filmopoisk/nlb:latest'
CONTAINER_PREFIX = 'localcloud-nlb-'
OWNER_LABEL = 'org.filmopoisk.localcloud.nlb'
DIR = 'nlb'
CONFIG = 'haproxy.cfg'
SOCKET = 'admin.sock'
SERVER_STATE = 'server-state'
POLL = 1.0
NLB = nlb_pb2.NetworkLoadBalancer
Listener = nlb_pb2.Listener
# HAProxy's server status -> TargetState.Status (network_load_balancer.proto).
STATES = {'UP': 'HEALTHY', 'DOWN': 'UNHEALTHY', 'NOLB': 'DRAINING', 'DRAIN': 'DRAINING', 'MAINT': 'INACTIVE',
          'no check': 'HEALTHY'}


def _state(row):
    """TargetState status of one `show stat` row: a target not checked yet is INITIAL (health-check.md: a new target
    is checked before it gets traffic); 'UP 1/2'-style transitional statuses count as their first word."""
    if row.get('check_status', '').startswith('INI'):
        return 'INITIAL'
    return STATES.get(row.get('status', '').split(' ')[0], 'INITIAL')


def docker(*args, check=False, timeout=60):
    return subprocess.run(('docker',) + tuple(str(a) for a in args), stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True, timeout=timeout, check=check)


def dataplane(cloud):
    found = getattr(cloud, 'nlb_dataplane', None)
    if found is None:
        found = cloud.nlb_dataplane = DataPlane(cloud.state_dir, cloud.store)
        found.start()
        cloud.on_stop(found.stop)
    return found


def _seconds(duration, default):
    value = duration.seconds + duration.nanos / 1e9
    return value if value > 0 else default


def _ms(seconds):
    return '%dms' % max(1, round(seconds * 1000))


def server_name(target_group_id, target):
    return '%s_%s' % (target_group_id, target.address.replace('.', '_'))


def render(balancers, target_groups, run_dir):
    """haproxy.cfg text for the ACTIVE balancers (None when nothing listens). `target_groups`: {id: TargetGroup}."""
    lines = [
        '# Written by localcloud (localcloud/localcloud/nlb.py) from its network load balancers; do not edit.',
        'global',
        '    log stdout format raw local0 notice',
        # Within the container's open-files limit (20000 here): HAProxy needs 2 per connection and 2 per splice pipe.
        '    maxconn 4000',
        '    stats socket %s/%s mode 600 level admin expose-fd listeners' % (run_dir, SOCKET),
        '    server-state-file %s/%s' % (run_dir, SERVER_STATE),
        # A reload's old workers finish their connections; HTTP keep-alive through an L4 proxy can last long.
        '    hard-stop-after 60s',
        '',
        'defaults',
        '    mode tcp',
        '    log global',
        '    load-server-state-from-file global',
        '    timeout connect 1s',
        '    timeout client 10m',
        '    timeout server 10m',
        # A connection that a target refuses or never answers goes to another target (an NLB keeps no state
        # of a TCP handshake that failed): the client sees the connection, not the failure.
        '    retries 2',
        '    option redispatch 1',
        # The kernel moves the bytes between the two sockets (splice) when it pays: the data path's CPU per request.
        '    option splice-auto',
        '',
    ]
    serving = False
    for balancer in sorted(balancers, key=lambda b: b.id):
        if balancer.status != NLB.ACTIVE:
            continue
        first_backend = {}  # server name -> the backend whose checks it tracks (one check per target)
        for listener in sorted(balancer.listeners, key=lambda item: (item.port, item.name)):
            if listener.protocol == Listener.UDP:
                continue  # HAProxy is TCP only: UDP listeners are stored, not served (README)
            serving = True
            name = '%s_%s_%d' % (balancer.id, listener.name or 'listener', listener.port)
            servers, http_paths, timeouts = [], [], []
            for attached in balancer.attached_target_groups:
                group = target_groups.get(attached.target_group_id)
                if group is None:
                    continue
                check = attached.health_checks[0] if attached.health_checks else None
                if check is not None:
                    timeouts.append(_seconds(check.timeout, 1.0))
                    if check.HasField('http_options'):
                        http_paths.append(check.http_options.path or '/')
                for target in sorted(group.targets, key=lambda t: t.address):
                    server = server_name(group.id, target)
                    line = '    server %s %s:%d' % (server, target.address, listener.target_port)
                    if server in first_backend:
                        line += ' track %s/%s' % (first_backend[server], server)
                    elif check is not None:
                        first_backend[server] = name
                        line += _check_options(check)
                    servers.append(line)
            lines += ['frontend %s' % name, '    bind %s:%d' % (listener.address or '127.0.0.1', listener.port),
                      '    default_backend %s' % name, '', 'backend %s' % name, '    balance roundrobin']
            if http_paths:  # one HTTP check request per backend: the first attached group's path
                lines += ['    option httpchk', '    http-check send meth GET uri %s ver HTTP/1.0' % http_paths[0],
                          '    http-check expect status 200']
            if timeouts:
                lines.append('    timeout check %s' % _ms(min(timeouts)))
            lines += servers + ['']
    if not serving:
        return None
    text = '\n'.join(lines) + '\n'
    # The configuration's own hash, which `show info` reports: how _apply knows which one the running workers have.
    return text.replace('global\n', 'global\n    description %s\n' % config_id(text), 1)


def config_id(text):
    return 'cfg-' + hashlib.sha256(text.encode()).hexdigest()[:16]


def _check_options(check):
    """A server's `check` parameters from a HealthCheck (health_check.proto; YC's defaults: interval 2 s, thresholds 2,
    en/network-load-balancer/concepts/health-check.md). The timeout is the backend's `timeout check`."""
    port = check.http_options.port if check.HasField('http_options') else check.tcp_options.port
    options = ' check inter %s fall %d rise %d' % (_ms(_seconds(check.interval, 2.0)), check.unhealthy_threshold or 2,
                                                   check.healthy_threshold or 2)
    # A target found unhealthy loses its connections at once (reset), not only new ones: YC's docs are silent; this
    # is what a client of an L4 balancer that hashes flows sees (*inferred*): the flow goes to another target, which
    # has no state for it and resets it. Without it a connection to a vanished VM would hang until a timeout.
    return options + (' port %d' % port if port else '') + ' on-marked-down shutdown-sessions'


class DataPlane:
    """Keeps the HAProxy container in step with the store's NLBs and target groups."""

    def __init__(self, state_dir, store):
        self.state_dir = os.path.abspath(state_dir)
        self.store = store
        self.dir = os.path.join(self.state_dir, DIR)
        self.run_dir = os.path.join(self.dir, 'run')
        self.owner = hashlib.sha256(self.state_dir.encode()).hexdigest()[:12]
        self.container = CONTAINER_PREFIX + self.owner
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = None
        self._lock = threading.Lock()
        self._generation = 0      # bumped by changed()
        self._applied = -1        # the generation the running HAProxy has
        self._applied_event = threading.Condition()
        self._removed = False     # no container while there is no listener (checked once)

    # -- API --------------------------------------------------------------------------------------------
    def start(self):
        os.makedirs(self.run_dir, mode=0o700, exist_ok=True)
        self._thread = threading.Thread(target=self._loop, name='nlb-dataplane', daemon=True)
        self._thread.start()

    def stop(self):
        """The API server stops; the data plane does not (it is its own container): it keeps the last state, applied
        once more here so that a change made just before the stop (e.g. destroy.yml's last delete) is not lost."""
        self._stop.set()
        self._wake.set()
        if self._thread:
            self._thread.join(5)
        try:
            self._apply()
        except Exception:
            log.exception('network load balancer data plane: the last apply failed')

    def changed(self):
        with self._lock:
            self._generation += 1
        self._wake.set()

    def wait_applied(self, timeout=30):
        """Block until HAProxy runs with what the store held at this call (True), or the timeout (False)."""
        with self._lock:
            wanted = self._generation = self._generation + 1
        self._wake.set()
        deadline = time.monotonic() + timeout
        with self._applied_event:
            while self._applied < wanted:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._applied_event.wait(left)
        return True

    def target_states(self, nlb_id, target_group_id):
        """[(subnet_id, address, status name)] of the group's targets as this NLB's checks see them."""
        group = self.store.get(target_group_pb2.TargetGroup, target_group_id)
        balancer = self.store.get(NLB, nlb_id)
        if group is None or balancer is None:
            return []
        stats = self._stats() if balancer.status == NLB.ACTIVE else {}
        states = []
        for target in group.targets:
            status = 'INACTIVE'  # a stopped balancer sends nothing anywhere
            if balancer.status == NLB.ACTIVE:
                rows = [row for (backend, server), row in sorted(stats.items())
                        if backend.startswith(balancer.id + '_') and server == server_name(group.id, target)]
                status = _state(rows[0]) if rows else 'INITIAL'
            states.append((target.subnet_id, target.address, status))
        return states

    def port_problem(self, address, port, nlb_id=''):
        """Why this machine cannot serve a listener on address:port (another process holds it), or None."""
        for balancer in self.store.list(NLB):
            if balancer.id == nlb_id:
                continue
            for listener in balancer.listeners:
                if (listener.address or '127.0.0.1') == address and listener.port == port:
                    return None  # ours: the other listener check (the service's) reports it
        probe = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            probe.bind((address, port))
        except OSError as exc:
            return 'this machine cannot listen on %s:%d (%s)' % (address, port, exc.strerror or exc)
        finally:
            probe.close()
        return None

    # -- the loop ---------------------------------------------------------------------------------------
    def _loop(self):
        while not self._stop.is_set():
            with self._lock:
                generation = self._generation
            try:
                self._apply()
                with self._applied_event:
                    self._applied = generation
                    self._applied_event.notify_all()
            except Exception:
                log.exception('network load balancer data plane: apply failed')
            self._wake.wait(POLL)
            self._wake.clear()

    def _desired(self):
        balancers = self.store.list(NLB)
        groups = dict((g.id, g) for g in self.store.list(target_group_pb2.TargetGroup))
        return render(balancers, groups, '/run/localcloud-nlb')

    def _apply(self):
        text = self._desired()
        path = os.path.join(self.dir, CONFIG)
        if text is None:
            # No listener: the container goes (looked up once, not every round while there is none).
            if not self._removed and self._running() is not None:
                log.info('no listener left: removing %s', self.container)
                docker('rm', '-f', self.container)
            self._removed = True
            return
        self._removed = False
        try:
            with open(path) as handle:
                current = handle.read()
        except FileNotFoundError:
            current = None
        wanted = text.split('description ', 1)[1].split('\n', 1)[0]
        # The usual round: HAProxy answers on its socket with this configuration (no docker call, once a second).
        if current == text and self._serving() == wanted:
            return
        running = self._running()
        if current != text:
            temp = path + '.tmp'
            with open(temp, 'w') as handle:
                handle.write(text)
            check = docker('run', '--rm', '--network', 'none', '-v', '%s:/etc/localcloud-nlb:ro' % self.dir,
                           '--entrypoint', 'haproxy', IMAGE, '-c', '-f', '/etc/localcloud-nlb/%s.tmp' % CONFIG)
            if check.returncode != 0 and 'stats socket' not in check.stderr:
                log.error('haproxy refuses the configuration:\n%s\n%s', check.stdout[-2000:], check.stderr[-2000:])
                os.unlink(temp)
                return
            os.replace(temp, path)
        if running == 'running':
            self._save_server_state()
            docker('kill', '-s', 'USR2', self.container, check=True)
            if self._wait_serving(wanted, 5):
                log.info('reloaded %s (%s)', self.container, wanted)
                return
            # A reload HAProxy refused keeps the old workers serving the old configuration: start afresh instead
            # (connections are cut, but the listeners follow the API's state).
            log.error('%s did not take the new configuration on reload:\n%s', self.container, self._logs())
        if running is not None:
            docker('rm', '-f', self.container)
        docker('run', '-d', '--name', self.container, '--network', 'host', '--restart', 'unless-stopped',
               '--label', '%s=%s' % (OWNER_LABEL, self.owner), '--log-opt', 'max-size=10m',
               '-v', '%s:/etc/localcloud-nlb:ro' % self.dir, '-v', '%s:/run/localcloud-nlb' % self.run_dir,
               IMAGE, check=True)
        if not self._wait_serving(wanted, 10):
            raise RuntimeError('%s did not start: %s' % (self.container, self._logs()))
        log.info('started %s (%s)', self.container, wanted)

    def _serving(self):
        """The id (description) of the configuration the running workers have, or None."""
        for line in self._command('show info').splitlines():
            if line.startswith('description:'):
                return line.split(':', 1)[1].strip()
        return None

    def _wait_serving(self, wanted, timeout):
        deadline = time.monotonic() + timeout
        while self._serving() != wanted:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.1)
        return True

    def _logs(self):
        logs = docker('logs', '--tail', '20', self.container)
        return (logs.stdout + logs.stderr)[-2000:]

    def _running(self):
        found = docker('inspect', '-f', '{{.State.Status}}', self.container)
        return found.stdout.strip() if found.returncode == 0 else None

    # -- the runtime API (the stats socket, from the host) ---------------------------------------------
    def _command(self, command, timeout=2.0):
        path = os.path.join(self.run_dir, SOCKET)
        client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        client.settimeout(timeout)
        try:
            client.connect(path)
            client.sendall(command.encode() + b'\n')
            chunks = []
            while True:
                data = client.recv(65536)
                if not data:
                    break
                chunks.append(data)
            return b''.join(chunks).decode(errors='replace')
        except OSError:
            return ''
        finally:
            client.close()

    def _stats(self):
        text = self._command('show stat')
        if not text.startswith('# '):
            return {}
        rows = csv.DictReader(io.StringIO(text[2:]))
        return dict(((row['pxname'], row['svname']), row) for row in rows
                    if row.get('svname') not in ('FRONTEND', 'BACKEND'))

    def _save_server_state(self):
        text = self._command('show servers state')
        if text:
            with open(os.path.join(self.run_dir, SERVER_STATE), 'w') as handle:
                handle.write(text)


def remove(state_dir):
    """Remove the data plane of a state dir (tests: it outlives the server by design)."""
    owner = hashlib.sha256(os.path.abspath(state_dir).encode()).hexdigest()[:12]
    docker('rm', '-f', CONTAINER_PREFIX + owner)

