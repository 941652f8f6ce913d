#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: filmopoisk.shs contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
module: yc_service_account
short_description: Manage a Yandex Cloud IAM service account
version_added: 0.2.0
description:
  - Create, update or delete a service account, found by O(name) in the folder.
  - Roles are granted with M(filmopoisk.shs.yc_folder_iam_binding).
  - The same resource as Terraform's C(yandex_iam_service_account). The API refuses to delete an account
    still used (e.g. by an instance group); the module reports that error as it is.
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
- name: The account instance groups act as
  filmopoisk.shs.yc_service_account:
    name: shs-ig
    description: manages the SHS instance groups
  register: ig_sa
'''

RETURN = r'''
service_account:
  description: The account as the API holds it after the run (empty when absent).
  returned: always
  type: dict
  contains:
    id:
      description: The service account ID.
      type: str
      sample: aje1abcdefghijklmnop
    folder_id:
      description: The folder it is in.
      type: str
      sample: b1gabcdefghijklmnopq
    name:
      description: Name.
      type: str
      sample: shs-ig
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
    YCError, YCModule, Resource, check_named_resource, field_mask, named_resource_spec)
from ansible_collections.filmopoisk.shs.plugins.module_utils.yc_iam import service_account_to_user

try:
    from yandex.cloud.iam.v1 import service_account_pb2, service_account_service_pb2 as svc
    from yandex.cloud.iam.v1.service_account_service_pb2_grpc import ServiceAccountServiceStub
except ImportError:
    pass  # YCModule reports the missing SDK


class ServiceAccount(Resource):
    kind = 'service_account'
    list_field = 'service_accounts'

    def __init__(self, module):
        super(ServiceAccount, self).__init__(module)
        self.stub = ServiceAccountServiceStub
        self.response_type = service_account_pb2.ServiceAccount

    @property
    def label(self):
        return "service account '%s'" % self.params['name']

    def list_request(self):
        return svc.ListServiceAccountsRequest(folder_id=self.module.require_folder_id())

    def get_request(self, resource_id):
        return svc.GetServiceAccountRequest(service_account_id=resource_id)

    def to_user(self, account):
        return service_account_to_user(account)

    def create_request(self, desired):
        return svc.CreateServiceAccountRequest(folder_id=self.module.require_folder_id(), name=self.params['name'],
                                               description=desired.get('description', ''),
                                               labels=desired.get('labels', {}))

    def update_request(self, account, after, paths):
        return svc.UpdateServiceAccountRequest(service_account_id=account.id, update_mask=field_mask(paths),
                                               name=account.name, description=after['description'],
                                               labels=after['labels'])

    def delete_request(self, account):
        return svc.DeleteServiceAccountRequest(service_account_id=account.id)


def main():
    module = YCModule(argument_spec=named_resource_spec(), supports_check_mode=True)
    try:
        check_named_resource(module)
        result = ServiceAccount(module).ensure()
    except YCError as exc:
        module.fail_json(msg=exc.msg, **exc.extra)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
