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
  - A group has the same shape as RV(filmopoisk.shs.yc_instance_group#module:instance_group) (one conversion for
    both modules), plus its instance counts and RV(instance_groups[].instances).
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
  - filmopoisk.shs.yc.info_attributes
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.actiongroups
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
    variables:
      description: As the option O(filmopoisk.shs.yc_instance_group#module:variables).
      type: dict
    instance_template:
      description:
        - As the option O(filmopoisk.shs.yc_instance_group#module:instance_template).
        - C(metadata) is V({}) here (the C(BASIC) view leaves it out).
      type: dict
    scale_policy:
      description: As the option O(filmopoisk.shs.yc_instance_group#module:scale_policy).
      type: dict
      sample: {fixed_scale: {size: 2}}
    allocation_policy:
      description: As the option O(filmopoisk.shs.yc_instance_group#module:allocation_policy).
      type: dict
    health_checks:
      description: As the option O(filmopoisk.shs.yc_instance_group#module:health_checks).
      type: list
      elements: dict
    max_checking_health_duration:
      description: As the option O(filmopoisk.shs.yc_instance_group#module:max_checking_health_duration).
      type: int
    load_balancer:
      description: As the option O(filmopoisk.shs.yc_instance_group#module:load_balancer); V(null) without one.
      type: dict
    target_group_id:
      description: The id of the target group made from RV(instance_groups[].load_balancer); V(null) without one.
      type: str
      version_added: 0.4.0
    instances:
      description: The instances (when O(instances)), by name.
      type: list
      elements: dict
      sample: [{name: shs-app-1, fqdn: shs-app-1.ru-central1.internal, instance_id: fhm..., status: RUNNING_ACTUAL,
                status_message: "", zone_id: ru-central1-a, address: 10.130.0.3, nat_address: ""}]
'''

from ansible_collections.filmopoisk.shs.plugins.module_utils.yc import YCError, YCModule, name_ok
from ansible_collections.filmopoisk.shs.plugins.module_utils.instance_group import (
    group_to_user, instance_counts, instance_to_user)

try:
    from yandex.cloud.compute.v1.instancegroup import instance_group_service_pb2 as svc
    from yandex.cloud.compute.v1.instancegroup.instance_group_service_pb2_grpc import InstanceGroupServiceStub
except ImportError:
    pass  # YCModule reports the missing SDK


def main():
    module = YCModule(
        waits=False,
        argument_spec=dict(
            name=dict(type='str'),
            instances=dict(type='bool', default=True),
        ),
        supports_check_mode=True,
    )
    result = []
    try:
        name_ok(module.params['name'])
        request = svc.ListInstanceGroupsRequest(folder_id=module.require_folder_id(), view=svc.BASIC)
        groups = module.yc.list_named(InstanceGroupServiceStub, request, 'instance_groups', module.params['name'],
                                      'of instance groups')
        for group in groups:
            entry = dict(group_to_user(group), **instance_counts(group))
            if module.params['instances']:
                listing = svc.ListInstanceGroupInstancesRequest(instance_group_id=group.id)
                instances = module.yc.list_all(InstanceGroupServiceStub, 'ListInstances', listing, 'instances',
                                               "instances of instance group '%s'" % group.name)
                entry['instances'] = sorted((instance_to_user(i) for i in instances), key=lambda i: i['name'])
            result.append(entry)
    except YCError as exc:
        module.fail_json(msg=exc.msg, **exc.extra)
    module.exit_json(changed=False, instance_groups=result)


if __name__ == '__main__':
    main()
