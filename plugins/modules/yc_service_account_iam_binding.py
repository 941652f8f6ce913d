#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: filmopoisk.shs contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
module: yc_service_account_iam_binding
short_description: Grant or revoke one role on a Yandex Cloud service account for one subject
version_added: 0.3.0
description:
  - Read-modify-update of the access bindings of one service account (the service account as the resource, not
    as the subject), like Terraform's C(yandex_iam_service_account_iam_member) (not the authoritative
    C(_iam_binding)). Only this subject's role is added (C(ADD) delta) or removed (C(REMOVE) delta); bindings of
    everybody else are left alone.
  - For example V(iam.serviceAccounts.user) on the service account lets the subject use it, such as naming it as
    the service account of an instance group, without a role on the whole folder (YC docs
    C(en/iam/security/index.md), C(en/iam/operations/sa/set-access-bindings.md)).
  - To grant a service account a role on the folder, use M(filmopoisk.shs.yc_folder_iam_binding).
options:
  service_account_id:
    description:
      - ID of the service account the role is granted on, e.g.
        RV(filmopoisk.shs.yc_service_account#module:service_account.id).
    type: str
    required: true
  role:
    description: Role ID, e.g. V(iam.serviceAccounts.user), V(iam.serviceAccounts.tokenCreator), V(editor).
    type: str
    required: true
  subject_id:
    description: ID of the subject the role is granted to (of the type O(subject_type)).
    type: str
    required: true
  subject_type:
    description: Type of the subject.
    type: str
    choices: [serviceAccount, userAccount, federatedUser, group, system]
    default: serviceAccount
  state:
    description: V(present) grants the role, V(absent) revokes it.
    type: str
    choices: [present, absent]
    default: present
extends_documentation_fragment:
  - filmopoisk.shs.yc
  - filmopoisk.shs.yc.wait
  - filmopoisk.shs.yc.attributes
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.actiongroups
author:
  - filmopoisk.shs contributors (@filmopoisk)
'''

EXAMPLES = r'''
- name: The instance groups' service account may run VMs as the VMs' service account, and nothing more
  filmopoisk.shs.yc_service_account_iam_binding:
    service_account_id: "{{ vm_sa.service_account.id }}"
    role: iam.serviceAccounts.user
    subject_id: "{{ ig_sa.service_account.id }}"

- name: Revoke it
  filmopoisk.shs.yc_service_account_iam_binding:
    service_account_id: "{{ vm_sa.service_account.id }}"
    role: iam.serviceAccounts.user
    subject_id: "{{ ig_sa.service_account.id }}"
    state: absent
'''

RETURN = r'''
binding:
  description: The binding this task manages (also when it was absent and stays so).
  returned: always
  type: dict
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
operation_id:
  description: The API operation of the write.
  returned: when something was written
  type: str
'''

from ansible_collections.filmopoisk.shs.plugins.module_utils.yc import YCError, YCModule
from ansible_collections.filmopoisk.shs.plugins.module_utils.yc_access import binding_spec, ensure_binding

try:
    from yandex.cloud.iam.v1.service_account_service_pb2_grpc import ServiceAccountServiceStub
except ImportError:
    pass  # YCModule reports the missing SDK


def main():
    module = YCModule(
        argument_spec=binding_spec(service_account_id=dict(type='str', required=True)),
        supports_check_mode=True,
    )
    try:
        # iam/v1/service_account_service.proto: ListAccessBindings / UpdateAccessBindings, resource_id = the account.
        result = ensure_binding(module, ServiceAccountServiceStub, 'service account', 'service_account_id',
                                module.params['service_account_id'])
    except YCError as exc:
        module.fail_json(msg=exc.msg, **exc.extra)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
