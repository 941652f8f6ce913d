#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: filmopoisk.shs contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
module: yc_subnet
short_description: Manage a Yandex Cloud VPC subnet
version_added: 0.2.0
description:
  - Create, update or delete a subnet of a VPC network in one zone, found by O(name) in the folder.
  - O(network_id) and O(zone_id) cannot change once the subnet exists (the module says so instead of recreating it).
  - The same resource as Terraform's C(yandex_vpc_subnet).
options:
  network_id:
    description: ID of the network (RV(filmopoisk.shs.yc_network#module:network.id)). Required to create.
    type: str
  zone_id:
    description: Availability zone, e.g. V(ru-central1-a). Required to create.
    type: str
  v4_cidr_blocks:
    description: IPv4 ranges of the subnet, e.g. V(10.10.1.0/24). Required to create. They may not overlap
      other subnets of the network.
    type: list
    elements: str
  route_table_id:
    description:
      - ID of a route table of the same network (RV(filmopoisk.shs.yc_route_table#module:route_table.id)) that
        routes the subnet's traffic, e.g. V(0.0.0.0/0) through a NAT gateway so VMs without a public address
        reach the internet.
      - Not managed when omitted. V('') (an empty string) detaches the table the subnet has; that is also what a
        route table needs before it can be deleted.
    type: str
extends_documentation_fragment:
  - filmopoisk.shs.yc
  - filmopoisk.shs.yc.named
  - filmopoisk.shs.yc.wait
  - filmopoisk.shs.yc.attributes
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.actiongroups
author:
  - filmopoisk.shs contributors (@filmopoisk)
'''

EXAMPLES = r'''
- name: The app subnet
  filmopoisk.shs.yc_subnet:
    name: shs-a
    network_id: "{{ network.network.id }}"
    zone_id: ru-central1-a
    v4_cidr_blocks: [10.10.1.0/24]

- name: The db subnet, reaching the internet through the NAT gateway's route table
  filmopoisk.shs.yc_subnet:
    name: shs-db
    network_id: "{{ network.network.id }}"
    zone_id: ru-central1-a
    v4_cidr_blocks: [10.10.2.0/24]
    route_table_id: "{{ egress.route_table.id }}"

- name: Detach the route table
  filmopoisk.shs.yc_subnet:
    name: shs-db
    route_table_id: ""
'''

RETURN = r'''
subnet:
  description: The subnet as the API holds it after the run (empty when absent).
  returned: always
  type: dict
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
update_mask:
  description: Fields sent in the update.
  returned: when updated
  type: list
  elements: str
operation_id:
  description: The API operation of the write.
  returned: when something was written
  type: str
'''

from ansible_collections.filmopoisk.shs.plugins.module_utils.yc import (
    YCError, YCModule, Resource, check_named_resource, cidrs_ok, field_mask, named_resource_spec, zone_ok)
from ansible_collections.filmopoisk.shs.plugins.module_utils.yc_vpc import subnet_to_user

try:
    from yandex.cloud.vpc.v1 import subnet_pb2, subnet_service_pb2 as svc
    from yandex.cloud.vpc.v1.subnet_service_pb2_grpc import SubnetServiceStub
except ImportError:
    pass  # YCModule reports the missing SDK


class Subnet(Resource):
    kind = 'subnet'
    list_field = 'subnets'
    UPDATABLE = ('description', 'labels', 'v4_cidr_blocks', 'route_table_id')
    IMMUTABLE = ('network_id', 'zone_id')

    def __init__(self, module):
        super(Subnet, self).__init__(module)
        self.stub = SubnetServiceStub
        self.response_type = subnet_pb2.Subnet

    def list_request(self):
        return svc.ListSubnetsRequest(folder_id=self.module.require_folder_id())

    def get_request(self, resource_id):
        return svc.GetSubnetRequest(subnet_id=resource_id)

    def to_user(self, subnet):
        return subnet_to_user(subnet)

    def create_request(self, desired):
        missing = [key for key in ('network_id', 'zone_id', 'v4_cidr_blocks') if not desired.get(key)]
        if missing:
            raise YCError('%s does not exist; to create it set %s' % (self.label, ', '.join(missing)))
        return svc.CreateSubnetRequest(folder_id=self.module.require_folder_id(), name=self.params['name'],
                                       description=desired.get('description', ''), labels=desired.get('labels', {}),
                                       network_id=desired['network_id'], zone_id=desired['zone_id'],
                                       v4_cidr_blocks=desired['v4_cidr_blocks'],
                                       route_table_id=desired.get('route_table_id', ''))

    def update_request(self, subnet, after, paths):
        return svc.UpdateSubnetRequest(subnet_id=subnet.id, update_mask=field_mask(paths), name=subnet.name,
                                       description=after['description'], labels=after['labels'],
                                       v4_cidr_blocks=after['v4_cidr_blocks'], route_table_id=after['route_table_id'])

    def delete_request(self, subnet):
        return svc.DeleteSubnetRequest(subnet_id=subnet.id)


def main():
    module = YCModule(
        argument_spec=named_resource_spec(
            network_id=dict(type='str'),
            zone_id=dict(type='str'),
            v4_cidr_blocks=dict(type='list', elements='str'),
            route_table_id=dict(type='str'),
        ),
        supports_check_mode=True,
    )
    try:
        check_named_resource(module)
        zone_ok(module.params['zone_id'])
        cidrs_ok(module.params['v4_cidr_blocks'], 'v4_cidr_blocks')
        result = Subnet(module).ensure()
    except YCError as exc:
        module.fail_json(msg=exc.msg, **exc.extra)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
