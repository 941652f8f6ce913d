"""A local COI node: a Container Optimized Image VM as a container on the local Docker engine.

Given instance metadata ``{"docker-compose": str, "user-data": str}`` (docs/payload-model.md), a
:class:`Node` runs a ``filmopoisk/coi-node`` container (systemd as PID 1, cloud-init with a NoCloud seed)
and the compose spec on the HOST engine, every service in the node's network namespace
(``network_mode: container:<node id>``), so ``localhost``, ports and iptables mean what they mean on a VM.

What the library changes in the spec it applies (the metadata itself stays what Yandex Cloud would get):

- every service: ``network_mode: container:<node id>``; ``ports``, ``expose``, ``networks``, ``links``,
  ``hostname``, ``domainname``, ``dns*``, ``extra_hosts``, ``mac_address`` removed (refused with that
  network mode); ``init: true`` unless the service sets ``init``; the node's labels added.
- ``ports: "VM:CONTAINER"`` -> an iptables ``REDIRECT`` VM -> CONTAINER in the node's netns (nat
  PREROUTING for traffic from the network, nat OUTPUT for the node's own traffic to its local addresses),
  applied on every boot by the compose unit.
- bind-mount host paths -> a per-node host directory (``<state_dir>/<name>/fs/<path>``), which is also
  bind-mounted into the node at the same path, so cloud-init's ``write_files`` and the services see the
  same files and two nodes never share ``/opt``. ``x-yc-disks`` host paths -> ``<state_dir>/<name>/disks/
  <device_name>`` (survive restarts; ``remove(keep_disks=True)`` keeps them).
- the project name: ``coi-<name>`` (one per node), and the top-level ``networks:`` dropped.
  The node's ``/etc/environment`` says so (``COMPOSE_PROJECT_NAME=coi-<name>``): every node's containers are on
  the one host engine, so whatever looks for "this host's" containers (``docker compose`` in the node, the
  watchdog) needs the project.

Who runs compose: ``coi-compose.service`` inside the node (After=cloud-final.service, so ``write_files``
and ``runcmd`` are done), ``docker compose up -d --force-recreate --remove-orphans`` on every boot (after a
node restart the services are recreated into the node's new netns).

Only the standard library, PyYAML and the ``docker`` CLI are used; nothing here imports plugins/ or localcloud
(localcloud builds its instance groups on this package, molecule boots its platforms with ``python -m coinode``).
"""

import io
import json
import os
import posixpath
import re
import shutil
import subprocess
import tarfile
import time
import uuid

import yaml

DEFAULT_IMAGE = 'filmopoisk/coi-node:latest'
DEFAULT_STATE_DIR = '/var/lib/filmopoisk/nodes'

# Paths of the node that are always a per-node host directory (bind-mounted at the same path).
DEFAULT_SHARED_PATHS = ('/opt', '/mnt', '/etc/filmopoisk', '/var/lib/filmopoisk-node')
# Where the rewritten spec lives (inside a shared path: the compose project directory).
COMPOSE_DIR = '/var/lib/filmopoisk-node/compose'
COMPOSE_FILE = COMPOSE_DIR + '/docker-compose.yaml'
ORIGINAL_FILE = COMPOSE_DIR + '/docker-compose.original.yaml'
UNIT_NAME = 'coi-compose.service'
PORTS_SCRIPT = '/usr/local/lib/coi-node/ports.sh'
NAT_CHAIN = 'COI-PORTS'

# Bind sources left as they are: the engine's socket, kernel and runtime file systems.
PASSTHROUGH_PREFIXES = ('/var/run', '/run', '/sys', '/proc', '/dev')
PASSTHROUGH_PATHS = ('/etc/localtime', '/etc/timezone')
# How deep a new shared path goes under these (a whole /etc or /var cannot be replaced).
DEEP_ROOTS = {'etc': 2, 'var': 2, 'usr': 2, 'home': 2, 'root': 1, 'srv': 1, 'data': 1,
              'var/lib': 3, 'var/log': 3, 'usr/local': 3, 'usr/share': 3, 'var/cache': 3}
REFUSED_ROOTS = ('/', '/etc', '/var', '/usr', '/bin', '/sbin', '/lib', '/lib64', '/boot', '/tmp',
                 '/var/lib', '/var/log', '/usr/local', '/usr/share', '/var/cache', '/home')
# Directories the node itself needs (systemd, cloud-init): never replaced by a per-node directory.
NODE_OWN_DIRS = ('/etc/systemd', '/etc/cloud', '/etc/default', '/etc/alternatives', '/var/lib/cloud',
                 '/var/lib/systemd', '/var/lib/dpkg', '/var/lib/apt', '/var/log/journal')

# Service keys that conflict with network_mode: container:<id>.
DROPPED_SERVICE_KEYS = ('ports', 'expose', 'networks', 'links', 'hostname', 'domainname', 'dns',
                        'dns_search', 'dns_opt', 'extra_hosts', 'mac_address')

NODE_LABEL = 'org.filmopoisk.coi-node'
PROJECT_LABEL = 'org.filmopoisk.coi-node.project'
NETWORK_LABEL = 'org.filmopoisk.coi-node.network'
COMPOSE_PROJECT_LABEL = 'com.docker.compose.project'

# The unprivileged systemd flags (reference/environment.md, coinode/image/README.md).
NODE_FLAGS = ('--cgroupns=host', '-v', '/sys/fs/cgroup:/sys/fs/cgroup:rw', '--tmpfs', '/run',
              '--tmpfs', '/run/lock', '-v', '/var/run/docker.sock:/var/run/docker.sock',
              '--cap-add', 'NET_ADMIN')

NAME_RE = re.compile(r'[a-z0-9][a-z0-9-]{0,62}\Z')


class NodeError(Exception):
    """A node cannot be created, booted or cleaned up; the message says why (with diagnostics)."""


def docker(*args, check=True, timeout=120, input=None):
    """Run the docker CLI; NodeError (with its stderr) when it fails and check is set."""
    try:
        result = subprocess.run(['docker'] + [str(a) for a in args], text=input is None or isinstance(input, str),
                                input=input, timeout=timeout, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    except subprocess.TimeoutExpired as exc:
        raise NodeError('docker %s: timed out after %ss' % (' '.join(map(str, args[:3])), timeout)) from exc
    if check and result.returncode != 0:
        err = result.stderr if isinstance(result.stderr, str) else result.stderr.decode(errors='replace')
        raise NodeError('docker %s failed (%d): %s' % (' '.join(map(str, args[:4])), result.returncode, err.strip()))
    return result


def _makedirs(path):
    """os.makedirs with mode 0755 whatever the umask (a server may run with 077): the node's services run
    as other users and must traverse the per-node directories bind-mounted into the node."""
    missing = []
    while path and not os.path.isdir(path):
        missing.append(path)
        path = os.path.dirname(path)
    for directory in reversed(missing):
        os.makedirs(directory, exist_ok=True)
        os.chmod(directory, 0o755)


def _new_disk(path):
    """A secondary disk's host directory. A fresh one holds ``lost+found`` (0700), as the root of any new ext4
    file system does (mke2fs creates it; COI mounts x-yc-disks as ext4 or xfs, en/cos/concepts/
    coi-specifications.md): a payload that needs an empty directory (initdb) must use a subdirectory."""
    if os.path.isdir(path):
        return
    _makedirs(path)
    os.mkdir(os.path.join(path, 'lost+found'), 0o700)


def _registry_image(image):
    """An image reference naming a registry host (cr.yandex/..., 127.0.0.1:5000/...), not a local-only name."""
    if not isinstance(image, str) or '/' not in image:
        return False
    host = image.split('/', 1)[0]
    return '.' in host or ':' in host or host == 'localhost'


def _labels_dict(labels):
    if labels is None:
        return {}
    if isinstance(labels, dict):
        return {str(k): '' if v is None else str(v) for k, v in labels.items()}
    out = {}
    for item in labels:
        key, _, value = str(item).partition('=')
        out[key] = value
    return out


# ---------------------------------------------------------------------------------------------- spec


def parse_ports(entries, where='ports'):
    """Compose ``ports`` entries -> [(published, target, protocol)] (entries without a VM port skipped)."""
    out = []
    for index, entry in enumerate(entries or []):
        if isinstance(entry, dict):
            published, target = entry.get('published'), entry.get('target')
            proto = entry.get('protocol') or 'tcp'
            if published in (None, '') or target is None:
                continue
            pairs = _port_ranges(str(published), str(target), '%s[%d]' % (where, index))
        elif isinstance(entry, (str, int)):
            text = str(entry)
            text, _, proto = text.partition('/')
            proto = proto or 'tcp'
            # [ip:]published:target; an IPv6 host ip is in brackets
            if text.startswith('['):
                text = text[text.index(']') + 2:]
            parts = text.split(':')
            if len(parts) == 1:
                continue  # container port only: no VM port to map
            published, target = parts[-2], parts[-1]
            if published == '':
                continue
            pairs = _port_ranges(published, target, '%s[%d]' % (where, index))
        else:
            raise NodeError('%s[%d]: a port must be a string, number or mapping, got %r' % (where, index, entry))
        if proto not in ('tcp', 'udp'):
            raise NodeError('%s[%d]: protocol %r not supported (tcp, udp)' % (where, index, proto))
        out.extend((p, t, proto) for p, t in pairs)
    return out


def _port_ranges(published, target, where):
    def rng(text):
        lo, _, hi = text.partition('-')
        try:
            lo, hi = int(lo), int(hi or lo)
        except ValueError:
            raise NodeError('%s: bad port %r' % (where, text))
        return list(range(lo, hi + 1))
    pub, tgt = rng(published), rng(target)
    if len(pub) != len(tgt):
        raise NodeError('%s: port ranges %s and %s differ in length' % (where, published, target))
    return list(zip(pub, tgt))


def _shared_root(path):
    """The per-node directory a bind source lives in: /opt/x -> /opt, /etc/foo/x -> /etc/foo."""
    parts = path.strip('/').split('/')
    depth = 1
    if len(parts) >= 2 and '/'.join(parts[:2]) in DEEP_ROOTS:
        depth = DEEP_ROOTS['/'.join(parts[:2])]
    elif parts[0] in DEEP_ROOTS:
        depth = DEEP_ROOTS[parts[0]]
    root = '/' + '/'.join(parts[:depth])
    if (root in REFUSED_ROOTS or root in NODE_OWN_DIRS or len(parts) < depth
            or (root.startswith('/usr/') and not root.startswith(('/usr/local/', '/usr/share/')))):
        raise NodeError('bind mount source %s: a node cannot share %s with its services; use a path under '
                        'one of %s or a directory below it' % (path, root, ', '.join(DEFAULT_SHARED_PATHS)))
    return root


def _under(path, prefix):
    return path == prefix or path.startswith(prefix.rstrip('/') + '/')


class SpecPlan:
    """The rewritten compose spec of a node plus what the node needs for it (mounts, port redirects)."""

    def __init__(self, spec, ports, shared_paths, disks):
        self.spec = spec                  # the rewritten spec (a dict), or None when there is none
        self.ports = ports                # [(published, target, proto)]
        self.shared_paths = shared_paths  # sorted node paths backed by <node dir>/fs/<path>
        self.disks = disks                # {device_name: node path}


def rewrite_spec(text, project, node_id, node_dir, labels=None, shared_paths=DEFAULT_SHARED_PATHS):
    """Rewrite the compose spec ``text`` for a node (see the module docstring). Returns a :class:`SpecPlan`.

    ``node_dir`` is the node's host directory: shared paths map to ``<node_dir>/fs<path>``, disks to
    ``<node_dir>/disks/<device_name>``.
    """
    shared = set(shared_paths)
    if not text or not str(text).strip():
        return SpecPlan(None, [], sorted(shared), {})
    try:
        spec = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise NodeError('docker-compose metadata is not valid YAML: %s' % exc)
    if not isinstance(spec, dict):
        raise NodeError('docker-compose metadata must be a YAML mapping')
    spec = json.loads(json.dumps(spec))  # a deep copy of plain types
    services = spec.get('services') or {}
    if not isinstance(services, dict):
        raise NodeError('docker-compose: services must be a mapping')

    disks = {}
    for index, disk in enumerate(spec.get('x-yc-disks') or []):
        if not isinstance(disk, dict) or not disk.get('host_path') or not disk.get('device_name'):
            raise NodeError('docker-compose: x-yc-disks[%d] needs device_name and host_path' % index)
        host_path = posixpath.normpath(disk['host_path'])
        if not host_path.startswith('/'):
            raise NodeError('docker-compose: x-yc-disks[%d].host_path must be absolute' % index)
        disks[str(disk['device_name'])] = host_path

    def host_of(path):
        """Host path for a node path (bind source), or the path itself when passed through."""
        path = posixpath.normpath(path)
        if path in PASSTHROUGH_PATHS or any(_under(path, p) for p in PASSTHROUGH_PREFIXES):
            return path
        for device, disk_path in sorted(disks.items(), key=lambda kv: -len(kv[1])):
            if _under(path, disk_path):
                return os.path.join(node_dir, 'disks', device) + path[len(disk_path):]
        for prefix in sorted(shared, key=len, reverse=True):
            if _under(path, prefix):
                return os.path.join(node_dir, 'fs') + path
        shared.add(_shared_root(path))
        return os.path.join(node_dir, 'fs') + path

    extra_labels = _labels_dict(labels)
    ports = []
    for name, service in services.items():
        if not isinstance(service, dict):
            raise NodeError('docker-compose: services.%s must be a mapping' % name)
        ports.extend(parse_ports(service.get('ports'), 'services.%s.ports' % name))
        for key in DROPPED_SERVICE_KEYS:
            service.pop(key, None)
        service['network_mode'] = 'container:%s' % node_id
        service.setdefault('init', True)
        if _registry_image(service.get('image')):
            # A new VM has no image cache: it pulls. Every node here shares the host's cache, so a registry image
            # is pulled at every boot (layers stay cached), and the registry's checks (roles, egress) apply.
            service.setdefault('pull_policy', 'always')
        if extra_labels:
            merged = _labels_dict(service.get('labels'))
            merged.update(extra_labels)
            service['labels'] = merged
        volumes = []
        for index, volume in enumerate(service.get('volumes') or []):
            if isinstance(volume, str):
                parts = volume.split(':')
                source = parts[0]
                if len(parts) >= 2 and (source.startswith('/') or source.startswith('.')):
                    if source.startswith('.'):
                        source = posixpath.join(COMPOSE_DIR, source)
                    parts[0] = host_of(source)
                    volume = ':'.join(parts)
            elif isinstance(volume, dict):
                volume = dict(volume)
                source = volume.get('source') or ''
                if volume.get('type', 'volume') == 'bind' and source:
                    if not source.startswith('/'):
                        source = posixpath.join(COMPOSE_DIR, source)
                    volume['source'] = host_of(source)
            else:
                raise NodeError('docker-compose: services.%s.volumes[%d] must be a string or mapping' % (name, index))
            volumes.append(volume)
        if volumes:
            service['volumes'] = volumes
    spec.pop('networks', None)
    spec.pop('version', None)
    spec['name'] = project
    # Seen by port: one VM port mapped twice is an error on a VM too.
    seen = {}
    for published, target, proto in ports:
        if seen.setdefault((published, proto), target) != target:
            raise NodeError('docker-compose: VM port %s/%s is published twice' % (published, proto))
    ports = sorted(set(ports))
    return SpecPlan(spec, ports, sorted(shared), disks)


# The spec is written for `docker compose` (compose-go reads YAML 1.2 with Go's yaml.v3), after PyYAML (YAML 1.1)
# read the metadata: a string either reader takes for something else is quoted, or a label "004859582582" becomes
# 4.859582582e+09 in the container. Readers and forms: yaml.org/type/*.html (1.1, plus y/n of Go's yaml.v2),
# yaml.org/spec/1.2.2 10.3.2 (core schema); yaml.v3 drops "_" in numbers, takes a sign and 0b/0o/0x, and short dates.
# The collection's coi_metadata filter quotes by the same rule (no code is shared with plugins/).
_YAML11_NOT_STR = re.compile(r'''
    ~|null|Null|NULL|y|Y|yes|Yes|YES|n|N|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF
  | [-+]?0b[0-1_]+|[-+]?0[0-7_]+|[-+]?(?:0|[1-9][0-9_]*)|[-+]?0x[0-9a-fA-F_]+|[-+]?[1-9][0-9_]*(?::[0-5]?[0-9])+
  | [-+]?[0-9][0-9_]*\.[0-9_]*(?:[eE][-+][0-9]+)?|\.[0-9][0-9_]*(?:[eE][-+][0-9]+)?
  | [-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+\.[0-9_]*|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN)
  | [0-9]{4}-[0-9]{2}-[0-9]{2}
  | [0-9]{4}-[0-9]{1,2}-[0-9]{1,2}(?:[Tt]|[ \t]+)[0-9]{1,2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]*)?
    (?:[ \t]*(?:Z|[-+][0-9]{1,2}(?::[0-9]{2})?))?
  | <<|=
''', re.X)
_YAML12_NOT_STR = re.compile(r'''
    ~|null|Null|NULL|true|True|TRUE|false|False|FALSE|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN)
  | [0-9]{4}-[0-9]{1,2}-[0-9]{1,2}
    (?:[Tt ][0-9]{1,2}:[0-9]{1,2}:[0-9]{1,2}(?:\.[0-9]*)?(?:Z|[-+][0-9]{1,2}(?::[0-9]{2})?)?)?
''', re.X)
_YAML12_NUMBER = re.compile(r'''
    [-+]?(?:0[bB][01]+|0[oO][0-7]+|0[xX][0-9a-fA-F]+)|[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?
''', re.X)


def _plain_is_string(text):
    """True if `text` written as a plain scalar reads back as this string in YAML 1.1 and in YAML 1.2 (core)."""
    number = text.replace('_', '') if text[:1] in '+-.0123456789' else text
    return bool(text) and not (_YAML11_NOT_STR.fullmatch(text) or _YAML12_NOT_STR.fullmatch(text)
                               or _YAML12_NUMBER.fullmatch(number))


class _SpecDumper(yaml.SafeDumper):
    """SafeDumper that quotes every string a YAML 1.1 or 1.2 reader would not read back as that string."""


_SpecDumper.add_representer(str, lambda dumper, data: dumper.represent_scalar(
    'tag:yaml.org,2002:str', data, style=None if '\n' in data or _plain_is_string(data) else "'"))


def dump_spec(spec):
    """The rewritten spec as the node's docker-compose.yaml text."""
    return yaml.dump(spec, Dumper=_SpecDumper, default_flow_style=False, sort_keys=False)


def ports_script(ports):
    """The shell script that installs the VM-port redirects in the node's netns (idempotent)."""
    lines = ['#!/bin/sh', '# Rendered by coinode: compose `ports:` VM:CONTAINER as REDIRECTs.',
             'set -e',
             'iptables -w -t nat -N %s 2>/dev/null || iptables -w -t nat -F %s' % (NAT_CHAIN, NAT_CHAIN)]
    for chain in ('PREROUTING', 'OUTPUT'):
        hook = '%s -m addrtype --dst-type LOCAL -j %s' % (chain, NAT_CHAIN)
        lines.append('iptables -w -t nat -C %s 2>/dev/null || iptables -w -t nat -A %s' % (hook, hook))
    for published, target, proto in ports:
        if published != target:
            lines.append('iptables -w -t nat -A %s -p %s --dport %d -j REDIRECT --to-ports %d'
                         % (NAT_CHAIN, proto, published, target))
    return '\n'.join(lines) + '\n'


def compose_unit(project):
    compose = '/usr/bin/docker compose -p %s --project-directory %s -f %s' % (project, COMPOSE_DIR, COMPOSE_FILE)
    return '\n'.join([
        '# Rendered by coinode: runs the instance\'s docker-compose spec on the host engine.',
        '[Unit]',
        'Description=COI payload (compose project %s)' % project,
        # write_files / runcmd done first (config files, chown), like the COI agent after cloud-init.
        'After=cloud-final.service',
        '',
        '[Service]',
        'Type=oneshot',
        'RemainAfterExit=yes',
        'ExecStartPre=/bin/sh %s' % PORTS_SCRIPT,
        # --force-recreate: after a node restart the old containers sit in a dead network namespace.
        'ExecStart=%s up -d --force-recreate --remove-orphans' % compose,
        'ExecStop=%s stop -t 10' % compose,
        'TimeoutStartSec=600',
        'TimeoutStopSec=60',
        '',
        '[Install]',
        'WantedBy=cloud-init.target',
        '',
    ])


# ---------------------------------------------------------------------------------------------- node


class Node:
    """One COI node. ``metadata``: ``{"docker-compose": str, "user-data": str}`` (either may be empty).

    ``network``: a docker network (created if missing, labelled as ours); ``image``: the coi-node image;
    ``fqdn``: an extra network alias; ``labels``: added to the node and to every compose service;
    ``state_dir``: host root of the per-node directories; ``shared_paths``: node paths always backed by
    the per-node directory. What a cloud's instance needs on top (localcloud's instance groups):
    ``hostname`` (the VM's host name and network alias when it differs from the container ``name``),
    ``ip_address`` (a fixed address on ``network``, which then must have a subnet), ``publish``
    (``[(host_ip, host_port, node_port)]`` TCP ports published on the host, e.g. a NAT address), ``files``
    (``[(absolute path, text, mode)]`` written into the node before it boots, e.g. the registry login a COI VM
    gets from its service account).
    """

    def __init__(self, name, metadata, network, image=DEFAULT_IMAGE, fqdn=None, labels=None,
                 state_dir=DEFAULT_STATE_DIR, shared_paths=DEFAULT_SHARED_PATHS, instance_id=None,
                 internal_network=False, hostname=None, ip_address=None, publish=(), files=()):
        if not isinstance(name, str) or not NAME_RE.match(name):
            raise NodeError('node name %r: use 1-63 lowercase letters, digits and -' % (name,))
        if hostname is not None and not NAME_RE.match(hostname):
            raise NodeError('node hostname %r: use 1-63 lowercase letters, digits and -' % (hostname,))
        if not isinstance(metadata, dict):
            raise NodeError('metadata must be a mapping with docker-compose and user-data')
        unknown = set(metadata) - {'docker-compose', 'user-data'}
        for key in ('docker-compose', 'user-data'):
            if metadata.get(key) is not None and not isinstance(metadata[key], str):
                raise NodeError('metadata[%r] must be a string' % key)
        self.name = name
        self.metadata = dict(metadata)
        self.extra_metadata = sorted(unknown)
        self.network = network
        self.image = image
        self.fqdn = fqdn
        self.labels = _labels_dict(labels)
        self.state_dir = state_dir
        self.node_dir = os.path.join(state_dir, name)
        self.shared_paths = tuple(shared_paths)
        self.instance_id = instance_id or 'i-%s-%s' % (name, uuid.uuid4().hex[:8])
        self.internal_network = internal_network
        self.hostname = hostname or name
        self.ip_address = ip_address
        self.publish = [(str(ip), int(host_port), int(node_port)) for ip, host_port, node_port in publish]
        for path, _, _ in files:
            if not path.startswith('/') or '..' in path.split('/'):
                raise NodeError('node file %r: use an absolute path without ..' % (path,))
        self.files = [(path.lstrip('/'), text, int(mode)) for path, text, mode in files]
        self.project = 'coi-' + name
        self.id = None
        self.plan = None
        self.boot_seconds = None

    # -- helpers
    def _node_labels(self):
        labels = dict(self.labels)
        labels[NODE_LABEL] = self.name
        labels[PROJECT_LABEL] = self.project
        return labels

    def _ensure_network(self):
        if docker('network', 'inspect', self.network, check=False).returncode == 0:
            return False
        args = ['network', 'create', '--driver', 'bridge', '--label', NETWORK_LABEL + '=1']
        if self.internal_network:
            args.append('--internal')
        result = docker(*args, self.network, check=False)
        if result.returncode != 0 and docker('network', 'inspect', self.network, check=False).returncode != 0:
            raise NodeError('cannot create network %s: %s' % (self.network, result.stderr.strip()))
        return True

    def _seed_tar(self, plan):
        """A tar (bytes) to `docker cp - node:/`: the NoCloud seed, the compose unit and the ports script."""
        meta = yaml.safe_dump({'instance-id': self.instance_id, 'local-hostname': self.hostname},
                              default_flow_style=False)
        user_data = self.metadata.get('user-data') or '#cloud-config\n{}\n'
        files = [('var/lib/cloud/seed/nocloud/meta-data', meta, 0o644),
                 ('var/lib/cloud/seed/nocloud/user-data', user_data, 0o600),
                 # Every node's containers are on the host's one engine: say which compose project is this
                 # node's (docker compose in the node, a watchdog looking for its app container).
                 ('etc/environment', 'COMPOSE_PROJECT_NAME=%s\n' % self.project, 0o644)]
        files.extend(self.files)
        links = []
        if plan.spec is not None:
            files.append(('etc/systemd/system/' + UNIT_NAME, compose_unit(self.project), 0o644))
            files.append((PORTS_SCRIPT.lstrip('/'), ports_script(plan.ports), 0o755))
            links.append(('etc/systemd/system/cloud-init.target.wants/' + UNIT_NAME,
                          '/etc/systemd/system/' + UNIT_NAME))
        buf = io.BytesIO()
        dirs = set()
        with tarfile.open(fileobj=buf, mode='w') as tar:
            def add_dirs(path):
                parent = posixpath.dirname(path)
                if parent and parent not in dirs:
                    add_dirs(parent)
                    dirs.add(parent)
                    info = tarfile.TarInfo(parent)
                    # root's home stays private (docker cp sets the mode of directories it extracts).
                    mode = 0o700 if _under(parent, 'root') else 0o755
                    info.type, info.mode, info.mtime = tarfile.DIRTYPE, mode, time.time()
                    tar.addfile(info)
            for path, content, mode in files:
                add_dirs(path)
                data = content.encode()
                info = tarfile.TarInfo(path)
                info.size, info.mode, info.mtime = len(data), mode, time.time()
                tar.addfile(info, io.BytesIO(data))
            for path, target in links:
                add_dirs(path)
                info = tarfile.TarInfo(path)
                info.type, info.linkname, info.mtime = tarfile.SYMTYPE, target, time.time()
                tar.addfile(info)
        return buf.getvalue()

    # -- lifecycle
    def start(self):
        """Create and boot the node (or start it again if it exists and is stopped). Returns the node id."""
        existing = docker('inspect', '-f', '{{.Id}} {{.State.Running}}', self.name, check=False)
        if existing.returncode == 0:
            self.id, running = existing.stdout.split()
            if running != 'true':
                self._started_at = time.monotonic()
                docker('start', self.name)
            return self.id
        self.network_created = self._ensure_network()
        args = ['create', '--name', self.name, '--hostname', self.hostname, *NODE_FLAGS,
                '--network', self.network, '--network-alias', self.hostname]
        if self.fqdn and self.fqdn != self.hostname:
            args += ['--network-alias', self.fqdn]
        if self.ip_address:
            args += ['--ip', self.ip_address]
        for host_ip, host_port, node_port in self.publish:
            args += ['-p', '%s:%d:%d/tcp' % (host_ip, host_port, node_port)]
        for key, value in sorted(self._node_labels().items()):
            args += ['--label', '%s=%s' % (key, value)]
        # The plan's mounts depend only on the spec, not on the id: plan with a placeholder first.
        probe = rewrite_spec(self.metadata.get('docker-compose'), self.project, '0' * 64, self.node_dir,
                             self.labels, self.shared_paths)
        for path in probe.shared_paths:
            host = os.path.join(self.node_dir, 'fs') + path
            _makedirs(host)
            args += ['-v', '%s:%s' % (host, path)]
        for device, path in sorted(probe.disks.items(), key=lambda kv: len(kv[1])):
            host = os.path.join(self.node_dir, 'disks', device)
            _new_disk(host)
            args += ['-v', '%s:%s' % (host, path)]
        args.append(self.image)
        self.id = docker(*args).stdout.strip()
        try:
            self.plan = rewrite_spec(self.metadata.get('docker-compose'), self.project, self.id, self.node_dir,
                                     self.labels, self.shared_paths)
            self._write_compose()
            docker('cp', '-', '%s:/' % self.name, input=self._seed_tar(self.plan))
            self._started_at = time.monotonic()
            docker('start', self.name)
        except Exception:
            docker('rm', '-f', '-v', self.name, check=False)
            self.id = None
            raise
        return self.id

    def _write_compose(self):
        if self.plan.spec is None:
            return
        compose_host_dir = os.path.join(self.node_dir, 'fs') + COMPOSE_DIR
        _makedirs(compose_host_dir)
        with open(os.path.join(compose_host_dir, 'docker-compose.original.yaml'), 'w') as f:
            f.write(self.metadata['docker-compose'])
        with open(os.path.join(compose_host_dir, 'docker-compose.yaml'), 'w') as f:
            f.write(dump_spec(self.plan.spec))

    def reconfigure(self, metadata):
        """Give a running node new metadata for its next boot, as a Yandex Cloud VM restarted with changed
        metadata gets it: the same instance id (cloud-init's once-per-instance modules, write_files and runcmd,
        do not run again; bootcmd does), the new user-data and the new docker-compose spec.

        cloud-init's NoCloud source would restore its cached copy of the old user-data for an unchanged
        instance id (DataSourceNoCloud.check_instance_id); the metadata-service sources of a cloud VM fetch
        it again on every boot, so the cache (obj.pkl) is dropped. Returns False, changing nothing, when a
        container cannot take the change in place: the node is not running, runs another image, or the new
        spec needs a host path or disk the container does not mount (a container cannot gain mounts).
        """
        found = docker('inspect', '-f', '{{.Id}} {{.State.Running}} {{.Config.Image}} {{json .Mounts}}',
                        self.name, check=False)
        if found.returncode != 0:
            return False
        node_id, running, image, mounts = found.stdout.strip().split(' ', 3)
        if running != 'true' or image != self.image:
            return False
        compose = metadata.get('docker-compose')
        probe = rewrite_spec(compose, self.project, '0' * 64, self.node_dir, self.labels, self.shared_paths)
        mounted = set(m.get('Destination') for m in json.loads(mounts) or [])
        if not set(probe.shared_paths) | set(probe.disks.values()) <= mounted:
            return False
        self.id = node_id
        self.metadata = dict(metadata)
        self.plan = rewrite_spec(compose, self.project, self.id, self.node_dir, self.labels, self.shared_paths)
        self._write_compose()
        stale = ['/var/lib/cloud/instance/obj.pkl']
        if self.plan.spec is None:
            stale += ['/etc/systemd/system/' + UNIT_NAME, '/etc/systemd/system/cloud-init.target.wants/' + UNIT_NAME]
        self.exec(['rm', '-f'] + stale)
        docker('cp', '-', '%s:/' % self.name, input=self._seed_tar(self.plan))
        return True

    def wait_ready(self, timeout=60, strict=True):
        """Wait until systemd is up, cloud-init is done and the compose unit is active; return seconds.

        Raises :class:`NodeError` with diagnostics on timeout, a `degraded` boot or a cloud-init error.
        ``strict=False`` (a cloud VM: a failed unit does not stop it, health checks judge it): only a node
        that does not boot in time raises; a degraded boot or a cloud-init error is left in ``boot_problem``.
        """
        self.boot_problem = None
        started = getattr(self, '_started_at', None) or time.monotonic()
        deadline = time.monotonic() + timeout
        state = None
        while time.monotonic() < deadline:
            done = self.exec(['systemctl', 'is-system-running'], check=False)
            state = done.stdout.strip()
            if state in ('running', 'degraded'):
                break
            if done.returncode != 0 and 'No such container' in done.stderr:
                # removed while it booted (the VM was deleted): it never will, and the caller should know now
                raise NodeError('node %s is gone: its container was removed while it booted' % self.name)
            time.sleep(0.1)
        else:
            raise NodeError('node %s not booted after %ss (state %r)\n%s' % (self.name, timeout, state,
                                                                             self.diagnostics()))
        ci = self.exec(['cloud-init', 'status', '--wait'], check=False,
                       timeout=max(1, deadline - time.monotonic()))
        if 'status: done' not in ci.stdout:
            self.boot_problem = 'cloud-init %s' % ci.stdout.strip()
        elif state != 'running':
            self.boot_problem = 'booted %s' % state
        if strict and self.boot_problem:
            raise NodeError('node %s: %s\n%s' % (self.name, self.boot_problem, self.diagnostics()))
        self.boot_seconds = time.monotonic() - started
        return self.boot_seconds

    def diagnostics(self):
        script = ('systemctl --failed --no-legend; systemctl list-jobs --no-pager; cloud-init status --long; '
                  'journalctl -b -u %s --no-pager | tail -20; tail -20 /var/log/cloud-init-output.log' % UNIT_NAME)
        result = self.exec(script, check=False)
        return (result.stdout + result.stderr)[-4000:]

    def exec(self, cmd, check=True, timeout=120, user=None):
        """Run ``cmd`` in the node (a string goes through ``sh -c``); return CompletedProcess (text)."""
        argv = ['sh', '-c', cmd] if isinstance(cmd, str) else list(cmd)
        extra = ['-u', user] if user else []
        return docker('exec', *extra, self.name, *argv, check=check, timeout=timeout)

    def _project_containers(self, all_states=True):
        args = ['ps', '-q', '--filter', 'label=%s=%s' % (COMPOSE_PROJECT_LABEL, self.project)]
        if all_states:
            args.insert(1, '-a')
        return docker(*args, check=False).stdout.split()

    def stop(self, timeout=30):
        """Shut the node down (systemd stops the compose unit) and stop any service left running."""
        docker('stop', '-t', timeout, self.name, check=False, timeout=timeout + 30)
        running = self._project_containers(all_states=False)
        if running:
            docker('stop', '-t', '10', *running, check=False)

    def restart(self, timeout=30):
        """``docker restart`` of the node: new netns, bootcmd again, services recreated by the unit."""
        self._started_at = time.monotonic()
        docker('restart', '-t', timeout, self.name, timeout=timeout + 60)

    def remove(self, keep_disks=False):
        """Remove the node, its compose project's containers (and volumes) and its host directory.

        ``keep_disks``: keep ``<node dir>/disks`` and the project's named volumes. The network is removed
        only if this library created it and nothing is attached to it any more.
        """
        docker('rm', '-f', '-v', self.name, check=False)
        ids = self._project_containers()
        if ids:
            docker('rm', '-f', '-v', *ids, check=False)
        if not keep_disks:
            vols = docker('volume', 'ls', '-q', '--filter',
                           'label=%s=%s' % (COMPOSE_PROJECT_LABEL, self.project), check=False).stdout.split()
            if vols:
                docker('volume', 'rm', '-f', *vols, check=False)
        if os.path.isdir(self.node_dir):
            if keep_disks:
                for entry in os.listdir(self.node_dir):
                    if entry != 'disks':
                        shutil.rmtree(os.path.join(self.node_dir, entry), ignore_errors=True)
            else:
                shutil.rmtree(self.node_dir, ignore_errors=True)
        net = docker('network', 'inspect', '-f', '{{json .Labels}} {{len .Containers}}', self.network,
                      check=False)
        if net.returncode == 0:
            labels_json, _, count = net.stdout.strip().rpartition(' ')
            if NETWORK_LABEL in (json.loads(labels_json) or {}) and count == '0':
                docker('network', 'rm', self.network, check=False)
        self.id = None

    def status(self):
        """A dict: container state, systemd state, cloud-init, compose unit, services {name: state}."""
        out = {'name': self.name, 'id': self.id, 'project': self.project, 'state': 'missing',
               'system': None, 'cloud_init': None, 'compose': None, 'services': {}}
        inspect = docker('inspect', '-f', '{{.Id}} {{.State.Status}}', self.name, check=False)
        if inspect.returncode == 0:
            out['id'], out['state'] = inspect.stdout.split()
        if out['state'] == 'running':
            probe = self.exec('systemctl is-system-running; cloud-init status | sed -n "s/^status: //p"; '
                              'systemctl is-active %s' % UNIT_NAME, check=False).stdout.split('\n')
            out['system'], out['cloud_init'], out['compose'] = (probe + [None] * 3)[:3]
        ps = docker('ps', '-a', '--filter', 'label=%s=%s' % (COMPOSE_PROJECT_LABEL, self.project),
                     '--format', '{{.Label "com.docker.compose.service"}} {{.State}}', check=False)
        for line in ps.stdout.splitlines():
            service, _, state = line.partition(' ')
            out['services'][service] = state
        return out

    def __repr__(self):
        return 'Node(%r, network=%r, id=%s)' % (self.name, self.network, (self.id or '')[:12])


__all__ = ['Node', 'NodeError', 'rewrite_spec', 'parse_ports', 'ports_script', 'compose_unit', 'SpecPlan',
           'DEFAULT_IMAGE', 'DEFAULT_STATE_DIR', 'DEFAULT_SHARED_PATHS']
