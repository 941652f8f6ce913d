# -*- coding: utf-8 -*-
# Copyright: filmopoisk.shs contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""filmopoisk.shs.cidr: the roles' one check of an address or CIDR block (allow lists, pg_hba, iptables)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
name: cidr
short_description: Whether a value is an IP address or CIDR block
version_added: 0.3.0
author: filmopoisk.shs contributors
description:
  - >-
    True for a string such as V(10.128.0.0/24), V(127.0.0.1) or V(fd00::/8): an address with an optional
    C(/prefix) length that fits the address family (0-32 for IPv4, 0-128 for IPv6). Bits set after the prefix
    are allowed (V(10.0.0.1/24)), as nginx C(allow), C(pg_hba.conf) and iptables take them.
  - False for anything else, values that are not strings included.
options:
  _input:
    description: The value to check.
    type: raw
    required: true
  version:
    description: V(4) or V(6) accepts only that address family; the default accepts both.
    type: int
    choices: [4, 6]
  require_prefix:
    description: Whether the C(/prefix) length must be written (V(false) also takes a bare address).
    type: bool
    default: false
'''

EXAMPLES = r'''
- name: pg_hba.conf takes IPv4 CIDR blocks
  ansible.builtin.assert:
    that: postgres_allowed_cidrs | reject('filmopoisk.shs.cidr', version=4, require_prefix=true) | list | length == 0

- name: Status pages allow these addresses or blocks (IPv4 or IPv6)
  ansible.builtin.assert:
    that: openresty_status_allow | reject('filmopoisk.shs.cidr') | list | length == 0
'''

RETURN = r'''
_value:
  description: Whether the value is an address or CIDR block as asked.
  type: boolean
'''

import ipaddress


def cidr(value, version=None, require_prefix=False):
    """True for an IPv4/IPv6 address or CIDR string of the given version; host bits are allowed."""
    if not isinstance(value, str) or (require_prefix and '/' not in value):
        return False
    if version not in (None, 4, 6):
        raise ValueError('filmopoisk.shs.cidr: version must be 4 or 6, got %r' % (version,))
    address, slash, prefix = value.partition('/')
    # A prefix length of digits only: ip_network would also take a netmask (10.0.0.0/255.0.0.0), not here.
    if slash and not (prefix.isascii() and prefix.isdigit()):
        return False
    try:
        network = ipaddress.ip_network(value if slash else address, strict=False)
    except ValueError:
        return False
    return version is None or network.version == version


class TestModule(object):
    """filmopoisk.shs.cidr."""

    def tests(self):
        return {'cidr': cidr}
