# -*- coding: utf-8 -*-
# Copyright: filmopoisk.shs contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""VPC resources as the user sees them, one conversion for a module and its _info twin: networks, subnets,
security groups (their rules in yc_security_group's option shape), gateways and route tables; and the static route
checks made before any API call (Yandex Cloud's rules from en/vpc/concepts/routing.md and gateways.md)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress
import re

from ansible_collections.filmopoisk.shs.plugins.module_utils.yc import YCError, ipv4_network

try:
    from yandex.cloud.vpc.v1 import security_group_pb2 as sg_pb2
except ImportError:
    pass  # YCModule reports the missing SDK

DEFAULT_ROUTE = '0.0.0.0/0'
LINK_LOCAL = ipaddress.IPv4Network('169.254.0.0/16')
ROUTE_HOPS = ('gateway_id', 'next_hop_address')
# Route table labels are stricter than the shared labels_ok (route_table_service.proto: no ./\@).
ROUTE_TABLE_LABEL_KEY = r'^[a-z][-_0-9a-z]{0,62}$'
ROUTE_TABLE_LABEL_VALUE = r'^[-_0-9a-z]{0,63}$'


def static_route_spec():
    """The suboptions of static_routes. One next hop per route is checked by routes_ok(), not by Ansible's
    mutually_exclusive, which counts V('') as set (a playbook's `gateway_id: "{{ x | default('') }}"`)."""
    return dict(type='list', elements='dict',
                options=dict(destination_prefix=dict(type='str', required=True),
                             gateway_id=dict(type='str'),
                             next_hop_address=dict(type='str')))


def network_to_user(network):
    return dict(id=network.id, folder_id=network.folder_id, name=network.name, description=network.description,
                labels=dict(network.labels), created_at=network.created_at.ToJsonString(),
                default_security_group_id=network.default_security_group_id)


def subnet_to_user(subnet):
    return dict(id=subnet.id, folder_id=subnet.folder_id, name=subnet.name, description=subnet.description,
                labels=dict(subnet.labels), network_id=subnet.network_id, zone_id=subnet.zone_id,
                v4_cidr_blocks=list(subnet.v4_cidr_blocks), route_table_id=subnet.route_table_id,
                created_at=subnet.created_at.ToJsonString())


RULE_KEYS = ('direction', 'protocol', 'from_port', 'to_port', 'v4_cidr_blocks', 'security_group_id',
             'predefined_target', 'description')


def rule_from_api(rule):
    """A security group rule as the user writes it (all ports = no range)."""
    ports = rule.ports if rule.HasField('ports') else None
    whole = ports is None or (ports.from_port == 0 and ports.to_port == 65535)
    return dict(direction=sg_pb2.SecurityGroupRule.Direction.Name(rule.direction).lower(),
                protocol=(rule.protocol_name or 'ANY').upper(),
                from_port=None if whole else ports.from_port, to_port=None if whole else ports.to_port,
                v4_cidr_blocks=sorted(rule.cidr_blocks.v4_cidr_blocks),
                security_group_id=rule.security_group_id, predefined_target=rule.predefined_target,
                description=rule.description)


def rule_key(rule):
    return tuple((key, tuple(rule[key]) if isinstance(rule[key], list) else rule[key]) for key in RULE_KEYS)


def sorted_rules(rules):
    return sorted(list(rules), key=lambda rule: repr(rule_key(rule)))


def security_group_to_user(group):
    return dict(id=group.id, folder_id=group.folder_id, name=group.name, description=group.description,
                labels=dict(group.labels), network_id=group.network_id,
                status=sg_pb2.SecurityGroup.Status.Name(group.status),
                rules=sorted_rules(rule_from_api(rule) for rule in group.rules),
                created_at=group.created_at.ToJsonString())


def gateway_to_user(gateway):
    return dict(id=gateway.id, folder_id=gateway.folder_id, name=gateway.name, description=gateway.description,
                labels=dict(gateway.labels), created_at=gateway.created_at.ToJsonString(),
                shared_egress_gateway=gateway.HasField('shared_egress_gateway'))


def route_key(route):
    return (route['destination_prefix'], route['gateway_id'], route['next_hop_address'])


def sorted_routes(routes):
    """Routes as dicts with all three keys ('' for the hop not used), in one order: the API keeps the order it
    was given, but the order means nothing (the longest prefix wins, routing.md#static)."""
    return sorted((dict(destination_prefix=r['destination_prefix'], gateway_id=r.get('gateway_id') or '',
                        next_hop_address=r.get('next_hop_address') or '') for r in routes), key=route_key)


def route_table_to_user(table):
    routes = [dict(destination_prefix=r.destination_prefix, gateway_id=r.gateway_id,
                   next_hop_address=r.next_hop_address) for r in table.static_routes]
    return dict(id=table.id, folder_id=table.folder_id, name=table.name, description=table.description,
                labels=dict(table.labels), network_id=table.network_id, static_routes=sorted_routes(routes),
                created_at=table.created_at.ToJsonString())


def routes_ok(routes, option='static_routes'):
    """Check static routes as YC does; return them sorted (see sorted_routes), or None when not given."""
    if routes is None:
        return None
    seen = {}
    for i, route in enumerate(routes):
        field = '%s[%d]' % (option, i)
        prefix = route['destination_prefix']
        network = ipv4_network(prefix, field + '.destination_prefix')
        if network.subnet_of(LINK_LOCAL):
            raise YCError('%s.destination_prefix: %s is link-local; 169.254.0.0/16 is reserved for the VPC'
                          % (field, prefix))
        if prefix in seen:
            raise YCError('%s.destination_prefix: %s is also the prefix of %s[%d]; a route table has one route '
                          'per prefix' % (field, prefix, option, seen[prefix]))
        seen[prefix] = i
        hops = [key for key in ROUTE_HOPS if route.get(key)]
        if len(hops) != 1:
            raise YCError('%s: set exactly one of gateway_id or next_hop_address' % field)
        if route.get('next_hop_address'):
            try:
                ipaddress.IPv4Address(route['next_hop_address'])
            except ValueError:
                raise YCError('%s.next_hop_address: %r is not an IPv4 address'
                              % (field, route['next_hop_address']))
        elif prefix != DEFAULT_ROUTE:
            raise YCError('%s.destination_prefix: a route through a gateway must be %s (got %s)'
                          % (field, DEFAULT_ROUTE, prefix))
    return sorted_routes(routes)


def route_table_labels_ok(labels, option='labels'):
    for key, value in (labels or {}).items():
        if not re.match(ROUTE_TABLE_LABEL_KEY, key):
            raise YCError('%s: invalid key %r for a route table (lower-case letter first, then [-_0-9a-z], '
                          'at most 63)' % (option, key))
        if not isinstance(value, str) or not re.match(ROUTE_TABLE_LABEL_VALUE, value):
            raise YCError('%s: invalid value %r for %r ([-_0-9a-z], at most 63)' % (option, value, key))
