"""The Container Registry data plane: a real registry server (Debian's docker-registry, distribution v2) on
loopback with token auth the way cr.yandex does it, and an HTTP client of its API.

    plane = Plane(state_dir, authenticate, registry_exists)
    plane.start()                      # token server + registry process (config and storage in the state dir)
    plane.host                         # "127.0.0.1:PORT": image names are HOST/<registry id>/<repo>:<tag>
    plane.tags('crp.../shs')           # the registry's HTTP API with a token localcloud signs for itself
    plane.stop()

Clients log in like on cr.yandex: `docker login HOST -u iam -p <IAM token>` (or `-u oauth -p <OAuth token>`).
The registry answers 401 with `WWW-Authenticate: Bearer realm=http://127.0.0.1:AUTH/token`; the token server
checks the credentials with `authenticate(username, password) -> login | None` (a subject id, or a dict with
its `id`) and grants pull/push/delete on repositories `<registry id>/...` of registries for which
`registry_exists(id)` is true, narrowed by `authorize(login, registry id, actions) -> actions` when given (roles;
it raises Refused for a request that must fail as a whole, e.g. a VM without egress); it signs a
registry JWT (ES256) with a key whose certificate the registry's config trusts (`rootcertbundle`).
Anonymous requests get 401: nothing is public.

Ports are chosen once and kept in `<state_dir>/registry/ports.json`, so image references survive restarts.

Standard library + cryptography + PyJWT; no gRPC, nothing from plugins/.
"""

import base64
import datetime
import hashlib
import http.client
import http.server
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
import urllib.parse

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

log = logging.getLogger('localcloud.containerregistry')

BINARY = 'docker-registry'
DIR = 'registry'
SERVICE = 'localcloud-registry'
ISSUER = 'localcloud-iam'
# Registry JWTs are short-lived: clients fetch a new one per operation (as from cr.yandex).
TOKEN_TTL = 300
READY_TIMEOUT = 20
MAX_RESTARTS = 3  # of a registry process that exits
USERNAMES = ('iam', 'oauth')
ACTIONS = ('pull', 'push', 'delete')
MANIFEST_TYPES = ', '.join((
    'application/vnd.docker.distribution.manifest.v2+json',
    'application/vnd.docker.distribution.manifest.list.v2+json',
    'application/vnd.oci.image.manifest.v1+json',
    'application/vnd.oci.image.index.v1+json',
))


class RegistryError(Exception):
    """The registry process or its API failed; the message says how."""


class Refused(Exception):
    """authorize() refuses the whole token request (the client sees the message)."""


def libtrust_kid(public_key):
    """The key id distribution expects in a token's `kid`: libtrust's fingerprint of the DER public key."""
    der = public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    encoded = base64.b32encode(hashlib.sha256(der).digest()[:30]).decode()
    return ':'.join(encoded[i:i + 4] for i in range(0, 48, 4))


def _write_private(path, data):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, 'wb') as handle:
        handle.write(data)


def _free_port():
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def _port_free(port):
    with socket.socket() as sock:
        # As the registry binds: connections of the last run in TIME_WAIT do not make the port busy.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(('127.0.0.1', port))
        except OSError:
            return False
        return True


def _with_parent_death_signal(argv):
    """argv run through setpriv --pdeathsig TERM: the registry must not outlive localcloud (a killed server would
    leave it holding the port). Not a preexec_fn: that forces fork() in a process running gRPC, whose fork handlers
    can abort the child before it execs (seen as "the registry exited with -6"); without one, Popen uses vfork."""
    setpriv = shutil.which('setpriv')
    return [setpriv, '--pdeathsig', 'TERM', '--'] + argv if setpriv else argv


def parse_scope(scope):
    """'repository:crp1/shs:pull,push' -> ('repository', 'crp1/shs', ['pull', 'push']); None if malformed."""
    kind, _, rest = scope.partition(':')
    name, _, actions = rest.rpartition(':')
    if not kind or not name:
        return None
    return kind, name, [a for a in actions.split(',') if a]


class Plane:
    def __init__(self, state_dir, authenticate, registry_exists, binary=BINARY, authorize=None):
        self.dir = os.path.join(os.path.abspath(state_dir), DIR)
        self.storage = os.path.join(self.dir, 'storage')
        self.config_path = os.path.join(self.dir, 'config.yml')
        self.authenticate = authenticate
        self.registry_exists = registry_exists
        self.authorize = authorize
        self.binary = binary
        self.process = None
        self._httpd = None
        self._log = None
        self.ports = None
        self.restarts = 0
        self._restart_lock = threading.Lock()
        self.error = None  # why the registry is not serving (reported by every call that needs it)
        os.makedirs(self.storage, mode=0o700, exist_ok=True)
        self._key, self._kid, self._cert_path = self._ensure_key()
        self.ports = self._ensure_ports()

    # -- state -----------------------------------------------------------------------------------------
    def _ensure_key(self):
        key_path, cert_path = os.path.join(self.dir, 'token-key.pem'), os.path.join(self.dir, 'token-cert.pem')
        if os.path.exists(key_path) and os.path.exists(cert_path):
            with open(key_path, 'rb') as handle:
                key = serialization.load_pem_private_key(handle.read(), None)
        else:
            key = ec.generate_private_key(ec.SECP256R1())
            name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, ISSUER)])
            now = datetime.datetime.now(datetime.timezone.utc)
            cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
                    .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
                    .not_valid_after(now + datetime.timedelta(days=3650)).sign(key, hashes.SHA256()))
            _write_private(key_path, key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                       serialization.NoEncryption()))
            _write_private(cert_path, cert.public_bytes(serialization.Encoding.PEM))
        return key, libtrust_kid(key.public_key()), cert_path

    def _ensure_ports(self):
        path = os.path.join(self.dir, 'ports.json')
        try:
            with open(path) as handle:
                return json.load(handle)
        except FileNotFoundError:
            ports = {'registry': _free_port(), 'auth': _free_port()}
            _write_private(path, json.dumps(ports).encode())
            return ports

    @property
    def host(self):
        return '127.0.0.1:%d' % self.ports['registry']

    @property
    def realm(self):
        return 'http://127.0.0.1:%d/token' % self.ports['auth']

    def repository_dir(self, name):
        return os.path.join(self.storage, 'docker', 'registry', 'v2', 'repositories', name)

    def _config(self):
        # YAML is a superset of JSON: no YAML writer needed.
        return json.dumps({
            'version': 0.1,
            'log': {'level': 'info', 'formatter': 'text', 'accesslog': {'disabled': True}},
            # No blob descriptor cache: repositories are removed on disk (RepositoryService.Delete).
            'storage': {'filesystem': {'rootdirectory': self.storage}, 'delete': {'enabled': True},
                        'maintenance': {'uploadpurging': {'enabled': False}}},
            'http': {'addr': self.host, 'secret': base64.b64encode(os.urandom(24)).decode(),
                     'headers': {'X-Content-Type-Options': ['nosniff']}},
            'auth': {'token': {'realm': self.realm, 'service': SERVICE, 'issuer': ISSUER,
                               'rootcertbundle': self._cert_path}},
        }, indent=1)

    # -- lifecycle -------------------------------------------------------------------------------------
    def start(self):
        """Start the token server and the registry process (not waiting for it: see wait_ready)."""
        self._kill_orphan()
        handler = type('Handler', (_TokenHandler,), {'plane': self})
        try:
            self._httpd = http.server.ThreadingHTTPServer(('127.0.0.1', self.ports['auth']), handler)
        except OSError as exc:
            self.error = 'the registry token server cannot listen on 127.0.0.1:%d: %s' % (self.ports['auth'], exc)
            log.error(self.error)
            return self
        self._httpd.daemon_threads = True
        threading.Thread(target=self._httpd.serve_forever, name='registry-auth', daemon=True).start()
        if not _port_free(self.ports['registry']):
            self.error = 'the registry port 127.0.0.1:%d is taken' % self.ports['registry']
            log.error(self.error)
            return self
        if shutil.which(self.binary) is None:
            self.error = '%s is not installed (apt-get install docker-registry)' % self.binary
            log.error(self.error)
            return self
        _write_private(self.config_path, self._config().encode())
        self._log = open(os.path.join(self.dir, 'registry.log'), 'ab')
        self._spawn()
        return self

    def _spawn(self):
        argv = [self.binary, 'serve', self.config_path]
        # The death signal follows the thread that started the child: only the main thread lives as long as we do.
        if threading.current_thread() is threading.main_thread():
            argv = _with_parent_death_signal(argv)
        self.process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=self._log, stderr=self._log,
                                        cwd=self.dir)
        _write_private(os.path.join(self.dir, 'registry.pid'), b'%d\n' % self.process.pid)
        log.info('container registry %s (pid %d, token realm %s)', self.host, self.process.pid, self.realm)

    def _kill_orphan(self):
        """A registry left by a localcloud that was killed: ours if its command line names our config."""
        try:
            with open(os.path.join(self.dir, 'registry.pid')) as handle:
                pid = int(handle.read().strip())
            with open('/proc/%d/cmdline' % pid, 'rb') as handle:
                cmdline = handle.read().split(b'\0')
        except (OSError, ValueError):
            return
        if self.config_path.encode() in cmdline:
            os.kill(pid, signal.SIGTERM)
            for _ in range(50):
                if not os.path.exists('/proc/%d' % pid):
                    break
                time.sleep(0.1)

    def wait_ready(self, timeout=READY_TIMEOUT):
        """Block until the registry answers (401 on /v2/); RegistryError naming the reason otherwise."""
        if self.error:
            raise RegistryError(self.error)
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                # A managed registry does not stay down: start it again, a few times at most.
                problem = 'the registry exited with %s; see %s' % (self.process.returncode,
                                                                  os.path.join(self.dir, 'registry.log'))
                with self._restart_lock:
                    if self.process.poll() is not None:  # not restarted by another caller meanwhile
                        if self.restarts >= MAX_RESTARTS:
                            self.error = problem
                            raise RegistryError(problem)
                        self.restarts += 1
                        log.warning('%s: starting it again (%d of %d)', problem, self.restarts, MAX_RESTARTS)
                        self._spawn()
            try:
                status, _, _ = self._request('GET', '/v2/', token=False, timeout=2)
                if status in (200, 401):
                    return
            except OSError:
                pass
            if time.monotonic() >= deadline:
                raise RegistryError('the registry did not answer on %s within %ss' % (self.host, timeout))
            time.sleep(0.05)

    def stop(self):
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self._log:
            self._log.close()

    # -- tokens ----------------------------------------------------------------------------------------
    def sign(self, subject, access):
        """A registry JWT for `subject` with `access` = [{'type', 'name', 'actions'}]."""
        now = int(time.time())
        claims = {'iss': ISSUER, 'sub': subject, 'aud': SERVICE, 'iat': now, 'nbf': now - 5,
                  'exp': now + TOKEN_TTL, 'jti': base64.urlsafe_b64encode(os.urandom(12)).decode(),
                  'access': access}
        return jwt.encode(claims, self._key, algorithm='ES256', headers={'kid': self._kid, 'typ': 'JWT'})

    def grant(self, scopes, login=None):
        """What a logged-in subject gets: pull/push/delete in repositories of existing registries only (and only
        what authorize() lets `login` do there)."""
        access = []
        for scope in scopes:
            parsed = parse_scope(scope)
            if parsed is None or parsed[0] != 'repository':
                continue  # the catalog and other registry-wide scopes are not for users (as on cr.yandex)
            _, name, actions = parsed
            registry_id = name.split('/')[0]
            if '/' not in name or not self.registry_exists(registry_id):
                access.append({'type': 'repository', 'name': name, 'actions': []})
                continue
            actions = [a for a in actions if a in ACTIONS]
            if self.authorize is not None:
                actions = self.authorize(login, registry_id, actions)
            access.append({'type': 'repository', 'name': name, 'actions': actions})
        return access

    # -- the registry's HTTP API (as localcloud itself) --------------------------------------------------
    def _request(self, method, path, token=True, headers=None, timeout=10):
        """(status, headers, body) of one request; `token` True: a full-access token for this request."""
        headers = dict(headers or {})
        if token:
            headers['Authorization'] = 'Bearer ' + self.sign('localcloud', self._own_access(path))
        connection = http.client.HTTPConnection('127.0.0.1', self.ports['registry'], timeout=timeout)
        try:
            connection.request(method, path, headers=headers)
            response = connection.getresponse()
            return response.status, dict((k.lower(), v) for k, v in response.getheaders()), response.read()
        finally:
            connection.close()

    @staticmethod
    def _own_access(path):
        if path.startswith('/v2/_catalog'):
            return [{'type': 'registry', 'name': 'catalog', 'actions': ['*']}]
        name = path[len('/v2/'):].split('/manifests/')[0].split('/tags/')[0]
        return [{'type': 'repository', 'name': name, 'actions': ['pull', 'delete']}]

    def _json(self, method, path, ok=(200,), headers=None):
        self.wait_ready()
        status, response_headers, body = self._request(method, path, headers=headers)
        if status not in ok:
            raise RegistryError('%s %s: HTTP %d %s' % (method, path, status, body[:300].decode(errors='replace')))
        return status, response_headers, (json.loads(body) if body else None)

    def catalog(self):
        """Every repository that has (or had) a manifest, sorted."""
        names, last = [], ''
        while True:
            query = urllib.parse.urlencode(dict(n=1000, **({'last': last} if last else {})))
            _, headers, body = self._json('GET', '/v2/_catalog?' + query)
            chunk = body.get('repositories') or []
            names.extend(chunk)
            if 'link' not in headers or not chunk:
                return names
            last = chunk[-1]

    def tags(self, repository):
        """The repository's tags ([] when it has none or does not exist)."""
        status, _, body = self._json('GET', '/v2/%s/tags/list' % repository, ok=(200, 404))
        return sorted((body or {}).get('tags') or []) if status == 200 else []

    def manifest(self, repository, reference):
        """(digest, manifest dict) of a tag or digest; None when it is not there."""
        status, headers, body = self._json('GET', '/v2/%s/manifests/%s' % (repository, reference), ok=(200, 404),
                                           headers={'Accept': MANIFEST_TYPES})
        if status == 404:
            return None
        return headers.get('docker-content-digest', ''), body

    def delete_manifest(self, repository, digest):
        """Delete a manifest (distribution untags every tag that points at it)."""
        self._json('DELETE', '/v2/%s/manifests/%s' % (repository, digest), ok=(202, 404))

    def manifest_time(self, repository, digest):
        """When the manifest was pushed into the repository (its revision link on disk), epoch seconds."""
        algorithm, _, hexdigest = digest.partition(':')
        link = os.path.join(self.repository_dir(repository), '_manifests', 'revisions', algorithm, hexdigest, 'link')
        try:
            return os.stat(link).st_mtime
        except OSError:
            return time.time()

    def remove_repository(self, repository):
        """Delete every image of a repository and the repository itself (it leaves the catalog)."""
        for tag in self.tags(repository):
            found = self.manifest(repository, tag)
            if found:
                self.delete_manifest(repository, found[0])
        shutil.rmtree(self.repository_dir(repository), ignore_errors=True)


class _TokenHandler(http.server.BaseHTTPRequestHandler):
    """GET /token?service=...&scope=repository:<name>:<actions> with Basic auth (what docker sends)."""

    server_version = 'localcloud-registry-auth'
    plane = None  # set per server

    def log_message(self, fmt, *args):
        log.debug('registry auth %s', fmt % args)

    def _reply(self, status, body, extra=None):
        data = (json.dumps(body) + '\n').encode()
        self.send_response(status)
        self.send_header('Content-Type', 'application/json')
        self.send_header('Content-Length', str(len(data)))
        for key, value in (extra or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)

    def _unauthorized(self, message):
        return self._reply(401, {'errors': [{'code': 'UNAUTHORIZED', 'message': message}]},
                           {'WWW-Authenticate': 'Basic realm="%s"' % SERVICE})

    def do_GET(self):
        url = urllib.parse.urlsplit(self.path)
        if url.path.rstrip('/') != '/token':
            return self._reply(404, {'errors': [{'code': 'NOT_FOUND', 'message': 'no such path'}]})
        query = urllib.parse.parse_qs(url.query)
        header = self.headers.get('Authorization') or ''
        if not header.startswith('Basic '):
            return self._unauthorized('authentication required: docker login %s -u iam -p <IAM token>'
                                      % self.plane.host)
        try:
            username, _, password = base64.b64decode(header[6:]).decode().partition(':')
        except (ValueError, UnicodeDecodeError):
            return self._unauthorized('malformed Basic credentials')
        if username not in USERNAMES:
            return self._unauthorized('unknown username %r: use iam (IAM token) or oauth (OAuth token)' % username)
        login = self.plane.authenticate(username, password)
        if login is None:
            return self._unauthorized('the %s token is invalid or expired' % ('IAM' if username == 'iam' else 'OAuth'))
        try:
            access = self.plane.grant(query.get('scope') or [], login)
        except Refused as exc:
            return self._reply(403, {'errors': [{'code': 'DENIED', 'message': str(exc)}]})
        token = self.plane.sign(login['id'] if isinstance(login, dict) else login, access)
        now = datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%dT%H:%M:%SZ')
        return self._reply(200, {'token': token, 'access_token': token, 'expires_in': TOKEN_TTL, 'issued_at': now})


def docker_config(host, iam_token):
    """A docker CLI config.json that logs in to the registry at `host` with an IAM token."""
    auth = base64.b64encode(('iam:%s' % iam_token).encode()).decode()
    return {'auths': {host: {'auth': auth}}}
