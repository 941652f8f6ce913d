"""`python -m localcloud serve|stop`: run the API server on a state dir, in the foreground or as a daemon.

    serve --state-dir DIR [--listen 127.0.0.1:0] [--admin-listen 127.0.0.1:0] [--daemon] [--test-faults] [--call-log]
        Prints the endpoint.json content as one JSON line once the server is ready. Foreground: runs until
        SIGTERM/SIGINT. --daemon: detaches (log DIR/server.log, pid DIR/server.pid) and returns once ready;
        when a server already runs on DIR it prints that server's endpoint.json line and exits 0.
    stop --state-dir DIR [--timeout 15]
        SIGTERM to the server of DIR and wait for it to exit; {"stopped": bool, "pid": N|null}.

Only argparse is imported here: `python -m localcloud stop` does not pay for grpc.
"""

import fcntl
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time

LOCK_FILE = 'server.lock'
PID_FILE = 'server.pid'
LOG_FILE = 'server.log'
ENDPOINT_FILE = 'endpoint.json'
READY_TIMEOUT = 60


def add_parsers(subparsers):
    serve = subparsers.add_parser('serve', help='run the local Yandex Cloud API server (gRPC over TLS)')
    serve.add_argument('--state-dir', required=True, help='CA, state db, credentials; created on first start')
    serve.add_argument('--listen', default='127.0.0.1:0', help='gRPC address (port 0: pick a free one)')
    serve.add_argument('--admin-listen', default='127.0.0.1:0', help='admin HTTP address (port 0: any)')
    serve.add_argument('--daemon', action='store_true', help='detach; log to STATE_DIR/server.log')
    serve.add_argument('--log-level', default='INFO')
    serve.add_argument('--test-faults', action='store_true',
                       help='tests only: let the admin API inject faults (POST/DELETE /faults, with the admin_token '
                            'of endpoint.json); off, as for `make up`, they answer 403')
    serve.add_argument('--call-log', action='store_true',
                       help='tests only: record every call (request bodies, which may hold secrets) and serve it '
                            'as GET/DELETE /calls (with the admin_token); off, nothing is recorded')
    serve.set_defaults(run=cmd_serve)
    stop = subparsers.add_parser('stop', help='stop the API server of a state dir')
    stop.add_argument('--state-dir', required=True)
    stop.add_argument('--timeout', type=float, default=15)
    stop.set_defaults(run=cmd_stop)


def _lock(state_dir):
    """Hold the state dir's lock (one server per state dir); None when another process holds it."""
    os.makedirs(state_dir, mode=0o700, exist_ok=True)
    handle = open(os.path.join(state_dir, LOCK_FILE), 'a')
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.close()
        return None
    return handle


def _running_pid(state_dir):
    """The pid of the server running on state_dir, or None."""
    if not os.path.exists(os.path.join(state_dir, LOCK_FILE)):
        return None
    handle = _lock(state_dir)
    if handle is not None:
        handle.close()
        return None
    try:
        with open(os.path.join(state_dir, PID_FILE)) as pid_file:
            return int(pid_file.read().strip())
    except (OSError, ValueError):
        return -1  # locked but no pid yet: starting


def _read_endpoint(state_dir):
    try:
        with open(os.path.join(state_dir, ENDPOINT_FILE)) as handle:
            return json.load(handle)
    except (OSError, ValueError):
        return None


def cmd_serve(args):
    state_dir = os.path.abspath(args.state_dir)
    if args.daemon:
        return _daemonize(args, state_dir)
    logging.basicConfig(level=args.log_level.upper(), stream=sys.stderr,
                        format='%(asctime)s %(name)s %(levelname)s %(message)s')
    os.umask(0o077)  # the db holds credentials: nothing in the state dir is for other users
    lock = _lock(state_dir)
    if lock is None:
        print(json.dumps({'failed': True, 'msg': 'a localcloud server already runs on %s (pid %s)'
                          % (state_dir, _running_pid(state_dir))}))
        return 1
    from localcloud.server.app import LocalCloud

    stopping = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stopping.set())
    pid_path = os.path.join(state_dir, PID_FILE)
    with open(pid_path, 'w') as pid_file:
        pid_file.write('%d\n' % os.getpid())
    cloud = None
    try:
        cloud = LocalCloud(state_dir, options={'test_faults': args.test_faults,
                                               'call_log': args.call_log})
        info = cloud.start(args.listen, args.admin_listen)
        print(json.dumps(info, sort_keys=True), flush=True)
        while not stopping.wait(3600):
            pass
        logging.getLogger('localcloud').info('stopping')
    finally:
        if cloud is not None:
            cloud.stop()
        os.unlink(pid_path)
        lock.close()
    return 0


def _daemonize(args, state_dir):
    pid = _running_pid(state_dir)
    if pid:
        info = _wait_ready(state_dir, pid, None)
        print(json.dumps(info, sort_keys=True))
        return 0
    os.makedirs(state_dir, mode=0o700, exist_ok=True)
    # The same interpreter finds the installed package (tools/setup.sh: pip install -e localcloud), from any cwd.
    argv = [sys.executable, '-m', 'localcloud', 'serve', '--state-dir', state_dir, '--listen', args.listen,
            '--admin-listen', args.admin_listen, '--log-level', args.log_level]
    argv += [flag for flag, on in (('--test-faults', args.test_faults), ('--call-log', args.call_log)) if on]
    # The child's stdout is its ready line, endpoint.json with the OAuth token: not for the log (people paste logs);
    # this process reads endpoint.json (0600) instead. The log itself is the owner's only, like the state dir.
    log_fd = os.open(os.path.join(state_dir, LOG_FILE), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    os.fchmod(log_fd, 0o600)  # a log an older version created 0644
    with os.fdopen(log_fd, 'ab') as log:
        child = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=log, cwd='/',
                                 start_new_session=True)
    info = _wait_ready(state_dir, child.pid, child)
    print(json.dumps(info, sort_keys=True))
    return 0


def _wait_ready(state_dir, pid, child):
    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline:
        info = _read_endpoint(state_dir)
        if info and (info.get('pid') == pid or pid == -1):
            return info
        if child is not None and child.poll() is not None:
            raise SystemExit('localcloud serve exited with %s; see %s' % (child.returncode,
                                                                          os.path.join(state_dir, LOG_FILE)))
        time.sleep(0.1)
    raise SystemExit('localcloud serve not ready after %ss; see %s' % (READY_TIMEOUT,
                                                                      os.path.join(state_dir, LOG_FILE)))


def cmd_stop(args):
    state_dir = os.path.abspath(args.state_dir)
    pid = _running_pid(state_dir)
    if not pid or pid < 0:
        print(json.dumps({'stopped': False, 'pid': None, 'msg': 'not running'}))
        return 0
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + args.timeout
    while time.monotonic() < deadline:
        if _running_pid(state_dir) is None:
            print(json.dumps({'stopped': True, 'pid': pid}))
            return 0
        time.sleep(0.1)
    print(json.dumps({'stopped': False, 'pid': pid, 'msg': 'still running after %ss' % args.timeout}))
    return 1
