#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: filmopoisk.shs contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
module: yc_vpc_gateway_info
short_description: List Yandex Cloud VPC NAT gateways
version_added: 0.3.0
description:
  - Returns the NAT gateways of the folder, or the one named O(name). Changes nothing.
options:
  name:
    description: Only the gateway of this name (an empty list when there is none).
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
- name: The deployment's NAT gateway
  filmopoisk.shs.yc_vpc_gateway_info:
    name: shs-nat
  register: nat

- name: Its id
  ansible.builtin.debug:
    msg: "{{ nat.gateways[0].id }}"
  when: nat.gateways
'''

RETURN = r'''
gateways:
  description: The gateways, by name.
  returned: always
  type: list
  elements: dict
  contains:
    id:
      description: Gateway id.
      type: str
      sample: enpkq1v2e7p0abcdefgh
    folder_id:
      description: Folder.
      type: str
    name:
      description: Name.
      type: str
      sample: shs-nat
    description:
      description: Description.
      type: str
    labels:
      description: Labels.
      type: dict
    created_at:
      description: Creation time (RFC 3339).
      type: str
    shared_egress_gateway:
      description: Whether it is a shared egress gateway.
      type: bool
'''

from ansible_collections.filmopoisk.shs.plugins.module_utils.yc import YCError, YCModule, name_ok
from ansible_collections.filmopoisk.shs.plugins.module_utils.yc_vpc import gateway_to_user

try:
    from yandex.cloud.vpc.v1 import gateway_service_pb2 as svc
    from yandex.cloud.vpc.v1.gateway_service_pb2_grpc import GatewayServiceStub
except ImportError:
    pass  # YCModule reports the missing SDK


def main():
    module = YCModule(
        waits=False,
        argument_spec=dict(name=dict(type='str')),
        supports_check_mode=True,
    )
    try:
        name_ok(module.params['name'])
        request = svc.ListGatewaysRequest(folder_id=module.require_folder_id())
        gateways = module.yc.list_named(GatewayServiceStub, request, 'gateways', module.params['name'], 'of gateways')
    except YCError as exc:
        module.fail_json(msg=exc.msg, **exc.extra)
    module.exit_json(changed=False, gateways=[gateway_to_user(g) for g in gateways])


if __name__ == '__main__':
    main()
