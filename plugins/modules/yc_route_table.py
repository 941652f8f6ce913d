#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: filmopoisk.shs contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
module: yc_route_table
short_description: Manage a Yandex Cloud VPC route table (static routes)
version_added: 0.3.0
description:
  - Create, update or delete a route table of a VPC network, found by O(name) in the folder.
  - A route table does nothing until a subnet uses it (M(filmopoisk.shs.yc_subnet)'s
    O(filmopoisk.shs.yc_subnet#module:route_table_id)); it can be used by any subnet of its own network.
  - O(static_routes) are compared as a set (their order does not matter); the module sends an update only when
    the set differs, and then replaces the whole list. Updates send only the changed fields (an update mask).
  - O(network_id) cannot change once the table exists (the module says so instead of recreating it).
  - The same resource as Terraform's C(yandex_vpc_route_table).
options:
  network_id:
    description: ID of the network (RV(filmopoisk.shs.yc_network#module:network.id)). Required to create.
    type: str
  static_routes:
    description:
      - The routes. Not managed when omitted; V([]) removes every route (how a gateway is detached before it is
        deleted).
      - At most one route per O(static_routes[].destination_prefix).
      - Route labels are not managed; labels a route already has are kept while the route stays.
    type: list
    elements: dict
    suboptions:
      destination_prefix:
        description: Destination IPv4 prefix in canonical CIDR form, e.g. V(0.0.0.0/0) or V(192.168.0.0/16);
          not link-local (C(169.254.0.0/16)).
        type: str
        required: true
      gateway_id:
        description:
          - Next hop, a NAT gateway (RV(filmopoisk.shs.yc_vpc_gateway#module:gateway.id)). Only with the
            O(static_routes[].destination_prefix) V(0.0.0.0/0).
          - Exactly one of O(static_routes[].gateway_id) and O(static_routes[].next_hop_address) is set (V('')
            counts as not set).
        type: str
      next_hop_address:
        description:
          - Next hop, an internal IPv4 address (e.g. a NAT instance). A V(0.0.0.0/0) route to an address also
            disables the public addresses of VMs in the subnets that use the table.
        type: str
  labels:
    description: Labels (keys C([a-z][-_0-9a-z]*), values C([-_0-9a-z]*)). Not managed when omitted; see
      O(purge_labels).
  state:
    description: V(absent) deletes the table (the API refuses while a subnet uses it; detach it first).
extends_documentation_fragment:
  - filmopoisk.shs.yc
  - filmopoisk.shs.yc.named
  - filmopoisk.shs.yc.wait
  - filmopoisk.shs.yc.attributes
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.actiongroups
notes:
  - See U(https://yandex.cloud/en/docs/vpc/concepts/routing).
author:
  - filmopoisk.shs contributors (@filmopoisk)
'''

EXAMPLES = r'''
- name: Internet egress through the NAT gateway
  filmopoisk.shs.yc_route_table:
    name: shs-egress
    network_id: "{{ network.network.id }}"
    static_routes:
      - destination_prefix: 0.0.0.0/0
        gateway_id: "{{ nat.gateway.id }}"
  register: egress

- name: Used by the app subnet
  filmopoisk.shs.yc_subnet:
    name: shs-a
    network_id: "{{ network.network.id }}"
    zone_id: ru-central1-a
    v4_cidr_blocks: [10.10.1.0/24]
    route_table_id: "{{ egress.route_table.id }}"

- name: A route to another network through a VPN VM
  filmopoisk.shs.yc_route_table:
    name: shs-vpn
    network_id: "{{ network.network.id }}"
    static_routes:
      - destination_prefix: 192.168.0.0/16
        next_hop_address: 10.10.1.5

- name: Remove it (detach it from the subnets first)
  filmopoisk.shs.yc_route_table:
    name: shs-vpn
    state: absent
'''

RETURN = r'''
route_table:
  description: The route table as the API holds it after the run (empty when absent; the requested state in check
    mode).
  returned: always
  type: dict
  contains:
    id:
      description: Route table id (a subnet's C(route_table_id)).
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
      description: The routes, sorted by destination prefix; the next hop not used is V('').
      type: list
      elements: dict
      sample: [{destination_prefix: 0.0.0.0/0, gateway_id: enpkq1v2e7p0abcdefgh, next_hop_address: ""}]
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
from ansible_collections.filmopoisk.shs.plugins.module_utils.yc_vpc import (
    route_key, route_table_labels_ok, route_table_to_user, routes_ok, static_route_spec)

try:
    from yandex.cloud.vpc.v1 import route_table_pb2, route_table_service_pb2 as svc
    from yandex.cloud.vpc.v1.route_table_service_pb2_grpc import RouteTableServiceStub
except ImportError:
    pass  # YCModule reports the missing SDK


class RouteTable(Resource):
    kind = 'route_table'
    list_field = 'route_tables'
    UPDATABLE = ('description', 'labels', 'static_routes')
    IMMUTABLE = ('network_id',)

    def __init__(self, module, routes):
        super(RouteTable, self).__init__(module)
        self.stub = RouteTableServiceStub
        self.response_type = route_table_pb2.RouteTable
        self.routes = routes

    @property
    def label(self):
        return "route table '%s'" % self.params['name']

    def list_request(self):
        return svc.ListRouteTablesRequest(folder_id=self.module.require_folder_id())

    def get_request(self, resource_id):
        return svc.GetRouteTableRequest(route_table_id=resource_id)

    def to_user(self, table):
        return route_table_to_user(table)

    def desired(self):
        desired = super(RouteTable, self).desired()
        desired.pop('static_routes', None)  # the option as given; the converted static_routes below
        if self.routes is not None:
            desired['static_routes'] = self.routes
        return desired

    def static_routes(self, routes, current=None):
        """StaticRoute messages; a route the table already has keeps its labels."""
        labels = {}
        for route in (current.static_routes if current is not None else []):
            labels[(route.destination_prefix, route.gateway_id, route.next_hop_address)] = dict(route.labels)
        result = []
        for route in routes:
            message = route_table_pb2.StaticRoute(destination_prefix=route['destination_prefix'],
                                                  labels=labels.get(route_key(route), {}))
            hop = 'gateway_id' if route['gateway_id'] else 'next_hop_address'
            setattr(message, hop, route[hop])
            result.append(message)
        return result

    def create_request(self, desired):
        if not desired.get('network_id'):
            raise YCError('%s does not exist; to create it set network_id' % self.label)
        return svc.CreateRouteTableRequest(folder_id=self.module.require_folder_id(), name=self.params['name'],
                                           description=desired.get('description', ''),
                                           labels=desired.get('labels', {}), network_id=desired['network_id'],
                                           static_routes=self.static_routes(desired.get('static_routes') or []))

    def update_request(self, table, after, paths):
        return svc.UpdateRouteTableRequest(route_table_id=table.id, update_mask=field_mask(paths), name=table.name,
                                           description=after['description'], labels=after['labels'],
                                           static_routes=self.static_routes(after['static_routes'], table))

    def delete_request(self, table):
        return svc.DeleteRouteTableRequest(route_table_id=table.id)


def main():
    module = YCModule(
        argument_spec=named_resource_spec(
            network_id=dict(type='str'),
            static_routes=static_route_spec(),
        ),
        supports_check_mode=True,
    )
    try:
        check_named_resource(module)
        route_table_labels_ok(module.params['labels'])
        result = RouteTable(module, routes_ok(module.params['static_routes'])).ensure()
    except YCError as exc:
        module.fail_json(msg=exc.msg, **exc.extra)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
