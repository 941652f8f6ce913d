# -*- coding: utf-8 -*-
# Copyright: filmopoisk.shs contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Options the yc_* plugins share: credentials, endpoints, folder, retries (DOCUMENTATION); the operation waits of
the modules that write (WAIT); the environment variables a non-module plugin reads (PLUGINS); the options of a
named resource of a folder (NAMED); the attributes every module of the yc action group has (ATTRIBUTES)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):

    DOCUMENTATION = r'''
options:
  token:
    description:
      - OAuth token of a Yandex account, exchanged for an IAM token by the SDK in every module run (one more API
        call, again whenever the token it holds is 20 seconds old); M(filmopoisk.shs.yc_iam_token) makes the exchange
        once for a play, whose later modules then get O(iam_token).
      - When none of O(token), O(iam_token) and O(service_account_key) is given, the environment variables
        E(YC_TOKEN), E(YC_IAM_TOKEN) and E(YC_SERVICE_ACCOUNT_KEY_FILE) are read (the names the C(yc) CLI and
        Terraform use); exactly one of them may be set.
      - The module never falls back to the VM metadata service by itself; without credentials it fails.
    type: str
  iam_token:
    description:
      - An IAM token (valid for at most 12 hours), e.g. from C(yc iam create-token) or
        M(filmopoisk.shs.yc_iam_token). The module uses it as it is, with no token exchange.
    type: str
  service_account_key:
    description:
      - Authorized key of a service account, as written by C(yc iam key create --output key.json).
      - Either the key as a dict (V(id), V(service_account_id), V(private_key)) or the path of the JSON file.
    type: raw
  endpoint:
    description:
      - The API endpoint (C(host) for port 443, else C(host:port)) used for endpoint discovery and IAM.
      - Falls back to E(YC_ENDPOINT), then to C(api.cloud.yandex.net).
      - A C(:443) is dropped before the SDK gets it (gRPC's default port, so the same connection), because the SDK
        builds a service account key's JWT audience from this string and YC accepts only
        C(https://iam.api.cloud.yandex.net/iam/v1/tokens).
    type: str
  api_endpoints:
    description:
      - The API's service endpoints, service id (V(compute), V(vpc), V(iam), ...) -> C(host:port), as
        C(ApiEndpointService.List) answers them; RV(filmopoisk.shs.yc_iam_token#module:api_endpoints) is this map.
      - Given, the module opens its gRPC channels to these addresses itself (TLS with O(root_certificates), the
        IAM token as call credentials) and makes no endpoint discovery; left out, the SDK discovers them at
        O(endpoint) before its first call, once in every module run.
      - With O(token) or O(service_account_key) instead of an IAM token, the module still exchanges them for an
        IAM token, once, at the V(iam) address.
      - Not a secret.
    type: dict
  root_certificates:
    description:
      - PEM CA bundle (the text, or the path of a file) to verify the endpoint's TLS certificate, for
        endpoints with a private CA such as localcloud. Falls back to E(YC_ROOT_CERTIFICATES).
      - Default is the system trust store.
    type: str
  folder_id:
    description:
      - Folder the resource lives in. Falls back to E(YC_FOLDER_ID).
    type: str
  api_retry_timeout:
    description:
      - Total seconds spent retrying a call that failed with V(UNAVAILABLE), V(RESOURCE_EXHAUSTED) or
        V(DEADLINE_EXCEEDED) (exponential backoff with jitter). Reads and idempotent writes are retried;
        a create is retried only after checking that the resource was not created.
    type: int
    default: 60
requirements:
  - python >= 3.9
  - yandexcloud >= 0.413.0
notes:
  - Every module of the collection's C(yc) action group takes these options, so a play's
    C(module_defaults) for C(group/filmopoisk.shs.yc) sets them once.
  - Credentials are never printed, logged or shown in diffs.
'''

    # Modules that start operations (create, update, delete).
    WAIT = r'''
options:
  wait:
    description:
      - Wait for the operations the module starts to finish.
      - With V(false) the module returns as soon as the API accepted the request (the result is then not
        known and RV(operation_id) says which operation to follow).
    type: bool
    default: true
  wait_timeout:
    description:
      - Seconds to wait for an operation. When it runs out the module fails (the operation continues in
        the cloud; a re-run converges).
    type: int
    default: 600
'''

    # A named resource of a folder (yc_network, yc_subnet, ...). A module may give an option its own description.
    NAMED = r'''
options:
  name:
    description:
      - Name of the resource, unique in the folder, by which it is found (lower-case letters, digits and
        hyphens; starts with a letter; at most 63).
    type: str
    required: true
  description:
    description: Description. Not managed when omitted.
    type: str
  labels:
    description: Labels. Not managed when omitted (the resource keeps its labels); see O(purge_labels).
    type: dict
  purge_labels:
    description: Remove labels that are not in O(labels). With V(false), O(labels) are added to the existing ones.
    type: bool
    default: true
  state:
    description: V(present) creates or updates the resource, V(absent) deletes it.
    type: str
    choices: [present, absent]
    default: present
'''

    # The attributes of a module of the yc action group that writes (with ansible.builtin.action_common_attributes
    # and its .actiongroups); INFO_ATTRIBUTES for one that reads only. A module may add details to one.
    ATTRIBUTES = r'''
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
  platform:
    platforms: all
    details: Runs where the task runs (usually the controller) and talks to the Yandex Cloud API.
  action_group:
    membership: [filmopoisk.shs.yc]
'''

    INFO_ATTRIBUTES = r'''
attributes:
  check_mode:
    support: full
    details: Reads only.
  diff_mode:
    support: none
  platform:
    platforms: all
    details: Runs where the task runs (usually the controller) and talks to the Yandex Cloud API.
  action_group:
    membership: [filmopoisk.shs.yc]
'''

    # Plugins that are not modules get no argument spec fallbacks: the same variables, read by Ansible's config.
    # (Credentials from the environment are read by the client itself, which also checks that only one is set.)
    PLUGINS = r'''
options:
  endpoint:
    env:
      - name: YC_ENDPOINT
  root_certificates:
    env:
      - name: YC_ROOT_CERTIFICATES
  folder_id:
    env:
      - name: YC_FOLDER_ID
'''
