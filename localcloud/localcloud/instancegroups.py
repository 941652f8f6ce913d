"""Instance groups that really run: each instance is a local COI node (the coinode package).

    engine = Engine(state_dir)                 # state: <state_dir>/instancegroups.json, nodes: <state_dir>/nodes
    engine.start()                             # load state, re-adopt the nodes, start the reconcile loop
    engine.apply(group, env)                   # an InstanceGroup message (create or update) + its environment
    engine.instances(group.id)                 # [ManagedInstance]
    engine.group_state(group.id)               # (InstanceGroup.Status, ManagedInstancesState)
    engine.delete(group.id); engine.wait_deleted(group.id, 30)
    engine.stop()                              # threads stop; the nodes keep running (a restart re-adopts them)

``env`` is what the API resolved for the group, so the engine never reads the API's state:
``{'image': docker image of the boot disk, 'subnets': {subnet_id: {'zone_id', 'cidr'}}, 'nat_ports': [tcp]}``.

What an instance gets (as on Yandex Cloud): name and hostname from the templates ({instance.index},
{instance.index_in_zone}, {instance.zone_id}, {instance.short_id}, {instance_group.id}, the group's variables);
FQDN ``<hostname>.ru-central1.internal`` (``<id>.auto.internal`` without a hostname template) as a network alias;
an address from its subnet's CIDR on one docker network per subnet; metadata with the placeholders substituted;
x-yc-disks devices from the secondary disks. NAT: a loopback "public" address 127.0.1.N with the TCP ports its
security groups let in published on it. Security groups are enforced in each node (localcloud.firewall, with the
groups' current rules from ``Engine(security_groups=...)``).

Statuses: CREATING_INSTANCE -> STARTING_INSTANCE -> AWAITING_STARTUP_DURATION -> CHECKING_HEALTH ->
RUNNING_ACTUAL (RUNNING_OUTDATED once the template changed) -> DELETING_INSTANCE. Health checks (HTTP 200 /
TCP connect) run from the host to the instance address; an instance that turns unhealthy, or is not healthy within
max_checking_health_duration, is healed (recreated; restarted with auto_healing_action RESTART). A changed
template rolls out per deploy_policy (max_unavailable, max_expansion, max_creating, max_deleting).

Standard library, protobuf messages of the SDK and coinode; no gRPC.
"""

import base64
import hashlib
import http.client
import ipaddress
import json
import logging
import os
import re
import secrets
import socket
import string
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import coinode
import yaml
from coinode import Node, NodeError
from google.protobuf import timestamp_pb2
from yandex.cloud.compute.v1.instancegroup import instance_group_pb2 as ig_pb2

from localcloud import firewall

log = logging.getLogger('localcloud.instancegroups')

STATE_FILE = 'instancegroups.json'
NODES_DIR = 'nodes'
REGION = 'ru-central1'
# Compute instance id prefixes by zone (what YC's ids look like).
INSTANCE_PREFIX = {'ru-central1-a': 'fhm', 'ru-central1-b': 'epd', 'ru-central1-d': 'fv4'}
MANAGED_PREFIX = 'cl1'
NAT_NETWORK = '127.0.1.'
NAT_DEFAULT_PORTS = (80, 443)
# YC reserves the first addresses of a subnet (gateway, DNS).
FIRST_HOST = 3
BOOT_TIMEOUT = 180
TICK = 0.25
# autohealing.md, "Instance operability check": the group checks each instance's status "every few seconds"
OPERABILITY_EVERY = 2.0
RETRY_MIN, RETRY_MAX = 3.0, 60.0
ADMIT_RETRY = 3.0      # an instance refused for missing roles is admitted again this often
LABEL = 'org.filmopoisk.localcloud'
GROUP_LABEL = LABEL + '.instance-group'
INSTANCE_LABEL = LABEL + '.instance'
SUBNET_LABEL = LABEL + '.subnet'

S = ig_pb2.ManagedInstance
RUNNING = (S.RUNNING_ACTUAL, S.RUNNING_OUTDATED)
BOOTING = (S.CREATING_INSTANCE, S.STARTING_INSTANCE)


class TemplateError(ValueError):
    """A template that cannot be rendered: .field names the request field."""

    def __init__(self, field, message):
        super().__init__('%s: %s' % (field, message))
        self.field = field
        self.message = message


# ---------------------------------------------------------------------------------------------- templates

_PLACEHOLDER = re.compile(r'\{([A-Za-z0-9._-]+)\}')
_ESCAPED = re.compile(r'\{\{([A-Za-z0-9._-]+)\}\}')
SYSTEM_PLACEHOLDERS = ('instance_group.id', 'instance.short_id', 'instance.index', 'instance.index_in_zone',
                       'instance.zone_id')
UNIQUE_PLACEHOLDERS = ('{instance.index}', '{instance.short_id}')
HOSTNAME_RE = re.compile(r'[a-z]([-a-z0-9]{0,61}[a-z0-9])?')


def placeholder_values(group_id, group_labels, variables, index=1, index_in_zone=1, zone_id='ru-central1-a',
                       short_id='abcd', instance_labels=None):
    values = dict((v.key, v.value) for v in variables)
    values.update({'instance_group.id': group_id, 'instance.short_id': short_id, 'instance.index': str(index),
                   'instance.index_in_zone': str(index_in_zone), 'instance.zone_id': zone_id})
    values.update(('instance_group.labels.' + k, v) for k, v in group_labels.items())
    values.update(('instance.labels.' + k, v) for k, v in (instance_labels or {}).items())
    return values


def render(text, values, field, strict=True):
    """Substitute {placeholders} (innermost first, so {zone_{instance.zone_id}} works); {{x}} stays {x}.

    strict: an unknown placeholder or a stray brace is a TemplateError (names, hostnames); otherwise unknown
    ones are left alone (metadata holds compose files and scripts with braces of their own).
    """
    escaped = {}

    def escape(match):
        key = '\x00%d\x00' % len(escaped)
        escaped[key] = '{%s}' % match.group(1)
        return key
    text = _ESCAPED.sub(escape, text)
    for _ in range(5):
        unknown = []

        def substitute(match):
            name = match.group(1)
            if name in values:
                return values[name]
            unknown.append(name)
            return match.group(0)
        new = _PLACEHOLDER.sub(substitute, text)
        if new == text:
            break
        text = new
    if strict:
        left = _PLACEHOLDER.findall(text)
        if left:
            raise TemplateError(field, 'unknown placeholder {%s} (known: %s and the group\'s variables)'
                                % (left[0], ', '.join('{%s}' % p for p in SYSTEM_PLACEHOLDERS)))
        if '{' in text or '}' in text:
            raise TemplateError(field, 'unbalanced braces in %r' % text)
    for key, value in escaped.items():
        text = text.replace(key, value)
    return text


def check_template(group):
    """TemplateErrors a group's templates give before any instance exists (what the API validates)."""
    template = group.instance_template
    size = group.scale_policy.fixed_scale.size if group.scale_policy.HasField('fixed_scale') else 2
    values = placeholder_values(group.id or 'cl1aaaaaaaaaaaaaaaaa', group.labels, group.variables,
                                instance_labels=template.labels)
    for field in ('name', 'hostname'):
        source = getattr(template, field)
        if not source:
            continue
        where = 'instance_template.' + field
        rendered = render(source, values, where)
        unique = any(p in source for p in UNIQUE_PLACEHOLDERS) or (
            '{instance.zone_id}' in source and '{instance.index_in_zone}' in source)
        if size > 1 and not unique:
            raise TemplateError(where, '%r gives every instance the same %s; use {instance.index} or '
                                       '{instance.short_id}' % (source, field))
        if not HOSTNAME_RE.fullmatch(rendered):
            raise TemplateError(where, '%r renders to %r, not a valid %s ([a-z]([-a-z0-9]{0,61}[a-z0-9])?)'
                                % (source, rendered, field))
    for key, value in template.metadata.items():
        render(value, values, 'instance_template.metadata.%s' % key, strict=False)


def template_hash(group):
    """What decides RUNNING_ACTUAL vs RUNNING_OUTDATED: the template and the variables it is rendered with."""
    digest = hashlib.sha256(group.instance_template.SerializeToString(deterministic=True))
    for variable in group.variables:
        digest.update(b'\x00%s=%s' % (variable.key.encode(), variable.value.encode()))
    return digest.hexdigest()[:16]


# What a changed instance template field does to a running instance (en/compute/concepts/instance-groups/deploy/
# instance.md, "Changing the instance template"): nothing, a restart (same instance id, disks kept), or re-creation.
# Fields the page does not list (hostname, placement_policy, filesystem_specs, ...) are guessed to need re-creation.
LIVE_FIELDS = ('name', 'description', 'labels', 'service_account_id')
RESTART_FIELDS = ('platform_id', 'resources_spec', 'boot_disk_spec', 'metadata')
A = ig_pb2.DeployPolicy
ACTION_ORDER = {A.LIVE_UPDATE: 0, A.RESTART: 1, A.RECREATE: 2}


def template_parts(group):
    """{template field: digest} of a group's template; the variables count towards what they render (metadata,
    name, hostname), so a changed variable acts as a change of those fields."""
    variables = b''.join(b'\x00%s=%s' % (v.key.encode(), v.value.encode()) for v in group.variables)
    parts = {}
    for field, value in group.instance_template.ListFields():
        if field.is_repeated and field.message_type is not None \
                and not field.message_type.GetOptions().map_entry:
            data = b''.join(item.SerializeToString(deterministic=True) for item in value)
        elif field.message_type is not None and not field.message_type.GetOptions().map_entry:
            data = value.SerializeToString(deterministic=True)
        elif field.message_type is not None:  # a map: sorted items
            data = b''.join(b'\x00%s=%s' % (str(k).encode(), str(v).encode()) for k, v in sorted(value.items()))
        else:
            data = str(value).encode()
        if field.name in ('metadata', 'name', 'hostname'):
            data += variables
        parts[field.name] = hashlib.sha256(data).hexdigest()[:16]
    return parts


def update_action(old_parts, new_parts, minimal_action=0):
    """The DeployPolicy.MinimalAction an instance built from old_parts needs to match new_parts: the most
    disruptive one its changed fields need, and at least the group's minimal_action (default LIVE_UPDATE).
    An instance without parts (recorded before they were) is re-created."""
    if old_parts is None:
        return A.RECREATE
    action = A.LIVE_UPDATE
    for field in set(old_parts) | set(new_parts):
        if old_parts.get(field) == new_parts.get(field) or field in LIVE_FIELDS:
            continue
        need = A.RESTART if field in RESTART_FIELDS else A.RECREATE
        action = max(action, need, key=ACTION_ORDER.get)
    return max(action, minimal_action or A.LIVE_UPDATE, key=ACTION_ORDER.get)


def compose_disks(compose):
    """device names an x-yc-disks section of a compose spec refers to."""
    try:
        spec = yaml.safe_load(compose or '') or {}
    except yaml.YAMLError:
        return []
    disks = spec.get('x-yc-disks') if isinstance(spec, dict) else None
    return [str(d.get('device_name')) for d in disks or [] if isinstance(d, dict)]


def _new_id(prefix, length=20):
    alphabet = string.digits + string.ascii_lowercase
    return prefix + ''.join(secrets.choice(alphabet) for _ in range(length - len(prefix)))


def _timestamp(seconds):
    stamp = timestamp_pb2.Timestamp()
    stamp.FromNanoseconds(int(seconds * 1e9))
    return stamp


def _seconds(duration, default=0.0):
    value = duration.seconds + duration.nanos / 1e9
    return value or default


# ---------------------------------------------------------------------------------------------- checks

def http_check(address, port, path, timeout):
    """One HTTP health check: GET path, healthy on 200. Returns (ok, detail)."""
    connection = http.client.HTTPConnection(address, port, timeout=timeout)
    try:
        connection.request('GET', path or '/', headers={'User-Agent': 'localcloud-health-check'})
        response = connection.getresponse()
        response.read(65536)
        return response.status == 200, 'HTTP %d' % response.status
    except (OSError, http.client.HTTPException) as exc:
        return False, '%s: %s' % (type(exc).__name__, exc)
    finally:
        connection.close()


def tcp_check(address, port, timeout):
    try:
        socket.create_connection((address, port), timeout=timeout).close()
        return True, 'connected'
    except OSError as exc:
        return False, '%s: %s' % (type(exc).__name__, exc)


def _bindable(address, port):
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((address, port))
            return True
        except OSError:
            return False


# ---------------------------------------------------------------------------------------------- engine

class _Group:
    def __init__(self, spec, env, deleting=False, active=False):
        self.spec = spec
        self.env = env
        self.deleting = deleting
        self.active = active
        self.hash = template_hash(spec)
        self.parts = template_parts(spec)
        self.retry_after = 0.0
        self.backoff = RETRY_MIN
        self.deleted = threading.Event()

    @property
    def target(self):
        policy = self.spec.scale_policy
        if policy.HasField('auto_scale'):  # no metrics here: the initial size, at least min per zone
            auto = policy.auto_scale
            zones = max(1, len(self.spec.allocation_policy.zones))
            return min(max(auto.initial_size, auto.min_zone_size * zones), auto.max_size or 100)
        return policy.fixed_scale.size

    def dump(self):
        return {'spec': base64.b64encode(self.spec.SerializeToString()).decode(), 'env': self.env,
                'deleting': self.deleting, 'active': self.active}

    @classmethod
    def load(cls, data):
        spec = ig_pb2.InstanceGroup()
        spec.ParseFromString(base64.b64decode(data['spec']))
        return cls(spec, data['env'], data.get('deleting', False), data.get('active', False))


class Engine:
    """The instance groups of one localcloud: desired specs in, COI nodes out. Thread-safe."""

    def __init__(self, state_dir, labels=None, workers=8, node_files=None, admit=None, security_groups=None,
                 traffic=None):
        self.state_dir = os.path.abspath(state_dir)
        # node_files(group spec, instance record) -> [(path, text, mode)] written into each new node (e.g. a
        # registry login bound to the instance).
        self.node_files = node_files
        # IAM: admit(group spec, instance record) -> None, or why the group's service account may not create this
        # instance (the instance waits in CREATING_INSTANCE with that message and is tried again; see _refuse).
        self.admit = admit
        self._refused = {}     # managed id -> (monotonic time of the next try, metadata)
        # traffic: the target group of a group with load_balancer_spec (en/compute/concepts/instance-groups/
        # balancers.md): traffic.open(spec, record) adds the instance, traffic.states(target group ids) -> {id: None (no
        # load balancer attached) or {address: 'HEALTHY' | 'UNHEALTHY' | 'INITIAL' | ...}} as the load balancers see
        # them, traffic.close(spec, record) removes it and returns once no new connection reaches it. None: no load
        # balancer integration. Never called with self._lock held.
        self.traffic = traffic
        # {target group id: None (no balancer attached) or {address: state}}, read by _loop outside the lock: the
        # traffic callback reads the API's store, whose lock an operation holds while it calls apply() (lock order).
        self._traffic_view = {}
        # security_groups(ids) -> {id: vpc SecurityGroup or None}: the groups' current rules, enforced in the
        # nodes (localcloud.firewall); None: no enforcement (an engine without an API).
        self._firewall = firewall.Enforcer(security_groups, _firewall_execute, _started_at) \
            if security_groups else None
        self.nodes_dir = os.path.join(self.state_dir, NODES_DIR)
        self.state_path = os.path.join(self.state_dir, STATE_FILE)
        self.labels = dict(labels or {})
        # Whose containers and networks these are (several localclouds may share the engine).
        self.owner = hashlib.sha256(self.state_dir.encode()).hexdigest()[:12]
        self.labels[LABEL] = self.owner
        self._lock = threading.RLock()
        self._groups = {}      # id -> _Group
        self._instances = {}   # managed id -> record dict
        self._busy = set()     # managed ids with an action running
        self._next_operability = 0.0
        self._health = {}      # managed id -> {check index: {'ok': n, 'fail': n, 'next': t, 'running': bool}}
        self._network_lock = threading.Lock()
        self._actions = ThreadPoolExecutor(workers, thread_name_prefix='ig-action')
        self._checks = ThreadPoolExecutor(workers, thread_name_prefix='ig-check')
        self._stop = threading.Event()
        self._thread = None
        self._loaded = False

    # -- persistence --------------------------------------------------------------------------------
    def load(self):
        """Read the state file (once). Booting instances are booted again by the loop, from where they were."""
        with self._lock:
            if self._loaded:
                return
            self._loaded = True
            try:
                with open(self.state_path) as handle:
                    data = json.load(handle)
            except FileNotFoundError:
                return
            for group_id, group in data.get('groups', {}).items():
                self._groups[group_id] = _Group.load(group)
            for record in data.get('instances', {}).values():
                record['adopt'] = True  # check the node before trusting the record
                group = self._groups.get(record['group_id'])
                if 'parts' not in record and group is not None and record['hash'] == group.hash:
                    record['parts'] = dict(group.parts)  # recorded before parts were: built from this template
                self._instances[record['id']] = record

    def _save(self):
        data = {'groups': dict((gid, g.dump()) for gid, g in self._groups.items()),
                'instances': dict((rid, dict((k, v) for k, v in r.items() if k != 'adopt'))
                                  for rid, r in self._instances.items())}
        os.makedirs(self.state_dir, exist_ok=True)
        temp = self.state_path + '.tmp'
        with open(temp, 'w') as handle:
            json.dump(data, handle, indent=1, sort_keys=True)
        os.replace(temp, self.state_path)

    # -- API ------------------------------------------------------------------------------------------
    def start(self):
        self.load()
        os.makedirs(self.nodes_dir, exist_ok=True)
        os.chmod(self.nodes_dir, 0o755)
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name='instance-groups', daemon=True)
        self._thread.start()

    def stop(self, timeout=10):
        self._stop.set()
        if self._thread:
            self._thread.join(timeout)
        self._actions.shutdown(wait=False, cancel_futures=True)
        self._checks.shutdown(wait=False, cancel_futures=True)
        if self._firewall:
            self._firewall.stop()

    def apply(self, group, env):
        """Create or update a group (a copy of the message is kept)."""
        spec = ig_pb2.InstanceGroup()
        spec.CopyFrom(group)
        env = {'image': env['image'], 'subnets': dict(env.get('subnets') or {}),
               'nat_ports': sorted(set(int(p) for p in env.get('nat_ports') or NAT_DEFAULT_PORTS))}
        with self._lock:
            old = self._groups.get(spec.id)
            new = _Group(spec, env, deleting=bool(old and old.deleting), active=bool(old and old.active))
            if old is not None:
                new.retry_after, new.backoff, new.deleted = old.retry_after, old.backoff, old.deleted
            self._groups[spec.id] = new
            # A changed template makes the running instances outdated at once, not at the loop's next tick: a client
            # that lists the instances right after the Update must not see the old ones as RUNNING_ACTUAL.
            for record in self._instances.values():
                if record['group_id'] == spec.id and record['status'] == S.RUNNING_ACTUAL and \
                        record['hash'] != new.hash:
                    self._set(record, S.RUNNING_OUTDATED)
            self._save()

    def delete(self, group_id):
        with self._lock:
            group = self._groups.get(group_id)
            if group is None:
                return
            group.deleting = True
            self._save()

    def wait_deleted(self, group_id, timeout):
        with self._lock:
            group = self._groups.get(group_id)
        return group is None or group.deleted.wait(timeout)

    def group_ids(self):
        with self._lock:
            return list(self._groups)

    def group_state(self, group_id):
        """(InstanceGroup.Status, ManagedInstancesState) as YC reports them."""
        with self._lock:
            group = self._groups.get(group_id)
            records = [r for r in self._instances.values() if r['group_id'] == group_id]
            state = ig_pb2.ManagedInstancesState(target_size=group.target if group else 0)
            for record in records:
                if record['status'] == S.RUNNING_ACTUAL:
                    state.running_actual_count += 1
                elif record['status'] == S.RUNNING_OUTDATED:
                    state.running_outdated_count += 1
                else:
                    state.processing_count += 1
            if group is None or group.deleting:
                status = ig_pb2.InstanceGroup.DELETING
            else:
                status = ig_pb2.InstanceGroup.ACTIVE if group.active else ig_pb2.InstanceGroup.STARTING
            return status, state

    def instances(self, group_id=None):
        """ManagedInstance messages (of one group, or all), by index."""
        with self._lock:
            records = sorted((r for r in self._instances.values() if group_id in (None, r['group_id'])),
                             key=lambda r: (r['group_id'], r['index']))
            return [self._managed(r) for r in records]

    def settled(self, group_id):
        """No instance of the group awaits re-adoption (after start()) or has an action in flight: a wait hook."""
        with self._lock:
            return not any(r.get('adopt') or r['id'] in self._busy
                           for r in self._instances.values() if r['group_id'] == group_id)

    def records(self, group_id=None):
        """Plain copies of the instance records (for the compute InstanceService and the forwarder)."""
        with self._lock:
            return [dict(r) for r in self._instances.values() if group_id in (None, r['group_id'])]

    def rolling(self, group_id, ids, action):
        """RollingRestart / RollingRecreate (en/compute/concepts/instance-groups/rolling-actions.md): mark the
        instances (managed or compute instance ids; none: all of them) for action 'restart' or 'recreate'; the loop
        acts on them one budget at a time (deploy_policy). Returns the managed ids marked; an unknown id is a
        TemplateError naming managed_instance_ids, before anything is marked."""
        with self._lock:
            records = sorted((r for r in self._instances.values()
                              if r['group_id'] == group_id and r['status'] != S.DELETING_INSTANCE),
                             key=lambda r: r['index'])
            chosen = []
            for wanted in ids:
                found = [r for r in records if wanted in (r['id'], r['instance_id'])]
                if not found:
                    raise TemplateError('managed_instance_ids', 'instance %s is not in instance group %s'
                                        % (wanted, group_id))
                chosen.extend(r for r in found if r not in chosen)
            for record in chosen or records:
                record['rolling'] = action
            self._save()
            return [r['id'] for r in chosen or records]

    def rolled(self, group_id, marked):
        """Whether a rolling action on `marked` is over: none of them still marked or not running, and the group
        back at its target size with every instance RUNNING_ACTUAL (a wait hook)."""
        with self._lock:
            group = self._groups.get(group_id)
            if group is None or group.deleting:
                return True
            records = [r for r in self._instances.values() if r['group_id'] == group_id]
            if any(r['id'] in marked and (r.get('rolling') or r['status'] != S.RUNNING_ACTUAL) for r in records):
                return False
            return len(records) == group.target and all(r['status'] == S.RUNNING_ACTUAL for r in records)

    def _managed(self, record):
        instance = ig_pb2.ManagedInstance(
            id=record['id'], status=record['status'], instance_id=record['instance_id'], fqdn=record['fqdn'],
            name=record['name'], status_message=record.get('status_message', ''), zone_id=record['zone_id'],
            status_changed_at=_timestamp(record['status_changed_at']))
        nic = instance.network_interfaces.add(index='0', subnet_id=record['subnet_id'],
                                              mac_address=record.get('mac_address', ''))
        nic.primary_v4_address.address = record['address']
        if record.get('nat_address'):
            nic.primary_v4_address.one_to_one_nat.address = record['nat_address']
            nic.primary_v4_address.one_to_one_nat.ip_version = ig_pb2.IPV4
        return instance

    # -- the loop ---------------------------------------------------------------------------------------
    def _loop(self):
        while not self._stop.is_set():
            try:
                traffic = self._traffic_snapshot()
                with self._lock:
                    self._traffic_view = traffic
                    self._adopt()
                    self._admit_again()
                    for group_id in list(self._groups):
                        self._reconcile(self._groups[group_id])
                    self._orphans()
            except Exception:  # keep the loop alive; the next tick tries again
                log.exception('instance group reconcile failed')
            self._sync_firewall()
            self._check_operability()
            self._stop.wait(TICK)

    def _check_operability(self):
        """autohealing.md, "Instance operability check": every few seconds the group reads each instance's status
        in Compute, and one that stopped or failed (STOPPED, ERROR, CRASHED) is restarted, or replaced, at once,
        whatever max_unavailable allows; no health check is needed for that. An instance's VM here is its node
        container: one no longer running is healed by the group's action (a restart starts it again); one that is
        gone (deleted behind the group's back) is replaced, as a VM that cannot be started would be. The docs say
        nothing of a VM deleted through the Compute API; a replacement is what a group of a fixed size needs."""
        now = time.monotonic()
        if now < self._next_operability:
            return
        self._next_operability = now + OPERABILITY_EVERY
        watched_statuses = RUNNING + (S.AWAITING_STARTUP_DURATION, S.CHECKING_HEALTH, S.OPENING_TRAFFIC)
        with self._lock:
            watched = dict((r['container'], r['id']) for r in self._instances.values()
                           if r['status'] in watched_statuses and r['id'] not in self._busy)
        if not watched:
            return
        states = _node_states(sorted(watched))
        if states is None:
            return  # the engine did not answer: no news of any VM
        with self._lock:
            for container, record_id in watched.items():
                record = self._instances.get(record_id)
                if record is None or record_id in self._busy or record['status'] not in watched_statuses:
                    continue  # changed meanwhile: the group acts on it already
                group = self._groups.get(record['group_id'])
                if container not in states:
                    self._submit(record, self._lost, group)
                elif not states[container][0] and group is not None:
                    self._heal(group, record, 'the instance stopped')

    def _lost(self, record, group):
        # "replaced at once" (autohealing.md): a VM that ran and vanished is no boot failure, so no backoff
        self._failed(record, group, NodeError('instance lost: node %s is gone' % record['container']), backoff=False)

    def _set(self, record, status, message=None):
        if record['status'] != status:
            record['status'] = status
            record['status_changed_at'] = time.time()
        if message is not None:
            record['status_message'] = message
        self._save()

    def _submit(self, record, action, *args):
        if record.get('traffic') and action in (self._restart, self._remove):
            # balancers.md: "When an instance is stopped or removed from the instance group, it is removed from the
            # target group": first, so the load balancer sends it nothing new while it stops (CLOSING_TRAFFIC).
            action, args = self._close_traffic, (action,) + args
        self._busy.add(record['id'])

        def run():
            try:
                action(record, *args)
            except Exception:
                log.exception('instance %s: %s failed', record['name'], action.__name__)
            finally:
                with self._lock:
                    self._busy.discard(record['id'])
        self._actions.submit(run)

    def _adopt(self):
        """After a restart: trust a record only if its node is there (and running)."""
        for record in list(self._instances.values()):
            if not record.pop('adopt', False) or record['id'] in self._busy:
                continue
            if record['status'] == S.DELETING_INSTANCE:
                self._submit(record, self._remove, None)
                continue
            self._submit(record, self._readopt)

    def _orphans(self):
        for record in list(self._instances.values()):
            if record['group_id'] not in self._groups and record['id'] not in self._busy:
                self._delete(record, 'instance group deleted')

    # -- planning (under the lock) ---------------------------------------------------------------------
    def _reconcile(self, group):
        records = [r for r in self._instances.values() if r['group_id'] == group.spec.id]
        if group.deleting:
            for record in records:
                if record['id'] not in self._busy and record['status'] != S.DELETING_INSTANCE:
                    self._delete(record, 'instance group is being deleted')
            if not records:
                del self._groups[group.spec.id]
                self._save()
                self._release_networks()
                group.deleted.set()
            return
        for record in records:
            if record['id'] not in self._busy:
                self._progress(group, record)
        spec, policy = group.spec, group.spec.deploy_policy
        target = group.target
        now = time.monotonic()

        def live():
            return [r for r in self._instances.values()
                    if r['group_id'] == spec.id and r['status'] != S.DELETING_INSTANCE]

        def deletions_left():
            deleting = sum(1 for r in records if r['status'] == S.DELETING_INSTANCE)
            return policy.max_deleting - deleting if policy.max_deleting else 1 << 30

        current = [r for r in live() if r['hash'] == group.hash]
        # Scale down: non-running first, then the highest index.
        if len(current) > target:
            surplus = sorted(current, key=lambda r: (r['status'] in RUNNING, -r['index']))
            for record in surplus[:len(current) - target]:
                if record['id'] not in self._busy and deletions_left() > 0:
                    self._delete(record, 'scaled down')
        # Outdated instances that need no restart are updated in place; those not serving anyway are
        # restarted or re-created at once.
        for record in live():
            if record['hash'] == group.hash or record['id'] in self._busy:
                continue
            action = self._update_action(group, record)
            if action == A.LIVE_UPDATE:
                self._live_update(group, record)
            elif record['status'] not in RUNNING and record['status'] not in BOOTING and deletions_left() > 0:
                self._update(group, record, action)
        # Create what is missing, within max_expansion and max_creating.
        alive = live()
        current = [r for r in alive if r['hash'] == group.hash]
        count = min(target - len(current), target + policy.max_expansion - len(alive))
        if policy.max_creating:
            creating = sum(1 for r in alive if r['status'] in BOOTING)
            count = min(count, policy.max_creating - creating)
        if now >= group.retry_after:
            for _ in range(max(0, count)):
                self._create(group)
        # Rolling update of running outdated instances (proactive: stop them ourselves).
        if policy.strategy != ig_pb2.DeployPolicy.OPPORTUNISTIC:
            alive = live()
            running = [r for r in alive if r['status'] in RUNNING]
            budget = policy.max_unavailable - (target - len(running))
            outdated = sorted((r for r in running if r['hash'] != group.hash), key=lambda r: r['index'])
            for record in outdated[:max(0, budget)]:
                if record['id'] not in self._busy and deletions_left() > 0:
                    self._update(group, record, self._update_action(group, record))
                    budget -= 1
            self._roll(group, live(), budget, deletions_left)
        running_actual = sum(1 for r in live() if r['status'] == S.RUNNING_ACTUAL)
        if not group.active and running_actual >= target:
            group.active = True
            self._save()

    def _roll(self, group, alive, budget, deletions_left):
        """RollingRestart/RollingRecreate marks, after the rollout, within the same deploy_policy budget
        (rolling-restart.md: "if the deployment policy specifies a maximum of 1 unavailable instance per group,
        then only one instance will be down at any given time"); the next one only once the group runs again
        (rolling-actions.md: "each next instance ... only after the status of the previous instance changes to
        Running"). The docs are silent on max_unavailable 0 (max_expansion only): one at a time here, no expansion."""
        marked = sorted((r for r in alive if r.get('rolling') and r['id'] not in self._busy
                         and r['status'] in RUNNING), key=lambda r: r['index'])
        if not group.spec.deploy_policy.max_unavailable:
            budget += 1
        for record in marked[:max(0, budget)]:
            if deletions_left() <= 0:
                return
            action = record.pop('rolling')
            self._health.pop(record['id'], None)
            if action == 'recreate':
                self._delete(record, 'rolling recreate')
            else:
                self._set(record, S.STOPPING_INSTANCE, 'rolling restart')
                self._submit(record, self._restart)

    def _update_action(self, group, record):
        return update_action(record.get('parts'), group.parts, group.spec.deploy_policy.minimal_action)

    def _live_update(self, group, record):
        record['hash'], record['parts'] = group.hash, dict(group.parts)
        if record['status'] == S.RUNNING_OUTDATED:
            self._set(record, S.RUNNING_ACTUAL)
        else:
            self._save()

    def _update(self, group, record, action):
        """Bring an outdated instance to the template: a restart with the new metadata, or re-creation."""
        if action != A.RESTART:
            self._delete(record, 'instance template changed')
            return
        self._health.pop(record['id'], None)
        record.pop('rolling', None)  # restarted anyway
        record['hash'], record['parts'] = group.hash, dict(group.parts)
        self._set(record, S.STOPPING_INSTANCE, 'updating: restart with the new template')
        self._submit(record, self._restart, group, self._metadata(group.spec, record))

    def _progress(self, group, record):
        """Timers and health of one idle instance."""
        status = record['status']
        checks = list(group.spec.health_checks_spec.health_check_specs)
        if status == S.AWAITING_STARTUP_DURATION:
            startup = _seconds(group.spec.deploy_policy.startup_duration)
            if time.time() >= record['ready_at'] + startup:
                self._health.pop(record['id'], None)
                if checks:
                    record['checking_since'] = time.time()
                    self._set(record, S.CHECKING_HEALTH, 'waiting for %d health check(s) to pass' % len(checks))
                else:
                    self._set(record, self._running_status(group, record), '')
            return
        if status == S.OPENING_TRAFFIC:
            self._opening(group, record)
            return
        if status not in RUNNING and status != S.CHECKING_HEALTH:
            return
        if status in RUNNING and self._traffic_lost(group, record):
            return
        if not checks:
            if status == S.CHECKING_HEALTH:
                self._set(record, self._running_status(group, record), '')
            elif status != self._running_status(group, record):
                self._set(record, self._running_status(group, record))
            return
        health = self._health.setdefault(record['id'], {})
        healthy, unhealthy, reasons = True, False, []
        for index, check in enumerate(checks):
            state = health.setdefault(index, {'ok': 0, 'fail': 0, 'next': 0.0, 'running': False, 'detail': ''})
            if not state['running'] and time.monotonic() >= state['next']:
                state['running'] = True
                state['next'] = time.monotonic() + _seconds(check.interval, 2.0)
                self._checks.submit(self._check, record, index, check, state)
            if state['ok'] < (check.healthy_threshold or 2):
                healthy = False
            if state['fail'] >= (check.unhealthy_threshold or 2):
                unhealthy = True
                reasons.append(state['detail'])
        if status == S.CHECKING_HEALTH:
            limit = _seconds(group.spec.health_checks_spec.max_checking_health_duration)
            if healthy:
                self._set(record, self._running_status(group, record), '')
            elif limit and time.time() - record['checking_since'] > limit:
                self._heal(group, record, 'not healthy within max_checking_health_duration %ds (%s)'
                           % (limit, '; '.join(reasons) or 'checks not passed'))
        elif unhealthy:
            self._heal(group, record, 'unhealthy: %s' % '; '.join(reasons))
        elif status != self._running_status(group, record):
            self._set(record, self._running_status(group, record))

    def _running_status(self, group, record):
        if self.traffic and group.spec.HasField('load_balancer_spec') and not record.get('traffic'):
            return S.OPENING_TRAFFIC  # healthy: into the target group first (balancers.md), then RUNNING
        return S.RUNNING_ACTUAL if record['hash'] == group.hash else S.RUNNING_OUTDATED

    # -- the target group of load_balancer_spec (balancers.md "How integration works") -------------------
    def _traffic_snapshot(self):
        if not self.traffic:
            return {}
        with self._lock:
            wanted = [g.spec.load_balancer_state.target_group_id for g in self._groups.values()
                      if g.spec.HasField('load_balancer_spec') and g.spec.load_balancer_state.target_group_id]
        if not wanted:
            return {}
        try:
            return self.traffic.states(wanted)
        except Exception:
            log.exception('target groups: reading the load balancers\' view failed')
            return dict(self._traffic_view)

    def _traffic_state(self, group, record):
        """The load balancers' view of the instance (the last snapshot): None with no balancer attached."""
        target_group_id = group.spec.load_balancer_state.target_group_id
        if target_group_id not in self._traffic_view:
            return 'INITIAL'  # not read yet
        view = self._traffic_view[target_group_id]
        return None if view is None else view.get(record['address'], 'INITIAL')

    def _opening(self, group, record):
        """OPENING_TRAFFIC: add the instance to the target group once, then wait for the load balancers' checks:
        RUNNING once they find it healthy (at once with ignore_health_checks, or with no balancer attached: the docs
        are silent on that case); recovered after max_opening_traffic_duration (0: wait indefinitely)."""
        spec = group.spec.load_balancer_spec
        if not record.get('traffic'):
            record['traffic'] = True
            record['opening_since'] = time.time()
            self._save()
            self._submit(record, self._open_traffic, group)
            return
        state = self._traffic_state(group, record)
        if spec.ignore_health_checks or state in (None, 'HEALTHY'):
            self._set(record, S.RUNNING_ACTUAL if record['hash'] == group.hash else S.RUNNING_OUTDATED, '')
            return
        limit = _seconds(spec.max_opening_traffic_duration)
        if limit and time.time() - record['opening_since'] > limit:
            self._heal(group, record, 'no traffic from the load balancer within max_opening_traffic_duration %ds '
                                      '(target %s)' % (limit, state))
        elif record.get('status_message') != 'waiting for the load balancer health checks (%s)' % state:
            self._set(record, S.OPENING_TRAFFIC, 'waiting for the load balancer health checks (%s)' % state)

    def _open_traffic(self, record, group):
        try:
            self.traffic.open(group.spec, dict(record))
        except Exception as exc:
            log.exception('instance %s: adding it to the target group failed', record['name'])
            with self._lock:
                record.pop('traffic', None)
                self._set(record, S.OPENING_TRAFFIC, 'adding to the target group failed: %s' % exc)

    def _traffic_lost(self, group, record):
        """A RUNNING instance the load balancers find unhealthy is recovered like a failed health check
        (balancers.md: with ignore_health_checks "negative check results will not prompt the instances to autoheal",
        so without it they do)."""
        if not (self.traffic and record.get('traffic') and group.spec.HasField('load_balancer_spec')) or \
                group.spec.load_balancer_spec.ignore_health_checks:
            return False
        if self._traffic_state(group, record) != 'UNHEALTHY':
            return False
        self._heal(group, record, 'unhealthy: the load balancer health checks fail')
        return True

    def _close_traffic(self, record, then, *args):
        """CLOSING_TRAFFIC, then the stop or removal that asked for it (its status is shown again afterwards)."""
        with self._lock:
            status, message = record['status'], record.get('status_message', '')
            group = self._groups.get(record['group_id'])
            self._set(record, S.CLOSING_TRAFFIC, 'removing from the target group')
        try:
            if group is not None:
                self.traffic.close(group.spec, dict(record))
        except Exception:
            log.exception('instance %s: removing it from the target group failed', record['name'])
        with self._lock:
            record.pop('traffic', None)
            self._set(record, status, message)
        then(record, *args)

    def _check(self, record, index, check, state):
        timeout = _seconds(check.timeout, 1.0)
        if check.HasField('http_options'):
            ok, detail = http_check(record['address'], check.http_options.port, check.http_options.path, timeout)
            what = 'HTTP %s:%d%s' % (record['address'], check.http_options.port, check.http_options.path or '/')
        else:
            ok, detail = tcp_check(record['address'], check.tcp_options.port, timeout)
            what = 'TCP %s:%d' % (record['address'], check.tcp_options.port)
        with self._lock:
            if ok:
                state['ok'], state['fail'] = state['ok'] + 1, 0
            else:
                state['ok'], state['fail'] = 0, state['fail'] + 1
            state['detail'] = '%s: %s' % (what, detail)
            state['running'] = False

    def _heal(self, group, record, reason):
        action = group.spec.auto_healing_policy.auto_healing_action
        if action == ig_pb2.AutoHealingPolicy.AUTO_HEALING_ACTION_UNSPECIFIED:
            # The default is RESTART (policies/healing-policy.md); with max_unavailable 0 and max_expansion > 0
            # a replacement is created instead (autohealing.md, "Recovery process and deployment policies").
            policy = group.spec.deploy_policy
            action = ig_pb2.AutoHealingPolicy.RECREATE if not policy.max_unavailable and policy.max_expansion \
                else ig_pb2.AutoHealingPolicy.RESTART
        if action == ig_pb2.AutoHealingPolicy.NONE:  # only reported; the checks go on and may pass again
            if record['status_message'] != reason:
                log.info('instance %s (%s): %s', record['name'], record['instance_id'], reason)
                self._set(record, record['status'], reason)
            return
        log.info('instance %s (%s): %s', record['name'], record['instance_id'], reason)
        self._health.pop(record['id'], None)
        if action == ig_pb2.AutoHealingPolicy.RESTART:
            if record.get('rolling') == 'restart':
                record.pop('rolling')  # the heal is the restart asked for
            self._set(record, S.STOPPING_INSTANCE, 'restarting: ' + reason)
            self._submit(record, self._restart)
            return
        self._delete(record, 'recreating: ' + reason)

    def _delete(self, record, reason):
        self._health.pop(record['id'], None)
        self._set(record, S.DELETING_INSTANCE, reason)
        self._submit(record, self._remove, reason)

    def _create(self, group):
        """A new instance record at the lowest free index (and the zone with the fewest instances)."""
        spec = group.spec
        siblings = [r for r in self._instances.values()
                    if r['group_id'] == spec.id and r['status'] != S.DELETING_INSTANCE]
        zones = [z.zone_id for z in spec.allocation_policy.zones] or ['%s-a' % REGION]
        zone = min(zones, key=lambda z: (sum(1 for r in siblings if r['zone_id'] == z), zones.index(z)))
        index = min(set(range(1, len(siblings) + 2)) - set(r['index'] for r in siblings))
        in_zone = [r['index_in_zone'] for r in siblings if r['zone_id'] == zone]
        index_in_zone = min(set(range(1, len(in_zone) + 2)) - set(in_zone))
        short_ids = set(r['short_id'] for r in self._instances.values() if r['group_id'] == spec.id)
        short_id = _new_id('', 4)
        while short_id in short_ids:
            short_id = _new_id('', 4)
        instance_id = _new_id(INSTANCE_PREFIX.get(zone, 'fhm'))
        template = spec.instance_template
        values = placeholder_values(spec.id, spec.labels, spec.variables, index, index_in_zone, zone, short_id,
                                    template.labels)
        try:
            name = render(template.name, values, 'instance_template.name') if template.name else \
                '%s-%s' % (spec.id, short_id)
            hostname = render(template.hostname, values, 'instance_template.hostname') if template.hostname else ''
        except TemplateError as exc:  # the API checked the templates; variables may still surprise
            log.warning('instance group %s: %s', spec.id, exc)
            group.retry_after = time.monotonic() + RETRY_MAX
            return
        fqdn = '%s.%s.internal' % (hostname, REGION) if hostname else '%s.auto.internal' % instance_id
        nic = template.network_interface_specs[0] if template.network_interface_specs else None
        subnet_id = ''
        for candidate in (nic.subnet_ids if nic else []):
            if group.env['subnets'].get(candidate, {}).get('zone_id') == zone:
                subnet_id = candidate
        record = {
            'id': _new_id(MANAGED_PREFIX), 'group_id': spec.id, 'index': index, 'index_in_zone': index_in_zone,
            'zone_id': zone, 'short_id': short_id, 'instance_id': instance_id, 'name': name,
            'hostname': hostname or instance_id, 'fqdn': fqdn, 'container': instance_id, 'subnet_id': subnet_id,
            'network': 'lc-%s' % subnet_id, 'address': '', 'nat_address': '', 'nat_ports': [],
            'hash': group.hash, 'parts': dict(group.parts), 'status': S.CREATING_INSTANCE, 'status_message': 'creating',
            'status_changed_at': time.time(), 'created_at': time.time(), 'ready_at': 0.0,
            'mac_address': 'd0:0d:' + ':'.join(re.findall('..', hashlib.sha256(instance_id.encode()).hexdigest()[:8])),
        }
        record['address'] = self._allocate_address(group, record, nic)
        record['security_group_ids'] = list(nic.security_group_ids) if nic else []  # the interface's, kept
        if nic is not None and nic.primary_v4_address_spec.HasField('one_to_one_nat_spec'):
            record['nat_ports'] = list(group.env['nat_ports'])
            record['nat_address'] = self._allocate_nat(record['nat_ports'])
        metadata = self._metadata(spec, record)
        self._instances[record['id']] = record
        self._save()
        self._submit(record, self._boot_new, group, metadata)

    @staticmethod
    def _metadata(spec, record):
        """The instance's metadata: the template's with the placeholders of this instance substituted."""
        values = placeholder_values(spec.id, spec.labels, spec.variables, record['index'], record['index_in_zone'],
                                    record['zone_id'], record['short_id'], spec.instance_template.labels)
        return dict((key, render(value, values, 'instance_template.metadata.' + key, strict=False))
                    for key, value in spec.instance_template.metadata.items())

    def _allocate_address(self, group, record, nic):
        subnet = group.env['subnets'].get(record['subnet_id'])
        if not subnet:
            return ''
        fixed = nic.primary_v4_address_spec.address if nic else ''
        if fixed:
            return fixed
        network = ipaddress.IPv4Network(subnet['cidr'])
        used = set(r['address'] for r in self._instances.values() if r['subnet_id'] == record['subnet_id'])
        for offset in range(FIRST_HOST, network.num_addresses - 1):
            address = str(network.network_address + offset)
            if address not in used:
                return address
        return ''

    def _allocate_nat(self, ports):
        used = set(r['nat_address'] for r in self._instances.values() if r.get('nat_address'))
        for last in range(2, 255):
            address = NAT_NETWORK + str(last)
            # Another localcloud (or anything) may hold the address's ports: skip it.
            if address not in used and all(_bindable(address, port) for port in ports):
                return address
        return ''

    # -- actions (worker threads, no lock held while docker runs) ---------------------------------------
    def _node(self, record, metadata=None, image=coinode.DEFAULT_IMAGE, files=()):
        labels = dict(self.labels)
        labels.update({GROUP_LABEL: record['group_id'], INSTANCE_LABEL: record['id']})
        publish = [(record['nat_address'], port, port) for port in record.get('nat_ports') or []
                   if record.get('nat_address')]
        return Node(record['container'], metadata or {}, record['network'], image=image, fqdn=record['fqdn'],
                    labels=labels, state_dir=self.nodes_dir, instance_id=record['instance_id'],
                    hostname=record['hostname'], ip_address=record['address'] or None, publish=publish,
                    files=files)

    def _ensure_network(self, record, group):
        subnet = group.env['subnets'].get(record['subnet_id'])
        if not subnet:
            raise NodeError('subnet %s of zone %s is unknown' % (record['subnet_id'] or '-', record['zone_id']))
        with self._network_lock:
            found = coinode.docker('network', 'inspect', '-f', '{{json .IPAM.Config}}', record['network'],
                                    check=False)
            if found.returncode == 0:
                return
            coinode.docker('network', 'create', '--driver', 'bridge', '--subnet', subnet['cidr'],
                            '--label', '%s=%s' % (LABEL, self.owner), '--label',
                            '%s=%s' % (SUBNET_LABEL, record['subnet_id']), record['network'])

    def _release_networks(self):
        """Remove our docker networks no instance uses any more (in the background)."""
        def run():
            with self._network_lock, self._lock:
                used = set(r['network'] for r in self._instances.values())
                listed = coinode.docker('network', 'ls', '-q', '--filter', 'label=%s=%s' % (LABEL, self.owner),
                                         '--format', '{{.Name}}', check=False).stdout.split()
                for name in listed:
                    if name not in used:
                        coinode.docker('network', 'rm', name, check=False)
        self._actions.submit(run)

    def _boot_new(self, record, group, metadata):
        refusal = self._admission(record, group)
        if refusal:
            with self._lock:
                self._refuse(record, metadata, refusal)
            return
        try:
            missing = [d for d in compose_disks(metadata.get('docker-compose'))
                       if d not in set(s.device_name for s in group.spec.instance_template.secondary_disk_specs)]
            if missing:
                raise NodeError('docker-compose x-yc-disks device %s: the template has no secondary disk with '
                                'that device_name' % missing[0])
            self._ensure_network(record, group)
            files = self.node_files(group.spec, dict(record)) if self.node_files else ()
            node = self._node(record, metadata, group.env['image'], files=files)
            node.start()
            with self._lock:
                self._set(record, S.STARTING_INSTANCE, 'booting')
            self._wait_booted(record, node)
            with self._lock:
                group.backoff = RETRY_MIN
        except Exception as exc:
            self._failed(record, group, exc)

    # -- IAM admission (the callback decides; the engine only waits and tries again) ----------------------
    def _admission(self, record, group):
        if not self.admit:
            return None
        try:
            return self.admit(group.spec, dict(record))
        except Exception as exc:  # a broken check must not look like a permission problem, nor kill the action
            log.exception('instance %s: the IAM check failed', record['name'])
            return 'IAM check failed: %s' % exc

    def _refuse(self, record, metadata, reason):
        """No VM without the roles: the instance stays CREATING_INSTANCE with the reason (as ListInstances shows it)
        and is admitted again every ADMIT_RETRY s, so granting the role later lets the group come up."""
        if record['id'] not in self._instances:
            return
        if record['status_message'] != reason:
            log.info('instance %s (%s): %s', record['name'], record['instance_id'], reason)
        self._refused[record['id']] = (time.monotonic() + ADMIT_RETRY, metadata)
        self._set(record, S.CREATING_INSTANCE, reason)

    def _admit_again(self):
        for record_id, (when, metadata) in list(self._refused.items()):
            record = self._instances.get(record_id)
            group = self._groups.get(record['group_id']) if record else None
            if record is None or group is None or group.deleting or record['status'] != S.CREATING_INSTANCE:
                del self._refused[record_id]
            elif record_id not in self._busy and time.monotonic() >= when:
                del self._refused[record_id]
                if record['hash'] != group.hash:
                    self._delete(record, 'instance template changed')
                else:
                    self._submit(record, self._boot_new, group, metadata)

    def _wait_booted(self, record, node):
        if self._firewall:  # a (re)started node has a new netns: its security group rules go in again
            self._firewall.forget(record['id'])
        node.wait_ready(BOOT_TIMEOUT, strict=False)
        with self._lock:
            record['ready_at'] = time.time()
            self._set(record, S.AWAITING_STARTUP_DURATION, node.boot_problem or '')

    # -- security groups (localcloud.firewall; the callback reads the API, never under self._lock) ---------
    def _sync_firewall(self):
        if not self._firewall:
            return
        try:
            with self._lock:
                instances = [self._firewall_instance(r) for r in self._instances.values()
                             if r['status'] != S.DELETING_INSTANCE]
            self._firewall.sync(instances)
        except Exception:
            log.exception('security groups: sync failed')

    def _firewall_instance(self, record):
        group = self._groups.get(record['group_id'])
        nics = group.spec.instance_template.network_interface_specs if group else []
        sgs = record.get('security_group_ids', list(nics[0].security_group_ids) if nics else [])
        subnet = group.env['subnets'].get(record['subnet_id'], {}) if group else {}
        return {'id': record['id'], 'container': record['container'], 'address': record['address'],
                'security_group_ids': list(sgs), 'subnet_cidr': subnet.get('cidr', ''),
                'enforce': record['status'] != S.CREATING_INSTANCE}

    def _failed(self, record, group, exc, backoff=True):
        """The instance is removed and the group makes a new one: after a backoff that doubles with each failure in a
        row (RETRY_MIN..RETRY_MAX; a localcloud guard against a boot that fails in a loop, the docs are silent), or at
        once when `backoff` is False (a VM lost after it ran)."""
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        log.warning('instance %s (%s) failed: %s', record['name'], record['instance_id'], exc)
        with self._lock:
            self._set(record, S.DELETING_INSTANCE, 'failed: ' + message)
            if group is not None and backoff:
                group.retry_after = time.monotonic() + group.backoff
                group.backoff = min(group.backoff * 2, RETRY_MAX)
        self._remove(record, None)

    def _remove(self, record, reason):
        if record.pop('traffic', None) and self.traffic:  # a failed node: out of the target group, no drain
            group = self._groups.get(record['group_id'])
            try:
                if group is not None:
                    self.traffic.close(group.spec, dict(record), drain=False)
            except Exception:
                log.exception('instance %s: removing it from the target group failed', record['name'])
        node = self._node(record)
        if reason is not None:
            # A deleted VM is shut down first, so its services stop as on any shutdown (the app VMs' drain): *inferred*
            # (en/compute/concepts/instance-groups/statuses.md lists STOPPING_INSTANCE, its lifecycle chart is not
            # text); a failed or vanished one (reason None) is simply removed.
            node.stop()
        node.remove(keep_disks=False)
        with self._lock:
            self._instances.pop(record['id'], None)
            self._health.pop(record['id'], None)
            self._save()
            if not any(r['network'] == record['network'] for r in self._instances.values()):
                self._release_networks()

    def _restart(self, record, group=None, metadata=None):
        """Restart the instance's node; with `metadata` (an update), it boots with that metadata. A node that
        cannot take it in place (coinode.Node.reconfigure) is re-created instead: a localcloud difference."""
        try:
            if metadata is not None:
                node = self._node(record, metadata, group.env['image'],
                                  files=self.node_files(group.spec, dict(record)) if self.node_files else ())
                if not node.reconfigure(metadata):
                    log.warning('instance %s: the update needs a new node here; re-creating it', record['name'])
                    with self._lock:
                        self._delete(record, 'instance template changed (re-created: the node cannot take it)')
                    return
            else:
                node = self._node(record)
            node.restart()
            with self._lock:
                self._set(record, S.STARTING_INSTANCE, 'updated' if metadata is not None else 'restarted')
            self._wait_booted(record, node)
        except Exception as exc:
            group = self._groups.get(record['group_id'])
            states = _node_states([record['container']])
            if states is not None and record['container'] not in states:
                # Deleted behind the group's back, seen stopped mid-removal by the operability check: lost, not a
                # failed boot (replaced at once)
                self._lost(record, group)
            else:
                self._failed(record, group, exc)

    def _readopt(self, record):
        """A record from before a restart: its node must exist; booting ones are waited for again."""
        states = _node_states([record['container']])
        group = self._groups.get(record['group_id'])
        if not states or record['container'] not in states:  # as before: no answer from docker counts as gone
            self._lost(record, group)
            return
        running = states[record['container']][0]
        node = self._node(record)
        try:
            if not running:
                node.start()
                with self._lock:
                    self._set(record, S.STARTING_INSTANCE, 'started again')
            if record['status'] in BOOTING or not running:
                self._wait_booted(record, node)
            elif record['status'] == S.STOPPING_INSTANCE:
                self._restart(record)
        except Exception as exc:
            self._failed(record, group, exc)


def _firewall_execute(container, text):
    coinode.docker('exec', '-i', container, 'sh', '-c', firewall.APPLY_SCRIPT, input=text, timeout=30)


def _node_states(containers):
    """{container: (running, start time)} of those that exist, in one docker inspect (a removed one is left out);
    None when docker itself did not answer."""
    found = coinode.docker('inspect', '-f', '{{.Name}} {{.State.Running}} {{.State.StartedAt}}', *containers,
                            check=False, timeout=30)
    if found.returncode != 0 and 'No such object' not in found.stderr:
        return None
    states = {}
    for line in found.stdout.splitlines():
        parts = line.split()
        if len(parts) == 3:
            states[parts[0].lstrip('/')] = (parts[1] == 'true', parts[2])
    return states


def _started_at(containers):
    """{container: start time} of the running ones."""
    return dict((name, started) for name, (running, started) in (_node_states(containers) or {}).items() if running)


__all__ = ['Engine', 'TemplateError', 'check_template', 'render', 'placeholder_values', 'template_hash',
           'http_check', 'tcp_check', 'NAT_DEFAULT_PORTS']
