#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: filmopoisk.shs contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
module: yc_instance_group_info
short_description: List Yandex Compute Cloud instance groups and their instances
version_added: 0.2.0
description:
  - Returns the instance groups of the folder (or the one named O(name)) with their status and, unless
    O(instances=false), their instances (name, FQDN, addresses, status). Changes nothing.
  - Groups are read with the API's C(BASIC) view, so instance metadata (the COI C(docker-compose) and
    C(user-data), which carry secrets) is never returned.
options:
  name:
    description: Only the group of this name (an empty list when there is none).
    type: str
  instances:
    description: Also list each group's instances.
    type: bool
    default: true
extends_documentation_fragment:
  - filmopoisk.shs.yc
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.actiongroups
attributes:
  check_mode:
    support: full
    details: Reads only.
  diff_mode:
    support: none
  platform:
    platforms: all
    details: Runs where the task runs (usually the controller) and talks to the Yandex Cloud API.
  action_group:
    membership: [filmopoisk.shs.yc]
author:
  - filmopoisk.shs contributors (@filmopoisk)
'''

EXAMPLES = r'''
- name: The app group and its instances
  filmopoisk.shs.yc_instance_group_info:
    name: shs-app
  register: app

- name: Their FQDNs
  ansible.builtin.debug:
    msg: "{{ app.instance_groups[0].instances | map(attribute='fqdn') | list }}"

- name: Every group of the folder, without instances
  filmopoisk.shs.yc_instance_group_info:
    instances: false
  register: all_groups
'''

RETURN = r'''
instance_groups:
  description: The groups, by name.
  returned: always
  type: list
  elements: dict
  contains:
    id:
      description: Group id.
      type: str
      sample: cl1abcdefghijklmnopq
    name:
      description: Name.
      type: str
      sample: shs-app
    folder_id:
      description: Folder.
      type: str
    description:
      description: Description.
      type: str
    labels:
      description: Labels.
      type: dict
    status:
      description: C(STARTING), C(ACTIVE), C(STOPPING), C(STOPPED), C(DELETING) or C(PAUSED).
      type: str
    service_account_id:
      description: Service account the group acts as.
      type: str
    deletion_protection:
      description: Whether deletion is refused.
      type: bool
    created_at:
      description: Creation time (RFC 3339).
      type: str
    target_size:
      description: Instances the group keeps.
      type: int
      sample: 2
    running_actual_count:
      description: Instances running the current template.
      type: int
    running_outdated_count:
      description: Instances running an older template.
      type: int
    processing_count:
      description: Instances being created, checked, updated or deleted.
      type: int
    deploy_policy:
      description:
        - The deploy policy, in M(filmopoisk.shs.yc_instance_group)'s option shape (durations in seconds).
        - C(minimal_action) is the least an update does to an instance (V(live_update), V(restart), V(recreate));
          none set reads as V(live_update), YC's default.
      type: dict
      sample: {max_unavailable: 1, max_expansion: 0, max_creating: 0, max_deleting: 0, startup_duration: 30,
               strategy: proactive, minimal_action: live_update}
    auto_healing_policy:
      description: What YC does to an unhealthy instance (V(restart), V(recreate), V(none)); none set reads as
        V(restart), YC's default.
      type: dict
      sample: {auto_healing_action: restart}
    instances:
      description: The instances (when O(instances)), by name.
      type: list
      elements: dict
      sample: [{name: shs-app-1, fqdn: shs-app-1.ru-central1.internal, instance_id: fhm..., status: RUNNING_ACTUAL,
                status_message: "", zone_id: ru-central1-a, address: 10.130.0.3, nat_address: ""}]
'''

from ansible_collections.filmopoisk.shs.plugins.module_utils.yc import YCModule, name_ok
from ansible_collections.filmopoisk.shs.plugins.module_utils.instance_group_policies import (
    auto_healing_policy_to_user, deploy_policy_to_user)

try:
    from yandex.cloud.compute.v1.instancegroup import instance_group_pb2 as ig_pb2, instance_group_service_pb2 as svc
    from yandex.cloud.compute.v1.instancegroup.instance_group_service_pb2_grpc import InstanceGroupServiceStub
except ImportError:
    pass  # YCModule reports the missing SDK


def instance_to_user(instance):
    nic = instance.network_interfaces[0] if instance.network_interfaces else None
    return dict(name=instance.name, fqdn=instance.fqdn, instance_id=instance.instance_id,
                status=ig_pb2.ManagedInstance.Status.Name(instance.status), status_message=instance.status_message,
                zone_id=instance.zone_id, address=nic.primary_v4_address.address if nic else '',
                nat_address=nic.primary_v4_address.one_to_one_nat.address if nic else '')


def group_to_user(group):
    state = group.managed_instances_state
    return dict(id=group.id, name=group.name, folder_id=group.folder_id, description=group.description,
                labels=dict(group.labels), status=ig_pb2.InstanceGroup.Status.Name(group.status),
                service_account_id=group.service_account_id, deletion_protection=group.deletion_protection,
                created_at=group.created_at.ToJsonString(), target_size=state.target_size,
                running_actual_count=state.running_actual_count, running_outdated_count=state.running_outdated_count,
                processing_count=state.processing_count, deploy_policy=deploy_policy_to_user(group.deploy_policy),
                auto_healing_policy=auto_healing_policy_to_user(group))


def main():
    module = YCModule(
        waits=False,
        argument_spec=dict(
            name=dict(type='str'),
            instances=dict(type='bool', default=True),
        ),
        supports_check_mode=True,
    )
    name_ok(module, module.params['name'])
    request = svc.ListInstanceGroupsRequest(folder_id=module.require_folder_id(), view=svc.BASIC)
    if module.params['name']:
        found = module.find_by_name(InstanceGroupServiceStub, request, 'instance_groups', module.params['name'],
                                    'of instance groups')
        groups = [found] if found is not None else []
    else:
        groups = module.list_all(InstanceGroupServiceStub, 'List', request, 'instance_groups', 'of instance groups')
    result = []
    for group in sorted(groups, key=lambda g: g.name):
        entry = group_to_user(group)
        if module.params['instances']:
            listing = svc.ListInstanceGroupInstancesRequest(instance_group_id=group.id)
            instances = module.list_all(InstanceGroupServiceStub, 'ListInstances', listing, 'instances',
                                        "instances of instance group '%s'" % group.name)
            entry['instances'] = sorted((instance_to_user(i) for i in instances), key=lambda i: i['name'])
        result.append(entry)
    module.exit_json(changed=False, instance_groups=result)


if __name__ == '__main__':
    main()
