#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: filmopoisk.shs contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
module: yc_service_account_info
short_description: List Yandex Cloud IAM service accounts
version_added: 0.3.0
description:
  - Returns the service accounts of the folder, or the one named O(name), or the one of ID O(service_account_id).
    Changes nothing.
  - An account has the same shape as RV(filmopoisk.shs.yc_service_account#module:service_account) (one conversion
    for both modules). Its roles are listed by M(filmopoisk.shs.yc_folder_iam_binding_info) (roles on the folder)
    and M(filmopoisk.shs.yc_service_account_iam_binding_info) (roles on the account itself).
options:
  name:
    description: Only the account of this name (an empty list when there is none).
    type: str
  service_account_id:
    description: Only the account of this ID, read with C(Get) (an empty list when there is none). With O(name), it
      must also have that name.
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
- name: The account the instance groups act as
  filmopoisk.shs.yc_service_account_info:
    name: shs-ig
  register: ig_sa

- name: Its ID
  ansible.builtin.debug:
    msg: "{{ ig_sa.service_accounts[0].id }}"
  when: ig_sa.service_accounts
'''

RETURN = r'''
service_accounts:
  description: The service accounts, by name.
  returned: always
  type: list
  elements: dict
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
'''

from ansible_collections.filmopoisk.shs.plugins.module_utils.yc import YCError, YCModule, id_ok, name_ok
from ansible_collections.filmopoisk.shs.plugins.module_utils.yc_iam import service_account_to_user

try:
    from yandex.cloud.iam.v1 import service_account_service_pb2 as svc
    from yandex.cloud.iam.v1.service_account_service_pb2_grpc import ServiceAccountServiceStub
except ImportError:
    pass  # YCModule reports the missing SDK


def main():
    module = YCModule(
        waits=False,
        argument_spec=dict(name=dict(type='str'), service_account_id=dict(type='str')),
        supports_check_mode=True,
    )
    params = module.params
    try:
        name_ok(params['name'])
        id_ok(params['service_account_id'], 'service_account_id')
        get = None
        if params['service_account_id']:
            get = svc.GetServiceAccountRequest(service_account_id=params['service_account_id'])
        request = svc.ListServiceAccountsRequest(folder_id='' if get else module.require_folder_id())
        accounts = module.yc.list_info(ServiceAccountServiceStub, request, 'service_accounts', params['name'],
                                       'of service accounts', get)
    except YCError as exc:
        module.fail_json(msg=exc.msg, **exc.extra)
    module.exit_json(changed=False, service_accounts=[service_account_to_user(a) for a in accounts])


if __name__ == '__main__':
    main()
