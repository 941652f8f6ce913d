# -*- coding: utf-8 -*-
# Copyright: filmopoisk.shs contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""An instance group in the shape of yc_instance_group's options, both ways, in one place: yc_instance_group and
yc_instance_group_info read a group with the same group_to_user() and instance_to_user(); the module builds its
Create/Update requests with request_from_options() and checks its options with validate() before any call.

group_to_user() takes an InstanceGroup or a CreateInstanceGroupRequest (the same field names), so the options a
user gives and the group the API holds compare like for like. Metadata values (the COI docker-compose and user-data,
which carry secrets) come out as their sha256 and size only.

An unset enum (0, *_UNSPECIFIED) reads as YC's documented default, so a group made without the option compares
equal to the option's default: minimal_action LIVE_UPDATE (en/compute/concepts/instance-groups/policies/
deploy-policy.md#minimal-action), auto_healing_action RESTART (.../policies/healing-policy.md; RECREATE when the
deploy policy allows only an extra instance), strategy PROACTIVE (deploy-policy.md#strategy).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib

from ansible_collections.filmopoisk.shs.plugins.module_utils.yc import YCError, labels_ok, name_ok, zone_ok

try:
    from google.protobuf.duration_pb2 import Duration
    from yandex.cloud.compute.v1.instancegroup import instance_group_pb2 as ig_pb2, instance_group_service_pb2 as svc
except ImportError:
    pass  # YCModule reports the missing SDK

GB = 1 << 30
# user-facing option -> the top-level field of the API (= the update mask path)
MASK_PATHS = dict(description='description', labels='labels', variables='variables',
                  service_account_id='service_account_id', deletion_protection='deletion_protection',
                  instance_template='instance_template', scale_policy='scale_policy',
                  allocation_policy='allocation_policy', deploy_policy='deploy_policy',
                  health_checks='health_checks_spec', max_checking_health_duration='health_checks_spec',
                  load_balancer='load_balancer_spec', auto_healing_policy='auto_healing_policy')
CREATE_REQUIRED = ('service_account_id', 'instance_template', 'scale_policy', 'allocation_policy', 'deploy_policy')
# UpdateInstanceGroupRequest fields YC requires in every Update whatever the mask names (`(required) = true` in
# instance_group_service.proto; en/compute/instancegroup/api-ref/grpc/InstanceGroup/update.md). Terraform sends
# them too. Option name = field name for all five.
UPDATE_REQUIRED = ('instance_template', 'scale_policy', 'deploy_policy', 'allocation_policy', 'service_account_id')


def seconds(duration):
    return duration.seconds


def duration(value):
    return Duration(seconds=int(value))


def secret_safe(value):
    data = value.encode('utf-8')
    return 'sha256:%s (%d bytes)' % (hashlib.sha256(data).hexdigest()[:16], len(data))


def mode_name(mode):
    return ig_pb2.AttachedDiskSpec.Mode.Name(mode).lower() if mode else 'read_write'


def memory_gb(value):
    gb = value / float(GB)
    return int(gb) if gb == int(gb) else gb


# -- API message -> the module's option shape (from a group or from the request the options make) ------------

def template_to_user(template):
    nics = []
    for nic in template.network_interface_specs:
        address = nic.primary_v4_address_spec
        nics.append(dict(network_id=nic.network_id, subnet_ids=list(nic.subnet_ids),
                         nat=address.HasField('one_to_one_nat_spec'), ip_address=address.address,
                         security_group_ids=list(nic.security_group_ids)))
    boot = template.boot_disk_spec
    return dict(
        description=template.description, labels=dict(template.labels), platform_id=template.platform_id,
        resources=dict(cores=template.resources_spec.cores, memory=memory_gb(template.resources_spec.memory),
                       core_fraction=template.resources_spec.core_fraction, gpus=template.resources_spec.gpus),
        boot_disk=dict(image_id=boot.disk_spec.image_id, size=boot.disk_spec.size // GB, type=boot.disk_spec.type_id,
                       mode=mode_name(boot.mode)),
        secondary_disks=[dict(device_name=d.device_name, name=d.name, size=d.disk_spec.size // GB,
                              type=d.disk_spec.type_id, image_id=d.disk_spec.image_id, mode=mode_name(d.mode))
                         for d in template.secondary_disk_specs],
        network_interfaces=nics,
        metadata=dict((key, secret_safe(value)) for key, value in template.metadata.items()),
        name=template.name, hostname=template.hostname, service_account_id=template.service_account_id,
        preemptible=template.scheduling_policy.preemptible)


def scale_to_user(policy):
    if policy.HasField('auto_scale'):
        auto = policy.auto_scale
        return dict(auto_scale=dict(min_zone_size=auto.min_zone_size, max_size=auto.max_size,
                                    initial_size=auto.initial_size,
                                    cpu_utilization_target=auto.cpu_utilization_rule.utilization_target,
                                    measurement_duration=seconds(auto.measurement_duration),
                                    warmup_duration=seconds(auto.warmup_duration),
                                    stabilization_duration=seconds(auto.stabilization_duration)))
    return dict(fixed_scale=dict(size=policy.fixed_scale.size))


def group_to_user(group):
    """The module's option shape of an InstanceGroup or a CreateInstanceGroupRequest (same field names); for an
    InstanceGroup also what only the API knows: id, folder_id, status and created_at."""
    checks = []
    for check in group.health_checks_spec.health_check_specs:
        entry = dict(interval=seconds(check.interval), timeout=seconds(check.timeout),
                     healthy_threshold=check.healthy_threshold, unhealthy_threshold=check.unhealthy_threshold)
        if check.HasField('http_options'):
            entry['http_options'] = dict(port=check.http_options.port, path=check.http_options.path)
        else:
            entry['tcp_options'] = dict(port=check.tcp_options.port)
        checks.append(entry)
    user = dict(
        name=group.name, description=group.description, labels=dict(group.labels),
        variables=dict((v.key, v.value) for v in group.variables), service_account_id=group.service_account_id,
        deletion_protection=group.deletion_protection,
        instance_template=template_to_user(group.instance_template),
        scale_policy=scale_to_user(group.scale_policy),
        allocation_policy=dict(zones=[zone.zone_id for zone in group.allocation_policy.zones]),
        deploy_policy=deploy_policy_to_user(group.deploy_policy),
        auto_healing_policy=auto_healing_policy_to_user(group),
        health_checks=checks,
        max_checking_health_duration=seconds(group.health_checks_spec.max_checking_health_duration),
        load_balancer=None)
    if group.HasField('load_balancer_spec'):
        spec = group.load_balancer_spec
        user['load_balancer'] = dict(target_group_name=spec.target_group_spec.name,
                                     target_group_description=spec.target_group_spec.description,
                                     target_group_labels=dict(spec.target_group_spec.labels),
                                     max_opening_traffic_duration=seconds(spec.max_opening_traffic_duration),
                                     ignore_health_checks=spec.ignore_health_checks)
    if isinstance(group, ig_pb2.InstanceGroup):
        user.update(id=group.id, folder_id=group.folder_id, status=ig_pb2.InstanceGroup.Status.Name(group.status),
                    created_at=group.created_at.ToJsonString(),
                    target_group_id=group.load_balancer_state.target_group_id or None)
    return user


def instance_counts(group):
    """How many instances an InstanceGroup keeps and runs (what yc_instance_group_info adds to group_to_user; not
    in yc_instance_group's result, whose diff would show them change in every rollout)."""
    state = group.managed_instances_state
    return dict(target_size=state.target_size, running_actual_count=state.running_actual_count,
                running_outdated_count=state.running_outdated_count, processing_count=state.processing_count)


def instance_to_user(instance):
    """A ManagedInstance of ListInstances: name, FQDN, ids, status and the first interface's addresses."""
    nic = instance.network_interfaces[0] if instance.network_interfaces else None
    return dict(name=instance.name, fqdn=instance.fqdn, instance_id=instance.instance_id,
                status=ig_pb2.ManagedInstance.Status.Name(instance.status), status_message=instance.status_message,
                zone_id=instance.zone_id, address=nic.primary_v4_address.address if nic else '',
                nat_address=nic.primary_v4_address.one_to_one_nat.address if nic else '')


def rolling_targets(instances, wanted, option='instance_ids'):
    """The ManagedInstances of a group that a rolling restart/recreate names (yc_instance_group_rolling): each of
    `wanted` is a managed instance id, a compute instance id or an instance name; none: all of them. An entry that
    matches nothing raises YCError naming the option, before any write."""
    if not wanted:
        return list(instances)
    chosen = []
    for index, value in enumerate(wanted):
        found = [i for i in instances if value and value in (i.id, i.instance_id, i.name)]
        if not found:
            raise YCError('%s[%d]: %r is not an instance of the group (known: %s)' % (
                option, index, value, ', '.join(sorted(i.name for i in instances)) or 'none'))
        chosen.extend(i for i in found if i not in chosen)
    return chosen


# -- the module's options -> API messages ------------------------------------------------------------------

def template_from_options(options):
    template = ig_pb2.InstanceTemplate(
        description=options['description'], labels=options['labels'], platform_id=options['platform_id'],
        metadata=dict((key, str(value)) for key, value in options['metadata'].items()),
        name=options['name'], hostname=options['hostname'], service_account_id=options['service_account_id'])
    resources = options['resources']
    template.resources_spec.cores = resources['cores']
    template.resources_spec.memory = int(round(resources['memory'] * GB))
    template.resources_spec.core_fraction = resources['core_fraction']
    template.resources_spec.gpus = resources['gpus']
    boot = options['boot_disk']
    template.boot_disk_spec.mode = ig_pb2.AttachedDiskSpec.Mode.Value(boot['mode'].upper())
    template.boot_disk_spec.disk_spec.image_id = boot['image_id']
    template.boot_disk_spec.disk_spec.size = boot['size'] * GB
    template.boot_disk_spec.disk_spec.type_id = boot['type']
    for disk in options['secondary_disks']:
        spec = template.secondary_disk_specs.add(device_name=disk['device_name'], name=disk['name'],
                                                 mode=ig_pb2.AttachedDiskSpec.Mode.Value(disk['mode'].upper()))
        spec.disk_spec.size = disk['size'] * GB
        spec.disk_spec.type_id = disk['type']
        if disk['image_id']:
            spec.disk_spec.image_id = disk['image_id']
    for nic in options['network_interfaces']:
        spec = template.network_interface_specs.add(network_id=nic['network_id'], subnet_ids=nic['subnet_ids'],
                                                    security_group_ids=nic['security_group_ids'])
        spec.primary_v4_address_spec.address = nic['ip_address']
        if nic['nat']:
            spec.primary_v4_address_spec.one_to_one_nat_spec.ip_version = ig_pb2.IPV4
    template.scheduling_policy.preemptible = options['preemptible']
    return template


def request_from_options(module):
    params = module.params
    request = svc.CreateInstanceGroupRequest(
        folder_id=params['folder_id'], name=params['name'], description=params['description'] or '',
        labels=params['labels'] or {}, service_account_id=params['service_account_id'] or '',
        deletion_protection=params['deletion_protection'],
        variables=[ig_pb2.Variable(key=key, value=str(value)) for key, value in sorted(params['variables'].items())])
    if params['instance_template']:
        request.instance_template.CopyFrom(template_from_options(params['instance_template']))
    scale = params['scale_policy']
    if scale:
        if scale.get('auto_scale'):
            auto = scale['auto_scale']
            spec = request.scale_policy.auto_scale
            spec.min_zone_size, spec.max_size, spec.initial_size = (auto['min_zone_size'], auto['max_size'],
                                                                    auto['initial_size'])
            spec.cpu_utilization_rule.utilization_target = auto['cpu_utilization_target']
            spec.measurement_duration.CopyFrom(duration(auto['measurement_duration']))
            spec.warmup_duration.CopyFrom(duration(auto['warmup_duration']))
            spec.stabilization_duration.CopyFrom(duration(auto['stabilization_duration']))
        else:
            request.scale_policy.fixed_scale.size = scale['fixed_scale']['size']
    if params['allocation_policy']:
        for zone in params['allocation_policy']['zones']:
            request.allocation_policy.zones.add(zone_id=zone)
    if params['deploy_policy']:
        request.deploy_policy.CopyFrom(deploy_policy_from_user(params['deploy_policy']))
    if params['auto_healing_policy']:  # left out: not sent (a new group gets YC's default)
        request.auto_healing_policy.CopyFrom(auto_healing_policy_from_user(params['auto_healing_policy']))
    for check in params['health_checks']:
        spec = request.health_checks_spec.health_check_specs.add(
            interval=duration(check['interval']), timeout=duration(check['timeout']),
            healthy_threshold=check['healthy_threshold'], unhealthy_threshold=check['unhealthy_threshold'])
        if check.get('http_options'):
            spec.http_options.port, spec.http_options.path = check['http_options']['port'], check['http_options']['path']
        else:
            spec.tcp_options.port = check['tcp_options']['port']
    if params['max_checking_health_duration']:
        request.health_checks_spec.max_checking_health_duration.CopyFrom(
            duration(params['max_checking_health_duration']))
    balancer = params['load_balancer']
    if balancer:
        request.load_balancer_spec.target_group_spec.name = balancer['target_group_name']
        request.load_balancer_spec.target_group_spec.description = balancer['target_group_description']
        request.load_balancer_spec.target_group_spec.labels.update(balancer['target_group_labels'])
        request.load_balancer_spec.max_opening_traffic_duration.CopyFrom(
            duration(balancer['max_opening_traffic_duration']))
        request.load_balancer_spec.ignore_health_checks = balancer['ignore_health_checks']
    return request


def validate(params):
    """Errors the API would give after the fact, given now and naming the option. (One of fixed_scale/auto_scale
    and of http_options/tcp_options: the argument spec's mutually_exclusive and required_one_of.)"""
    name_ok(params['name'])
    labels_ok(params['labels'])
    template = params['instance_template']
    if template:
        labels_ok(template['labels'], 'instance_template.labels')
        if template['resources']['cores'] < 1 or template['resources']['memory'] <= 0:
            raise YCError('instance_template.resources: cores and memory must be positive')
        if not template['network_interfaces']:
            raise YCError('instance_template.network_interfaces: at least one interface')
        for key, value in template['metadata'].items():
            if not isinstance(value, str):
                raise YCError('instance_template.metadata.%s must be a string (use to_json/to_yaml)' % key)
    scale = params['scale_policy']
    if scale and scale.get('fixed_scale') and scale['fixed_scale']['size'] < 0:
        raise YCError('scale_policy.fixed_scale.size must be 0 or more')
    if params['allocation_policy']:
        if not params['allocation_policy']['zones']:
            raise YCError('allocation_policy.zones: at least one zone')
        for zone in params['allocation_policy']['zones']:
            zone_ok(zone, 'allocation_policy.zones')
    for index, check in enumerate(params['health_checks']):
        where = 'health_checks[%d]' % index
        if check['interval'] < 1 or check['timeout'] < 1 or check['timeout'] > check['interval']:
            raise YCError('%s: interval and timeout are whole seconds >= 1 and timeout <= interval' % where)
    for option in ('deploy_policy',):
        for key, value in (params[option] or {}).items():
            if isinstance(value, int) and value < 0:
                raise YCError('%s.%s must be 0 or more' % (option, key))


def copy_field(source, target, name):
    """target.name = source.name for a field of any kind (message, repeated, map, scalar)."""
    value = getattr(source, name)
    if hasattr(value, 'CopyFrom'):
        getattr(target, name).CopyFrom(value)
    elif hasattr(value, 'extend'):
        getattr(target, name).extend(value)
    elif hasattr(value, 'update'):
        getattr(target, name).update(value)
    else:
        setattr(target, name, value)


# -- deploy and auto-healing policies ----------------------------------------------------------------------

DEFAULT_STRATEGY = 'proactive'
DEFAULT_MINIMAL_ACTION = 'live_update'
DEFAULT_HEALING_ACTION = 'restart'


def _name(enum, number, default):
    return enum.Name(number).lower() if number else default


def deploy_policy_to_user(deploy):
    """DeployPolicy -> dict (durations in seconds, enums as the lower-case option values)."""
    return dict(max_unavailable=deploy.max_unavailable, max_expansion=deploy.max_expansion,
                max_creating=deploy.max_creating, max_deleting=deploy.max_deleting,
                startup_duration=deploy.startup_duration.seconds,
                strategy=_name(ig_pb2.DeployPolicy.Strategy, deploy.strategy, DEFAULT_STRATEGY),
                minimal_action=_name(ig_pb2.DeployPolicy.MinimalAction, deploy.minimal_action,
                                     DEFAULT_MINIMAL_ACTION))


def auto_healing_policy_to_user(group):
    """The auto_healing_policy of an InstanceGroup (or a Create/Update request); none set reads as what YC does then:
    it heals "depending on the deployment policy" (policies/healing-policy.md), which with max_unavailable 0 and
    max_expansion > 0 can only create a replacement (autohealing.md, "Recovery process and deployment policies"),
    so that reads as recreate; otherwise as the documented default, restart. A user's explicit restart on such a
    group is then a change, and is sent."""
    action = group.auto_healing_policy.auto_healing_action if group.HasField('auto_healing_policy') else 0
    default = DEFAULT_HEALING_ACTION
    deploy = group.deploy_policy
    if not action and not deploy.max_unavailable and deploy.max_expansion:
        default = 'recreate'
    return dict(auto_healing_action=_name(ig_pb2.AutoHealingPolicy.AutoHealingAction, action, default))


def deploy_policy_from_user(options):
    """The module's deploy_policy option -> DeployPolicy (every enum set explicitly)."""
    return ig_pb2.DeployPolicy(
        max_unavailable=options['max_unavailable'], max_expansion=options['max_expansion'],
        max_creating=options['max_creating'], max_deleting=options['max_deleting'],
        startup_duration=duration(options['startup_duration']),
        strategy=ig_pb2.DeployPolicy.Strategy.Value(options['strategy'].upper()),
        minimal_action=ig_pb2.DeployPolicy.MinimalAction.Value(options['minimal_action'].upper()))


def auto_healing_policy_from_user(options):
    return ig_pb2.AutoHealingPolicy(
        auto_healing_action=ig_pb2.AutoHealingPolicy.AutoHealingAction.Value(options['auto_healing_action'].upper()))
