#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: filmopoisk.shs contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
module: yc_security_group
short_description: Manage a Yandex Cloud VPC security group and its rules
version_added: 0.2.0
description:
  - Create, update or delete a security group of a network, found by O(name) in the folder.
  - Rules are compared as a set; only the rules that differ are added or deleted (C(UpdateRules)), so rules
    that stay keep their IDs and no traffic is interrupted. See O(purge_rules).
  - The same resource as Terraform's C(yandex_vpc_security_group).
options:
  network_id:
    description: Network the group belongs to. Required to create; cannot change afterwards.
    type: str
  rules:
    description:
      - The rules. Not managed when omitted. A rule allows traffic in one direction from/to O(rules[].v4_cidr_blocks),
        another security group (O(rules[].security_group_id)) or a predefined target.
    type: list
    elements: dict
    suboptions:
      direction:
        description: Traffic direction.
        type: str
        choices: [ingress, egress]
        required: true
      protocol:
        description: V(tcp), V(udp), V(icmp), V(any) (or another IANA protocol name).
        type: str
        default: any
      port:
        description: One port. Mutually exclusive with O(rules[].from_port)/O(rules[].to_port). All ports when none is set.
        type: int
      from_port:
        description: First port of a range (with O(rules[].to_port)).
        type: int
      to_port:
        description: Last port of a range (with O(rules[].from_port)).
        type: int
      v4_cidr_blocks:
        description: IPv4 ranges the rule applies to.
        type: list
        elements: str
      security_group_id:
        description: Another security group whose members the rule applies to.
        type: str
      predefined_target:
        description: V(self_security_group) (members of this group) or V(loadbalancer_healthchecks).
        type: str
        choices: [self_security_group, loadbalancer_healthchecks]
      description:
        description: Rule description.
        type: str
        default: ''
  purge_rules:
    description: Delete rules that are not in O(rules). With V(false), O(rules) are only added.
    type: bool
    default: true
extends_documentation_fragment:
  - filmopoisk.shs.yc
  - filmopoisk.shs.yc.named
  - filmopoisk.shs.yc.wait
  - filmopoisk.shs.yc.attributes
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.actiongroups
author:
  - filmopoisk.shs contributors (@filmopoisk)
'''

EXAMPLES = r'''
- name: Load balancer open to the world on 80 and 443
  filmopoisk.shs.yc_security_group:
    name: shs-lb
    network_id: "{{ network.network.id }}"
    rules:
      - {direction: ingress, protocol: tcp, port: 80, v4_cidr_blocks: [0.0.0.0/0]}
      - {direction: ingress, protocol: tcp, port: 443, v4_cidr_blocks: [0.0.0.0/0]}
      - {direction: egress, protocol: any, v4_cidr_blocks: [0.0.0.0/0]}
  register: lb_sg

- name: App reachable only from the load balancer
  filmopoisk.shs.yc_security_group:
    name: shs-app
    network_id: "{{ network.network.id }}"
    rules:
      - {direction: ingress, protocol: tcp, port: 80, security_group_id: "{{ lb_sg.security_group.id }}"}
      - {direction: ingress, protocol: tcp, port: 80, predefined_target: loadbalancer_healthchecks}
'''

RETURN = r'''
security_group:
  description: The group as the API holds it after the run (empty when absent).
  returned: always
  type: dict
  contains:
    id:
      description: The security group ID.
      type: str
      sample: enp3abcdefghijklmnop
    folder_id:
      description: The folder it is in.
      type: str
      sample: b1gabcdefghijklmnopq
    name:
      description: Name.
      type: str
      sample: shs-lb
    description:
      description: Description.
      type: str
      sample: SHS
    labels:
      description: Labels.
      type: dict
      sample: {project: shs}
    network_id:
      description: The network.
      type: str
      sample: enp1abcdefghijklmnop
    status:
      description: V(CREATING), V(ACTIVE), V(UPDATING) or V(DELETING).
      type: str
      sample: ACTIVE
    rules:
      description: The rules, in the shape of O(rules), sorted.
      type: list
      elements: dict
      contains:
        direction:
          description: V(ingress) or V(egress).
          type: str
          sample: ingress
        protocol:
          description: Upper-case protocol name, V(ANY) for all.
          type: str
          sample: TCP
        from_port:
          description: First port, V(null) for all ports.
          type: int
          sample: 80
        to_port:
          description: Last port, V(null) for all ports.
          type: int
          sample: 80
        v4_cidr_blocks:
          description: IPv4 ranges, sorted.
          type: list
          elements: str
          sample: [0.0.0.0/0]
        security_group_id:
          description: The peer security group, V('') for none.
          type: str
          sample: ''
        predefined_target:
          description: V(self_security_group), V(loadbalancer_healthchecks) or V('').
          type: str
          sample: ''
        description:
          description: Description.
          type: str
          sample: ''
    created_at:
      description: Creation time (RFC 3339).
      type: str
      sample: '2026-11-28T08:00:00Z'
update_mask:
  description: Fields changed (V(rules) when rules were added or deleted).
  returned: when updated
  type: list
  elements: str
operation_id:
  description: The API operation of the last write.
  returned: when something was written
  type: str
'''

from ansible_collections.filmopoisk.shs.plugins.module_utils.yc import (
    YCError, YCModule, Resource, check_named_resource, cidrs_ok, field_mask, named_resource_spec)
from ansible_collections.filmopoisk.shs.plugins.module_utils.yc_vpc import (
    rule_from_api, rule_key, security_group_to_user, sorted_rules)

try:
    from yandex.cloud.vpc.v1 import security_group_pb2 as sg_pb2, security_group_service_pb2 as svc
    from yandex.cloud.vpc.v1.security_group_service_pb2_grpc import SecurityGroupServiceStub
except ImportError:
    pass  # YCModule reports the missing SDK


def rule_from_option(index, option):
    field = 'rules[%d]' % index
    # port vs from_port/to_port: the argument spec's mutually_exclusive and required_together
    port, low, high = option.get('port'), option.get('from_port'), option.get('to_port')
    if port is not None:
        low = high = port
    for name, value in (('from_port', low), ('to_port', high)):
        if value is not None and not 0 <= value <= 65535:
            raise YCError('%s.%s: %d is not a port (0-65535)' % (field, name, value))
    if low is not None and low > high:
        raise YCError('%s: from_port %d is after to_port %d' % (field, low, high))
    if low == 0 and high == 65535:
        low = high = None
    # Checked here, not by required_one_of: the message names the rule (rules[2]), and V([]) or V('') is no target.
    targets = [key for key in ('v4_cidr_blocks', 'security_group_id', 'predefined_target') if option.get(key)]
    if len(targets) != 1:
        raise YCError('%s: set exactly one of v4_cidr_blocks, security_group_id, predefined_target' % field)
    cidrs_ok(option.get('v4_cidr_blocks'), field + '.v4_cidr_blocks')
    protocol = option['protocol'].upper()
    if low is not None and protocol not in ('TCP', 'UDP'):
        raise YCError('%s: ports need protocol tcp or udp, not %s' % (field, option['protocol']))
    return dict(direction=option['direction'], protocol=protocol, from_port=low, to_port=high,
                v4_cidr_blocks=sorted(option.get('v4_cidr_blocks') or []),
                security_group_id=option.get('security_group_id') or '',
                predefined_target=option.get('predefined_target') or '', description=option['description'])


def rule_spec(rule):
    spec = svc.SecurityGroupRuleSpec(
        direction=sg_pb2.SecurityGroupRule.Direction.Value(rule['direction'].upper()),
        protocol_name=rule['protocol'], description=rule['description'])
    if rule['from_port'] is not None:
        spec.ports.from_port, spec.ports.to_port = rule['from_port'], rule['to_port']
    if rule['v4_cidr_blocks']:
        spec.cidr_blocks.v4_cidr_blocks.extend(rule['v4_cidr_blocks'])
    if rule['security_group_id']:
        spec.security_group_id = rule['security_group_id']
    if rule['predefined_target']:
        spec.predefined_target = rule['predefined_target']
    return spec


class SecurityGroup(Resource):
    kind = 'security_group'
    list_field = 'security_groups'
    UPDATABLE = ('description', 'labels', 'rules')
    IMMUTABLE = ('network_id',)

    def __init__(self, module, rules):
        super(SecurityGroup, self).__init__(module)
        self.stub = SecurityGroupServiceStub
        self.response_type = sg_pb2.SecurityGroup
        self.rules = rules  # normalised options, or None when rules are not managed

    @property
    def label(self):
        return "security group '%s'" % self.params['name']

    def list_request(self):
        return svc.ListSecurityGroupsRequest(folder_id=self.module.require_folder_id())

    def get_request(self, resource_id):
        return svc.GetSecurityGroupRequest(security_group_id=resource_id)

    def to_user(self, group):
        return security_group_to_user(group)

    def desired(self):
        desired = super(SecurityGroup, self).desired()
        desired.pop('rules', None)  # the option as given; the converted rules below
        if self.rules is not None:
            desired['rules'] = sorted_rules(self.rules)
        return desired

    def merged(self, before, desired):
        after = super(SecurityGroup, self).merged(before, desired)
        if 'rules' in desired and not self.params['purge_rules']:
            wanted = set(rule_key(rule) for rule in desired['rules'])
            after['rules'] = sorted_rules(desired['rules'] + [rule for rule in before['rules']
                                                              if rule_key(rule) not in wanted])
        return after

    def create_request(self, desired):
        if not desired.get('network_id'):
            raise YCError('%s does not exist; to create it set network_id' % self.label)
        return svc.CreateSecurityGroupRequest(
            folder_id=self.module.require_folder_id(), name=self.params['name'], network_id=desired['network_id'],
            description=desired.get('description', ''), labels=desired.get('labels', {}),
            rule_specs=[rule_spec(rule) for rule in desired.get('rules', [])])

    def update(self, current, after, paths):
        operations = []
        plain = [path for path in paths if path != 'rules']
        if plain:
            request = svc.UpdateSecurityGroupRequest(security_group_id=current.id, update_mask=field_mask(plain),
                                                     name=current.name, description=after['description'],
                                                     labels=after['labels'])
            operations.append(self.yc.call(self.stub, 'Update', request, self.label))
        if 'rules' in paths:
            # Only the rules that differ: the others keep their IDs and their traffic is never interrupted.
            wanted = set(rule_key(rule) for rule in after['rules'])
            have = set(rule_key(rule_from_api(rule)) for rule in current.rules)
            request = svc.UpdateSecurityGroupRulesRequest(
                security_group_id=current.id,
                deletion_rule_ids=[rule.id for rule in current.rules if rule_key(rule_from_api(rule)) not in wanted],
                addition_rule_specs=[rule_spec(rule) for rule in after['rules'] if rule_key(rule) not in have])
            operations.append(self.yc.call(self.stub, 'UpdateRules', request, self.label))
        return operations

    def delete_request(self, group):
        return svc.DeleteSecurityGroupRequest(security_group_id=group.id)


def main():
    rule_options = dict(
        direction=dict(type='str', required=True, choices=['ingress', 'egress']),
        protocol=dict(type='str', default='any'),
        port=dict(type='int'),
        from_port=dict(type='int'),
        to_port=dict(type='int'),
        v4_cidr_blocks=dict(type='list', elements='str'),
        security_group_id=dict(type='str'),
        predefined_target=dict(type='str', choices=['self_security_group', 'loadbalancer_healthchecks']),
        description=dict(type='str', default=''),
    )
    module = YCModule(
        argument_spec=named_resource_spec(
            network_id=dict(type='str'),
            rules=dict(type='list', elements='dict', options=rule_options,
                       mutually_exclusive=[['port', 'from_port'], ['port', 'to_port']],
                       required_together=[['from_port', 'to_port']]),
            purge_rules=dict(type='bool', default=True),
        ),
        supports_check_mode=True,
    )
    try:
        check_named_resource(module)
        rules = None
        if module.params['rules'] is not None:
            rules = [rule_from_option(index, option) for index, option in enumerate(module.params['rules'])]
        result = SecurityGroup(module, rules).ensure()
    except YCError as exc:
        module.fail_json(msg=exc.msg, **exc.extra)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
