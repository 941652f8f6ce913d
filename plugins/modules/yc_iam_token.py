#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: filmopoisk.shs contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
module: yc_iam_token
short_description: Exchange Yandex Cloud credentials for an IAM token once, for the modules that follow
version_added: 0.3.0
description:
  - Exchanges the credentials (O(token), O(service_account_key) or their environment variables) for an IAM
    token through C(IamTokenService.Create), the exchange every other module would otherwise make in its own
    process, and returns it.
  - Given an IAM token (O(iam_token) or E(YC_IAM_TOKEN)) it returns that token as it is, without any API call.
  - The usual use is the first task of a play; the play's C(module_defaults) for C(group/filmopoisk.shs.yc)
    then pass RV(iam_token) as O(iam_token) to every later module, which then exchanges nothing.
  - It also returns the API's endpoints (RV(api_endpoints), from C(ApiEndpointService.List), which the exchange
    needs anyway). Handed on as O(api_endpoints), later modules open their channels to those addresses and make no
    endpoint discovery of their own, so a play makes one discovery and one exchange.
  - Changes nothing, so it runs in check mode too and always reports C(changed=false).
  - The result is a credential. The module's action plugin hides it as C(no_log) would (the output and logs
    show C(censored)); a registered variable still holds it. Do not print it or write it anywhere.
  - An IAM token is valid for at most 12 hours (YC C(en/iam/concepts/authorization/iam-token.md)); RV(expires_at)
    says when this one expires. Run the module again in a play that may last longer.
options:
  folder_id:
    description:
      - Not used (an IAM token is not bound to a folder); accepted so the group's C(module_defaults) apply.
    type: str
  discover_endpoints:
    description:
      - With an IAM token given, also discover the endpoints (one C(ApiEndpointService.List)) so that
        RV(api_endpoints) can be handed on; with V(false) such a run makes no API call at all.
      - With O(token) or O(service_account_key) the endpoints are always discovered (the exchange needs the
        address of C(iam)); with O(api_endpoints) given they are returned as they are, without a call.
    type: bool
    default: false
extends_documentation_fragment:
  - filmopoisk.shs.yc
  - filmopoisk.shs.yc.info_attributes
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.actiongroups
attributes:
  check_mode:
    details: Getting a token changes nothing; the module runs in check mode as it does otherwise.
notes:
  - Refused credentials fail with the API's code (C(UNAUTHENTICATED)); the message never contains them.
seealso:
  - name: IAM token (Yandex Cloud)
    description: What an IAM token is and how long it lives.
    link: https://yandex.cloud/en/docs/iam/concepts/authorization/iam-token
  - name: Getting an IAM token for a service account
    description: The JWT exchange for a service account's authorized key.
    link: https://yandex.cloud/en/docs/iam/operations/iam-token/create-for-sa
author:
  - filmopoisk.shs contributors (@filmopoisk)
'''

EXAMPLES = r'''
# One exchange for a block (or a play): its module_defaults hand the IAM token to every later module.
- name: Network with one IAM token
  module_defaults:
    group/filmopoisk.shs.yc:
      folder_id: "{{ yc_folder_id }}"
      # the OAuth token (or YC_TOKEN / YC_SERVICE_ACCOUNT_KEY_FILE) until the IAM token is there
      token: "{{ omit if yc_iam.iam_token is defined else (yc_token | default(omit)) }}"
      iam_token: "{{ yc_iam.iam_token | default(omit) }}"
      api_endpoints: "{{ yc_iam.api_endpoints | default(omit) }}"
  block:
    - name: One IAM token
      filmopoisk.shs.yc_iam_token:
      register: yc_iam

    - name: Uses the IAM token and the endpoints, no exchange or discovery of its own
      filmopoisk.shs.yc_network:
        name: shs-net

- name: From a service account's authorized key
  filmopoisk.shs.yc_iam_token:
    service_account_key: "{{ lookup('ansible.builtin.env', 'HOME') }}/key.json"
  register: sa_iam
'''

RETURN = r'''
iam_token:
  description: The IAM token (hidden in the task's output, see the description).
  returned: success
  type: str
  sample: t1.9euelZq...
expires_at:
  description:
    - When the token expires (RFC 3339), as the API answered.
    - V(null) when the token came in as O(iam_token) or E(YC_IAM_TOKEN) (its expiry is not known here).
  returned: success
  type: str
  sample: '2026-12-01T22:30:00Z'
api_endpoints:
  description:
    - The API's service endpoints, service id -> C(host:port), for O(api_endpoints) of later modules. Not a secret.
    - V(null) when an IAM token came in and O(discover_endpoints=false).
  returned: success
  type: dict
  sample: {compute: 'compute.api.cloud.yandex.net:443', iam: 'iam.api.cloud.yandex.net:443',
           vpc: 'vpc.api.cloud.yandex.net:443'}
credential:
  description: Which credential the token comes from.
  returned: success
  type: str
  sample: token
  choices: [token, service_account_key, iam_token]
'''

from ansible_collections.filmopoisk.shs.plugins.module_utils.yc import YCError, YCModule


def main():
    module = YCModule(argument_spec=dict(discover_endpoints=dict(type='bool', default=False)),
                      supports_check_mode=True, waits=False)
    credential = module.yc.credentials[0]
    try:
        endpoints = None
        if credential != 'iam_token' or module.params['discover_endpoints'] or module.params['api_endpoints']:
            endpoints = module.yc.discover()  # first: the exchange below then goes to its iam address
        token, expires_at = module.yc.iam_token()
    except YCError as exc:
        module.fail_json(msg=exc.msg, **exc.extra)
    # An iam_token given as the option is a no_log value, which exit_json would mask in the result: here it
    # is the result itself (the action plugin hides the whole result instead).
    module.no_log_values.discard(token)
    module.exit_json(changed=False, iam_token=token, expires_at=expires_at, credential=credential,
                     api_endpoints=endpoints)


if __name__ == '__main__':
    main()
