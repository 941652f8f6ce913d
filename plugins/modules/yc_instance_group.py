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
    description: How many instances, exactly one of O(scale_policy.fixed_scale) and O(scale_policy.auto_scale).
      Required to create.
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
        description: HTTP check (a 200 is healthy). Exactly one of O(health_checks[].http_options) and
          O(health_checks[].tcp_options).
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
            replacement first), so with C(max_unavailable=0) and C(max_expansion) above 0 it reads as V(recreate).
        type: str
        choices: [restart, recreate, none]
        default: restart
  max_checking_health_duration:
    description: Seconds an instance may stay unhealthy after start before it is recreated (0 = the API default).
    type: int
    default: 0
  load_balancer:
    description:
      - Create a Network Load Balancer target group of the instances (YC's C(load_balancer_spec)); its id is returned
        as RV(instance_group.target_group_id). Attach it to a balancer with M(filmopoisk.shs.yc_network_load_balancer).
      - An instance joins the target group when it runs and is healthy (C(OPENING_TRAFFIC)), and leaves it before it
        is stopped, restarted or removed (C(CLOSING_TRAFFIC)).
      - It cannot be added, changed or removed on an existing group (Yandex Cloud does not support it,
        U(https://yandex.cloud/en/docs/compute/concepts/instance-groups/deploy/instance)), so the module fails
        naming the option, in check mode too; replace the group instead.
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
        description:
          - Seconds a new or restarted instance may wait in C(OPENING_TRAFFIC) for the load balancers' health checks
            before it is recovered; V(0) waits indefinitely.
        type: int
        default: 0
      ignore_health_checks:
        description:
          - Do not wait for the load balancers' health checks, and do not recover instances that fail them.
        type: bool
        default: false
        version_added: 0.4.0
  wait_for_instances:
    description: Wait (up to O(wait_timeout)) until all instances are C(RUNNING_ACTUAL).
    type: bool
    default: true
extends_documentation_fragment:
  - filmopoisk.shs.yc
  - filmopoisk.shs.yc.named
  - filmopoisk.shs.yc.wait
  - filmopoisk.shs.yc.attributes
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.actiongroups
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
  description:
    - The group as the API holds it, in the module's option shape plus id, status, folder_id and created_at
      (M(filmopoisk.shs.yc_instance_group_info) returns the same, plus the instance counts).
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
    target_group_id:
      description: The id of the target group made from O(load_balancer); V(null) without one.
      type: str
      version_added: 0.4.0
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

import time

from ansible_collections.filmopoisk.shs.plugins.module_utils.yc import (
    YCError, YCModule, Resource, field_mask, named_resource_spec)
from ansible_collections.filmopoisk.shs.plugins.module_utils.instance_group import (
    CREATE_REQUIRED, MASK_PATHS, UPDATE_REQUIRED, copy_field, group_to_user, instance_to_user, request_from_options,
    validate)

try:
    from yandex.cloud.compute.v1.instancegroup import instance_group_pb2 as ig_pb2, instance_group_service_pb2 as svc
    from yandex.cloud.compute.v1.instancegroup.instance_group_service_pb2_grpc import InstanceGroupServiceStub
except ImportError:
    pass  # YCModule reports the missing SDK


class InstanceGroup(Resource):
    kind = 'instance_group'
    list_field = 'instance_groups'
    # load_balancer_spec cannot change on an existing group (en/compute/concepts/instance-groups/deploy/instance.md):
    # Resource.ensure refuses a change, in check mode too, naming the option.
    IMMUTABLE = ('load_balancer',)
    UPDATABLE = tuple(key for key in MASK_PATHS if key != 'load_balancer')

    def __init__(self, module):
        super(InstanceGroup, self).__init__(module)
        self.stub = InstanceGroupServiceStub
        self.response_type = ig_pb2.InstanceGroup
        self.request = request_from_options(module)

    @property
    def label(self):
        return "instance group '%s'" % self.params['name']

    def list_request(self):
        # FULL: the template's metadata is compared too (en/compute/instancegroup/api-ref/grpc/InstanceGroup/list.md)
        return svc.ListInstanceGroupsRequest(folder_id=self.module.require_folder_id(), view=svc.FULL)

    def get_request(self, resource_id):
        return svc.GetInstanceGroupRequest(instance_group_id=resource_id, view=svc.FULL)

    def to_user(self, group):
        return group_to_user(group)

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
            raise YCError('%s does not exist; to create it set %s' % (self.label, ', '.join(missing)))
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
            raise YCError('%s has deletion_protection; set it to false first' % self.label)
        return svc.DeleteInstanceGroupRequest(instance_group_id=group.id)

    # -- instances ----------------------------------------------------------------------------------------

    def instances(self, group_id):
        request = svc.ListInstanceGroupInstancesRequest(instance_group_id=group_id)
        found = self.yc.list_all(self.stub, 'ListInstances', request, 'instances', 'instances of ' + self.label)
        return sorted((instance_to_user(instance) for instance in found), key=lambda item: item['name'])

    def wait_for_instances(self, group_id, target_size):
        """Until target_size instances are RUNNING_ACTUAL and nothing else is left; our own deadline."""
        deadline = time.monotonic() + self.params['wait_timeout']
        while True:
            instances = self.instances(group_id)
            running = [i for i in instances if i['status'] == 'RUNNING_ACTUAL']
            if len(running) == target_size and len(instances) == target_size:
                return instances
            if time.monotonic() >= deadline:
                states = ', '.join('%s %s %s' % (i['name'], i['status'], i['status_message']) for i in instances)
                raise YCError('Timed out after %ds waiting for %d instances of %s to be RUNNING_ACTUAL (now: %s)'
                              % (self.params['wait_timeout'], target_size, self.label, states or 'none'),
                              instances=instances)
            time.sleep(2)

    def ensure(self):
        """Resource.ensure, then the instances of a group that is there: waited for when asked, and returned."""
        result = super(InstanceGroup, self).ensure()
        group = result.get(self.kind) or {}
        if group.get('id') and not self.module.check_mode and self.params['state'] == 'present':
            size = ((group.get('scale_policy') or {}).get('fixed_scale') or {}).get('size')
            if self.params['wait'] and self.params['wait_for_instances'] and size is not None:
                result['instances'] = self.wait_for_instances(group['id'], size)
            else:
                result['instances'] = self.instances(group['id'])
        return result


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
        argument_spec=named_resource_spec(
            variables=dict(type='dict', default={}),
            service_account_id=dict(type='str'),
            deletion_protection=dict(type='bool', default=False),
            instance_template=dict(type='dict', options=template_options),
            scale_policy=dict(type='dict', mutually_exclusive=[['fixed_scale', 'auto_scale']],
                              required_one_of=[['fixed_scale', 'auto_scale']], options=dict(
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
            health_checks=dict(type='list', elements='dict', default=[],
                               mutually_exclusive=[['http_options', 'tcp_options']],
                               required_one_of=[['http_options', 'tcp_options']], options=dict(
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
                max_opening_traffic_duration=dict(type='int', default=0),
                ignore_health_checks=dict(type='bool', default=False))),
            wait_for_instances=dict(type='bool', default=True),
        ),
        supports_check_mode=True,
    )
    try:
        module.require_folder_id()
        validate(module.params)
        result = InstanceGroup(module).ensure()
    except YCError as exc:
        module.fail_json(msg=exc.msg, **exc.extra)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
