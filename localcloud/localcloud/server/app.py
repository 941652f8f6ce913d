"""The localcloud API server: state dir, bootstrap, the gRPC server over TLS and the admin HTTP API.

    cloud = LocalCloud(state_dir)          # opens/creates the state (CA, db, cloud, folder, credentials)
    info = cloud.start('127.0.0.1:0', '127.0.0.1:0')   # -> the endpoint.json dict
    cloud.stop()
"""

import concurrent.futures
import json
import logging
import os

import grpc
from google.protobuf import json_format
from yandex.cloud.access import access_pb2
from yandex.cloud.iam.v1 import service_account_pb2
from yandex.cloud.resourcemanager.v1 import cloud_pb2, folder_pb2

from localcloud.server import access, admin, faults, ids, registry, rpc, tls
from localcloud.server.auth import Auth
from localcloud.server.errors import not_found, permission_denied
from localcloud.server.operations import Operations
from localcloud.server.resources import now
from localcloud.server.store import Store
from localcloud.server.validate import required

log = logging.getLogger('localcloud')

DB_FILE = 'state.sqlite'
ENDPOINT_FILE = 'endpoint.json'
SA_KEY_FILE = 'sa-key.json'
BOOTSTRAP_SA = 'localcloud-admin'
NS_CONFIG = 'config'


def write_json_private(path, value):
    tls.write_private(path, (json.dumps(value, indent=2, sort_keys=True) + '\n').encode())


class LocalCloud:
    def __init__(self, state_dir, options=None):
        self.state_dir = os.path.abspath(state_dir)
        # Server flags (test_faults, call_log: the admin API's
        # test-only parts, see admin.py).
        self.options = dict(options or {})
        # Per start; the admin API asks for it only when test_faults or call_log is on (it is in endpoint.json).
        self.admin_token = ids.secret('lca_')
        self._on_stop = []
        os.makedirs(self.state_dir, mode=0o700, exist_ok=True)
        os.chmod(self.state_dir, 0o700)
        self.store = Store(os.path.join(self.state_dir, DB_FILE))
        os.chmod(os.path.join(self.state_dir, DB_FILE), 0o600)
        self.faults = faults.Faults()
        self.calls = faults.CallLog(enabled=bool(self.options.get('call_log')))
        self.auth = Auth(self)
        self.operations = Operations(self)
        self.endpoint = ''
        self.admin_url = ''
        # More keys for endpoint.json, set by services when they start (e.g. "registry": the registry host).
        self.info_extra = {}
        self._server = self._admin = None
        self.config = self.store.kv_get(NS_CONFIG, 'bootstrap') or self._bootstrap()
        self.cloud_id = self.config['cloud_id']
        self.folder_id = self.config['folder_id']

    # -- first start -------------------------------------------------------------------------------------
    def _bootstrap(self):
        from localcloud.server.services.iam_key import new_key  # the KeyService makes keys the same way

        cloud = cloud_pb2.Cloud(id=ids.new(ids.CLOUD), name='localcloud', created_at=now(),
                                organization_id=ids.new('bpf'), description='localcloud')
        folder = folder_pb2.Folder(id=ids.new(ids.FOLDER), cloud_id=cloud.id, name='default', created_at=now(),
                                   status=folder_pb2.Folder.ACTIVE)
        user_id = ids.new(ids.USER_ACCOUNT)
        oauth_token = ids.secret('y0_', 40)
        sa = service_account_pb2.ServiceAccount(id=ids.new(ids.SERVICE_ACCOUNT), folder_id=folder.id,
                                                name=BOOTSTRAP_SA, created_at=now(),
                                                description='localcloud bootstrap service account',
                                                status=service_account_pb2.ServiceAccount.ACTIVE)
        key, private_key = new_key(sa.id)
        key_file = os.path.join(self.state_dir, SA_KEY_FILE)
        write_json_private(key_file, dict(json_format.MessageToDict(key, preserving_proto_field_name=True),
                                          private_key=private_key))
        config = {'cloud_id': cloud.id, 'folder_id': folder.id, 'user_id': user_id, 'oauth_token': oauth_token,
                  'service_account_id': sa.id}
        with self.store.transaction():
            for message in (cloud, folder, sa, key):
                self.store.put(message)
            self.auth.add_oauth_token(oauth_token, user_id)
            access.replace(self.store, cloud.id, [_binding('resource-manager.clouds.owner', 'userAccount', user_id)])
            access.replace(self.store, folder.id, [_binding('admin', 'serviceAccount', sa.id)])
            self.store.kv_put(NS_CONFIG, 'bootstrap', config)
        return config

    # -- helpers for the services ------------------------------------------------------------------------
    def require_folder(self, folder_id, field='folder_id'):
        """The folder, or PERMISSION_DENIED (what YC answers for a folder the caller cannot see)."""
        required(field, folder_id)
        folder = self.store.get(folder_pb2.Folder, folder_id)
        if folder is None:
            raise permission_denied('Permission denied to folder %s' % folder_id)
        return folder

    @staticmethod
    def permission_denied_cloud(cloud_id):
        return permission_denied('Permission denied to cloud %s' % cloud_id)

    def get(self, cls, resource_id, kind):
        """The resource, or NOT_FOUND "<kind> <id> not found"."""
        resource = self.store.get(cls, resource_id) if resource_id else None
        if resource is None:
            raise not_found(kind, resource_id)
        return resource

    def on_stop(self, fn):
        """fn() runs when the server stops, before the operations end (background work a service started)."""
        self._on_stop.append(fn)

    # -- serving -------------------------------------------------------------------------------------------
    def start(self, listen='127.0.0.1:0', admin_listen='127.0.0.1:0'):
        key, cert = tls.ensure(self.state_dir)
        servicers = registry.servicers()  # first: loads the message types stored operations pack in Any
        self.auth.purge_expired()
        self.operations.fail_interrupted()
        # so_reuseport off: a second server on a fixed port must fail, not share it.
        self._server = grpc.server(concurrent.futures.ThreadPoolExecutor(max_workers=32, thread_name_prefix='rpc'),
                                   interceptors=[rpc.Interceptor(self, registry.public_methods())],
                                   options=[('grpc.so_reuseport', 0)])
        for cls in servicers:
            cls.add_to_server(cls(self), self._server)
        host, _, port = listen.rpartition(':')
        try:
            bound = self._server.add_secure_port(listen, grpc.ssl_server_credentials([(key, cert)]))
        except RuntimeError as exc:
            raise SystemExit('localcloud: cannot listen on %s: %s' % (listen, exc))
        if not bound:
            raise SystemExit('localcloud: cannot listen on %s' % listen)
        self.endpoint = '%s:%d' % (host or '127.0.0.1', bound)
        self._server.start()
        self._admin = admin.AdminServer(self, admin_listen)
        self._admin.start()
        self.admin_url = self._admin.url
        info = self.info()
        write_json_private(os.path.join(self.state_dir, ENDPOINT_FILE), info)
        log.info('serving %s (admin %s)', self.endpoint, self.admin_url)
        return info

    def info(self):
        info = {'endpoint': self.endpoint, 'admin': self.admin_url, 'ca': os.path.join(self.state_dir, tls.CA_CERT),
                'token': self.config['oauth_token'], 'cloud_id': self.cloud_id, 'folder_id': self.folder_id,
                'sa_key_file': os.path.join(self.state_dir, SA_KEY_FILE), 'pid': os.getpid(), **self.info_extra}
        if self.options.get('test_faults') or self.options.get('call_log'):
            info['admin_token'] = self.admin_token
        return info

    def stop(self, grace=1.0):
        for fn in reversed(self._on_stop):
            try:
                fn()
            except Exception:
                log.exception('stopping %s', fn)
        self.operations.stop(grace)
        if self._admin:
            self._admin.stop()
        if self._server:
            self._server.stop(grace).wait()
        try:
            os.unlink(os.path.join(self.state_dir, ENDPOINT_FILE))
        except FileNotFoundError:
            pass
        self.store.close()


def _binding(role, subject_type, subject_id):
    return access_pb2.AccessBinding(role_id=role, subject=access_pb2.Subject(type=subject_type, id=subject_id))
