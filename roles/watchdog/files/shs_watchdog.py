# The SHS watchdog (roles/watchdog/files/shs_watchdog.py), delivered by the filmopoisk.shs.watchdog role as is,
# behind a "#!<watchdog_python>" line. Do not edit on the VM: change the role's variables (they become the
# --config file), or override a setting with SHS_WATCHDOG_<NAME> in the unit's environment file.
"""SHS watchdog: keeps the app container answering its health check.

Every INTERVAL seconds it GETs http://HOST:PORT/PATH (timeout TIMEOUT). The container is found by its
Compose labels (com.docker.compose.service / .project), never by name, and driven through the Docker
Engine API on the unix socket (standard library only, no docker CLI):

- check fails and the container is not running (crashed, killed): start it at once;
- FAILURES consecutive failed checks of a running container: restart it (docker restart -t STOP_TIMEOUT);
- MEMORY_LIMIT_MB > 0 and the container uses more (counted like `docker stats`): restart it;
- a container that started less than STARTUP_GRACE seconds ago is booting: failures are not counted,
  and a crashed container is not started again sooner than STARTUP_GRACE after the last start.

Every action is one line on stderr (the journal, under systemd). SIGTERM/SIGINT stop it cleanly.

`--drain` (the drain unit's ExecStop, when the VM shuts down): new TCP connections to DRAIN_PORT from other
hosts are refused with a TCP reset (iptables, chain SHS-DRAIN), so the LB's health check fails and it stops
sending requests here; then it waits DRAIN_SECONDS (the LB marks the VM down, requests in flight finish)
and returns, and the app's unit stops the app. `--undrain` (its ExecStart) removes the chain again.
The settings come from the JSON file the role renders (--config FILE: {"settings": {...}, "rules": {...}}),
each overridable with a SHS_WATCHDOG_<NAME> environment variable (e.g. SHS_WATCHDOG_PROJECT);
`--print-config` prints the effective settings and exits.
"""

import argparse
import calendar
import http.client
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.parse

# What the program reads from the settings file, and the type of each. The values (the role's defaults) and
# the valid ranges/formats ("rules") are the role's: both come in the file, so the role's one table of
# valid values (roles/watchdog/vars/main.yml) also holds SHS_WATCHDOG_* overrides here.
SETTINGS = {
    'service': str,
    'project': str,
    'host': str,
    'port': int,
    'ping_path': str,
    'expect_status': int,
    'expect_body': str,
    'interval': float,
    'timeout': float,
    'failures': int,
    'startup_grace': float,
    'stop_timeout': int,
    'memory_limit_mb': int,
    'docker_socket': str,
    'drain_port': int,
    'drain_seconds': float,
}

LABEL_SERVICE = 'com.docker.compose.service'
LABEL_PROJECT = 'com.docker.compose.project'
LABEL_ONEOFF = 'com.docker.compose.oneoff'  # `docker compose run` containers: never ours to restart
RECOVERY_POLL = 1.0  # s: check more often while a (re)started container comes back, to log when it does
MIB = 1024 * 1024

# Under systemd (JOURNAL_STREAM is set) a "<N>" prefix gives the journal the line's priority.
PRIORITIES = {'err': 3, 'warning': 4, 'notice': 5, 'info': 6}
UNDER_JOURNAL = bool(os.environ.get('JOURNAL_STREAM'))


def log(message, level='info'):
    line = ' '.join(str(message).split('\n'))
    if UNDER_JOURNAL:
        line = '<%d>%s' % (PRIORITIES[level], line)
    else:
        line = '%s shs-watchdog %s: %s' % (time.strftime('%Y-%m-%dT%H:%M:%S'), level, line)
    try:
        sys.stderr.write(line + '\n')
        sys.stderr.flush()
    except OSError:
        pass  # nowhere to log to: keep watching anyway


# ---------------------------------------------------------------- settings

def read_config(path):
    """The settings file's ("settings", "rules") objects; ValueError says what is wrong with it."""
    try:
        with open(path, encoding='utf-8') as handle:
            data = json.load(handle)
    except OSError as exc:
        raise ValueError('cannot read the settings file %s: %s' % (path, exc.strerror or exc)) from None
    except ValueError as exc:
        raise ValueError('the settings file %s is not JSON: %s' % (path, exc)) from None
    if not (isinstance(data, dict) and isinstance(data.get('settings'), dict) and isinstance(data.get('rules'), dict)):
        raise ValueError('the settings file %s must be a JSON object with "settings" and "rules" objects' % path)
    return data['settings'], data['rules']


def _from_file(kind, value):
    """A JSON value as `kind` (an int is a valid float, a bool is no number); ValueError if it is not one."""
    if kind is str:
        valid = isinstance(value, str)
    else:
        valid = isinstance(value, (int, float) if kind is float else int) and not isinstance(value, bool)
    if not valid:
        raise ValueError(value)
    return kind(value)


def check(settings, rules):
    """Errors of the settings against the role's rules (vars/main.yml): {"min", "max"} for numbers,
    {"pattern", "must"} for strings, matched like the role's `is match` (re.match)."""
    errors = []
    for key, rule in sorted(rules.items()):
        if key not in settings:
            continue
        value = settings[key]
        if 'pattern' in rule and not re.match(rule['pattern'], value):
            errors.append('%s must %s, got %r' % (key, rule.get('must') or 'match ' + rule['pattern'], value))
        if 'min' in rule and not rule['min'] <= value <= rule['max']:
            errors.append('%s must be %s-%s, got %r' % (key, rule['min'], rule['max'], value))
    return errors


def load_settings(path, environ):
    """The settings file with SHS_WATCHDOG_* overrides, checked against its rules; returns (settings, errors)."""
    try:
        values, rules = read_config(path)
    except ValueError as exc:
        return {}, [str(exc)]
    settings = {}
    errors = ['%s: unknown setting %r' % (path, key) for key in sorted(set(values) - set(SETTINGS))]
    for key, kind in SETTINGS.items():
        if key not in values:
            errors.append('%s: no setting %r' % (path, key))
            continue
        try:
            settings[key] = _from_file(kind, values[key])
        except ValueError:
            errors.append('%s: %s=%s is not a %s' % (path, key, json.dumps(values[key]), kind.__name__))
    for key, kind in SETTINGS.items():
        var = 'SHS_WATCHDOG_' + key.upper()
        if var not in environ:
            continue
        raw = environ[var].strip()
        try:
            settings[key] = kind(raw)
        except ValueError:
            errors.append('%s=%r is not a valid %s' % (var, raw, kind.__name__))
    if not settings.get('project'):
        # Compose's own variable: set where several hosts' projects share one engine (a local COI node
        # writes it to /etc/environment); unset on a VM with its own engine, where the service label is enough.
        settings['project'] = environ.get('COMPOSE_PROJECT_NAME', '').strip()
    return settings, errors + check(settings, rules)


# ---------------------------------------------------------------- Docker Engine API over the unix socket

class DockerError(Exception):
    pass


class _UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path, timeout):
        http.client.HTTPConnection.__init__(self, 'localhost', timeout=timeout)
        self._socket_path = path

    def connect(self):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(self._socket_path)
        except OSError:
            sock.close()
            raise
        self.sock = sock


class Docker:
    """The few Engine API calls the watchdog needs (unversioned paths: the daemon's own API version)."""

    def __init__(self, socket_path):
        self.socket_path = socket_path

    def _call(self, method, path, query=None, timeout=15.0, accept=(200,)):
        if query:
            path += '?' + urllib.parse.urlencode(query)
        conn = _UnixHTTPConnection(self.socket_path, timeout)
        try:
            conn.request(method, path, headers={'Host': 'docker'})
            response = conn.getresponse()
            body = response.read()
        except (OSError, http.client.HTTPException) as exc:
            raise DockerError('Docker API %s %s via %s: %s'
                              % (method, path.split('?')[0], self.socket_path, describe_error(exc)))
        finally:
            conn.close()
        if response.status not in accept:
            try:
                detail = json.loads(body.decode('utf-8', 'replace')).get('message', '')
            except (ValueError, AttributeError):
                detail = body.decode('utf-8', 'replace')[:200]
            raise DockerError('Docker API %s %s: HTTP %d %s' % (method, path.split('?')[0], response.status,
                                                                detail.strip()))
        if body and response.getheader('Content-Type', '').startswith('application/json'):
            return json.loads(body.decode('utf-8'))
        return None

    def containers(self, labels):
        filters = json.dumps({'label': labels}, sort_keys=True)
        return self._call('GET', '/containers/json', {'all': '1', 'filters': filters}) or []

    def inspect(self, cid):
        return self._call('GET', '/containers/%s/json' % cid)

    def start(self, cid):
        self._call('POST', '/containers/%s/start' % cid, accept=(204, 304))  # 304: already running

    def restart(self, cid, stop_timeout):
        self._call('POST', '/containers/%s/restart' % cid, {'t': str(stop_timeout)},
                   timeout=stop_timeout + 30.0, accept=(204,))

    def unpause(self, cid):
        self._call('POST', '/containers/%s/unpause' % cid, accept=(204, 304))

    def memory_usage(self, cid):
        """Bytes, counted like `docker stats`: usage minus the inactive page cache (cgroup v1 and v2)."""
        stats = self._call('GET', '/containers/%s/stats' % cid, {'stream': '0', 'one-shot': '1'})
        mem = (stats or {}).get('memory_stats') or {}
        if 'usage' not in mem:
            return None
        detail = mem.get('stats') or {}
        inactive = detail.get('total_inactive_file', detail.get('inactive_file', 0))
        usage = mem['usage']
        return usage - inactive if inactive < usage else usage


# ---------------------------------------------------------------- helpers

def describe_error(exc):
    if isinstance(exc, ConnectionRefusedError):
        return 'connection refused'
    if isinstance(exc, socket.timeout):
        return 'timed out'
    if isinstance(exc, FileNotFoundError):
        return 'no such socket'
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror.lower()
    return str(exc) or exc.__class__.__name__


def docker_time(text):
    """Engine timestamps ('2024-05-01T10:20:30.123456789Z') -> epoch seconds (None if unparsable)."""
    match = re.match(r'^(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)$', text or '')
    if not match:
        return None
    fields = [int(v) for v in match.groups()[:6]]
    seconds = calendar.timegm(tuple(fields) + (0, 0, 0)) + float('0.' + (match.group(7) or '0'))
    zone = match.group(8)
    if zone != 'Z':
        sign = 1 if zone[0] == '+' else -1
        seconds -= sign * (int(zone[1:3]) * 3600 + int(zone[4:6]) * 60)
    return seconds


def shorten(text, limit=60):
    text = ' '.join(text.split())
    return json.dumps(text[:limit] + ('...' if len(text) > limit else ''), ensure_ascii=False)


# ---------------------------------------------------------------- the watchdog

class Watchdog:
    def __init__(self, settings, docker, stop, clock=time.monotonic, wall=time.time, drain_mark=None):
        self.s = settings
        self.drain_mark = drain_mark or DRAIN_MARK  # there while the VM drains: an app stop is on purpose
        self.docker = docker
        self.stop = stop
        self.clock = clock
        self.wall = wall
        self.failures = 0
        self.last_start = {}     # container id -> clock() of our last start/restart, until it answers
        self.recovering = None   # (container description, clock() of the action, what we did)
        self.last_problem = None  # a condition already logged (logged again only when it changes)
        self.url = 'http://%s:%d%s' % (self._host_for_url(), settings['port'], settings['ping_path'])

    def _host_for_url(self):
        host = self.s['host']
        return '[%s]' % host if ':' in host else host

    # -- the health check
    def ping(self):
        """(ok, reason) for one GET of the health check URL."""
        conn = http.client.HTTPConnection(self.s['host'], self.s['port'], timeout=self.s['timeout'])
        try:
            conn.request('GET', self.s['ping_path'], headers={'Connection': 'close',
                                                              'User-Agent': 'shs-watchdog'})
            response = conn.getresponse()
            body = response.read(1024).decode('utf-8', 'replace')
        except socket.timeout:
            return False, 'no answer within %g s' % self.s['timeout']
        except (OSError, http.client.HTTPException) as exc:
            return False, describe_error(exc)
        finally:
            conn.close()
        if response.status != self.s['expect_status']:
            return False, 'HTTP %d %s' % (response.status, shorten(body))
        if self.s['expect_body'] and body.strip() != self.s['expect_body']:
            return False, 'HTTP %d with body %s, expected %s' % (
                response.status, shorten(body), shorten(self.s['expect_body']))
        return True, 'ok'

    # -- finding the container
    def labels(self):
        labels = ['%s=%s' % (LABEL_SERVICE, self.s['service'])]
        if self.s['project']:
            labels.append('%s=%s' % (LABEL_PROJECT, self.s['project']))
        return labels

    def problem(self, text, level='warning'):
        """Log a condition once, not at every check while it lasts."""
        if text != self.last_problem:
            self.last_problem = text
            if text:
                log(text, level)

    def find(self):
        """Containers (inspect data) of our service, or [] with the reason logged."""
        try:
            listed = self.docker.containers(self.labels())
        except DockerError as exc:
            self.problem('cannot list containers: %s' % exc, 'err')
            return []
        listed = [c for c in listed if (c.get('Labels') or {}).get(LABEL_ONEOFF, 'False') != 'True']
        if not listed:
            self.problem('no container with labels %s' % ', '.join(self.labels()))
            return []
        projects = sorted({(c.get('Labels') or {}).get(LABEL_PROJECT, '') for c in listed})
        if len(projects) > 1:
            self.problem('containers of %d compose projects (%s) have service %s: not touching any; set '
                         'watchdog_project (or SHS_WATCHDOG_PROJECT)'
                         % (len(projects), ', '.join(projects), self.s['service']), 'err')
            return []
        found = []
        for item in sorted(listed, key=lambda c: c.get('Id', '')):
            try:
                found.append(self.docker.inspect(item['Id']))
            except DockerError as exc:  # removed meanwhile, or the engine went away
                self.problem('cannot inspect container %s: %s' % (item['Id'][:12], exc), 'err')
        return found

    def describe(self, container):
        labels = (container.get('Config') or {}).get('Labels') or {}
        parts = ['name %s' % container.get('Name', '').lstrip('/'), 'service %s' % labels.get(LABEL_SERVICE, '?')]
        if labels.get(LABEL_PROJECT):
            parts.append('project %s' % labels[LABEL_PROJECT])
        return '%s (%s)' % (container['Id'][:12], ', '.join(parts))

    def booting_for(self, container):
        """Seconds since the container started, if that is less than the grace period; else None."""
        started = docker_time((container.get('State') or {}).get('StartedAt'))
        if started is None:
            return None
        age = self.wall() - started
        return age if 0 <= age < self.s['startup_grace'] else None

    # -- acting
    def act(self, container, how, why):
        cid = container['Id']
        state = container.get('State') or {}
        verb = 'starting' if how == 'start' else 'restarting'
        if os.path.exists(self.drain_mark):
            # The VM is shutting down: the drain ran and the app is being stopped on purpose, not healed.
            self.problem('not %s container %s (%s): the VM is draining (%s)'
                         % (verb, cid[:12], why, self.drain_mark), 'notice')
            return
        log('%s container %s: %s' % (verb, self.describe(container), why), 'warning')
        started = self.clock()
        try:
            if state.get('Paused'):
                self.docker.unpause(cid)
            if how == 'start':
                self.docker.start(cid)
            else:
                self.docker.restart(cid, self.s['stop_timeout'])
        except DockerError as exc:
            log('%s container %s failed: %s' % (verb, cid[:12], exc), 'err')
            return
        self.last_start[cid] = self.clock()
        self.failures = 0
        self.recovering = (self.describe(container), started, how)
        self.last_problem = None
        log('container %s %s in %.1f s'
            % (cid[:12], 'started' if how == 'start' else 'restarted', self.clock() - started), 'notice')

    # -- one round
    def check(self):
        ok, reason = self.ping()
        if ok:
            self.on_healthy()
        else:
            self.on_failure(reason)

    def on_healthy(self):
        if self.recovering:
            what, since, how = self.recovering
            log('container %s answers %s again, %.1f s after the %s'
                % (what, self.s['ping_path'], self.clock() - since, how), 'notice')
            self.recovering = None
        elif self.failures:
            log('%s answers again after %d failed check(s)' % (self.s['ping_path'], self.failures), 'notice')
        self.failures = 0
        self.last_start.clear()  # it came up: a later crash is a new incident, not a crash loop
        self.problem(None)
        if self.s['memory_limit_mb'] > 0:
            self.check_memory()

    def check_memory(self):
        limit = self.s['memory_limit_mb'] * MIB
        for container in self.find():
            if not (container.get('State') or {}).get('Running') or self.booting_for(container) is not None:
                continue
            try:
                usage = self.docker.memory_usage(container['Id'])
            except DockerError as exc:
                self.problem('cannot read memory usage of %s: %s' % (container['Id'][:12], exc), 'err')
                continue
            if usage is not None and usage > limit:
                self.act(container, 'restart', 'memory usage %.1f MiB is over the limit of %d MiB'
                         % (usage / MIB, self.s['memory_limit_mb']))

    def count(self):
        return ('%d/%d' % (self.failures, self.s['failures']) if self.failures <= self.s['failures']
                else '%d in a row' % self.failures)

    def on_failure(self, reason):
        self.failures += 1
        what = '%s failed' % self.s['ping_path']
        containers = self.find()
        if not containers:
            log('%s (%s): %s' % (what, self.count(), reason), 'warning')
            return
        for container in containers:
            state = container.get('State') or {}
            cid = container['Id']
            status = state.get('Status', '?')
            if status in ('restarting', 'removing'):
                log('%s: %s; container %s is %s, waiting' % (what, reason, cid[:12], status), 'notice')
                continue
            if not state.get('Running'):
                since = self.clock() - self.last_start.get(cid, float('-inf'))
                if since < self.s['startup_grace']:
                    log('%s: %s; container %s is %s again %.1f s after it was started: next start in %.1f s'
                        % (what, reason, cid[:12], status, since, self.s['startup_grace'] - since), 'warning')
                    continue
                self.act(container, 'start', '%s: %s; the container is %s (exit code %s)'
                         % (what, reason, status, state.get('ExitCode', '?')))
                continue
            booting = None if state.get('Paused') else self.booting_for(container)
            if booting is not None:
                log('%s: %s; container %s started %.1f s ago (grace %g s): not counted'
                    % (what, reason, cid[:12], booting, self.s['startup_grace']), 'notice')
                self.failures = 0
                continue
            if self.failures < self.s['failures']:
                log('%s (%s): %s' % (what, self.count(), reason), 'warning')
                continue
            paused = ' (container paused)' if state.get('Paused') else ''
            self.act(container, 'restart', '%d consecutive %s failures: %s%s'
                     % (self.failures, self.s['ping_path'], reason, paused))

    def run(self):
        log('started: checking %s every %g s (timeout %g s), restart after %d failure(s), startup grace %g s, '
            'memory limit %s; container labels %s; Docker API %s'
            % (self.url, self.s['interval'], self.s['timeout'], self.s['failures'], self.s['startup_grace'],
               '%d MiB' % self.s['memory_limit_mb'] if self.s['memory_limit_mb'] else 'off',
               ', '.join(self.labels()), self.s['docker_socket']))
        next_check = self.clock()
        while not self.stop.is_set():
            try:
                self.check()
            except Exception as exc:  # a bug or an unexpected answer must not stop the watching
                log('check failed unexpectedly: %s: %s' % (exc.__class__.__name__, exc), 'err')
            interval = min(self.s['interval'], RECOVERY_POLL) if self.recovering else self.s['interval']
            next_check += interval
            now = self.clock()
            if next_check < now:  # a slow round (docker restart): carry on from now, no burst of checks
                next_check = now
            self.stop.wait(next_check - now)


# ---------------------------------------------------------------- the drain (iptables in the VM)

DRAIN_CHAIN = 'SHS-DRAIN'
# Written by --drain, removed by --undrain; /run is gone at the next boot. While it is there the watchdog
# starts and restarts nothing: the app is stopped on purpose after the drain, and a start would undo that.
DRAIN_MARK = '/run/filmopoisk/shs-drain'
# INPUT: the port is this host's (the local COI nodes REDIRECT the VM port to the app's); FORWARD: Docker
# publishes the port with a DNAT to a container address (a COI VM). --ctorigdstport is the port as the
# client sent it, before either NAT, so one rule covers both.
DRAIN_HOOKS = ('INPUT', 'FORWARD')


def iptables(*args, check=True):
    """Run `iptables -w ARGS`; returns the CompletedProcess, raises OSError/RuntimeError when check fails."""
    result = subprocess.run(['iptables', '-w'] + [str(a) for a in args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, timeout=30, check=False)
    if check and result.returncode != 0:
        raise RuntimeError('iptables %s: %s' % (' '.join(map(str, args)), result.stderr.strip() or result.returncode))
    return result


def drain_rules(port):
    """The SHS-DRAIN chain: this host's own traffic passes (the watchdog's check, on lo), a new TCP connection
    to `port` from anywhere else gets a reset: the LB's check fails at once and nginx passes the request it
    wanted to send on to another peer (nothing was sent). Connections already open are left alone."""
    return [['-A', DRAIN_CHAIN, '-i', 'lo', '-j', 'RETURN'],
            ['-A', DRAIN_CHAIN, '-p', 'tcp', '--syn', '-m', 'conntrack', '--ctorigdstport', port,
             '-j', 'REJECT', '--reject-with', 'tcp-reset']]


def undrain(mark=DRAIN_MARK):
    """Remove the chain and its hooks (nothing to do when they are not there), and the drain mark."""
    for hook in DRAIN_HOOKS:
        while iptables('-D', hook, '-j', DRAIN_CHAIN, check=False).returncode == 0:
            pass
    if iptables('-n', '-L', DRAIN_CHAIN, check=False).returncode == 0:
        iptables('-F', DRAIN_CHAIN)
        iptables('-X', DRAIN_CHAIN)
    if os.path.exists(mark):
        os.unlink(mark)


def refused(port):
    """How many new connections to `port` the chain has refused so far (None if it cannot tell)."""
    out = iptables('-n', '-v', '-x', '-L', DRAIN_CHAIN, check=False).stdout
    for line in out.splitlines():
        fields = line.split()
        if 'REJECT' in fields and fields[0].isdigit():
            return int(fields[0])
    return None


def drain(settings, sleep=time.sleep, clock=time.monotonic, mark=DRAIN_MARK):
    """Refuse new connections from other hosts, wait drain_seconds, return (the app may stop now)."""
    port, seconds = settings['drain_port'], settings['drain_seconds']
    started = clock()
    if iptables('-n', '-L', DRAIN_CHAIN, check=False).returncode == 0:
        iptables('-F', DRAIN_CHAIN)
    else:
        iptables('-N', DRAIN_CHAIN)
    for rule in drain_rules(port):
        iptables(*rule)
    for hook in DRAIN_HOOKS:
        if iptables('-C', hook, '-j', DRAIN_CHAIN, check=False).returncode != 0:
            iptables('-I', hook, '1', '-j', DRAIN_CHAIN)
    os.makedirs(os.path.dirname(mark), exist_ok=True)
    with open(mark, 'w', encoding='utf-8') as handle:
        handle.write('%d\n' % time.time())
    log('draining: new TCP connections to port %d from other hosts are refused (chain %s); the app stops in %g s'
        % (port, DRAIN_CHAIN, seconds), 'notice')
    sleep(max(0.0, seconds - (clock() - started)))
    count = refused(port)
    log('drained after %.1f s (%s new connection(s) refused): the app may stop now'
        % (clock() - started, '?' if count is None else count), 'notice')


def run_drain(settings, undo, mark=DRAIN_MARK):
    try:
        if undo:
            undrain(mark=mark)
        else:
            drain(settings, mark=mark)
    except (OSError, RuntimeError, subprocess.SubprocessError) as exc:
        # A drain that cannot refuse connections has nothing to wait for: say so, let the shutdown go on.
        log('%s failed: %s' % ('undrain' if undo else 'drain', exc), 'err')
        return 1
    return 0


def main(argv):
    parser = argparse.ArgumentParser(prog='shs-watchdog', description='Keeps the SHS app container answering '
                                     'its health check (see roles/watchdog/README.md).')
    parser.add_argument('--config', required=True, metavar='FILE',
                        help='the settings file the role renders (watchdog_config_path)')
    parser.add_argument('--print-config', action='store_true', help='print the effective settings and exit')
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument('--drain', action='store_true', help='refuse new connections from other hosts to drain_port, '
                      'wait drain_seconds and exit (the drain unit\'s ExecStop)')
    mode.add_argument('--undrain', action='store_true', help='accept them again (the drain unit\'s ExecStart)')
    args = parser.parse_args(argv)
    settings, errors = load_settings(args.config, os.environ)
    if errors:
        for error in errors:
            log('bad setting: %s' % error, 'err')
        return 2
    if args.print_config:
        print(json.dumps(settings, indent=2, sort_keys=True))
        return 0
    if args.drain or args.undrain:
        return run_drain(settings, args.undrain)
    stop = threading.Event()
    received = []

    def on_signal(signum, frame):
        received.append(signum)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    Watchdog(settings, Docker(settings['docker_socket']), stop).run()
    log('stopping on %s' % (signal.Signals(received[0]).name if received else 'request'))
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
