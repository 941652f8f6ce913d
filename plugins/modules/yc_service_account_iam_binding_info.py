#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: filmopoisk.shs contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
module: yc_service_account_iam_binding_info
short_description: List the access bindings (roles) on a Yandex Cloud service account
version_added: 0.3.0
description:
  - Returns the access bindings of one service account as the resource (who may use or manage the account, e.g.
    V(iam.serviceAccounts.user)), each binding in the shape M(filmopoisk.shs.yc_service_account_iam_binding)
    manages, optionally only those of one role and/or one subject.
  - The roles the account itself has on the folder are listed by M(filmopoisk.shs.yc_folder_iam_binding_info).
  - Roles inherited from above (the cloud's for a folder, the folder's for a registry or an account) are not listed;
    C(ListAccessBindings) returns the bindings set on the resource itself.
  - Changes nothing.
options:
  service_account_id:
    description:
      - ID of the service account whose bindings are listed, e.g.
        RV(filmopoisk.shs.yc_service_account_info#module:service_accounts[].id).
    type: str
    required: true
  role:
    description: Only the bindings of this role, e.g. V(iam.serviceAccounts.user).
    type: str
  member:
    description:
      - Only the bindings of this subject, as Terraform writes it, V(<type>:<id>), e.g. V(serviceAccount:aje1...).
        Mutually exclusive with O(subject_id) and O(subject_type).
    type: str
  subject_id:
    description: Only the bindings of the subject of this ID.
    type: str
  subject_type:
    description: Only the bindings of subjects of this type.
    type: str
    choices: [serviceAccount, userAccount, federatedUser, group, system]
extends_documentation_fragment:
  - filmopoisk.shs.yc
  - filmopoisk.shs.yc.info_attributes
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.actiongroups
author:
  - filmopoisk.shs contributors (@filmopoisk)
'''

EXAMPLES = r'''
- name: Who may act as the VMs' service account
  filmopoisk.shs.yc_service_account_iam_binding_info:
    service_account_id: "{{ vm_sa.service_accounts[0].id }}"
    role: iam.serviceAccounts.user
  register: users
'''

RETURN = r'''
bindings:
  description: The access bindings, by role, subject type and subject ID, in the shape of
    RV(filmopoisk.shs.yc_service_account_iam_binding#module:binding).
  returned: always
  type: list
  elements: dict
  contains:
    service_account_id:
      description: The service account the role is on.
      type: str
      sample: aje1abcdefghijklmnop
    role_id:
      description: The role.
      type: str
      sample: iam.serviceAccounts.user
    subject:
      description: Who has the role.
      type: dict
      contains:
        id:
          description: Subject ID.
          type: str
          sample: aje1abcdefghijklmnop
        type:
          description: Subject type.
          type: str
          sample: serviceAccount
'''

from ansible_collections.filmopoisk.shs.plugins.module_utils.yc import YCError, YCModule
from ansible_collections.filmopoisk.shs.plugins.module_utils.yc_access import binding_filter_spec, list_bindings

try:
    from yandex.cloud.iam.v1.service_account_service_pb2_grpc import ServiceAccountServiceStub
except ImportError:
    pass  # YCModule reports the missing SDK


def main():
    module = YCModule(
        waits=False,
        argument_spec=binding_filter_spec(service_account_id=dict(type='str', required=True)),
        mutually_exclusive=[['member', 'subject_id'], ['member', 'subject_type']],
        supports_check_mode=True,
    )
    try:
        # iam/v1/service_account_service.proto: ListAccessBindings, resource_id = the account.
        bindings = list_bindings(module, ServiceAccountServiceStub, 'service account', 'service_account_id', module.params['service_account_id'])
    except YCError as exc:
        module.fail_json(msg=exc.msg, **exc.extra)
    module.exit_json(changed=False, bindings=bindings)


if __name__ == '__main__':
    main()
