"""The deployed stack as the bench sees it: the COI nodes on the local Docker, the LB's status page, site.yml.

Only what `make up` made is touched: nodes carry localcloud's owner label (sha256 of its state dir, the same
selector tests/instance_group_support.py uses), and their hostnames are <prefix>-<tier>-<n>.
"""

import hashlib
import json
import os
import ssl
import subprocess
import sys
import time
import urllib.request

# bench/bench/stack.py -> the repository root (the bench drives this checkout: make up's stack, tools/, roles/)
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OWNER_LABEL = 'org.filmopoisk.localcloud'
NODE_LABEL = 'org.filmopoisk.coi-node'
PROJECT_LABEL = 'com.docker.compose.project'


def docker(*args, check=True, timeout=120):
    done = subprocess.run(['docker', *args], capture_output=True, text=True, timeout=timeout)
    if check and done.returncode != 0:
        raise RuntimeError('docker %s failed: %s' % (' '.join(args[:2]), done.stderr.strip()[-500:]))
    return done


def fetch(url, timeout=5.0):
    """(status, body text) of a GET; the LB's certificate is self-signed (like curl -k)."""
    context = ssl.create_default_context()
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    try:
        with urllib.request.urlopen(url, timeout=timeout, context=context) as response:
            return response.status, response.read().decode(errors='replace')
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(errors='replace')


class Stack:
    def __init__(self, url, state_dir=None, prefix='shs'):
        self.url = url.rstrip('/')
        self.state_dir = os.path.abspath(state_dir or os.path.join(ROOT, '.run', 'localcloud'))
        self.owner = hashlib.sha256(self.state_dir.encode()).hexdigest()[:12]
        self.prefix = prefix
        self._size = None  # the app group's target size, read once (serving())

    def nodes(self, tier=None):
        """[{name, hostname, ip}] of the running nodes (of one tier: app, lb, db), sorted by hostname."""
        ids = docker('ps', '-q', '--filter', 'label=%s=%s' % (OWNER_LABEL, self.owner),
                     '--filter', 'label=' + NODE_LABEL).stdout.split()
        if not ids:
            return []
        found = []
        lines = docker('inspect', '-f', '{{.Name}} {{.Config.Hostname}} '
                       '{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}', *ids).stdout.splitlines()
        for line in lines:
            parts = line.split()
            if len(parts) >= 2:
                node = dict(name=parts[0].lstrip('/'), hostname=parts[1], ip=parts[2] if len(parts) > 2 else '')
                if tier is None or node['hostname'].startswith('%s-%s-' % (self.prefix, tier)):
                    found.append(node)
        return sorted(found, key=lambda n: n['hostname'])

    def node(self, tier, index=0):
        nodes = self.nodes(tier)
        if len(nodes) <= index:
            raise RuntimeError('no %s node #%d of prefix %s is running (is the stack up? make up)'
                               % (tier, index + 1, self.prefix))
        return nodes[index]

    def service_container(self, node, service):
        return 'coi-%s-%s-1' % (node['name'], service)

    def kill_service(self, node, service):
        """docker kill of one service container of a node (the process dies; the node lives on)."""
        docker('kill', self.service_container(node, service))

    def exec(self, node, *command):
        """A command in the node (the VM), its stdout."""
        return docker('exec', node['name'], *command, check=False).stdout

    def restart_service(self, node, service):
        docker('restart', '-t', '10', self.service_container(node, service))

    def remove_node(self, node):
        """The VM is gone: the node container and its compose project's containers, removed at once."""
        project = docker('ps', '-aq', '--filter', 'label=%s=coi-%s' % (PROJECT_LABEL, node['name'])).stdout.split()
        docker('rm', '-f', node['name'], *project)

    def down_time(self, container):
        """Seconds between a container's last exit and its current start (None if it did not restart)."""
        from datetime import datetime
        found = docker('inspect', '-f', '{{.State.FinishedAt}} {{.State.StartedAt}}', container, check=False)
        try:
            finished, started = (datetime.fromisoformat(v[:26].rstrip('Z') + '+00:00') for v in found.stdout.split())
        except ValueError:
            return None
        return round((started - finished).total_seconds(), 3) if started > finished else None

    def serving(self, page):
        """Whether an LB page (health()) shows the whole group up: as many peers up as the group's target size (the
        page lists the names a rollout's extra VM may take too, down while no VM has them). Without the API: every
        peer on the page up."""
        if not page or not page.get('total'):
            return False
        return page['up'] >= (self.app_size() or page['total'])

    def app_size(self):
        """The app group's target size, read once it answers (None: the API did not)."""
        if self._size is None:
            self._size = self.group_size('app')
        return self._size

    def health(self, timeout=2.0, url=None):
        """The LB's /hck_status (the LB's view of the app peers), or None when it does not answer. url: one LB node
        (https://<its address>) instead of the entry point (which answers from whichever node the NLB picks)."""
        try:
            status, body = fetch((url or self.url) + '/hck_status', timeout=timeout)
            return json.loads(body) if status == 200 else None
        except (OSError, ValueError):
            return None

    def site_yml(self, *extra, log=None):
        """ansible-playbook site.yml with extra arguments (e.g. -e ...): (returncode, wall seconds, output tail)."""
        return self.playbook('site.yml', *extra, log=log)

    def playbook(self, playbook, *extra, log=None):
        playbook_bin = os.path.join(os.path.dirname(sys.executable), 'ansible-playbook')
        env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, 'ansible.cfg'), ANSIBLE_FORCE_COLOR='0')
        started = time.monotonic()
        done = subprocess.run([playbook_bin, playbook, *extra], cwd=ROOT, env=env, capture_output=True, text=True,
                              timeout=1800)
        took = time.monotonic() - started
        if log:
            with open(log, 'w') as handle:
                handle.write(done.stdout + done.stderr)
        return done.returncode, took, (done.stdout + done.stderr)[-3000:]

    def admin(self, method, path):
        """localcloud's admin API (endpoint.json: admin URL and token; the token never leaves this process)."""
        with open(os.path.join(self.state_dir, 'endpoint.json')) as handle:
            info = json.load(handle)
        if 'admin_token' not in info:
            return None
        request = urllib.request.Request(info['admin'] + path, method=method,
                                         headers={'Authorization': 'Bearer %s' % info['admin_token']})
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read() or b'null')

    # --- the localcloud API server (its process, its public API) ---------------------------------------------

    def endpoint_info(self):
        """endpoint.json of the running (or last) server: endpoint, token, folder_id, ca, pid... (never printed)."""
        with open(os.path.join(self.state_dir, 'endpoint.json')) as handle:
            return json.load(handle)

    def api_pid(self):
        """The server's pid (<state_dir>/server.pid, written by `serve --daemon`), or None."""
        try:
            with open(os.path.join(self.state_dir, 'server.pid')) as handle:
                return int(handle.read().strip())
        except (OSError, ValueError):
            return None

    def kill_api(self):
        """SIGKILL of the API server (no cleanup of its own: as a crash). Returns the pid killed."""
        import signal
        pid = self.api_pid()
        if not pid or pid <= 0:
            raise RuntimeError('no localcloud server pid in %s/server.pid (is the stack up? make up)' % self.state_dir)
        os.kill(pid, signal.SIGKILL)
        for _ in range(100):  # gone from the process table (a daemon: init reaps it)
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.05)
        return pid

    def start_api(self, listen):
        """The server started again as `make up` does (playbooks/localcloud.yml): serve --daemon on `listen`."""
        done = subprocess.run([sys.executable, '-m', 'localcloud', 'serve', '--daemon', '--state-dir', self.state_dir,
                               '--listen', listen], cwd=ROOT, capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            raise RuntimeError('localcloud serve --daemon failed (rc %d): %s'
                               % (done.returncode, done.stderr.strip()[-500:]))
        return json.loads(done.stdout.strip().splitlines()[-1]).get('pid')

    def _group(self, tier):
        """(InstanceGroupService client, the group <prefix>-<tier> or None) through the public API (the SDK, with
        endpoint.json's token); raises grpc.RpcError when the API does not answer."""
        import warnings
        import yandexcloud
        from yandex.cloud.compute.v1.instancegroup import instance_group_service_pb2 as svc
        from yandex.cloud.compute.v1.instancegroup.instance_group_service_pb2_grpc import InstanceGroupServiceStub
        info = self.endpoint_info()
        with open(info['ca'], 'rb') as handle:
            ca = handle.read()
        with warnings.catch_warnings():
            warnings.simplefilter('ignore', DeprecationWarning)  # an OAuth token: localcloud's, deprecated by YC
            sdk = yandexcloud.SDK(endpoint=info['endpoint'], root_certificates=ca, token=info['token'])
        service = sdk.client(InstanceGroupServiceStub)
        name = '%s-%s' % (self.prefix, tier)
        groups = service.List(svc.ListInstanceGroupsRequest(folder_id=info['folder_id'], page_size=1000),
                              timeout=10).instance_groups
        return service, next((g for g in groups if g.name == name), None)

    def group_instances(self, tier):
        """[(name, status)] of the instances of the group <prefix>-<tier>, or None when the API does not answer."""
        import grpc
        from yandex.cloud.compute.v1.instancegroup import instance_group_pb2 as ig_pb2
        from yandex.cloud.compute.v1.instancegroup import instance_group_service_pb2 as svc
        try:
            service, group = self._group(tier)
            if group is None:
                return []
            found = service.ListInstances(svc.ListInstanceGroupInstancesRequest(instance_group_id=group.id),
                                          timeout=10).instances
        except grpc.RpcError:
            return None
        return [(i.name, ig_pb2.ManagedInstance.Status.Name(i.status)) for i in found]

    def group_size(self, tier):
        """The target size of the group <prefix>-<tier> (its fixed scale; 0 without the group), or None when the API
        does not answer (or there is no endpoint.json). The LB lists more app peers than that (the names a rollout's
        extra VM may take)."""
        import grpc
        try:
            _, group = self._group(tier)
        except (grpc.RpcError, OSError):
            return None
        return group.scale_policy.fixed_scale.size if group is not None else 0
