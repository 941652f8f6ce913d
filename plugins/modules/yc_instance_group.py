#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: filmopoisk.shs contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
module: yc_instance_group
short_description: Manage a Yandex Compute Cloud instance group
version_added: 0.2.0
description:
  - Create, update or delete an instance group, found by O(name) in the folder. Options follow Terraform's
    C(yandex_compute_instance_group) (sizes in GB, durations in seconds).
  - The group is read with C(view=FULL) and compared field by field; an update sends only the top-level fields
    that changed in its field mask (e.g. V(scale_policy) alone when only the size changes). A changed
    O(instance_template) makes the group roll its instances out per O(deploy_policy).
  - Metadata values (the COI C(docker-compose) and C(user-data), which carry secrets) are never shown in
    output or diffs; a value is shown as its sha256 and size.
  - Every Update carries the fields YC requires in it (C(instance_template), C(scale_policy), C(deploy_policy),
    C(allocation_policy), C(service_account_id)) - the options given, the group's own values for the rest; the
    field mask still names only what changed, so nothing else is applied.
  - With O(wait_for_instances) the module waits until every instance is C(RUNNING_ACTUAL) (started, past its
    startup duration and healthy) and returns them with their FQDNs and addresses.
  - "How a template change reaches the instances is YC's: a change of C(metadata) (the COI C(docker-compose),
    C(user-data)), C(platform_id), resources or the boot disk B(restarts) an instance (stop, start: the same
    instance id and disks), network interfaces, secondary disks or C(preemptible) re-create it (a new instance and
    disks). On a restart cloud-init's once-per-instance steps (C(write_files), C(runcmd), users) do not run again
    with the new C(user-data); only per-boot ones (C(bootcmd)) run, and COI starts the new C(docker-compose). Set
    O(deploy_policy.minimal_action=recreate) to have every template change re-create the instances."
options:
  name:
    description: Group name.
    type: str
    required: true
  description:
    description: Description.
    type: str
    default: ''
  labels:
    description: Labels of the group. Not managed when omitted (the group keeps its labels); see O(purge_labels).
    type: dict
  purge_labels:
    description: Remove labels that are not in O(labels). With V(false), O(labels) are added to the existing ones.
    type: bool
    default: true
  variables:
    description: Variables for templates in O(instance_template) (C({key}) substitutions).
    type: dict
    default: {}
  service_account_id:
    description: Service account the group acts as (needs C(compute.editor) on the folder). Required to create.
    type: str
  deletion_protection:
    description: Refuse deletion (set V(false) and run again to delete).
    type: bool
    default: false
  instance_template:
    description: What every instance looks like. Required to create.
    type: dict
    suboptions:
      description:
        description: Instance description.
        type: str
        default: ''
      labels:
        description: Instance labels.
        type: dict
        default: {}
      platform_id:
        description: Hardware platform.
        type: str
        default: standard-v3
      resources:
        description: CPU and memory.
        type: dict
        required: true
        suboptions:
          cores:
            description: vCPUs.
            type: int
            required: true
          memory:
            description: Memory in GB (may be fractional, e.g. V(0.5)).
            type: float
            required: true
          core_fraction:
            description: Guaranteed vCPU share, percent.
            type: int
            default: 100
          gpus:
            description: GPUs.
            type: int
            default: 0
      boot_disk:
        description: Boot disk.
        type: dict
        required: true
        suboptions:
          image_id:
            description: Image, e.g. the latest C(container-optimized-image) (M(filmopoisk.shs.yc_image_info)).
            type: str
            required: true
          size:
            description: Size in GB.
            type: int
            default: 30
          type:
            description: Disk type.
            type: str
            default: network-hdd
          mode:
            description: Access mode.
            type: str
            choices: [read_write, read_only]
            default: read_write
      secondary_disks:
        description: Extra disks (the COI C(x-yc-disks) refer to them by O(instance_template.secondary_disks[].device_name)).
        type: list
        elements: dict
        default: []
        suboptions:
          device_name:
            description: Device name inside the VM (C(/dev/disk/by-id/virtio-<device_name>)).
            type: str
            required: true
          name:
            description: Disk name template.
            type: str
            default: ''
          size:
            description: Size in GB.
            type: int
            required: true
          type:
            description: Disk type.
            type: str
            default: network-hdd
          image_id:
            description: Image to fill the disk from.
            type: str
            default: ''
          mode:
            description: Access mode.
            type: str
            choices: [read_write, read_only]
            default: read_write
      network_interfaces:
        description: Network interfaces.
        type: list
        elements: dict
        required: true
        suboptions:
          network_id:
            description: Network.
            type: str
            required: true
          subnet_ids:
            description: One subnet per zone of O(allocation_policy.zones).
            type: list
            elements: str
            required: true
          nat:
            description: Give each instance a public address (one-to-one NAT).
            type: bool
            default: false
          ip_address:
            description: Fixed internal address (groups of one instance only).
            type: str
            default: ''
          security_group_ids:
            description: Security groups of the interface.
            type: list
            elements: str
            default: []
      metadata:
        description:
          - Instance metadata, e.g. C(docker-compose) and C(user-data) from the collection's C(coi_metadata) filter.
          - Values are secret-safe in output (shown as sha256 and size).
        type: dict
        default: {}
      name:
        description: Instance name template, e.g. V(shs-{instance.index}).
        type: str
        default: ''
      hostname:
        description: Host name template; the instance FQDN is C(<hostname>.<zone>.internal) (C(ru-central1.internal) for the DNS name).
        type: str
        default: ''
      service_account_id:
        description: Service account of the VMs (e.g. with C(container-registry.images.puller)).
        type: str
        default: ''
      preemptible:
        description: Preemptible VMs.
        type: bool
        default: false
  scale_policy:
    description: How many instances. Required to create.
    type: dict
    suboptions:
      fixed_scale:
        description: A fixed number of instances.
        type: dict
        suboptions:
          size:
            description: Number of instances.
            type: int
            required: true
      auto_scale:
        description: Autoscaling on CPU utilisation.
        type: dict
        suboptions:
          min_zone_size:
            description: Minimum instances per zone.
            type: int
            default: 1
          max_size:
            description: Maximum instances.
            type: int
            required: true
          initial_size:
            description: Instances at creation.
            type: int
            required: true
          cpu_utilization_target:
            description: Target average CPU utilisation, percent.
            type: float
            default: 75
          measurement_duration:
            description: Seconds averaged over.
            type: int
            default: 60
          warmup_duration:
            description: Seconds a new instance is ignored.
            type: int
            default: 60
          stabilization_duration:
            description: Seconds before scaling in.
            type: int
            default: 120
  allocation_policy:
    description: Where instances go. Required to create.
    type: dict
    suboptions:
      zones:
        description: Availability zones.
        type: list
        elements: str
        required: true
  deploy_policy:
    description: How instances are replaced when the template changes. Required to create.
    type: dict
    suboptions:
      max_unavailable:
        description: Instances that may be down at once during an update.
        type: int
        default: 1
      max_expansion:
        description: Instances that may be added above the target size during an update.
        type: int
        default: 0
      max_creating:
        description: Instances created at once (0 = no limit).
        type: int
        default: 0
      max_deleting:
        description: Instances deleted at once (0 = no limit).
        type: int
        default: 0
      startup_duration:
        description: Seconds after start before an instance is health-checked and counted as running.
        type: int
        default: 0
      strategy:
        description: V(proactive) stops instances itself; V(opportunistic) waits for them to stop.
        type: str
        choices: [proactive, opportunistic]
        default: proactive
      minimal_action:
        description:
          - The least an update does to an instance whose template changed (YC's C(DeployPolicy.minimal_action)).
            YC's rules may need more (e.g. a new network interface always re-creates); this only raises the floor.
          - V(live_update) (YC's default; a group with none set reads as it) updates without stopping where the
            change allows; V(restart) stops and starts the instance (same instance id and disks); V(recreate)
            deletes it and creates a new one (new instance id, new boot disk, so cloud-init runs from scratch).
          - A C(metadata) change restarts an instance even with V(live_update) (YC's update rules), so
            cloud-init's once-per-instance steps do not re-run; use V(recreate) when a changed C(user-data) must
            be applied in full.
          - Not in Terraform's C(yandex_compute_instance_group).
        type: str
        choices: [live_update, restart, recreate]
        default: live_update
  health_checks:
    description: Health checks of instances (auto-healing recreates an instance that fails them).
    type: list
    elements: dict
    default: []
    suboptions:
      interval:
        description: Seconds between checks.
        type: int
        default: 2
      timeout:
        description: Seconds a check may take.
        type: int
        default: 1
      healthy_threshold:
        description: Successes in a row that make an instance healthy.
        type: int
        default: 2
      unhealthy_threshold:
        description: Failures in a row that make it unhealthy.
        type: int
        default: 2
      http_options:
        description: HTTP check (a 200 is healthy).
        type: dict
        suboptions:
          port:
            description: Port.
            type: int
            required: true
          path:
            description: Path.
            type: str
            default: /
      tcp_options:
        description: TCP connect check.
        type: dict
        suboptions:
          port:
            description: Port.
            type: int
            required: true
  auto_healing_policy:
    description:
      - What YC does to an instance that fails its health checks or stops (YC's C(AutoHealingPolicy)). Not in
        Terraform's C(yandex_compute_instance_group).
      - Left out, the group's policy is not managed (an existing group keeps its own; a new one gets YC's default).
    type: dict
    suboptions:
      auto_healing_action:
        description:
          - V(restart) (YC's default; a group with no policy set reads as it) stops and starts the instance (same
            instance id, so cloud-init's once-per-instance steps do not re-run); V(recreate) deletes it and deploys a
            new one (new instance id and disks); V(none) leaves it as it is, for manual recovery or diagnostics.
          - A group without a policy reads as V(restart), the documented default; YC then restarts or replaces
            instances as O(deploy_policy) allows (C(max_unavailable) restarts in place, C(max_expansion) creates a
            replacement first).
        type: str
        choices: [restart, recreate, none]
        default: restart
  max_checking_health_duration:
    description: Seconds an instance may stay unhealthy after start before it is recreated (0 = the API default).
    type: int
    default: 0
  load_balancer:
    description: Create a Network Load Balancer target group of the instances.
    type: dict
    suboptions:
      target_group_name:
        description: Target group name.
        type: str
        required: true
      target_group_description:
        description: Target group description.
        type: str
        default: ''
      target_group_labels:
        description: Target group labels.
        type: dict
        default: {}
      max_opening_traffic_duration:
        description: Seconds to wait for traffic to open.
        type: int
        default: 0
  wait_for_instances:
    description: Wait (up to O(wait_timeout)) until all instances are C(RUNNING_ACTUAL).
    type: bool
    default: true
  state:
    description: Whether the group should exist.
    type: str
    choices: [present, absent]
    default: present
extends_documentation_fragment:
  - filmopoisk.shs.yc
  - filmopoisk.shs.yc.wait
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.actiongroups
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
  platform:
    platforms: all
    details: Runs where the task runs (usually the controller) and talks to the Yandex Cloud API.
  action_group:
    membership: [filmopoisk.shs.yc]
author:
  - filmopoisk.shs contributors (@filmopoisk)
'''

EXAMPLES = r'''
- name: Two SHS app VMs on Container Optimized Image, healed by /ping
  filmopoisk.shs.yc_instance_group:
    name: shs-app
    service_account_id: "{{ ig_sa.service_account.id }}"
    instance_template:
      resources: {cores: 2, memory: 2, core_fraction: 20}
      boot_disk: {image_id: "{{ coi.image.id }}", size: 30}
      network_interfaces:
        - network_id: "{{ network.network.id }}"
          subnet_ids: ["{{ subnet.subnet.id }}"]
          security_group_ids: ["{{ app_sg.security_group.id }}"]
      metadata: "{{ [shs_payload, watchdog_payload] | filmopoisk.shs.coi_metadata }}"
      hostname: shs-{instance.index}
      name: shs-{instance.index}
      service_account_id: "{{ vm_sa.service_account.id }}"
    scale_policy: {fixed_scale: {size: 2}}
    allocation_policy: {zones: [ru-central1-a]}
    # recreate: a changed user-data is applied by a fresh cloud-init run (a restart would keep the instance id)
    deploy_policy: {max_unavailable: 1, max_expansion: 0, startup_duration: 30, minimal_action: recreate}
    auto_healing_policy: {auto_healing_action: restart}
    health_checks:
      - {interval: 3, timeout: 2, healthy_threshold: 2, unhealthy_threshold: 3, http_options: {port: 80, path: /ping}}
  register: app_group

- name: The FQDNs the load balancer will use
  ansible.builtin.debug:
    msg: "{{ app_group.instances | map(attribute='fqdn') | list }}"
'''

RETURN = r'''
instance_group:
  description: The group as the API holds it (the module's option shape plus id, status, folder_id, created_at).
  returned: always
  type: dict
  contains:
    id:
      description: The group ID.
      type: str
      sample: cl1abcdefghijklmnopq
    folder_id:
      description: The folder it is in.
      type: str
      sample: b1gabcdefghijklmnopq
    name:
      description: Name.
      type: str
      sample: shs-app
    status:
      description: V(STARTING), V(ACTIVE), V(STOPPING), V(STOPPED), V(DELETING) or V(PAUSED).
      type: str
      sample: ACTIVE
    created_at:
      description: Creation time (RFC 3339).
      type: str
      sample: '2026-11-28T08:00:00Z'
    description:
      description: As the option O(description).
      type: str
    labels:
      description: As the option O(labels).
      type: dict
    variables:
      description: As the option O(variables).
      type: dict
    service_account_id:
      description: As the option O(service_account_id).
      type: str
    deletion_protection:
      description: As the option O(deletion_protection).
      type: bool
    instance_template:
      description: As the option O(instance_template).
      type: dict
    scale_policy:
      description: As the option O(scale_policy).
      type: dict
      sample: {fixed_scale: {size: 2}}
    allocation_policy:
      description: As the option O(allocation_policy).
      type: dict
    deploy_policy:
      description: As the option O(deploy_policy).
      type: dict
    auto_healing_policy:
      description: As the option O(auto_healing_policy).
      type: dict
    health_checks:
      description: As the option O(health_checks).
      type: list
      elements: dict
    max_checking_health_duration:
      description: As the option O(max_checking_health_duration).
      type: int
    load_balancer:
      description: As the option O(load_balancer); V(null) without one.
      type: dict
instances:
  description: The group's instances (after waiting, when O(wait_for_instances)).
  returned: when state=present and not in check mode
  type: list
  elements: dict
  contains:
    name:
      description: Instance name.
      type: str
      sample: shs-1
    fqdn:
      description: Its internal FQDN.
      type: str
      sample: shs-1.ru-central1.internal
    instance_id:
      description: The Compute instance ID.
      type: str
      sample: fhmabcdefghijklmnopq
    status:
      description: The managed instance status.
      type: str
      sample: RUNNING_ACTUAL
    status_message:
      description: What the status is about.
      type: str
      sample: ''
    zone_id:
      description: The availability zone.
      type: str
      sample: ru-central1-a
    address:
      description: Private IPv4 address.
      type: str
      sample: 10.10.1.3
    nat_address:
      description: Public IPv4 address, V('') without NAT.
      type: str
      sample: ''
update_mask:
  description: Top-level fields sent in the update.
  returned: when updated
  type: list
  elements: str
operation_id:
  description: The API operation of the write.
  returned: when something was written
  type: str
'''

import hashlib
import time

from ansible_collections.filmopoisk.shs.plugins.module_utils.yc import (
    YCModule, Resource, field_mask, labels_ok, name_ok, zone_ok)
from ansible_collections.filmopoisk.shs.plugins.module_utils.instance_group_policies import (
    auto_healing_policy_from_user, auto_healing_policy_to_user, deploy_policy_from_user, deploy_policy_to_user)

try:
    from google.protobuf.duration_pb2 import Duration
    from yandex.cloud.compute.v1.instancegroup import instance_group_pb2 as ig_pb2, instance_group_service_pb2 as svc
    from yandex.cloud.compute.v1.instancegroup.instance_group_service_pb2_grpc import InstanceGroupServiceStub
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
    """The module's option shape of an InstanceGroup or a CreateInstanceGroupRequest (same field names)."""
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
                                     max_opening_traffic_duration=seconds(spec.max_opening_traffic_duration))
    return user


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
        folder_id=params['folder_id'], name=params['name'], description=params['description'],
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
        request.deploy_policy.CopyFrom(deploy_policy_from_user(params['deploy_policy'], duration))
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
    return request


def validate(module):
    """Errors the API would give after the fact, given now and naming the option."""
    params = module.params
    name_ok(module, params['name'])
    labels_ok(module, params['labels'])
    template = params['instance_template']
    if template:
        labels_ok(module, template['labels'], 'instance_template.labels')
        if template['resources']['cores'] < 1 or template['resources']['memory'] <= 0:
            module.fail_json(msg='instance_template.resources: cores and memory must be positive')
        if not template['network_interfaces']:
            module.fail_json(msg='instance_template.network_interfaces: at least one interface')
        for key, value in template['metadata'].items():
            if not isinstance(value, str):
                module.fail_json(msg='instance_template.metadata.%s must be a string (use to_json/to_yaml)' % key)
    scale = params['scale_policy']
    if scale is not None and bool(scale.get('fixed_scale')) == bool(scale.get('auto_scale')):
        module.fail_json(msg='scale_policy: set exactly one of fixed_scale, auto_scale')
    if scale and scale.get('fixed_scale') and scale['fixed_scale']['size'] < 0:
        module.fail_json(msg='scale_policy.fixed_scale.size must be 0 or more')
    if params['allocation_policy']:
        if not params['allocation_policy']['zones']:
            module.fail_json(msg='allocation_policy.zones: at least one zone')
        for zone in params['allocation_policy']['zones']:
            zone_ok(module, zone, 'allocation_policy.zones')
    for index, check in enumerate(params['health_checks']):
        where = 'health_checks[%d]' % index
        if bool(check.get('http_options')) == bool(check.get('tcp_options')):
            module.fail_json(msg='%s: set exactly one of http_options, tcp_options' % where)
        if check['interval'] < 1 or check['timeout'] < 1 or check['timeout'] > check['interval']:
            module.fail_json(msg='%s: interval and timeout are whole seconds >= 1 and timeout <= interval' % where)
    for option in ('deploy_policy',):
        for key, value in (params[option] or {}).items():
            if isinstance(value, int) and value < 0:
                module.fail_json(msg='%s.%s must be 0 or more' % (option, key))


def copy_field(source, target, name):
    value = getattr(source, name)
    if hasattr(value, 'CopyFrom'):
        getattr(target, name).CopyFrom(value)
    elif hasattr(value, 'extend'):
        getattr(target, name).extend(value)
    elif hasattr(value, 'update'):
        getattr(target, name).update(value)
    else:
        setattr(target, name, value)


class InstanceGroup(Resource):
    kind = 'instance_group'
    list_field = 'instance_groups'
    UPDATABLE = tuple(MASK_PATHS)

    def __init__(self, module):
        super(InstanceGroup, self).__init__(module)
        self.stub = InstanceGroupServiceStub
        self.response_type = ig_pb2.InstanceGroup
        self.request = request_from_options(module)

    @property
    def label(self):
        return "instance group '%s'" % self.params['name']

    def list_request(self):
        return svc.ListInstanceGroupsRequest(folder_id=self.module.require_folder_id())

    def get_request(self, resource_id):
        return svc.GetInstanceGroupRequest(instance_group_id=resource_id, view=svc.FULL)

    def find(self):
        found = super(InstanceGroup, self).find()
        return self.get(found.id) if found is not None else None  # List gives BASIC; compare the FULL view

    def to_user(self, group):
        user = group_to_user(group)
        user.update(id=group.id, folder_id=group.folder_id, status=ig_pb2.InstanceGroup.Status.Name(group.status),
                    created_at=group.created_at.ToJsonString())
        return user

    def desired(self):
        """Every option the user manages, in the same shape to_user gives (defaults included)."""
        user = group_to_user(self.request)
        # options left out are not managed (an existing group keeps them)
        return dict((key, user[key]) for key in MASK_PATHS
                    if self.params.get(key) is not None and (key != 'max_checking_health_duration'
                                                             or self.params['health_checks'] is not None))

    def create_request(self, desired):
        missing = [key for key in CREATE_REQUIRED if not self.params.get(key)]
        if missing:
            self.module.fail_json(msg='%s does not exist; to create it set %s' % (self.label, ', '.join(missing)))
        return self.request

    def update_request(self, group, after, paths):
        """The changed fields from the options, named in the mask; plus the fields YC requires in every Update:
        the options where given, else the group's own (FULL view, so the template keeps its metadata)."""
        mask = sorted(set(MASK_PATHS[path] for path in paths))
        request = svc.UpdateInstanceGroupRequest(instance_group_id=group.id, update_mask=field_mask(mask))
        for path in mask:
            if path == 'labels':  # merged with the group's own unless purge_labels
                request.labels.update(after['labels'])
            else:
                copy_field(self.request, request, path)
        for path in UPDATE_REQUIRED:
            if path not in mask:
                copy_field(self.request if self.params.get(path) is not None else group, request, path)
        return request

    def delete_request(self, group):
        if group.deletion_protection:
            self.module.fail_json(msg='%s has deletion_protection; set it to false first' % self.label)
        return svc.DeleteInstanceGroupRequest(instance_group_id=group.id)

    # -- instances ----------------------------------------------------------------------------------------

    def instances(self, group_id):
        request = svc.ListInstanceGroupInstancesRequest(instance_group_id=group_id)
        found = self.module.list_all(self.stub, 'ListInstances', request, 'instances', 'instances of ' + self.label)
        result = []
        for instance in found:
            nic = instance.network_interfaces[0] if instance.network_interfaces else None
            result.append(dict(
                name=instance.name, fqdn=instance.fqdn, instance_id=instance.instance_id,
                status=ig_pb2.ManagedInstance.Status.Name(instance.status), status_message=instance.status_message,
                zone_id=instance.zone_id, address=nic.primary_v4_address.address if nic else '',
                nat_address=nic.primary_v4_address.one_to_one_nat.address if nic else ''))
        return sorted(result, key=lambda item: item['name'])

    def wait_for_instances(self, group_id, target_size):
        """Until target_size instances are RUNNING_ACTUAL and nothing else is left; our own deadline."""
        deadline = time.monotonic() + self.module.params['wait_timeout']
        while True:
            instances = self.instances(group_id)
            running = [i for i in instances if i['status'] == 'RUNNING_ACTUAL']
            if len(running) == target_size and len(instances) == target_size:
                return instances
            if time.monotonic() >= deadline:
                states = ', '.join('%s %s %s' % (i['name'], i['status'], i['status_message']) for i in instances)
                self.module.fail_json(msg='Timed out after %ds waiting for %d instances of %s to be RUNNING_ACTUAL '
                                          '(now: %s)' % (self.module.params['wait_timeout'], target_size, self.label,
                                                         states or 'none'), instances=instances)
            time.sleep(2)

    def ensure(self):
        """Resource.ensure, then the instances: wait for them when asked, and return them."""
        module = self.module
        original_exit = module.exit_json

        def exit_json(**result):
            module.exit_json = original_exit
            group = result.get(self.kind) or {}
            if group.get('id') and not module.check_mode and module.params['state'] == 'present':
                scale = group.get('scale_policy') or {}
                size = (scale.get('fixed_scale') or {}).get('size')
                if module.params['wait'] and module.params['wait_for_instances'] and size is not None:
                    result['instances'] = self.wait_for_instances(group['id'], size)
                else:
                    result['instances'] = self.instances(group['id'])
            original_exit(**result)
        module.exit_json = exit_json
        super(InstanceGroup, self).ensure()


def main():
    disk_mode = dict(type='str', default='read_write', choices=['read_write', 'read_only'])
    template_options = dict(
        description=dict(type='str', default=''),
        labels=dict(type='dict', default={}),
        platform_id=dict(type='str', default='standard-v3'),
        resources=dict(type='dict', required=True, options=dict(
            cores=dict(type='int', required=True), memory=dict(type='float', required=True),
            core_fraction=dict(type='int', default=100), gpus=dict(type='int', default=0))),
        boot_disk=dict(type='dict', required=True, options=dict(
            image_id=dict(type='str', required=True), size=dict(type='int', default=30),
            type=dict(type='str', default='network-hdd'), mode=disk_mode)),
        secondary_disks=dict(type='list', elements='dict', default=[], options=dict(
            device_name=dict(type='str', required=True), name=dict(type='str', default=''),
            size=dict(type='int', required=True), type=dict(type='str', default='network-hdd'),
            image_id=dict(type='str', default=''), mode=disk_mode)),
        network_interfaces=dict(type='list', elements='dict', required=True, options=dict(
            network_id=dict(type='str', required=True), subnet_ids=dict(type='list', elements='str', required=True),
            nat=dict(type='bool', default=False), ip_address=dict(type='str', default=''),
            security_group_ids=dict(type='list', elements='str', default=[]))),
        metadata=dict(type='dict', default={}, no_log=True),
        name=dict(type='str', default=''),
        hostname=dict(type='str', default=''),
        service_account_id=dict(type='str', default=''),
        preemptible=dict(type='bool', default=False),
    )
    module = YCModule(
        argument_spec=dict(
            name=dict(type='str', required=True),
            description=dict(type='str', default=''),
            labels=dict(type='dict'),
            purge_labels=dict(type='bool', default=True),
            variables=dict(type='dict', default={}),
            service_account_id=dict(type='str'),
            deletion_protection=dict(type='bool', default=False),
            instance_template=dict(type='dict', options=template_options),
            scale_policy=dict(type='dict', options=dict(
                fixed_scale=dict(type='dict', options=dict(size=dict(type='int', required=True))),
                auto_scale=dict(type='dict', options=dict(
                    min_zone_size=dict(type='int', default=1), max_size=dict(type='int', required=True),
                    initial_size=dict(type='int', required=True),
                    cpu_utilization_target=dict(type='float', default=75),
                    measurement_duration=dict(type='int', default=60), warmup_duration=dict(type='int', default=60),
                    stabilization_duration=dict(type='int', default=120))))),
            allocation_policy=dict(type='dict', options=dict(zones=dict(type='list', elements='str', required=True))),
            deploy_policy=dict(type='dict', options=dict(
                max_unavailable=dict(type='int', default=1), max_expansion=dict(type='int', default=0),
                max_creating=dict(type='int', default=0), max_deleting=dict(type='int', default=0),
                startup_duration=dict(type='int', default=0),
                strategy=dict(type='str', default='proactive', choices=['proactive', 'opportunistic']),
                minimal_action=dict(type='str', default='live_update',
                                    choices=['live_update', 'restart', 'recreate']))),
            auto_healing_policy=dict(type='dict', options=dict(
                auto_healing_action=dict(type='str', default='restart', choices=['restart', 'recreate', 'none']))),
            health_checks=dict(type='list', elements='dict', default=[], options=dict(
                interval=dict(type='int', default=2), timeout=dict(type='int', default=1),
                healthy_threshold=dict(type='int', default=2), unhealthy_threshold=dict(type='int', default=2),
                http_options=dict(type='dict', options=dict(port=dict(type='int', required=True),
                                                            path=dict(type='str', default='/'))),
                tcp_options=dict(type='dict', options=dict(port=dict(type='int', required=True))))),
            max_checking_health_duration=dict(type='int', default=0),
            load_balancer=dict(type='dict', options=dict(
                target_group_name=dict(type='str', required=True),
                target_group_description=dict(type='str', default=''),
                target_group_labels=dict(type='dict', default={}),
                max_opening_traffic_duration=dict(type='int', default=0))),
            wait_for_instances=dict(type='bool', default=True),
            state=dict(type='str', default='present', choices=['present', 'absent']),
        ),
        supports_check_mode=True,
    )
    module.require_folder_id()
    validate(module)
    InstanceGroup(module).ensure()


if __name__ == '__main__':
    main()
