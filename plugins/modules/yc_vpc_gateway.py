#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: filmopoisk.shs contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
module: yc_vpc_gateway
short_description: Manage a Yandex Cloud VPC NAT gateway (shared egress gateway)
version_added: 0.3.0
description:
  - Create, update or delete a NAT gateway, found by O(name) in the folder (names are unique in a folder).
  - A NAT gateway gives VMs without a public address access to the internet (for example to C(cr.yandex) to pull
    their images). It does nothing by itself; point a route table's C(0.0.0.0/0) route at it
    (M(filmopoisk.shs.yc_route_table)) and attach that table to the subnets (M(filmopoisk.shs.yc_subnet)'s
    O(filmopoisk.shs.yc_subnet#module:route_table_id)).
  - The gateway is always of the shared egress type, the only one the API has.
  - Updates send only the changed fields (an update mask); a second run with the same options reports no change.
  - The same resource as Terraform's C(yandex_vpc_gateway) with C(shared_egress_gateway {}).
options:
  state:
    description: V(absent) deletes the gateway (the API refuses while a route table uses it; remove the route
      first).
extends_documentation_fragment:
  - filmopoisk.shs.yc
  - filmopoisk.shs.yc.named
  - filmopoisk.shs.yc.wait
  - filmopoisk.shs.yc.attributes
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.actiongroups
notes:
  - See U(https://yandex.cloud/en/docs/vpc/concepts/gateways) and
    U(https://yandex.cloud/en/docs/vpc/operations/create-nat-gateway).
author:
  - filmopoisk.shs contributors (@filmopoisk)
'''

EXAMPLES = r'''
- name: The deployment's NAT gateway
  filmopoisk.shs.yc_vpc_gateway:
    name: shs-nat
    description: egress for the app and db VMs
    labels: {project: shs}
  register: nat

- name: Route all outside traffic of the network through it
  filmopoisk.shs.yc_route_table:
    name: shs-egress
    network_id: "{{ network.network.id }}"
    static_routes:
      - destination_prefix: 0.0.0.0/0
        gateway_id: "{{ nat.gateway.id }}"

- name: Remove it (detach the route tables first)
  filmopoisk.shs.yc_vpc_gateway:
    name: shs-nat
    state: absent
'''

RETURN = r'''
gateway:
  description: The gateway as the API holds it after the run (empty when absent; the requested state in check mode).
  returned: always
  type: dict
  contains:
    id:
      description: Gateway id (use it as a route's C(gateway_id)).
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
      description: Whether it is a shared egress gateway (always true).
      type: bool
update_mask:
  description: Fields sent in the update (only those that changed).
  returned: when updated
  type: list
  elements: str
operation_id:
  description: The API operation of the write.
  returned: when something was written
  type: str
'''

from ansible_collections.filmopoisk.shs.plugins.module_utils.yc import (
    YCError, YCModule, Resource, check_named_resource, field_mask, named_resource_spec)
from ansible_collections.filmopoisk.shs.plugins.module_utils.yc_vpc import gateway_to_user

try:
    from yandex.cloud.vpc.v1 import gateway_pb2, gateway_service_pb2 as svc
    from yandex.cloud.vpc.v1.gateway_service_pb2_grpc import GatewayServiceStub
except ImportError:
    pass  # YCModule reports the missing SDK


class Gateway(Resource):
    kind = 'gateway'
    list_field = 'gateways'

    def __init__(self, module):
        super(Gateway, self).__init__(module)
        self.stub = GatewayServiceStub
        self.response_type = gateway_pb2.Gateway

    def list_request(self):
        return svc.ListGatewaysRequest(folder_id=self.module.require_folder_id())

    def get_request(self, resource_id):
        return svc.GetGatewayRequest(gateway_id=resource_id)

    def to_user(self, gateway):
        return gateway_to_user(gateway)

    def create_request(self, desired):
        return svc.CreateGatewayRequest(folder_id=self.module.require_folder_id(), name=self.params['name'],
                                        description=desired.get('description', ''), labels=desired.get('labels', {}),
                                        shared_egress_gateway_spec=svc.SharedEgressGatewaySpec())

    def update_request(self, gateway, after, paths):
        return svc.UpdateGatewayRequest(gateway_id=gateway.id, update_mask=field_mask(paths), name=gateway.name,
                                        description=after['description'], labels=after['labels'])

    def delete_request(self, gateway):
        return svc.DeleteGatewayRequest(gateway_id=gateway.id)


def main():
    module = YCModule(argument_spec=named_resource_spec(), supports_check_mode=True)
    try:
        check_named_resource(module)
        result = Gateway(module).ensure()
    except YCError as exc:
        module.fail_json(msg=exc.msg, **exc.extra)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
