#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: filmopoisk.shs contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
module: yc_route_table_info
short_description: List Yandex Cloud VPC route tables
version_added: 0.3.0
description:
  - Returns the route tables of the folder (or the one named O(name), or those of O(network_id)) with their
    static routes. Changes nothing.
options:
  name:
    description: Only the route table of this name (an empty list when there is none).
    type: str
  network_id:
    description: Only the route tables of this network.
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
- name: The egress table
  filmopoisk.shs.yc_route_table_info:
    name: shs-egress
  register: egress

- name: Every route table of the network
  filmopoisk.shs.yc_route_table_info:
    network_id: "{{ network.network.id }}"
  register: tables
'''

RETURN = r'''
route_tables:
  description: The route tables, by name.
  returned: always
  type: list
  elements: dict
  contains:
    id:
      description: Route table id.
      type: str
      sample: enpd3s8svtkdabcdefgh
    folder_id:
      description: Folder.
      type: str
    name:
      description: Name.
      type: str
      sample: shs-egress
    description:
      description: Description.
      type: str
    labels:
      description: Labels.
      type: dict
    network_id:
      description: Network.
      type: str
    created_at:
      description: Creation time (RFC 3339).
      type: str
    static_routes:
      description: The routes (C(destination_prefix), C(gateway_id), C(next_hop_address); the hop not used is
        V('')), sorted by destination prefix.
      type: list
      elements: dict
      sample: [{destination_prefix: 0.0.0.0/0, gateway_id: enpkq1v2e7p0abcdefgh, next_hop_address: ""}]
'''

from ansible_collections.filmopoisk.shs.plugins.module_utils.yc import YCError, YCModule, name_ok
from ansible_collections.filmopoisk.shs.plugins.module_utils.yc_vpc import route_table_to_user

try:
    from yandex.cloud.vpc.v1 import route_table_service_pb2 as svc
    from yandex.cloud.vpc.v1.route_table_service_pb2_grpc import RouteTableServiceStub
except ImportError:
    pass  # YCModule reports the missing SDK


def main():
    module = YCModule(
        waits=False,
        argument_spec=dict(name=dict(type='str'), network_id=dict(type='str')),
        supports_check_mode=True,
    )
    try:
        name_ok(module.params['name'])
        request = svc.ListRouteTablesRequest(folder_id=module.require_folder_id())
        tables = module.yc.list_named(RouteTableServiceStub, request, 'route_tables', module.params['name'],
                                      'of route tables')
    except YCError as exc:
        module.fail_json(msg=exc.msg, **exc.extra)
    # The List filter knows only name (route_table_service.proto): the network is picked here.
    if module.params['network_id']:
        tables = [t for t in tables if t.network_id == module.params['network_id']]
    module.exit_json(changed=False,
                     route_tables=[route_table_to_user(t) for t in tables])


if __name__ == '__main__':
    main()
