"""loadbalancer.v1 NetworkLoadBalancerService: listeners, attached target groups with health checks, start/stop.

The rules are those of yandex-cloud/docs en/network-load-balancer/ and network_load_balancer_service.proto /
health_check.proto (their "The value must ..." comments):

- listeners (concepts/listener.md): a name unique on the balancer, a port 1-32767 ("Ports ranging from 1 to 32767
  can be used"), "Two listeners residing on the same load balancer cannot accept traffic on the same port", "All
  traffic listeners on a load balancer always use a single IP address", "IPv6 protocol is currently not
  supported"; the target port 1-65535 (ListenerSpec.target_port), the listener's port when not given (*inferred*:
  Terraform's `target_port` is Optional+Computed, and listener.md "This port may be the same");
- the type is set at creation only (_includes/network-load-balancer/type-update.md); external listeners take
  `external_address_spec`, internal ones `internal_address_spec` with an existing subnet
  (concepts/internal-load-balancer.md);
- an attached target group has exactly one health check (AttachedTargetGroup.health_checks "exactly 1";
  _includes/load-balancer-limits.md), TCP or HTTP; port 1-32767, timeout and interval 1-60 s
  (concepts/health-check.md), "The interval must be at least 1 second longer than the response timeout"
  (operations/load-balancer-create.md), thresholds 2-10 and the defaults interval 2 s, timeout 1 s, thresholds 2,
  HTTP path `/` (health_check.proto);
- a target group attached to several balancers may not be on the same port on two of them
  (concepts/target-resources.md#attached-target-group);
- deletion protection refuses Delete, not the removal of listeners or groups (operations/deletion-protection.md);
- status (concepts/health-check.md#nlb-status): ACTIVE or STOPPED (Start/Stop); shown INACTIVE when the balancer
  has no listener or its groups no target.

localcloud serves every listener on a loopback address of this machine (README "Network load balancer"): an address
must be in 127.0.0.0/8, 127.0.0.1 when none is given, and two listeners of any balancers may not share
address + port + protocol (YC never meets that: each balancer has its own address). The data plane
(localcloud/nlb.py) is told after every write and re-reads the store.
"""

import ipaddress
import re

import grpc
from google.protobuf import duration_pb2
from yandex.cloud.loadbalancer.v1 import (health_check_pb2, network_load_balancer_pb2 as nlb_pb2,
                                          network_load_balancer_service_pb2 as svc,
                                          network_load_balancer_service_pb2_grpc, target_group_pb2)
from yandex.cloud.vpc.v1 import subnet_pb2

from localcloud import nlb
from localcloud.server import ids, masks, registry, resources, validate
from localcloud.server.errors import ApiError, failed_precondition, invalid, not_found
from localcloud.server.services.loadbalancer_target_group import region
from localcloud.server.services.vpc_gateway import operations_of

NLB = nlb_pb2.NetworkLoadBalancer
Listener = nlb_pb2.Listener
AttachedTargetGroup = nlb_pb2.AttachedTargetGroup
HealthCheck = health_check_pb2.HealthCheck
TargetGroup = target_group_pb2.TargetGroup
KIND = 'Network load balancer'
# Balancer ids as en/network-load-balancer/operations/check-resource-health.md shows one (`b7r97ah2jn5rmo6k1dsk`).
ID_PREFIX = 'b7r'
NAME = re.compile(r'|[a-z][-a-z0-9]{1,61}[a-z0-9]')
REQUIRED_NAME = re.compile(r'[a-z][-a-z0-9]{1,61}[a-z0-9]')
LISTENER_PORTS = range(1, 32768)      # listener.md
TARGET_PORTS = range(1, 65536)        # ListenerSpec.target_port
CHECK_PORTS = range(1, 32768)         # health-check.md
CHECK_SECONDS = (1, 60)               # health-check.md: timeout and interval
THRESHOLDS = range(2, 11)             # health_check.proto
DEFAULT_INTERVAL, DEFAULT_TIMEOUT, DEFAULT_THRESHOLD = 2, 1, 2
MAX_ITEMS = 1000                      # listener_specs, attached_target_groups
LOOPBACK = ipaddress.IPv4Network('127.0.0.0/8')
DEFAULT_ADDRESS = '127.0.0.1'


def check_fields(request, paths):
    if 'name' in paths:
        validate.name('name', request.name, NAME)
    if 'description' in paths:
        validate.description('description', request.description)
    if 'labels' in paths:
        validate.labels('labels', request.labels)


# -- listeners ------------------------------------------------------------------------------------------------
def _address(field, spec_address):
    """A listener address on localcloud: in 127.0.0.0/8 (README: served on this machine's loopback)."""
    try:
        address = ipaddress.IPv4Address(spec_address)
    except ValueError:
        raise invalid(field, '%r is not an IPv4 address' % spec_address)
    if address not in LOOPBACK:
        raise invalid(field, '%s is not a loopback address: localcloud serves every listener on this machine, on an '
                      'address in 127.0.0.0/8 (leave the address out for 127.0.0.1)' % address)
    return str(address)


def listener_from_spec(cloud, balancer_type, spec, field, default_address):
    """ListenerSpec -> Listener (INVALID_ARGUMENT naming field.<part>); default_address: the balancer's address."""
    validate.name(field + '.name', spec.name, REQUIRED_NAME, required_=True)
    if spec.port not in LISTENER_PORTS:
        raise invalid(field + '.port', 'the value must be between 1 and 32767, got %d' % spec.port)
    if spec.protocol == Listener.PROTOCOL_UNSPECIFIED:
        raise invalid(field + '.protocol', 'this field is required (TCP or UDP)')
    target_port = spec.target_port or spec.port
    if target_port not in TARGET_PORTS:
        raise invalid(field + '.target_port', 'the value must be between 1 and 65535, got %d' % spec.target_port)
    kind = spec.WhichOneof('address')
    internal = balancer_type == NLB.INTERNAL
    if internal and kind != 'internal_address_spec':
        raise invalid(field + '.internal_address_spec', 'an internal load balancer\'s listener needs an '
                      'internal_address_spec with the subnet_id')
    if not internal and kind == 'internal_address_spec':
        raise invalid(field + '.internal_address_spec', 'an external load balancer\'s listener takes an '
                      'external_address_spec (the type is set at creation)')
    listener = Listener(name=spec.name, port=spec.port, protocol=spec.protocol, target_port=target_port,
                        ip_version=nlb_pb2.IPV4)
    if internal:
        part = field + '.internal_address_spec'
        address_spec = spec.internal_address_spec
        validate.required(part + '.subnet_id', address_spec.subnet_id)
        cloud.get(subnet_pb2.Subnet, address_spec.subnet_id, 'Subnet')
        listener.subnet_id = address_spec.subnet_id
    else:
        part = field + '.external_address_spec'
        address_spec = spec.external_address_spec
    if address_spec.ip_version == nlb_pb2.IPV6:
        raise invalid(part + '.ip_version', 'IPv6 is not supported (en/network-load-balancer/concepts/listener.md)')
    listener.address = (_address(part + '.address', address_spec.address) if address_spec.address
                        else default_address or DEFAULT_ADDRESS)
    return listener


def check_listeners(listeners, field):
    """One address per balancer, a name and a port once (listener.md)."""
    names, ports = {}, {}
    for i, listener in enumerate(listeners):
        item = '%s[%d]' % (field, i)
        if listener.name in names:
            raise invalid(item + '.name', 'listener name %s is also %s[%d]'
                          % (listener.name, field, names[listener.name]))
        names[listener.name] = i
        if listener.port in ports:
            raise invalid(item + '.port', 'port %d is also the port of %s[%d]: two listeners of a load balancer '
                          'cannot accept traffic on the same port' % (listener.port, field, ports[listener.port]))
        ports[listener.port] = i
        if listener.address != listeners[0].address:
            raise invalid(item, 'address %s differs from %s of %s[0]: all listeners of a load balancer use a single '
                          'IP address' % (listener.address, listeners[0].address, field))


def _spec_address(spec):
    internal = spec.HasField('internal_address_spec')
    return (spec.internal_address_spec if internal else spec.external_address_spec).address


def listeners_from_specs(cloud, balancer, specs, field):
    """Listeners for specs (replacing the balancer's). A spec without an address gets the one another spec gives,
    else the balancer's current one ("If you provide a static public IP address for the Update method, it will
    replace the existing listener address": ExternalAddressSpec.address), else 127.0.0.1."""
    if len(specs) > MAX_ITEMS:
        raise invalid(field, 'the number of elements must be less than or equal to %d' % MAX_ITEMS)
    given = [_spec_address(s) for s in specs if _spec_address(s)]
    default = given[0] if given else (balancer.listeners[0].address if balancer.listeners else DEFAULT_ADDRESS)
    if not _loopback(default):
        default = DEFAULT_ADDRESS  # the spec that gave it is refused, naming its field
    listeners = [listener_from_spec(cloud, balancer.type, spec, '%s[%d]' % (field, i), default)
                 for i, spec in enumerate(specs)]
    check_listeners(listeners, field)
    return listeners


def _loopback(address):
    try:
        return ipaddress.IPv4Address(address) in LOOPBACK
    except ValueError:
        return False


def check_listener_conflicts(cloud, balancer_id, listeners, old_listeners, field):
    """FAILED_PRECONDITION when another balancer has a listener on the same address, port and protocol, or this
    machine cannot listen there (a listener the balancer already has is not probed: its own data plane holds it).
    field: the request field of the listeners (a list: field[i]; one spec: field)."""
    plane = nlb.dataplane(cloud)
    held = set((lsn.address, lsn.port, lsn.protocol) for lsn in old_listeners)
    for i, listener in enumerate(listeners):
        where = field if field.endswith('_spec') else '%s[%d]' % (field, i)
        key = (listener.address, listener.port, listener.protocol)
        for other in cloud.store.list(NLB, where=lambda b: b.id != balancer_id):
            for theirs in other.listeners:
                if (theirs.address, theirs.port, theirs.protocol) == key:
                    raise failed_precondition(
                        '%s: %s:%d/%s is already the listener %s of network load balancer %s (%s): on localcloud '
                        'every listener is on this machine; give another port or a loopback address'
                        % (where, listener.address, listener.port, Listener.Protocol.Name(listener.protocol),
                           theirs.name, other.id, other.name))
        if key not in held and listener.protocol == Listener.TCP:
            problem = plane.port_problem(listener.address, listener.port, balancer_id)
            if problem:
                raise failed_precondition('%s: %s' % (where, problem))


# -- attached target groups -----------------------------------------------------------------------------------
def _seconds(field, duration, default):
    if duration.seconds == 0 and duration.nanos == 0:
        return duration_pb2.Duration(seconds=default)
    value = duration.seconds + duration.nanos / 1e9
    low, high = CHECK_SECONDS
    if not low <= value <= high:
        raise invalid(field, 'the value must be between %d and %d seconds, got %gs' % (low, high, value))
    return duration


def health_check(check, field):
    """A HealthCheck with YC's defaults filled in; INVALID_ARGUMENT naming field.<part>."""
    validate.name(field + '.name', check.name, REQUIRED_NAME, required_=True)
    result = HealthCheck()
    result.CopyFrom(check)
    result.interval.CopyFrom(_seconds(field + '.interval', check.interval, DEFAULT_INTERVAL))
    result.timeout.CopyFrom(_seconds(field + '.timeout', check.timeout, DEFAULT_TIMEOUT))
    interval = result.interval.seconds + result.interval.nanos / 1e9
    timeout = result.timeout.seconds + result.timeout.nanos / 1e9
    if interval < timeout + 1:
        raise invalid(field + '.interval', 'the interval (%gs) must be at least 1 second longer than the timeout '
                      '(%gs)' % (interval, timeout))
    for name in ('unhealthy_threshold', 'healthy_threshold'):
        value = getattr(check, name) or DEFAULT_THRESHOLD
        if value not in THRESHOLDS:
            raise invalid('%s.%s' % (field, name), 'the value must be between 2 and 10, got %d' % value)
        setattr(result, name, value)
    kind = check.WhichOneof('options')
    if kind is None:
        raise invalid(field, 'tcp_options or http_options is required')
    options = getattr(result, kind)
    if options.port not in CHECK_PORTS:
        raise invalid('%s.%s.port' % (field, kind), 'the value must be between 1 and 32767, got %d' % options.port)
    if kind == 'http_options':
        if not options.path:
            options.path = '/'
        elif not options.path.startswith('/'):
            raise invalid(field + '.http_options.path', 'the path must start with / (got %r)' % options.path)
    return result


def attached_group(cloud, attached, field):
    validate.required(field + '.target_group_id', attached.target_group_id)
    if len(attached.target_group_id) > 50:
        raise invalid(field + '.target_group_id', 'the length must be less than or equal to 50')
    cloud.get(TargetGroup, attached.target_group_id, 'Target group')
    if len(attached.health_checks) != 1:
        raise invalid(field + '.health_checks', 'exactly one health check is required, got %d'
                      % len(attached.health_checks))
    return AttachedTargetGroup(target_group_id=attached.target_group_id,
                               health_checks=[health_check(attached.health_checks[0], field + '.health_checks[0]')])


def attached_groups(cloud, groups, field):
    if len(groups) > MAX_ITEMS:
        raise invalid(field, 'the number of elements must be less than or equal to %d' % MAX_ITEMS)
    result, seen = [], {}
    for i, attached in enumerate(groups):
        item = '%s[%d]' % (field, i)
        if attached.target_group_id in seen:
            raise invalid(item + '.target_group_id', 'target group %s is also %s[%d]'
                          % (attached.target_group_id, field, seen[attached.target_group_id]))
        seen[attached.target_group_id] = i
        result.append(attached_group(cloud, attached, item))
    return result


def check_group_ports(cloud, balancer_id, listeners, groups):
    """target-resources.md: "you can't attach a target group to ports with the same number on different load
    balancers". FAILED_PRECONDITION naming the other balancer."""
    ports = set(lsn.port for lsn in listeners)
    wanted = set(g.target_group_id for g in groups)
    for other in cloud.store.list(NLB, where=lambda b: b.id != balancer_id):
        shared = wanted & set(a.target_group_id for a in other.attached_target_groups)
        same = ports & set(lsn.port for lsn in other.listeners)
        if shared and same:
            raise failed_precondition(
                'target group %s is attached to network load balancer %s (%s) on port %s: a target group cannot be '
                'attached to the same port on two load balancers' % (sorted(shared)[0], other.id, other.name,
                                                                     sorted(same)[0]))


@registry.references(TargetGroup)
def _balancers_using(cloud, target_group_id):
    def attaches(balancer):
        return any(a.target_group_id == target_group_id for a in balancer.attached_target_groups)
    found = cloud.store.list(NLB, where=attaches)
    return ['network load balancer %s' % b.id for b in found]


@registry.references(subnet_pb2.Subnet)
def _internal_listeners_in(cloud, subnet_id):
    """en/vpc/operations/subnet-delete.md: "Before deleting a subnet, disable all resources connected to it"; an
    internal listener's address is in its subnet (concepts/internal-load-balancer.md)."""
    found = cloud.store.list(NLB, where=lambda b: any(lsn.subnet_id == subnet_id for lsn in b.listeners))
    return ['network load balancer %s' % b.id for b in found]


@registry.register
class NetworkLoadBalancerService(network_load_balancer_service_pb2_grpc.NetworkLoadBalancerServiceServicer):
    def __init__(self, cloud):
        self.cloud = cloud
        self.store = cloud.store

    # -- reads --------------------------------------------------------------------------------------------
    def _shown(self, balancer):
        """The balancer as Get answers it: ACTIVE becomes INACTIVE without a listener or without a target in its
        groups (health-check.md#nlb-status). The store keeps ACTIVE: the data plane serves ACTIVE balancers."""
        if balancer.status == NLB.ACTIVE:
            groups = [self.store.get(TargetGroup, a.target_group_id) for a in balancer.attached_target_groups]
            if not balancer.listeners or not any(g is not None and g.targets for g in groups):
                balancer.status = NLB.INACTIVE
        return balancer

    def _get(self, balancer_id):
        validate.required('network_load_balancer_id', balancer_id)
        return self.cloud.get(NLB, balancer_id, KIND)

    def Get(self, request, context):
        return self._shown(self._get(request.network_load_balancer_id))

    def List(self, request, context):
        response = resources.list_page(self.cloud, NLB, request, svc.ListNetworkLoadBalancersResponse,
                                       'network_load_balancers')
        for balancer in response.network_load_balancers:
            self._shown(balancer)
        return response

    def GetTargetStates(self, request, context):
        balancer = self._get(request.network_load_balancer_id)
        validate.required('target_group_id', request.target_group_id)
        self.cloud.get(TargetGroup, request.target_group_id, 'Target group')
        self._attached(balancer, request.target_group_id)
        states = nlb.dataplane(self.cloud).target_states(balancer.id, request.target_group_id)
        return svc.GetTargetStatesResponse(target_states=[
            nlb_pb2.TargetState(subnet_id=subnet_id, address=address, status=nlb_pb2.TargetState.Status.Value(status))
            for subnet_id, address, status in states])

    @staticmethod
    def _attached(balancer, target_group_id, field='target_group_id'):
        # The docs do not say how YC answers for a group the balancer does not have: INVALID_ARGUMENT here.
        if not any(a.target_group_id == target_group_id for a in balancer.attached_target_groups):
            raise invalid(field, 'target group %s is not attached to network load balancer %s'
                          % (target_group_id, balancer.id))

    def ListOperations(self, request, context):
        balancer = self._get(request.network_load_balancer_id)
        return operations_of(self.cloud, tuple(getattr(svc, name) for name in (
            'CreateNetworkLoadBalancerMetadata', 'UpdateNetworkLoadBalancerMetadata',
            'DeleteNetworkLoadBalancerMetadata', 'StartNetworkLoadBalancerMetadata',
            'StopNetworkLoadBalancerMetadata', 'AttachNetworkLoadBalancerTargetGroupMetadata',
            'DetachNetworkLoadBalancerTargetGroupMetadata', 'AddNetworkLoadBalancerListenerMetadata',
            'RemoveNetworkLoadBalancerListenerMetadata')), 'network_load_balancer_id', balancer.id, request,
            svc.ListNetworkLoadBalancerOperationsResponse)

    # -- writes -------------------------------------------------------------------------------------------
    def _write(self, metadata, description, balancer_id, change, response=True):
        """Start an operation that re-reads the balancer, applies change(current) (which re-checks what may have
        changed meanwhile), stores it and tells the data plane."""
        def work():
            current = self.cloud.get(NLB, balancer_id, KIND)
            change(current)
            self.store.put(current)
            nlb.dataplane(self.cloud).changed()
            return self._shown(current) if response else None
        return self.cloud.operations.start(metadata, work, description)

    def _check(self, balancer, listeners, groups, old_listeners, listener_field):
        check_listener_conflicts(self.cloud, balancer.id, listeners, old_listeners, listener_field)
        check_group_ports(self.cloud, balancer.id, listeners, groups)

    def Create(self, request, context):
        self.cloud.require_folder(request.folder_id)
        check_fields(request, ('name', 'description', 'labels'))
        region_id = region('region_id', request.region_id)
        if request.type == NLB.TYPE_UNSPECIFIED:
            raise invalid('type', 'this field is required (EXTERNAL or INTERNAL)')
        balancer = NLB(id=ids.new(ID_PREFIX), folder_id=request.folder_id, created_at=resources.now(),
                       name=request.name, description=request.description, labels=request.labels,
                       region_id=region_id, type=request.type, status=NLB.ACTIVE,
                       deletion_protection=request.deletion_protection, allow_zonal_shift=request.allow_zonal_shift)
        balancer.listeners.extend(listeners_from_specs(self.cloud, balancer, request.listener_specs, 'listener_specs'))
        balancer.attached_target_groups.extend(attached_groups(self.cloud, request.attached_target_groups,
                                                               'attached_target_groups'))
        resources.ensure_unique_name(self.cloud, NLB, request.folder_id, request.name, KIND)
        self._check(balancer, balancer.listeners, balancer.attached_target_groups, (), 'listener_specs')

        def work():
            resources.ensure_unique_name(self.cloud, NLB, balancer.folder_id, balancer.name, KIND)
            self._check(balancer, balancer.listeners, balancer.attached_target_groups, (), 'listener_specs')
            for attached in balancer.attached_target_groups:  # a group deleted meanwhile
                self.cloud.get(TargetGroup, attached.target_group_id, 'Target group')
            self.store.put(balancer)
            nlb.dataplane(self.cloud).changed()
            return self._shown(NLB.FromString(balancer.SerializeToString()))
        return self.cloud.operations.start(svc.CreateNetworkLoadBalancerMetadata(network_load_balancer_id=balancer.id),
                                           work, 'Create network load balancer')

    def Update(self, request, context):
        balancer = self._get(request.network_load_balancer_id)
        paths = masks.update_paths(request, 'network_load_balancer_id')
        check_fields(request, paths)
        top = set(p.split('.')[0] for p in paths)
        for nested in ('listener_specs', 'attached_target_groups'):
            if nested in top and nested not in paths:
                raise invalid('update_mask', '%s is replaced whole: name it, not its fields' % nested)

        def prepare(current):
            listeners = (listeners_from_specs(self.cloud, current, request.listener_specs, 'listener_specs')
                         if 'listener_specs' in top else list(current.listeners))
            groups = (attached_groups(self.cloud, request.attached_target_groups, 'attached_target_groups')
                      if 'attached_target_groups' in top else list(current.attached_target_groups))
            self._check(current, listeners, groups, current.listeners, 'listener_specs')
            if 'name' in paths:
                resources.ensure_unique_name(self.cloud, NLB, current.folder_id, request.name, KIND, current.id)
            return listeners, groups

        prepare(balancer)

        def change(current):
            listeners, groups = prepare(current)
            masks.apply(request, current, paths, skip=('listener_specs', 'attached_target_groups'))
            _replace(current, 'listeners', listeners)
            _replace(current, 'attached_target_groups', groups)
        return self._write(svc.UpdateNetworkLoadBalancerMetadata(network_load_balancer_id=balancer.id),
                           'Update network load balancer', balancer.id, change)

    def Delete(self, request, context):
        balancer = self._get(request.network_load_balancer_id)
        _unprotected(balancer)

        def work():
            current = self.cloud.get(NLB, balancer.id, KIND)
            _unprotected(current)
            self.store.delete(NLB, current.id)
            nlb.dataplane(self.cloud).changed()
        return self.cloud.operations.start(svc.DeleteNetworkLoadBalancerMetadata(network_load_balancer_id=balancer.id),
                                           work, 'Delete network load balancer')

    def Start(self, request, context):
        balancer = self._get(request.network_load_balancer_id)

        def change(current):
            current.status = NLB.ACTIVE
        return self._write(svc.StartNetworkLoadBalancerMetadata(network_load_balancer_id=balancer.id),
                           'Start network load balancer', balancer.id, change, response=False)

    def Stop(self, request, context):
        balancer = self._get(request.network_load_balancer_id)

        def change(current):
            current.status = NLB.STOPPED
        return self._write(svc.StopNetworkLoadBalancerMetadata(network_load_balancer_id=balancer.id),
                           'Stop network load balancer', balancer.id, change, response=False)

    def AttachTargetGroup(self, request, context):
        balancer = self._get(request.network_load_balancer_id)
        if not request.HasField('attached_target_group'):
            raise invalid('attached_target_group', 'this field is required')

        def prepare(current):
            attached = attached_group(self.cloud, request.attached_target_group, 'attached_target_group')
            if any(a.target_group_id == attached.target_group_id for a in current.attached_target_groups):
                raise ApiError(grpc.StatusCode.ALREADY_EXISTS, 'Target group %s is already attached to network load '
                               'balancer %s' % (attached.target_group_id, current.id))
            check_group_ports(self.cloud, current.id, current.listeners, [attached])
            return attached
        prepare(balancer)
        metadata = svc.AttachNetworkLoadBalancerTargetGroupMetadata(
            network_load_balancer_id=balancer.id, target_group_id=request.attached_target_group.target_group_id)
        return self._write(metadata, 'Attach target group to network load balancer', balancer.id,
                           lambda current: current.attached_target_groups.append(prepare(current)))

    def DetachTargetGroup(self, request, context):
        balancer = self._get(request.network_load_balancer_id)
        validate.required('target_group_id', request.target_group_id)
        self._attached(balancer, request.target_group_id)

        def change(current):
            self._attached(current, request.target_group_id)
            _replace(current, 'attached_target_groups', [a for a in current.attached_target_groups
                                                         if a.target_group_id != request.target_group_id])
        metadata = svc.DetachNetworkLoadBalancerTargetGroupMetadata(network_load_balancer_id=balancer.id,
                                                                    target_group_id=request.target_group_id)
        return self._write(metadata, 'Detach target group from network load balancer', balancer.id, change)

    def AddListener(self, request, context):
        balancer = self._get(request.network_load_balancer_id)
        if not request.HasField('listener_spec'):
            raise invalid('listener_spec', 'this field is required')

        def prepare(current):
            default = current.listeners[0].address if current.listeners else None
            listener = listener_from_spec(self.cloud, current.type, request.listener_spec, 'listener_spec', default)
            for other in current.listeners:
                if other.name == listener.name:
                    raise invalid('listener_spec.name', 'the load balancer already has a listener %s' % other.name)
                if other.port == listener.port:
                    raise invalid('listener_spec.port', 'port %d is the port of listener %s: two listeners of a load '
                                  'balancer cannot accept traffic on the same port' % (other.port, other.name))
                if other.address != listener.address:
                    raise invalid('listener_spec', 'address %s differs from %s of listener %s: all listeners of a '
                                  'load balancer use a single IP address' % (listener.address, other.address,
                                                                             other.name))
            check_listener_conflicts(self.cloud, current.id, [listener], current.listeners, 'listener_spec')
            check_group_ports(self.cloud, current.id, list(current.listeners) + [listener],
                              current.attached_target_groups)
            return listener
        prepare(balancer)
        return self._write(svc.AddNetworkLoadBalancerListenerMetadata(network_load_balancer_id=balancer.id),
                           'Add listener to network load balancer', balancer.id,
                           lambda current: current.listeners.append(prepare(current)))

    def RemoveListener(self, request, context):
        balancer = self._get(request.network_load_balancer_id)
        validate.name('listener_name', request.listener_name, REQUIRED_NAME, required_=True)

        def find(current):
            if not any(lsn.name == request.listener_name for lsn in current.listeners):
                raise not_found('Listener', '%s of network load balancer %s' % (request.listener_name, current.id))
        find(balancer)

        def change(current):
            find(current)
            _replace(current, 'listeners', [lsn for lsn in current.listeners if lsn.name != request.listener_name])
        return self._write(svc.RemoveNetworkLoadBalancerListenerMetadata(network_load_balancer_id=balancer.id),
                           'Remove listener from network load balancer', balancer.id, change)


def _replace(message, field, items):
    items = list(items)
    message.ClearField(field)
    getattr(message, field).extend(items)


def _unprotected(balancer):
    if balancer.deletion_protection:
        raise failed_precondition('Network load balancer %s is protected from deletion: set deletion_protection to '
                                  'false first (en/network-load-balancer/operations/deletion-protection.md)'
                                  % balancer.id)
