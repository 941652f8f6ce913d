#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: filmopoisk.shs contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
module: yc_network
short_description: Manage a Yandex Cloud VPC network
version_added: 0.2.0
description:
  - Create, update or delete a VPC network, found by O(name) in the folder (names are unique in a folder).
  - Updates send only the changed fields (an update mask); a second run with the same options reports no change.
  - The same resource as Terraform's C(yandex_vpc_network).
options:
  state:
    description: V(absent) deletes the network (the API refuses while subnets are in it).
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
- name: The deployment's network
  filmopoisk.shs.yc_network:
    name: shs-net
    description: SHS session history
    labels: {project: shs}
    folder_id: "{{ yc_folder_id }}"

- name: Remove it (subnets first)
  filmopoisk.shs.yc_network:
    name: shs-net
    state: absent
'''

RETURN = r'''
network:
  description: The network as the API holds it after the run (empty when absent; the requested state in check mode).
  returned: always
  type: dict
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
from ansible_collections.filmopoisk.shs.plugins.module_utils.yc_vpc import network_to_user

try:
    from yandex.cloud.vpc.v1 import network_pb2, network_service_pb2 as svc
    from yandex.cloud.vpc.v1.network_service_pb2_grpc import NetworkServiceStub
except ImportError:
    pass  # YCModule reports the missing SDK


class Network(Resource):
    kind = 'network'
    list_field = 'networks'

    def __init__(self, module):
        super(Network, self).__init__(module)
        self.stub = NetworkServiceStub
        self.response_type = network_pb2.Network

    def list_request(self):
        return svc.ListNetworksRequest(folder_id=self.module.require_folder_id())

    def get_request(self, resource_id):
        return svc.GetNetworkRequest(network_id=resource_id)

    def to_user(self, network):
        return network_to_user(network)

    def create_request(self, desired):
        return svc.CreateNetworkRequest(folder_id=self.module.require_folder_id(), name=self.params['name'],
                                        description=desired.get('description', ''), labels=desired.get('labels', {}))

    def update_request(self, network, after, paths):
        return svc.UpdateNetworkRequest(network_id=network.id, update_mask=field_mask(paths), name=network.name,
                                        description=after['description'], labels=after['labels'])

    def delete_request(self, network):
        return svc.DeleteNetworkRequest(network_id=network.id)


def main():
    module = YCModule(argument_spec=named_resource_spec(), supports_check_mode=True)
    try:
        check_named_resource(module)
        result = Network(module).ensure()
    except YCError as exc:
        module.fail_json(msg=exc.msg, **exc.extra)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
