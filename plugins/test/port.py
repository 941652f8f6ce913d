# -*- coding: utf-8 -*-
# Copyright: filmopoisk.shs contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""filmopoisk.shs.port: the roles' one check of a TCP/UDP port number."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
name: port
short_description: Whether a value is a port number (1-65535)
version_added: 0.3.0
author: filmopoisk.shs contributors
description:
  - >-
    True for an integer from 1 to 65535, or a string of digits with that value (V("8080"), as an inventory
    or C(-e) may give it). False for 0, larger numbers, booleans, floats, negative numbers and other strings.
options:
  _input:
    description: The value to check.
    type: raw
    required: true
'''

EXAMPLES = r'''
- name: The ports the app is published on
  ansible.builtin.assert:
    that: lookup('ansible.builtin.vars', item) is filmopoisk.shs.port
    fail_msg: "{{ item }} must be a port number 1-65535, got {{ lookup('ansible.builtin.vars', item) }}"
  loop: [shs_app_port, shs_port]
'''

RETURN = r'''
_value:
  description: Whether the value is a port number.
  type: boolean
'''


def port(value):
    """True for 1-65535 as an int or a string of ASCII digits (never a bool)."""
    if isinstance(value, bool):
        return False
    if isinstance(value, str):
        if not (value.isascii() and value.isdigit()):
            return False
        value = int(value)
    return isinstance(value, int) and 1 <= value <= 65535


class TestModule(object):
    """filmopoisk.shs.port."""

    def tests(self):
        return {'port': port}
