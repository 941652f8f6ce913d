"""compute.v1.instancegroup InstanceGroupService: groups whose instances really run (localcloud.instancegroups).

The group message lives in the store; the engine (one per server, started with the first servicer) gets the
group plus what it needs resolved from the API's state (subnet zones and CIDRs, the ports the security groups
let in, the docker image of the boot disk) and keeps the COI nodes. Status, managed_instances_state and the
instances are the engine's, read at call time.

Create/Update answer when the group is accepted (the instances come up in the background, as their statuses
show); Delete's operation ends when the instances and their networks are gone.
"""

import ipaddress
import json
import logging
import re
import time

import grpc

from yandex.cloud.compute.v1.instancegroup import (instance_group_pb2, instance_group_service_pb2 as svc,
                                                   instance_group_service_pb2_grpc)
from yandex.cloud.iam.v1 import service_account_pb2
from yandex.cloud.loadbalancer.v1 import network_load_balancer_pb2, target_group_pb2
from yandex.cloud.vpc.v1 import network_pb2, security_group_pb2, subnet_pb2

from localcloud import instancegroups, nlb
from localcloud.server import iam_roles, ids, masks, registry, resources, rpc, validate
from localcloud.server.errors import ApiError, failed_precondition, invalid, permission_denied
from localcloud.server.services import compute_image, containerregistry

log = logging.getLogger('localcloud.instancegroups')

InstanceGroup = instance_group_pb2.InstanceGroup
KIND = 'Instance group'
GROUP_PREFIX = 'cl1'
NAME = validate.LOWER_NAME
DISK_TYPES = ('network-hdd', 'network-ssd', 'network-ssd-nonreplicated', 'network-ssd-io-m3')
CORE_FRACTIONS = (0, 5, 20, 50, 100)
THRESHOLDS = (0,) + tuple(range(2, 11))
DEVICE_NAME = re.compile(r'[a-z][-_0-9a-z]{0,19}')
VARIABLE_KEY = re.compile(r'[a-zA-Z0-9._-]{1,128}')
METADATA_KEY = validate.LABEL_KEY
MAX_NAT_RANGE = 64
DELETE_WAIT = 60
ROLLING_WAIT = 1800  # a rolling operation fails after this (seconds); the docs give no bound
# Fields of CreateInstanceGroupRequest copied into the group as they are.
CREATE_FIELDS = ('folder_id', 'name', 'description', 'labels', 'instance_template', 'scale_policy', 'deploy_policy',
                 'allocation_policy', 'load_balancer_spec', 'health_checks_spec', 'service_account_id', 'variables',
                 'deletion_protection', 'application_load_balancer_spec', 'auto_healing_policy')


def _seconds(duration):
    return duration.seconds + duration.nanos / 1e9


# -- validation (INVALID_ARGUMENT naming the request field) -------------------------------------------------

def check_group(cloud, group, paths):
    """Check the parts of `group` that `paths` (top-level fields) touch, against each other and the API state."""
    touched = set(p.split('.')[0] for p in paths)
    if 'name' in touched:
        validate.name('name', group.name, NAME)
    if 'description' in touched:
        validate.description('description', group.description)
    if 'labels' in touched:
        validate.labels('labels', group.labels, validate.SG_LABEL_KEY, validate.SG_LABEL_VALUE)
    if 'variables' in touched:
        seen = set()
        for i, variable in enumerate(group.variables):
            if not VARIABLE_KEY.fullmatch(variable.key):
                raise invalid('variables[%d].key' % i, 'must be 1-128 characters of [a-zA-Z0-9._-]')
            if variable.key in seen:
                raise invalid('variables[%d].key' % i, 'duplicate variable %s' % variable.key)
            if len(variable.value) > 128:
                raise invalid('variables[%d].value' % i, 'the length must be less than or equal to 128')
            seen.add(variable.key)
    if 'load_balancer_spec' in touched and group.HasField('load_balancer_spec'):
        check_load_balancer_spec(group)
    if 'service_account_id' in touched:
        validate.required('service_account_id', group.service_account_id)
        cloud.get(service_account_pb2.ServiceAccount, group.service_account_id, 'Service account')
    if 'scale_policy' in touched:
        check_scale(group.scale_policy)
    if 'deploy_policy' in touched:
        check_deploy(group.deploy_policy)
    if 'allocation_policy' in touched:
        zones = [z.zone_id for z in group.allocation_policy.zones]
        if not zones:
            raise invalid('allocation_policy.zones', 'at least one zone is required')
        for i, zone in enumerate(zones):
            validate.zone('allocation_policy.zones[%d].zone_id' % i, zone)
            if zone in zones[:i]:
                raise invalid('allocation_policy.zones[%d].zone_id' % i, 'zone %s is listed twice' % zone)
    if 'health_checks_spec' in touched:
        check_health(group.health_checks_spec)
    if touched & {'instance_template', 'allocation_policy', 'variables', 'scale_policy', 'name', 'labels'}:
        check_template(cloud, group)


def check_scale(policy):
    which = policy.WhichOneof('scale_type')
    if which is None:
        raise invalid('scale_policy', 'one of fixed_scale, auto_scale is required')
    if which == 'fixed_scale' and not 0 <= policy.fixed_scale.size <= 100:
        raise invalid('scale_policy.fixed_scale.size', 'the value must be between 0 and 100')
    if which == 'auto_scale':
        auto = policy.auto_scale
        if not 1 <= auto.max_size <= 100:
            raise invalid('scale_policy.auto_scale.max_size', 'the value must be between 1 and 100')
        if auto.initial_size > auto.max_size:
            raise invalid('scale_policy.auto_scale.initial_size', 'must not exceed max_size %d' % auto.max_size)


def check_deploy(policy):
    for field in ('max_unavailable', 'max_expansion', 'max_creating', 'max_deleting'):
        if not 0 <= getattr(policy, field) <= 100:
            raise invalid('deploy_policy.' + field, 'the value must be between 0 and 100')
    if not policy.max_unavailable and not policy.max_expansion:
        raise invalid('deploy_policy.max_unavailable', 'max_unavailable and max_expansion cannot both be 0')
    if not 0 <= _seconds(policy.startup_duration) <= 3600:
        raise invalid('deploy_policy.startup_duration', 'the value must be between 0s and 1h')


def check_health(spec):
    for i, check in enumerate(spec.health_check_specs):
        where = 'health_checks_spec.health_check_specs[%d]' % i
        interval, timeout = _seconds(check.interval) or 2, _seconds(check.timeout) or 1
        if not 1 <= interval <= 300:
            raise invalid(where + '.interval', 'the value must be between 1s and 300s')
        if not 1 <= timeout <= 60:
            raise invalid(where + '.timeout', 'the value must be between 1s and 60s')
        if timeout > interval:
            raise invalid(where + '.timeout', 'must not exceed the interval (%gs)' % interval)
        for field in ('healthy_threshold', 'unhealthy_threshold'):
            if getattr(check, field) not in THRESHOLDS:
                raise invalid('%s.%s' % (where, field), 'the value must be one of 0, 2, 3, ..., 10')
        which = check.WhichOneof('health_check_options')
        if which is None:
            raise invalid(where, 'one of tcp_options, http_options is required')
        port = getattr(check, which).port
        if not 1 <= port <= 65535:
            raise invalid('%s.%s.port' % (where, which), 'the value must be between 1 and 65535')
    if spec.HasField('max_checking_health_duration') and _seconds(spec.max_checking_health_duration) < 1:
        raise invalid('health_checks_spec.max_checking_health_duration', 'the value must be >= 1s')


def check_load_balancer_spec(group):
    """instance_group.proto LoadBalancerSpec / TargetGroupSpec options; en/compute/concepts/instance-groups/
    balancers.md#settings ("max_opening_traffic_duration: 0 and 1+ sec"; one of NLB or ALB integration)."""
    spec, where = group.load_balancer_spec, 'load_balancer_spec'
    if not spec.HasField('target_group_spec'):
        raise invalid(where + '.target_group_spec', 'this field is required')
    validate.name(where + '.target_group_spec.name', spec.target_group_spec.name, NAME)
    validate.description(where + '.target_group_spec.description', spec.target_group_spec.description)
    validate.labels(where + '.target_group_spec.labels', spec.target_group_spec.labels, validate.SG_LABEL_KEY,
                    validate.SG_LABEL_VALUE)
    duration = _seconds(spec.max_opening_traffic_duration)
    if duration and duration < 1:
        raise invalid(where + '.max_opening_traffic_duration', 'the value must be 0 or >= 1s')
    if group.HasField('application_load_balancer_spec'):
        raise invalid(where, 'an instance group integrates with one of Network Load Balancer and Application Load '
                      'Balancer, not both')


def check_template(cloud, group):
    template = group.instance_template
    where = 'instance_template'
    if not group.HasField('instance_template'):
        raise invalid(where, 'this field is required')
    validate.description(where + '.description', template.description)
    validate.labels(where + '.labels', template.labels, validate.SG_LABEL_KEY, validate.SG_LABEL_VALUE)
    validate.required(where + '.platform_id', template.platform_id)
    resources_spec = template.resources_spec
    if resources_spec.cores < 1:
        raise invalid(where + '.resources_spec.cores', 'the value must be 1 or more')
    if resources_spec.memory <= 0:
        raise invalid(where + '.resources_spec.memory', 'the value must be more than 0')
    if resources_spec.core_fraction not in CORE_FRACTIONS:
        raise invalid(where + '.resources_spec.core_fraction', 'the value must be one of 5, 20, 50, 100')
    boot = template.boot_disk_spec.disk_spec
    if not template.HasField('boot_disk_spec'):
        raise invalid(where + '.boot_disk_spec', 'this field is required')
    validate.required(where + '.boot_disk_spec.disk_spec.image_id', boot.image_id)
    image = cloud.get(compute_image.Image, boot.image_id, 'Image')
    if boot.size and boot.size < image.min_disk_size:
        raise invalid(where + '.boot_disk_spec.disk_spec.size', 'image %s needs at least %d GB' %
                      (image.id, image.min_disk_size >> 30))
    check_disk_type(where + '.boot_disk_spec.disk_spec.type_id', boot.type_id)
    devices = set()
    for i, disk in enumerate(template.secondary_disk_specs):
        field = '%s.secondary_disk_specs[%d]' % (where, i)
        if not DEVICE_NAME.fullmatch(disk.device_name):
            raise invalid(field + '.device_name', 'must match `%s`' % DEVICE_NAME.pattern)
        if disk.device_name in devices:
            raise invalid(field + '.device_name', 'device %s is listed twice' % disk.device_name)
        devices.add(disk.device_name)
        if disk.disk_spec.size <= 0 and not disk.disk_id:
            raise invalid(field + '.disk_spec.size', 'the value must be more than 0')
        check_disk_type(field + '.disk_spec.type_id', disk.disk_spec.type_id)
    check_network(cloud, group)
    if len(template.metadata) > 128:
        raise invalid(where + '.metadata', 'the number of elements must be less than or equal to 128')
    for key, value in template.metadata.items():
        if not 1 <= len(key) <= 63 or not METADATA_KEY.fullmatch(key):
            raise invalid(where + '.metadata', 'key %r must match `%s`' % (key, METADATA_KEY.pattern))
        if len(value) > 262144:
            raise invalid(where + '.metadata.' + key, 'the length must be less than or equal to 262144')
    if 'docker-compose' in template.metadata and 'docker-container-declaration' in template.metadata:
        raise invalid(where + '.metadata', 'docker-compose and docker-container-declaration cannot both be set')
    if template.service_account_id:
        cloud.get(service_account_pb2.ServiceAccount, template.service_account_id, 'Service account')
    try:
        instancegroups.check_template(group)
    except instancegroups.TemplateError as exc:
        raise invalid(exc.field, exc.message)


def check_disk_type(field, type_id):
    if type_id and type_id not in DISK_TYPES:
        raise invalid(field, 'unknown disk type %s (%s)' % (type_id, ', '.join(DISK_TYPES)))


def check_network(cloud, group):
    template = group.instance_template
    nics = template.network_interface_specs
    where = 'instance_template.network_interface_specs'
    if len(nics) != 1:
        raise invalid(where, 'localcloud serves exactly one network interface per instance, got %d' % len(nics))
    nic = nics[0]
    where += '[0]'
    validate.required(where + '.network_id', nic.network_id)
    cloud.get(network_pb2.Network, nic.network_id, 'Network')
    zones = [z.zone_id for z in group.allocation_policy.zones]
    by_zone = {}
    for i, subnet_id in enumerate(nic.subnet_ids):
        subnet = cloud.get(subnet_pb2.Subnet, subnet_id, 'Subnet')
        if subnet.network_id != nic.network_id:
            raise invalid('%s.subnet_ids[%d]' % (where, i), 'subnet %s is not in network %s'
                          % (subnet_id, nic.network_id))
        if zones and subnet.zone_id not in zones:
            raise invalid('%s.subnet_ids[%d]' % (where, i), 'subnet %s is in zone %s, not in '
                          'allocation_policy.zones (%s)' % (subnet_id, subnet.zone_id, ', '.join(zones)))
        if subnet.zone_id in by_zone:
            raise invalid('%s.subnet_ids[%d]' % (where, i), 'two subnets in zone %s' % subnet.zone_id)
        by_zone[subnet.zone_id] = subnet
    for zone in zones:
        if zone not in by_zone:
            raise invalid(where + '.subnet_ids', 'no subnet in zone %s of allocation_policy.zones' % zone)
    fixed = nic.primary_v4_address_spec.address
    if fixed:
        size = group.scale_policy.fixed_scale.size if group.scale_policy.HasField('fixed_scale') else 2
        if size > 1:
            raise invalid(where + '.primary_v4_address_spec.address', 'a fixed address needs a group of 1')
        try:
            address = ipaddress.IPv4Address(fixed)
        except ValueError:
            raise invalid(where + '.primary_v4_address_spec.address', '%r is not an IPv4 address' % fixed)
        if not any(address in ipaddress.IPv4Network(block) for s in by_zone.values() for block in s.v4_cidr_blocks):
            raise invalid(where + '.primary_v4_address_spec.address', '%s is not in the subnets' % fixed)
    for i, sg_id in enumerate(nic.security_group_ids):
        sg = cloud.get(security_group_pb2.SecurityGroup, sg_id, 'Security group')
        if sg.network_id != nic.network_id:
            raise invalid('%s.security_group_ids[%d]' % (where, i), 'security group %s is not in network %s'
                          % (sg_id, nic.network_id))


# -- what the engine needs resolved --------------------------------------------------------------------------

def nat_ports(cloud, security_group_ids):
    """TCP ports the security groups let in (ingress TCP/ANY with ports); 80 and 443 without groups or ports."""
    if not security_group_ids:
        return list(instancegroups.NAT_DEFAULT_PORTS)
    ports = set()
    Rule = security_group_pb2.SecurityGroupRule
    for sg_id in security_group_ids:
        sg = cloud.store.get(security_group_pb2.SecurityGroup, sg_id)
        for rule in sg.rules if sg else ():
            if rule.direction != Rule.INGRESS or rule.protocol_name not in ('TCP', 'ANY'):
                continue
            if not rule.HasField('ports') or rule.ports.to_port - rule.ports.from_port >= MAX_NAT_RANGE:
                ports.update(instancegroups.NAT_DEFAULT_PORTS)  # "all ports": the web ones
            else:
                ports.update(range(max(1, rule.ports.from_port), rule.ports.to_port + 1))
    return sorted(ports)


def environment(cloud, group):
    template = group.instance_template
    image = compute_image.docker_image(cloud, template.boot_disk_spec.disk_spec.image_id) or \
        compute_image.DEFAULT_COI_IMAGE
    subnets = {}
    nic = template.network_interface_specs[0] if template.network_interface_specs else None
    for subnet_id in (nic.subnet_ids if nic else []):
        subnet = cloud.store.get(subnet_pb2.Subnet, subnet_id)
        if subnet is not None and subnet.v4_cidr_blocks:
            subnets[subnet_id] = {'zone_id': subnet.zone_id, 'cidr': subnet.v4_cidr_blocks[0]}
    return {'image': image, 'subnets': subnets,
            'nat_ports': nat_ports(cloud, list(nic.security_group_ids)) if nic else []}


def node_files(cloud, spec, record=None):
    """What a new instance finds on its disk besides its metadata: the registry login of the template's service
    account (a COI VM gets that token from the metadata service), bound to the instance (`record`), so the
    registry's token endpoint knows which VM pulls (its subnet's egress, its public address)."""
    instance = None
    if record:
        instance = {'instance_id': record['instance_id'], 'instance_group_id': record['group_id'],
                    'subnet_id': record['subnet_id'], 'public_ip': record.get('nat_address') or ''}
    config = containerregistry.node_docker_config(cloud, spec.instance_template.service_account_id, instance)
    return [('/root/.docker/config.json', json.dumps(config, indent=2) + '\n', 0o600)] if config else []


# -- IAM: what the group's service account needs for each VM it creates ---------------------------------------
# "In Instance Groups, all operations are performed on behalf of a service account" and it "can use a service
# account for creating, updating, and deleting VM instances" (en/compute/concepts/instance-groups/access.md), so YC
# checks the VM's roles against that account, each time it creates an instance; a grant made later lets the
# following try succeed. How YC reports a refusal is not documented: localcloud keeps the instance in
# CREATING_INSTANCE with the reason as its status_message (en/compute/concepts/instance-groups/statuses.md has no
# status for it) and tries again (instancegroups.ADMIT_RETRY).

def admit(cloud, spec, record):
    """None when the group's service account may create this instance; else 'Permission denied: ...' naming the
    missing role. Each check cites the page that documents it."""
    subject = {'type': 'serviceAccount', 'id': spec.service_account_id}
    if cloud.store.get(service_account_pb2.ServiceAccount, spec.service_account_id) is None:
        return 'Permission denied: service account %s of the instance group does not exist' % spec.service_account_id
    template = spec.instance_template
    nic = template.network_interface_specs[0] if template.network_interface_specs else None
    # (role, resources, what for): en/compute/security/index.md "Creating a VM: compute.editor for the folder"
    # (and en/_tutorials/containers/ig-create.md: "assign the compute.editor role to the service account").
    needs = [('compute.editor', iam_roles.chain(cloud, folder_id=spec.folder_id), 'create VMs in the folder')]
    if template.service_account_id:
        # en/_includes/connect-sa-to-vm-intro.md: linking a service account to a VM needs the permission to use it
        # (iam.serviceAccounts.user, editor or higher), on the account or above it.
        attached = cloud.store.get(service_account_pb2.ServiceAccount, template.service_account_id)
        needs.append(('iam.serviceAccounts.user',
                      iam_roles.chain(cloud, template.service_account_id,
                                      folder_id=attached.folder_id if attached else spec.folder_id),
                      'attach service account %s to the VMs (instance_template.service_account_id)'
                      % template.service_account_id))
    subnet = cloud.store.get(subnet_pb2.Subnet, record.get('subnet_id') or '')
    if subnet is not None:
        # en/vpc/security/index.md: "connecting a network interface to a subnet: vpc.user for the resource"
        # (compute.editor includes vpc.user: en/_mermaid/roles/compute.md).
        needs.append(('vpc.user', iam_roles.chain(cloud, subnet.id, folder_id=subnet.folder_id),
                      'connect the VMs to subnet %s' % subnet.id))
    for sg_id in (nic.security_group_ids if nic else ()):
        sg = cloud.store.get(security_group_pb2.SecurityGroup, sg_id)
        if sg is not None:  # the same row of en/vpc/security/index.md: assigning a VPC resource needs vpc.user
            needs.append(('vpc.user', iam_roles.chain(cloud, sg.id, folder_id=sg.folder_id),
                          'attach security group %s to the VMs' % sg.id))
    if nic is not None and nic.primary_v4_address_spec.HasField('one_to_one_nat_spec'):
        # en/compute/security/index.md: "Creating a VM with a public IP address: compute.editor and vpc.publicAdmin
        # for the folder"; en/_roles/vpc/publicAdmin.md: checked on the folder of the network.
        network = cloud.store.get(network_pb2.Network, nic.network_id)
        needs.append(('vpc.publicAdmin', iam_roles.chain(cloud, nic.network_id, folder_id=network.folder_id
                                                         if network else spec.folder_id),
                      'give the VMs a public IP address (one_to_one_nat_spec)'))
    if spec.HasField('load_balancer_spec'):
        # en/tutorials/infrastructure-management/updating-under-load.md: "To create, update, and delete VM instances
        # in your group, as well as integrate the group with Network Load Balancer, assign the compute.editor and
        # load-balancer.editor roles to the service account".
        needs.append(('load-balancer.editor', iam_roles.chain(cloud, folder_id=spec.folder_id),
                      'add the VMs to target group %s (load_balancer_spec)' % spec.load_balancer_state.target_group_id))
    for role, resources_, what in needs:
        missing = iam_roles.missing_role(cloud, subject, role, resources_, what)
        if missing:
            return 'Permission denied: ' + missing
    return None


def check_caller_may_use(cloud, service_account_id):
    """en/_roles/iam/serviceAccounts/user.md: "when creating an instance group, you specify the service account and
    the IAM checks whether you have permission to use it" (iam.serviceAccounts.user, editor, admin, owner; on the
    account, its folder or its cloud). PERMISSION_DENIED naming the account (YC's wording is not documented)."""
    call = rpc.current()
    if call is None or call.subject is None:  # in-process use, no caller to check
        return
    account = cloud.get(service_account_pb2.ServiceAccount, service_account_id, 'Service account')
    missing = iam_roles.missing_role(cloud, call.subject, 'iam.serviceAccounts.user',
                                     iam_roles.chain(cloud, account.id, folder_id=account.folder_id),
                                     'use service account %s (service_account_id)' % account.id)
    if missing:
        raise permission_denied('Permission denied: ' + missing)


def security_groups(cloud, ids):
    """The security groups' current rules, for the engine to enforce in the nodes (localcloud.firewall); it polls
    this every second, so Update/UpdateRules/UpdateRule apply to running instances without telling it."""
    return dict((sg_id, cloud.store.get(security_group_pb2.SecurityGroup, sg_id)) for sg_id in ids)


def engine(cloud):
    """The server's instance group engine: started once, synced with the stored groups, stopped with the server."""
    found = getattr(cloud, 'instance_groups', None)
    if found is not None:
        return found
    found = cloud.instance_groups = instancegroups.Engine(
        cloud.state_dir, node_files=lambda spec, record=None: node_files(cloud, spec, record),
        admit=lambda spec, record: admit(cloud, spec, record),
        security_groups=lambda ids: security_groups(cloud, ids), traffic=Traffic(cloud))
    found.load()
    stored = dict((g.id, g) for g in cloud.store.list(InstanceGroup))
    for group_id in found.group_ids():
        if group_id not in stored:
            found.delete(group_id)
    for group in stored.values():
        try:
            found.apply(group, environment(cloud, group))
        except Exception:
            log.exception('instance group %s: cannot resume it', group.id)
    found.start()
    cloud.on_stop(found.stop)
    return found


class Traffic:
    """The engine's side of load_balancer_spec: the group's target group in the store, the NLB data plane's view."""

    # How long a closing instance stays in a draining target group for connections opened just before its removal
    # to be answered: the docs are silent on CLOSING_TRAFFIC's length; the VM's own shutdown then finishes what it
    # carries (nginx's graceful stop on the LB tier).
    DRAIN = 1.0

    def __init__(self, cloud):
        self.cloud = cloud

    def _target(self, record):
        return target_group_pb2.Target(subnet_id=record['subnet_id'], address=record['address'])

    def _edit(self, spec, change):
        with self.cloud.store.transaction():
            group = self.cloud.store.get(target_group_pb2.TargetGroup, spec.load_balancer_state.target_group_id)
            if group is None:
                return False
            change(group)
            self.cloud.store.put(group)
        return True

    def open(self, spec, record):
        target = self._target(record)

        def add(group):
            if target not in group.targets:
                group.targets.append(target)
        if self._edit(spec, add):
            nlb.dataplane(self.cloud).wait_applied()

    def close(self, spec, record, drain=True):
        target = self._target(record)

        def remove(group):
            kept = [t for t in group.targets if t != target]
            del group.targets[:]
            group.targets.extend(kept)
        if self._edit(spec, remove):
            nlb.dataplane(self.cloud).wait_applied()
            if drain:
                time.sleep(self.DRAIN)

    def states(self, target_group_ids):
        """{target group id: None (no balancer attached) or {address: the worst state any attached balancer reports}}."""
        balancers = self.cloud.store.list(network_load_balancer_pb2.NetworkLoadBalancer)
        plane = nlb.dataplane(self.cloud)
        order = ('UNHEALTHY', 'INITIAL', 'DRAINING', 'INACTIVE', 'HEALTHY')
        found = {}
        for group_id in target_group_ids:
            attached = [b for b in balancers if any(a.target_group_id == group_id for a in b.attached_target_groups)]
            if not attached:
                found[group_id] = None
                continue
            view = {}
            for balancer in attached:
                for _, address, state in plane.target_states(balancer.id, group_id):
                    worst = view.get(address, 'HEALTHY')
                    view[address] = min(worst, state, key=lambda s: order.index(s) if s in order else 0)
            found[group_id] = view
        return found


# -- references: what a group holds -------------------------------------------------------------------------

def _groups(cloud, where):
    return ['instance group %s (%s)' % (g.id, g.name) for g in cloud.store.list(InstanceGroup, where=where)]


@registry.references(service_account_pb2.ServiceAccount)
def _service_account_users(cloud, sa_id):
    return _groups(cloud, lambda g: sa_id in (g.service_account_id, g.instance_template.service_account_id))


@registry.references(subnet_pb2.Subnet)
def _subnet_users(cloud, subnet_id):
    return _groups(cloud, lambda g: any(subnet_id in nic.subnet_ids
                                        for nic in g.instance_template.network_interface_specs))


@registry.references(network_pb2.Network)
def _network_users(cloud, network_id):
    return _groups(cloud, lambda g: any(network_id == nic.network_id
                                        for nic in g.instance_template.network_interface_specs))


@registry.references(security_group_pb2.SecurityGroup)
def _security_group_users(cloud, sg_id):
    return _groups(cloud, lambda g: any(sg_id in nic.security_group_ids
                                        for nic in g.instance_template.network_interface_specs))


@registry.references(target_group_pb2.TargetGroup)
def _target_group_owner(cloud, target_group_id):
    return _groups(cloud, lambda g: g.load_balancer_state.target_group_id == target_group_id)


@registry.references(compute_image.Image)
def _image_users(cloud, image_id):
    return _groups(cloud, lambda g: g.instance_template.boot_disk_spec.disk_spec.image_id == image_id)


# -- the service ---------------------------------------------------------------------------------------------

@registry.register
class InstanceGroupService(instance_group_service_pb2_grpc.InstanceGroupServiceServicer):
    def __init__(self, cloud):
        self.cloud = cloud
        self.store = cloud.store
        self.engine = engine(cloud)

    def _view(self, group, view=svc.BASIC):
        """The stored group with the engine's status; BASIC leaves the template's metadata out (as YC does)."""
        answer = InstanceGroup()
        answer.CopyFrom(group)
        status, state = self.engine.group_state(group.id)
        answer.status = status
        answer.managed_instances_state.CopyFrom(state)
        if view != svc.FULL:
            answer.instance_template.ClearField('metadata')
        return answer

    def Get(self, request, context):
        return self._view(self.cloud.get(InstanceGroup, request.instance_group_id, KIND), request.view)

    def List(self, request, context):
        answer = resources.list_page(self.cloud, InstanceGroup, request, svc.ListInstanceGroupsResponse,
                                     'instance_groups')
        views = [self._view(g, request.view) for g in answer.instance_groups]
        del answer.instance_groups[:]
        answer.instance_groups.extend(views)
        return answer

    def ListInstances(self, request, context):
        group = self.cloud.get(InstanceGroup, request.instance_group_id, KIND)
        items, token = validate.page(self.engine.instances(group.id), request.page_size, request.page_token)
        return svc.ListInstanceGroupInstancesResponse(instances=items, next_page_token=token)

    def Create(self, request, context):
        self.cloud.require_folder(request.folder_id)
        group = InstanceGroup(id=ids.new(GROUP_PREFIX), created_at=resources.now(),
                              status=InstanceGroup.STARTING)
        for field in CREATE_FIELDS:
            masks.copy_field(request, group, field)
        validate.required('name', group.name)
        check_group(self.cloud, group, CREATE_FIELDS)
        check_caller_may_use(self.cloud, group.service_account_id)
        resources.ensure_unique_name(self.cloud, InstanceGroup, group.folder_id, group.name, KIND)
        target_group = self._target_group(group)
        env = environment(self.cloud, group)

        def work():
            resources.ensure_unique_name(self.cloud, InstanceGroup, group.folder_id, group.name, KIND)
            if target_group is not None:
                resources.ensure_unique_name(self.cloud, target_group_pb2.TargetGroup, group.folder_id,
                                             target_group.name, 'Target group')
                self.store.put(target_group)
                group.load_balancer_state.target_group_id = target_group.id
            self.store.put(group)
            self.engine.apply(group, env)
            return self._view(group)
        return self.cloud.operations.start(svc.CreateInstanceGroupMetadata(instance_group_id=group.id), work,
                                           'Create instance group')

    def _target_group(self, group):
        """The NLB target group a group with load_balancer_spec gets (balancers.md: "Compute will automatically create
        a Network Load Balancer target group from this instance group"); the instances join it as they run."""
        if not group.HasField('load_balancer_spec'):
            return None
        spec = group.load_balancer_spec.target_group_spec
        name = spec.name or 'ig-%s' % group.id  # the docs are silent on the name of an unnamed target group
        resources.ensure_unique_name(self.cloud, target_group_pb2.TargetGroup, group.folder_id, name, 'Target group')
        return target_group_pb2.TargetGroup(id=ids.new('enp'), folder_id=group.folder_id, created_at=resources.now(),
                                            name=name, description=spec.description, labels=dict(spec.labels),
                                            region_id=instancegroups.REGION)

    def Update(self, request, context):
        # Required in every Update whatever the mask names: `(required) = true` on these fields of
        # UpdateInstanceGroupRequest (yandex/cloud/compute/v1/instancegroup/instance_group_service.proto) and
        # "Required field" in en/compute/instancegroup/api-ref/grpc/InstanceGroup/update.md (which omits it for
        # service_account_id; the proto marks it). Checked before anything else, as YC's request validation is.
        for field in ('instance_template', 'scale_policy', 'deploy_policy', 'allocation_policy', 'service_account_id'):
            if not (request.HasField(field) if field != 'service_account_id' else request.service_account_id):
                raise invalid(field, 'this field is required')
        current = self.cloud.get(InstanceGroup, request.instance_group_id, KIND)
        if self.engine.group_state(current.id)[0] == InstanceGroup.DELETING:
            raise failed_precondition('Instance group %s is being deleted' % current.id)
        paths = masks.update_paths(request, 'instance_group_id')
        group = InstanceGroup()
        group.CopyFrom(current)
        masks.apply(request, group, paths)
        if masks.touches(paths, 'load_balancer_spec') and group.load_balancer_spec != current.load_balancer_spec:
            # en/compute/concepts/instance-groups/deploy/instance.md: "Changing the specification of the target group
            # of a network load balancer (load_balancer_spec) is currently not supported" (YC's wording of the
            # refusal is not documented).
            raise invalid('load_balancer_spec', 'changing load_balancer_spec of an existing instance group is not '
                          'supported; create a new group')
        check_group(self.cloud, group, paths)
        if masks.touches(paths, 'service_account_id'):
            check_caller_may_use(self.cloud, group.service_account_id)
        if masks.touches(paths, 'name'):
            resources.ensure_unique_name(self.cloud, InstanceGroup, group.folder_id, group.name, KIND, group.id)
        env = environment(self.cloud, group)

        def work():
            latest = self.cloud.get(InstanceGroup, current.id, KIND)
            masks.apply(request, latest, paths)
            self.store.put(latest)
            self.engine.apply(latest, env)
            return self._view(latest)
        return self.cloud.operations.start(svc.UpdateInstanceGroupMetadata(instance_group_id=current.id), work,
                                           'Update instance group')

    def RollingRestart(self, request, context):
        return self._rolling(request, 'restart', svc.RollingRestartMetadata, 'Rolling restart instance group')

    def RollingRecreate(self, request, context):
        return self._rolling(request, 'recreate', svc.RollingRecreateMetadata, 'Rolling recreate instance group')

    def _rolling(self, request, action, metadata, description):
        """en/compute/operations/instance-groups/rolling-restart.md, rolling-recreate.md: the instances one by one
        within deploy_policy; the operation ends when the group runs again (the CLI's "done (2m43s) ... ACTIVE").
        managed_instance_ids takes managed ids (the proto) or compute instance ids (the CLI example's
        --instance-ids); empty: all instances (the CLI's --all; the proto is silent). With the OPPORTUNISTIC
        strategy the operation ends at once: the group acts only on instances that stop or fail their checks
        (_includes/compute/ig-opportunistic-warning.md)."""
        group = self.cloud.get(InstanceGroup, request.instance_group_id, KIND)
        if self.engine.group_state(group.id)[0] == InstanceGroup.DELETING:
            raise failed_precondition('Instance group %s is being deleted' % group.id)
        for index, wanted in enumerate(request.managed_instance_ids):
            if not wanted:
                raise invalid('managed_instance_ids[%d]' % index, 'must not be empty')
        try:
            marked = self.engine.rolling(group.id, list(request.managed_instance_ids), action)
        except instancegroups.TemplateError as exc:
            raise invalid(exc.field, exc.message)
        opportunistic = group.deploy_policy.strategy == instance_group_pb2.DeployPolicy.OPPORTUNISTIC

        def work():  # no store transaction: the instances take a while
            deadline = time.monotonic() + ROLLING_WAIT
            while not opportunistic and not self.engine.rolled(group.id, marked):
                if time.monotonic() > deadline:
                    raise ApiError(grpc.StatusCode.DEADLINE_EXCEEDED, 'instance group %s: rolling %s not done '
                                   'after %ds' % (group.id, action, ROLLING_WAIT))
                time.sleep(0.5)
            return self._view(self.cloud.get(InstanceGroup, group.id, KIND))
        return self.cloud.operations.start(metadata(instance_group_id=group.id), work, description,
                                           transaction=False)

    def Delete(self, request, context):
        group = self.cloud.get(InstanceGroup, request.instance_group_id, KIND)
        if group.deletion_protection:
            raise failed_precondition('Instance group %s has deletion protection; update deletion_protection to '
                                      'false first' % group.id)
        target_group_id = group.load_balancer_state.target_group_id
        attached = [b.id for b in self.store.list(network_load_balancer_pb2.NetworkLoadBalancer)
                    if any(a.target_group_id == target_group_id for a in b.attached_target_groups)] \
            if target_group_id else []
        if attached:
            # *inferred*: the docs do not say what deleting a group whose target group a balancer uses does; a target
            # group attached to a load balancer cannot be deleted (en/network-load-balancer/operations/
            # target-group-delete.md: detach it first), so neither can the group that owns it.
            raise failed_precondition('Instance group %s: its target group %s is attached to network load balancer '
                                      '%s; detach it first' % (group.id, target_group_id, ', '.join(attached)))

        def work():  # no store transaction: the nodes take seconds to go
            self.engine.delete(group.id)
            if not self.engine.wait_deleted(group.id, DELETE_WAIT):
                log.warning('instance group %s: instances still going after %ss', group.id, DELETE_WAIT)
            with self.store.transaction():
                self.store.delete(InstanceGroup, group.id)
                if target_group_id:  # made with the group, removed with it
                    self.store.delete(target_group_pb2.TargetGroup, target_group_id)
            if target_group_id:
                nlb.dataplane(self.cloud).changed()
        return self.cloud.operations.start(svc.DeleteInstanceGroupMetadata(instance_group_id=group.id), work,
                                           'Delete instance group', transaction=False)

