#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: filmopoisk.shs contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
module: yc_instance_group_rolling
short_description: Restart or re-create the instances of a Yandex Compute Cloud instance group one by one
version_added: 0.3.0
description:
  - An action, not a state. Starts a rolling restart (C(RollingRestart)) or rolling re-creation (C(RollingRecreate))
    of an instance group, found by O(name) in the folder, and waits until the group runs again.
  - "YC does it within the group's deploy policy: with C(max_unavailable) 1 only one instance is down at any time,
    and each next instance goes only once the previous one is C(RUNNING_ACTUAL) again
    (U(https://yandex.cloud/en/docs/compute/concepts/instance-groups/rolling-actions))."
  - V(restart) stops and starts each VM (the same instance id and disks; cloud-init's once-per-instance steps do
    not run again); V(recreate) replaces each VM by a new one (new instance id and disks).
  - It reports C(changed) whenever it restarts something, as M(ansible.builtin.service) with V(restarted) does; in
    check mode it reports which instances it would restart and makes no call that writes.
  - With the group's C(opportunistic) deploy strategy YC acts only on instances that stop or fail their health
    checks; the module then returns once the request is accepted.
options:
  name:
    description: Name of the instance group in the folder.
    type: str
    required: true
  action:
    description: V(restart) (same VMs) or V(recreate) (new VMs).
    type: str
    choices: [restart, recreate]
    default: restart
  instance_ids:
    description:
      - The instances to restart or re-create, each by managed instance id, compute instance id or instance name
        (as M(filmopoisk.shs.yc_instance_group_info) lists them). Empty (the default) means all of them.
      - An entry that is not an instance of the group fails the module before anything is restarted.
    type: list
    elements: str
    default: []
  wait_for_instances:
    description: After the operation, also wait (up to O(wait_timeout)) until every instance is C(RUNNING_ACTUAL).
    type: bool
    default: true
extends_documentation_fragment:
  - filmopoisk.shs.yc
  - filmopoisk.shs.yc.wait
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.actiongroups
attributes:
  check_mode:
    support: full
    details: Reports the instances it would restart or re-create; no call that writes.
  diff_mode:
    support: none
  platform:
    platforms: all
    details: Runs where the task runs (usually the controller) and talks to the Yandex Cloud API.
  action_group:
    membership: [filmopoisk.shs.yc]
notes:
  - Uses C(InstanceGroupService.RollingRestart) and C(RollingRecreate); see
    U(https://yandex.cloud/en/docs/compute/operations/instance-groups/rolling-restart) and
    U(https://yandex.cloud/en/docs/compute/operations/instance-groups/rolling-recreate).
author:
  - filmopoisk.shs contributors (@filmopoisk)
'''

EXAMPLES = r'''
- name: Restart the SHS app VMs one by one (the group's max_unavailable at a time)
  filmopoisk.shs.yc_instance_group_rolling:
    name: shs-app
    action: restart

- name: Re-create one VM, by name
  filmopoisk.shs.yc_instance_group_rolling:
    name: shs-app
    action: recreate
    instance_ids: [shs-app-2]
  register: rolled

- name: The instances it replaced
  ansible.builtin.debug:
    msg: "{{ rolled.targets | map(attribute='name') | list }}"
'''

RETURN = r'''
instance_group:
  description: The group's id and name.
  returned: always
  type: dict
  sample: {id: cl1abcdefghijklmnopq, name: shs-app}
action:
  description: V(restart) or V(recreate).
  returned: always
  type: str
  sample: restart
targets:
  description: The instances restarted or re-created (in check mode, those that would be), as they were before.
  returned: always
  type: list
  elements: dict
  sample: [{name: shs-app-1, id: cl1abcdefghijklmnopq, instance_id: fhmabcdefghijklmnopq}]
instances:
  description:
    - The group's instances afterwards, by name (as RV(filmopoisk.shs.yc_instance_group#module:instances) of
      M(filmopoisk.shs.yc_instance_group)); the instances before in check mode.
  returned: always
  type: list
  elements: dict
  sample: [{name: shs-app-1, fqdn: shs-app-1.ru-central1.internal, instance_id: fhm..., status: RUNNING_ACTUAL,
            status_message: "", zone_id: ru-central1-a, address: 10.130.0.3, nat_address: ""}]
operation_id:
  description: The API operation (also when O(wait=false)).
  returned: when not in check mode
  type: str
  sample: cl1opabcdefghijklmno
'''

import time

from ansible_collections.filmopoisk.shs.plugins.module_utils.yc import YCError, YCModule, name_ok
from ansible_collections.filmopoisk.shs.plugins.module_utils.instance_group import instance_to_user, rolling_targets

try:
    from yandex.cloud.compute.v1.instancegroup import instance_group_pb2 as ig_pb2, instance_group_service_pb2 as svc
    from yandex.cloud.compute.v1.instancegroup.instance_group_service_pb2_grpc import InstanceGroupServiceStub
except ImportError:
    pass  # YCModule reports the missing SDK

METHODS = dict(restart=('RollingRestart', 'RollingRestartRequest'),
               recreate=('RollingRecreate', 'RollingRecreateRequest'))


def listed(module, group, label):
    request = svc.ListInstanceGroupInstancesRequest(instance_group_id=group.id)
    return module.yc.list_all(InstanceGroupServiceStub, 'ListInstances', request, 'instances', 'instances of ' + label)


def by_name(instances):
    return sorted((instance_to_user(i) for i in instances), key=lambda item: item['name'])


def wait_running(module, group, label):
    """Until the group is at its target size with every instance RUNNING_ACTUAL; our own deadline."""
    deadline = time.monotonic() + module.params['wait_timeout']
    while True:
        current = module.yc.call(InstanceGroupServiceStub, 'Get', svc.GetInstanceGroupRequest(
            instance_group_id=group.id), label)
        instances = by_name(listed(module, group, label))
        target = current.managed_instances_state.target_size
        if len(instances) == target and all(i['status'] == 'RUNNING_ACTUAL' for i in instances):
            return instances
        if time.monotonic() >= deadline:
            states = ', '.join('%s %s %s' % (i['name'], i['status'], i['status_message']) for i in instances)
            raise YCError('Timed out after %ds waiting for the instances of %s to be RUNNING_ACTUAL (now: %s)'
                          % (module.params['wait_timeout'], label, states or 'none'), instances=instances)
        time.sleep(2)


def run(module):
    params = module.params
    name_ok(params['name'])
    label = "instance group '%s'" % params['name']
    request = svc.ListInstanceGroupsRequest(folder_id=module.require_folder_id())
    group = module.yc.find_by_name(InstanceGroupServiceStub, request, 'instance_groups', params['name'],
                                   'instance groups')
    if group is None:
        raise YCError('%s not found in folder %s' % (label, params['folder_id']))
    if group.status == ig_pb2.InstanceGroup.DELETING:
        raise YCError('%s is being deleted' % label)
    before = listed(module, group, label)
    targets = rolling_targets(before, params['instance_ids'])
    result = dict(changed=bool(targets), instance_group=dict(id=group.id, name=group.name), action=params['action'],
                  targets=[dict(name=i.name, id=i.id, instance_id=i.instance_id) for i in targets],
                  instances=by_name(before))
    if not targets or module.check_mode:
        return result
    method, request_name = METHODS[params['action']]
    # all of them: an empty list, as the CLI's --all; else the managed ids the proto asks for
    ids = [] if not params['instance_ids'] else [i.id for i in targets]
    operation = module.yc.call(InstanceGroupServiceStub, method, getattr(svc, request_name)(
        instance_group_id=group.id, managed_instance_ids=ids), label, idempotent=False)
    result['operation_id'] = operation.id
    if module.yc.wait(operation, label) is None:  # wait=false
        return result
    result['instances'] = wait_running(module, group, label) if params['wait_for_instances'] else \
        by_name(listed(module, group, label))
    return result


def main():
    module = YCModule(
        argument_spec=dict(
            name=dict(type='str', required=True),
            action=dict(type='str', default='restart', choices=['restart', 'recreate']),
            instance_ids=dict(type='list', elements='str', default=[]),
            wait_for_instances=dict(type='bool', default=True),
        ),
        supports_check_mode=True,
    )
    try:
        result = run(module)
    except YCError as exc:
        module.fail_json(msg=exc.msg, **exc.extra)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
