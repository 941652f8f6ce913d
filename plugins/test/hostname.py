# -*- coding: utf-8 -*-
# Copyright: filmopoisk.shs contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""filmopoisk.shs.hostname: the roles' one check of a DNS host name (upstream peers, certificate names)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
name: hostname
short_description: Whether a value is a DNS host name (or an IPv4 address)
version_added: 0.3.0
author: filmopoisk.shs contributors
description:
  - >-
    True for a string of dot-separated labels, each 1-63 letters, digits and hyphens that neither starts nor
    ends with a hyphen (RFC 1123), at most 253 characters, with an optional final dot: V(shs-app-1.ru-central1.internal),
    V(localhost). Labels may be all digits, so an IPv4 address such as V(10.130.0.5) is also true.
  - >-
    False for anything else: spaces, underscores, empty labels, ports (V(host:80)), values that are not strings.
options:
  _input:
    description: The value to check.
    type: raw
    required: true
'''

EXAMPLES = r'''
- name: Upstream peers are host names or IPv4 addresses
  ansible.builtin.assert:
    that: openresty_upstream_peers | reject('filmopoisk.shs.hostname') | list | length == 0
'''

RETURN = r'''
_value:
  description: Whether the value is a host name.
  type: boolean
'''

import re

_LABEL = r'[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?'
_HOSTNAME = re.compile(r'%s(\.%s)*\.?\Z' % (_LABEL, _LABEL))


def hostname(value):
    """True for an RFC 1123 host name of at most 253 characters (a final dot allowed)."""
    return isinstance(value, str) and len(value.rstrip('.')) <= 253 and bool(_HOSTNAME.match(value))


class TestModule(object):
    """filmopoisk.shs.hostname."""

    def tests(self):
        return {'hostname': hostname}
