# -*- coding: utf-8 -*-
# Copyright: filmopoisk.shs contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""filmopoisk.shs.ipv4_address: the roles' one check of an IPv4 address."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
name: ipv4_address
short_description: Whether a value is an IPv4 address
version_added: 0.3.0
author: filmopoisk.shs contributors
description:
  - >-
    True for a string in dotted-quad form, such as V(10.130.0.5); false for anything else: host names, CIDRs,
    IPv6 addresses, octets above 255, octets with a leading zero (V(010.0.0.1) is octal to some resolvers and
    decimal to others), and values that are not strings.
  - The collection's roles check nameservers and similar settings with it, before anything is rendered.
options:
  _input:
    description: The value to check.
    type: raw
    required: true
'''

EXAMPLES = r'''
- name: Nameservers must be IPv4 addresses
  ansible.builtin.assert:
    that: openresty_resolvers | reject('filmopoisk.shs.ipv4_address') | list | length == 0
    fail_msg: openresty_resolvers must be IPv4 addresses
'''

RETURN = r'''
_value:
  description: Whether the value is an IPv4 address.
  type: boolean
'''

import ipaddress


def ipv4_address(value):
    """True for a dotted-quad IPv4 address string (Python's ipaddress refuses leading zeros)."""
    if not isinstance(value, str):
        return False
    try:
        ipaddress.IPv4Address(value)
    except ValueError:
        return False
    return True


class TestModule(object):
    """filmopoisk.shs.ipv4_address."""

    def tests(self):
        return {'ipv4_address': ipv4_address}
