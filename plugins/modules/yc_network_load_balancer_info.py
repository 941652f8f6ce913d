#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: filmopoisk.shs contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
module: yc_network_load_balancer_info
short_description: List Yandex Cloud network load balancers and the health of their targets
version_added: 0.4.0
description:
  - Returns the network load balancers of the folder, or the one named O(name), or the one of ID
    O(network_load_balancer_id). Changes nothing.
  - A balancer has the same shape as RV(filmopoisk.shs.yc_network_load_balancer#module:network_load_balancer) (one
    conversion for both modules). Unless O(target_states=false), each attached target group also lists its
    targets with the state the balancer's health checks give them
    (RV(network_load_balancers[].attached_target_groups[].target_states)), that is which VMs get traffic and which
    do not.
options:
  name:
    description: Only the balancer of this name (an empty list when there is none).
    type: str
  network_load_balancer_id:
    description: Only the balancer of this ID, read with C(Get) (an empty list when there is none). With O(name),
      it must also have that name.
    type: str
  target_states:
    description: Also list the targets of each attached group and their states (one C(GetTargetStates) call per
      group).
    type: bool
    default: true
extends_documentation_fragment:
  - filmopoisk.shs.yc
  - filmopoisk.shs.yc.info_attributes
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.actiongroups
notes:
  - Target statuses are those of U(https://yandex.cloud/en/docs/network-load-balancer/concepts/health-check).
author:
  - filmopoisk.shs contributors (@filmopoisk)
'''

EXAMPLES = r'''
- name: The deployment's balancer and its targets
  filmopoisk.shs.yc_network_load_balancer_info:
    name: shs-nlb
  register: nlb

- name: Targets that get no traffic
  ansible.builtin.debug:
    msg: "{{ nlb.network_load_balancers[0].attached_target_groups
             | map(attribute='target_states') | flatten
             | rejectattr('status', 'equalto', 'HEALTHY') | list }}"
  when: nlb.network_load_balancers

- name: Every balancer of the folder, without the target states
  filmopoisk.shs.yc_network_load_balancer_info:
    target_states: false
'''

RETURN = r'''
network_load_balancers:
  description: The balancers, by name.
  returned: always
  type: list
  elements: dict
  contains:
    id:
      description: Balancer ID.
      type: str
      sample: b7r97ah2jn5rmo6k1dsk
    folder_id:
      description: Folder.
      type: str
    name:
      description: Name.
      type: str
    description:
      description: Description.
      type: str
    labels:
      description: Labels.
      type: dict
    region_id:
      description: Region.
      type: str
    type:
      description: V(external) or V(internal).
      type: str
    status:
      description: C(ACTIVE), C(STOPPED), C(INACTIVE) (no listener, or no target in its groups), ...
      type: str
    deletion_protection:
      description: Whether deletes are refused.
      type: bool
    listeners:
      description: The listeners, by name (C(name), C(address), C(port), C(target_port), C(protocol),
        C(subnet_id), C(ip_version)), as
        RV(filmopoisk.shs.yc_network_load_balancer#module:network_load_balancer.listeners).
      type: list
      elements: dict
    attached_target_groups:
      description: The attached target groups, by ID, with their health check.
      type: list
      elements: dict
      contains:
        target_group_id:
          description: Target group ID.
          type: str
        healthchecks:
          description: Its health check (one) as M(filmopoisk.shs.yc_network_load_balancer) returns it (C(name),
            C(interval), C(timeout), C(unhealthy_threshold), C(healthy_threshold), C(http_options), C(tcp_options)).
          type: list
          elements: dict
        target_states:
          description: The group's targets and their states, by address (unless O(target_states=false)).
          returned: when O(target_states=true)
          type: list
          elements: dict
          contains:
            subnet_id:
              description: Subnet of the target.
              type: str
            address:
              description: Target address.
              type: str
              sample: 10.128.0.12
            status:
              description: C(INITIAL) (not checked yet), C(HEALTHY) (gets traffic), C(UNHEALTHY), C(DRAINING)
                (leaving, no new traffic), C(INACTIVE) (the balancer is stopped or has no listener).
              type: str
              sample: HEALTHY
    created_at:
      description: Creation time (RFC 3339).
      type: str
'''

from ansible_collections.filmopoisk.shs.plugins.module_utils.yc import YCError, YCModule, id_ok, name_ok
from ansible_collections.filmopoisk.shs.plugins.module_utils.yc_loadbalancer import (
    balancer_to_user, target_state_to_user)

try:
    from yandex.cloud.loadbalancer.v1 import network_load_balancer_service_pb2 as svc
    from yandex.cloud.loadbalancer.v1.network_load_balancer_service_pb2_grpc import NetworkLoadBalancerServiceStub
except ImportError:
    pass  # YCModule reports the missing SDK


def main():
    module = YCModule(
        waits=False,
        argument_spec=dict(name=dict(type='str'), network_load_balancer_id=dict(type='str'),
                           target_states=dict(type='bool', default=True)),
        supports_check_mode=True,
    )
    params = module.params
    result = []
    try:
        name_ok(params['name'])
        id_ok(params['network_load_balancer_id'], 'network_load_balancer_id')
        get = (svc.GetNetworkLoadBalancerRequest(network_load_balancer_id=params['network_load_balancer_id'])
               if params['network_load_balancer_id'] else None)
        request = svc.ListNetworkLoadBalancersRequest(folder_id='' if get else module.require_folder_id())
        balancers = module.yc.list_info(NetworkLoadBalancerServiceStub, request, 'network_load_balancers',
                                        params['name'], 'of network load balancers', get)
        for balancer in balancers:
            entry = balancer_to_user(balancer)
            if params['target_states']:
                for group in entry['attached_target_groups']:
                    states = module.yc.call(NetworkLoadBalancerServiceStub, 'GetTargetStates',
                                            svc.GetTargetStatesRequest(network_load_balancer_id=balancer.id,
                                                                       target_group_id=group['target_group_id']),
                                            "target states of group %s of network load balancer '%s'"
                                            % (group['target_group_id'], balancer.name))
                    group['target_states'] = sorted((target_state_to_user(s) for s in states.target_states),
                                                    key=lambda s: (s['address'], s['subnet_id']))
            result.append(entry)
    except YCError as exc:
        module.fail_json(msg=exc.msg, **exc.extra)
    module.exit_json(changed=False, network_load_balancers=result)


if __name__ == '__main__':
    main()
