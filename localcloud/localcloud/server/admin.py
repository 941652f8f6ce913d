"""Admin HTTP JSON API on loopback, for tests and benchmarks.

    GET    /health                -> 200 {"status": "ok", "endpoint": ...}                       (always open)
    POST   /faults  {spec}|[...]  -> 200 {"faults": [pending...]}; 400 {"error": "..."} on a bad spec
    GET    /faults                -> {"faults": [pending...]}
    DELETE /faults                -> clears every pending fault
    GET    /calls[?method=PREFIX] -> {"calls": [{"method", "request", "code"}, ...]} in arrival order
    DELETE /calls                 -> clears the call log
Fault specs: see faults.py.

/faults only with `serve --test-faults`, /calls only with `serve --call-log` (the log is not even recorded
without it); otherwise 403. Loopback is open to every local user, so when on they also need
`Authorization: Bearer <admin_token>`, the token being in the 0600 endpoint.json (401 without it). Why the call
log is guarded too: request bodies carry secrets the field-name redaction cannot see (the database password
inside an instance group's metadata).
"""

import hmac
import http.server
import json
import logging
import threading
import urllib.parse

from localcloud.server.faults import FaultError

log = logging.getLogger('localcloud.admin')


class _Handler(http.server.BaseHTTPRequestHandler):
    server_version = 'localcloud-admin'
    cloud = None  # set per server class

    def log_message(self, fmt, *args):
        log.debug('admin %s', fmt % args)

    def _reply(self, status, body):
        data = (json.dumps(body) + '\n').encode()
        self.send_response(status)
        self.send_header('Content-Type', 'application/json')
        self.send_header('Content-Length', str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _refused(self, path):
        """Reply 403 (off) or 401 (no admin token) and return True when `path` may not be served."""
        feature = {'/faults': ('test_faults', 'fault injection is off: this localcloud was not started with '
                                              '--test-faults (tests only)'),
                   '/calls': ('call_log', 'the call log is off: this localcloud was not started with --call-log '
                                          '(tests only; it holds request bodies)')}.get(path)
        if feature is None:
            return False
        option, off = feature
        if not self.cloud.options.get(option):
            self._reply(403, {'error': off})
            return True
        kind, _, token = (self.headers.get('Authorization') or '').partition(' ')
        if kind.lower() != 'bearer' or not hmac.compare_digest(token.strip().encode(),
                                                               self.cloud.admin_token.encode()):
            self._reply(401, {'error': '%s needs "Authorization: Bearer <admin_token>" (the admin_token of '
                                       'endpoint.json)' % path})
            return True
        return False

    def _route(self):
        url = urllib.parse.urlsplit(self.path)
        return url.path.rstrip('/') or '/', urllib.parse.parse_qs(url.query)

    def do_GET(self):
        path, query = self._route()
        if self._refused(path):
            return
        if path == '/health':
            return self._reply(200, {'status': 'ok', 'endpoint': self.cloud.endpoint})
        if path == '/faults':
            return self._reply(200, {'faults': self.cloud.faults.pending()})
        if path == '/calls':
            prefix = (query.get('method') or [None])[0]
            return self._reply(200, {'calls': self.cloud.calls.list(prefix)})
        return self._reply(404, {'error': 'no such path: %s' % path})

    def do_POST(self):
        path, _ = self._route()
        if self._refused(path):
            return
        if path != '/faults':
            return self._reply(404, {'error': 'no such path: %s' % path})
        try:
            length = int(self.headers.get('Content-Length') or 0)
            body = json.loads(self.rfile.read(length) or b'null')
            specs = body if isinstance(body, list) else [body]
            for spec in specs:
                self.cloud.faults.add(spec)
        except (ValueError, FaultError) as exc:
            return self._reply(400, {'error': str(exc)})
        return self._reply(200, {'faults': self.cloud.faults.pending()})

    def do_DELETE(self):
        path, _ = self._route()
        if self._refused(path):
            return
        if path == '/faults':
            self.cloud.faults.clear()
        elif path == '/calls':
            self.cloud.calls.clear()
        else:
            return self._reply(404, {'error': 'no such path: %s' % path})
        return self._reply(200, {})


class AdminServer:
    def __init__(self, cloud, listen):
        host, _, port = listen.rpartition(':')
        handler = type('Handler', (_Handler,), {'cloud': cloud})
        try:
            self._httpd = http.server.ThreadingHTTPServer((host or '127.0.0.1', int(port)), handler)
        except OSError as exc:
            raise SystemExit('localcloud: cannot listen on %s (admin): %s' % (listen, exc))
        self._httpd.daemon_threads = True
        self.url = 'http://%s:%d' % self._httpd.server_address[:2]
        self._thread = threading.Thread(target=self._httpd.serve_forever, name='admin', daemon=True)

    def start(self):
        self._thread.start()

    def stop(self):
        self._httpd.shutdown()
        self._httpd.server_close()
