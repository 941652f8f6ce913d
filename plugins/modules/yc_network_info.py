#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: filmopoisk.shs contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
module: yc_network_info
short_description: List Yandex Cloud VPC networks
version_added: 0.3.0
description:
  - Returns the VPC networks of the folder, or the one named O(name), or the one of ID O(network_id). Changes
    nothing.
  - A network has the same shape as RV(filmopoisk.shs.yc_network#module:network) (one conversion for both modules).
options:
  name:
    description: Only the network of this name (an empty list when there is none).
    type: str
  network_id:
    description: Only the network of this ID, read with C(Get) (an empty list when there is none). With O(name),
      it must also have that name.
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
- name: The deployment's network
  filmopoisk.shs.yc_network_info:
    name: shs-net
  register: net

- name: Its default security group
  ansible.builtin.debug:
    msg: "{{ net.networks[0].default_security_group_id }}"
  when: net.networks

- name: Every network of the folder
  filmopoisk.shs.yc_network_info:
    folder_id: "{{ yc_folder_id }}"
  register: all_networks
'''

RETURN = r'''
networks:
  description: The networks, by name.
  returned: always
  type: list
  elements: dict
  contains:
    id:
      description: The network ID.
      type: str
      sample: enp1abcdefghijklmnop
    folder_id:
      description: The folder it is in.
      type: str
      sample: b1gabcdefghijklmnopq
    name:
      description: Name.
      type: str
      sample: shs-net
    description:
      description: Description.
      type: str
      sample: SHS
    labels:
      description: Labels.
      type: dict
      sample: {project: shs}
    created_at:
      description: Creation time (RFC 3339).
      type: str
      sample: '2026-11-28T08:00:00Z'
    default_security_group_id:
      description: The security group YC created with the network.
      type: str
      sample: enp2abcdefghijklmnop
'''

from ansible_collections.filmopoisk.shs.plugins.module_utils.yc import YCError, YCModule, id_ok, name_ok
from ansible_collections.filmopoisk.shs.plugins.module_utils.yc_vpc import network_to_user

try:
    from yandex.cloud.vpc.v1 import network_service_pb2 as svc
    from yandex.cloud.vpc.v1.network_service_pb2_grpc import NetworkServiceStub
except ImportError:
    pass  # YCModule reports the missing SDK


def main():
    module = YCModule(
        waits=False,
        argument_spec=dict(name=dict(type='str'), network_id=dict(type='str')),
        supports_check_mode=True,
    )
    params = module.params
    try:
        name_ok(params['name'])
        id_ok(params['network_id'], 'network_id')
        get = svc.GetNetworkRequest(network_id=params['network_id']) if params['network_id'] else None
        request = svc.ListNetworksRequest(folder_id='' if get else module.require_folder_id())
        networks = module.yc.list_info(NetworkServiceStub, request, 'networks', params['name'], 'of networks', get)
    except YCError as exc:
        module.fail_json(msg=exc.msg, **exc.extra)
    module.exit_json(changed=False, networks=[network_to_user(n) for n in networks])


if __name__ == '__main__':
    main()
