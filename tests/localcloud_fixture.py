"""pytest plugin: the `localcloud` fixture, one localcloud API server per test session.

    def test_x(localcloud):
        sdk = localcloud.sdk()                     # OAuth token; or sdk(iam_token=...), sdk(service_account_key=...)
        localcloud.fault('/yandex.cloud.vpc.v1.NetworkService/Create', code='UNAVAILABLE', count=2)
        localcloud.calls('/yandex.cloud.vpc.v1.')  # [{"method", "request", "code"}, ...]

Attributes: endpoint, ca_pem (bytes), token, folder_id, cloud_id, sa_key (dict), sa_key_file, state_dir, admin,
admin_token. The server is a real subprocess (`python -m localcloud serve --test-faults --call-log`: the admin API's
test-only parts on) on loopback; its log is state_dir/server.log. LocalCloudServer(dir, test_admin=False) starts one
as `make up` does, without them.
"""

import json
import os
import select
import signal
import subprocess
import sys
import time
import urllib.request
import warnings

import pytest

from instance_group_support import remove_nodes

READY_TIMEOUT = 30


class LocalCloudServer:
    def __init__(self, state_dir, test_admin=True):
        self.state_dir = str(state_dir)
        self.test_admin = test_admin
        self.process = None
        self.endpoint = self.admin = None
        self.exit_code = None  # of the last stopped server process (0 = clean exit on SIGTERM)

    # -- process -------------------------------------------------------------------------------------
    def start(self, listen='127.0.0.1:0', admin_listen='127.0.0.1:0'):
        log = open(os.path.join(self.state_dir, 'server.log'), 'ab')
        self.process = subprocess.Popen(
            [sys.executable, '-m', 'localcloud', 'serve', '--state-dir', self.state_dir, '--listen', listen,
             '--admin-listen', admin_listen] + (['--test-faults', '--call-log'] if self.test_admin else []),
            stdout=subprocess.PIPE, stderr=log)  # the venv's localcloud (tools/setup.sh: pip install -e)
        log.close()
        line = self._ready_line()
        info = json.loads(line)
        self.endpoint, self.admin, self.token = info['endpoint'], info['admin'], info['token']
        self.cloud_id, self.folder_id = info['cloud_id'], info['folder_id']
        self.sa_key_file, self.pid = info['sa_key_file'], info['pid']
        self.admin_token = info.get('admin_token')
        with open(info['ca'], 'rb') as handle:
            self.ca_pem = handle.read()
        with open(self.sa_key_file) as handle:
            self.sa_key = json.load(handle)
        return info

    def _ready_line(self):
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline:
            ready, _, _ = select.select([self.process.stdout], [], [], 0.2)
            if ready:
                line = self.process.stdout.readline()
                if line:
                    return line
            if self.process.poll() is not None:
                break
        self.stop()
        with open(os.path.join(self.state_dir, 'server.log')) as handle:
            raise RuntimeError('localcloud did not become ready:\n' + handle.read()[-4000:])

    def stop(self, timeout=15):
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process:
            self.process.stdout.close()
            self.exit_code = self.process.returncode
        return self.exit_code

    def restart(self):
        """Stop (SIGTERM) and start on the same ports: clients made before keep working."""
        port, admin_port = self.endpoint.rpartition(':')[2], self.admin.rpartition(':')[2]
        self.stop()
        return self.start('127.0.0.1:' + port, '127.0.0.1:' + admin_port)

    # -- clients --------------------------------------------------------------------------------------
    def sdk(self, **auth):
        """yandexcloud.SDK against this server; auth defaults to the OAuth token."""
        import yandexcloud
        if not auth:
            auth = {'token': self.token}
        with warnings.catch_warnings():
            warnings.simplefilter('ignore', DeprecationWarning)  # OAuth tokens are deprecated by YC: fine here
            return yandexcloud.SDK(endpoint=self.endpoint, root_certificates=self.ca_pem, **auth)

    def _admin(self, method, path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.admin + path, data=data, method=method,
                                         headers={'Content-Type': 'application/json',
                                                  'Authorization': 'Bearer %s' % self.admin_token})
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read())

    def fault(self, method, code=None, count=1, message=None, operation_error=None, operation_delay=None,
              lose_response=None):
        """Next `count` calls of method fail with `code` (lose_response=True: after they were processed), or its
        operations fail/are delayed."""
        spec = {'method': method, 'count': count}
        for key, value in (('code', code), ('message', message), ('operation_error', operation_error),
                           ('operation_delay', operation_delay), ('lose_response', lose_response)):
            if value is not None:
                spec[key] = value
        return self._admin('POST', '/faults', spec)['faults']

    def clear_faults(self):
        self._admin('DELETE', '/faults')

    def calls(self, method_prefix=None):
        calls = self._admin('GET', '/calls')['calls']
        return [c for c in calls if not method_prefix or c['method'].startswith(method_prefix)]

    def reset_calls(self):
        self._admin('DELETE', '/calls')


@pytest.fixture(scope='session')
def localcloud(tmp_path_factory):
    server = LocalCloudServer(tmp_path_factory.mktemp('localcloud'))
    server.start()
    yield server
    server.stop()
    remove_nodes(server.state_dir)  # what it ran outlives it: nodes, the NLB data plane
