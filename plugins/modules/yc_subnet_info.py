#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: filmopoisk.shs contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
module: yc_subnet_info
short_description: List Yandex Cloud VPC subnets
version_added: 0.3.0
description:
  - Returns the subnets of the folder (or the one named O(name), the one of ID O(subnet_id), or those of
    O(network_id)). Changes nothing.
  - A subnet has the same shape as RV(filmopoisk.shs.yc_subnet#module:subnet) (one conversion for both modules).
options:
  name:
    description: Only the subnet of this name (an empty list when there is none).
    type: str
  subnet_id:
    description: Only the subnet of this ID, read with C(Get) (an empty list when there is none). With O(name), it
      must also have that name.
    type: str
  network_id:
    description: Only the subnets of this network.
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
- name: The subnets of the deployment's network
  filmopoisk.shs.yc_subnet_info:
    network_id: "{{ net.networks[0].id }}"
  register: subnets

- name: Their CIDRs
  ansible.builtin.debug:
    msg: "{{ subnets.subnets | map(attribute='v4_cidr_blocks') | flatten }}"

- name: One subnet by name
  filmopoisk.shs.yc_subnet_info:
    name: shs-a
  register: shs_a
'''

RETURN = r'''
subnets:
  description: The subnets, by name.
  returned: always
  type: list
  elements: dict
  contains:
    id:
      description: The subnet ID.
      type: str
      sample: e9b1abcdefghijklmnop
    folder_id:
      description: The folder it is in.
      type: str
      sample: b1gabcdefghijklmnopq
    name:
      description: Name.
      type: str
      sample: shs-a
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
    zone_id:
      description: The availability zone.
      type: str
      sample: ru-central1-a
    v4_cidr_blocks:
      description: IPv4 ranges.
      type: list
      elements: str
      sample: [10.10.1.0/24]
    route_table_id:
      description: The route table, V('') for none.
      type: str
      sample: enpd3s8svtkdabcdefgh
    created_at:
      description: Creation time (RFC 3339).
      type: str
      sample: '2026-11-28T08:00:00Z'
'''

from ansible_collections.filmopoisk.shs.plugins.module_utils.yc import YCError, YCModule, id_ok, name_ok
from ansible_collections.filmopoisk.shs.plugins.module_utils.yc_vpc import subnet_to_user

try:
    from yandex.cloud.vpc.v1 import subnet_service_pb2 as svc
    from yandex.cloud.vpc.v1.subnet_service_pb2_grpc import SubnetServiceStub
except ImportError:
    pass  # YCModule reports the missing SDK


def main():
    module = YCModule(
        waits=False,
        argument_spec=dict(name=dict(type='str'), subnet_id=dict(type='str'), network_id=dict(type='str')),
        supports_check_mode=True,
    )
    params = module.params
    try:
        name_ok(params['name'])
        id_ok(params['subnet_id'], 'subnet_id')
        id_ok(params['network_id'], 'network_id')
        get = svc.GetSubnetRequest(subnet_id=params['subnet_id']) if params['subnet_id'] else None
        request = svc.ListSubnetsRequest(folder_id='' if get else module.require_folder_id())
        subnets = module.yc.list_info(SubnetServiceStub, request, 'subnets', params['name'], 'of subnets', get)
    except YCError as exc:
        module.fail_json(msg=exc.msg, **exc.extra)
    # ListSubnetsRequest.filter knows only name (vpc/v1/subnet_service.proto): the network is picked here.
    if params['network_id']:
        subnets = [s for s in subnets if s.network_id == params['network_id']]
    module.exit_json(changed=False, subnets=[subnet_to_user(s) for s in subnets])


if __name__ == '__main__':
    main()
