#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: filmopoisk.shs contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
module: yc_security_group_info
short_description: List Yandex Cloud VPC security groups and their rules
version_added: 0.3.0
description:
  - Returns the security groups of the folder (or the one named O(name), the one of ID O(security_group_id), or
    those of O(network_id)) with their rules. Changes nothing.
  - A group has the same shape as RV(filmopoisk.shs.yc_security_group#module:security_group), its rules in the shape
    of O(filmopoisk.shs.yc_security_group#module:rules) (one conversion for both modules), so a listed group's
    rules can be given back to M(filmopoisk.shs.yc_security_group).
  - The default security group YC creates with each network is listed too (its name is generated).
options:
  name:
    description: Only the group of this name (an empty list when there is none).
    type: str
  security_group_id:
    description: Only the group of this ID, read with C(Get) (an empty list when there is none). With O(name), it
      must also have that name.
    type: str
  network_id:
    description: Only the groups of this network.
    type: str
extends_documentation_fragment:
  - filmopoisk.shs.yc
  - filmopoisk.shs.yc.info_attributes
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.actiongroups
author:
  - filmopoisk.shs contributors (@filmopoisk)
'''

EXAMPLES = r'''
- name: The load balancer's group
  filmopoisk.shs.yc_security_group_info:
    name: shs-lb
  register: lb_sg

- name: The ports it opens to the world
  ansible.builtin.debug:
    msg: "{{ lb_sg.security_groups[0].rules | selectattr('direction', '==', 'ingress') | map(attribute='from_port') }}"
  when: lb_sg.security_groups

- name: Every group of the deployment's network
  filmopoisk.shs.yc_security_group_info:
    network_id: "{{ net.networks[0].id }}"
  register: groups
'''

RETURN = r'''
security_groups:
  description: The security groups, by name.
  returned: always
  type: list
  elements: dict
  contains:
    id:
      description: The security group ID.
      type: str
      sample: enp3abcdefghijklmnop
    folder_id:
      description: The folder it is in.
      type: str
      sample: b1gabcdefghijklmnopq
    name:
      description: Name.
      type: str
      sample: shs-lb
    description:
      description: Description.
      type: str
      sample: SHS
    labels:
      description: Labels.
      type: dict
      sample: {project: shs}
    network_id:
      description: The network.
      type: str
      sample: enp1abcdefghijklmnop
    status:
      description: V(CREATING), V(ACTIVE), V(UPDATING) or V(DELETING).
      type: str
      sample: ACTIVE
    rules:
      description: The rules, in the shape of O(filmopoisk.shs.yc_security_group#module:rules), sorted.
      type: list
      elements: dict
      contains:
        direction:
          description: V(ingress) or V(egress).
          type: str
          sample: ingress
        protocol:
          description: Upper-case protocol name, V(ANY) for all.
          type: str
          sample: TCP
        from_port:
          description: First port, V(null) for all ports.
          type: int
          sample: 443
        to_port:
          description: Last port, V(null) for all ports.
          type: int
          sample: 443
        v4_cidr_blocks:
          description: IPv4 ranges, sorted.
          type: list
          elements: str
          sample: [0.0.0.0/0]
        security_group_id:
          description: The peer security group, V('') for none.
          type: str
          sample: ''
        predefined_target:
          description: V(self_security_group), V(loadbalancer_healthchecks) or V('').
          type: str
          sample: ''
        description:
          description: Description.
          type: str
          sample: ''
    created_at:
      description: Creation time (RFC 3339).
      type: str
      sample: '2026-11-28T08:00:00Z'
'''

from ansible_collections.filmopoisk.shs.plugins.module_utils.yc import YCError, YCModule, id_ok, name_ok
from ansible_collections.filmopoisk.shs.plugins.module_utils.yc_vpc import security_group_to_user

try:
    from yandex.cloud.vpc.v1 import security_group_service_pb2 as svc
    from yandex.cloud.vpc.v1.security_group_service_pb2_grpc import SecurityGroupServiceStub
except ImportError:
    pass  # YCModule reports the missing SDK


def main():
    module = YCModule(
        waits=False,
        argument_spec=dict(name=dict(type='str'), security_group_id=dict(type='str'), network_id=dict(type='str')),
        supports_check_mode=True,
    )
    params = module.params
    try:
        name_ok(params['name'])
        id_ok(params['security_group_id'], 'security_group_id')
        id_ok(params['network_id'], 'network_id')
        get = None
        if params['security_group_id']:
            get = svc.GetSecurityGroupRequest(security_group_id=params['security_group_id'])
        request = svc.ListSecurityGroupsRequest(folder_id='' if get else module.require_folder_id())
        groups = module.yc.list_info(SecurityGroupServiceStub, request, 'security_groups', params['name'],
                                     'of security groups', get)
    except YCError as exc:
        module.fail_json(msg=exc.msg, **exc.extra)
    # ListSecurityGroupsRequest.filter knows only name (vpc/v1/security_group_service.proto): the network is
    # picked here.
    if params['network_id']:
        groups = [g for g in groups if g.network_id == params['network_id']]
    module.exit_json(changed=False, security_groups=[security_group_to_user(g) for g in groups])


if __name__ == '__main__':
    main()
