#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: filmopoisk.shs contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
module: yc_network_load_balancer
short_description: Manage a Yandex Cloud network load balancer (listeners, target groups, health checks)
version_added: 0.4.0
description:
  - Create, update or delete a Network Load Balancer, found by O(name) in the folder.
  - A network load balancer takes TCP (or UDP) traffic on its O(listeners) and spreads it over the healthy targets
    of its O(attached_target_groups); each attached group has one health check (HTTP or TCP) that decides which of
    its targets are healthy.
  - O(listeners) and O(attached_target_groups) are compared as sets (by listener name, by target group ID); when
    either differs the module sends it whole (the API replaces the list). Updates send only the changed fields (an
    update mask); a second run with the same options reports no change.
  - O(type) and O(region_id) cannot change once the balancer exists (the module says so instead of recreating it).
  - The same resource as Terraform's C(yandex_lb_network_load_balancer), with its option names and defaults
    (C(listener) is O(listeners), C(attached_target_group) is O(attached_target_groups), C(healthcheck) is
    O(attached_target_groups[].healthchecks)).
  - The target groups themselves are made by an instance group (its
    O(filmopoisk.shs.yc_instance_group#module:load_balancer) option) or through the API; their targets' states are
    listed by M(filmopoisk.shs.yc_network_load_balancer_info).
options:
  region_id:
    description: Region of the balancer. V(ru-central1) when creating, when not given. Cannot change.
    type: str
  type:
    description: V(external) (listeners on a public address) or V(internal) (listeners on an address of a subnet).
      V(external) when creating, when not given. Cannot change.
    type: str
    choices: [external, internal]
  deletion_protection:
    description: Refuse deletes of the balancer (the API's, and O(state=absent)'s) until it is set to V(false).
      It does not protect listeners or attached groups. Not managed when omitted (V(false) for a new balancer).
    type: bool
  listeners:
    description:
      - The listeners. Not managed when omitted; V([]) removes every listener.
      - All listeners of a balancer use one address; two listeners cannot use the same O(listeners[].port).
    type: list
    elements: dict
    suboptions:
      name:
        description: Name, unique on the balancer (3-63 lower-case letters, digits and hyphens).
        type: str
        required: true
      port:
        description: Port the listener takes traffic on (1-32767).
        type: int
        required: true
      target_port:
        description: Port of the targets the traffic goes to (1-65535). O(listeners[].port) when not given.
        type: int
      protocol:
        description: Transport protocol.
        type: str
        choices: [tcp, udp]
        default: tcp
      external_address_spec:
        description: The public address of a listener of an V(external) balancer. Optional; without an address
          the cloud assigns one.
        type: dict
        suboptions:
          address:
            description: A reserved public IPv4 address. The assigned one when not given.
            type: str
          ip_version:
            description: IP version.
            type: str
            choices: [ipv4, ipv6]
            default: ipv4
      internal_address_spec:
        description: The address of a listener of an V(internal) balancer (required there).
        type: dict
        suboptions:
          subnet_id:
            description: Subnet the address is taken from.
            type: str
            required: true
          address:
            description: An IPv4 address of that subnet. Assigned when not given.
            type: str
          ip_version:
            description: IP version.
            type: str
            choices: [ipv4, ipv6]
            default: ipv4
  attached_target_groups:
    description:
      - The target groups the balancer sends traffic to. Not managed when omitted; V([]) detaches every group.
    type: list
    elements: dict
    suboptions:
      target_group_id:
        description: ID of the target group, for example the one an instance group made,
          RV(filmopoisk.shs.yc_instance_group#module:instance_group.target_group_id).
        type: str
        required: true
      healthchecks:
        description: The health check of the group's targets; exactly one (the API's limit).
        type: list
        elements: dict
        required: true
        suboptions:
          name:
            description: Name (3-63 lower-case letters, digits and hyphens).
            type: str
            required: true
          interval:
            description: Seconds between checks (1-60), at least 1 more than
              O(attached_target_groups[].healthchecks[].timeout).
            type: int
            default: 2
          timeout:
            description: Seconds a target has to answer a check (1-60).
            type: int
            default: 1
          unhealthy_threshold:
            description: Failed checks in a row after which a target is unhealthy (2-10).
            type: int
            default: 2
          healthy_threshold:
            description: Passed checks in a row after which a target is healthy (2-10).
            type: int
            default: 2
          http_options:
            description: An HTTP check (healthy only on a C(200) answer). Exactly one of this and
              O(attached_target_groups[].healthchecks[].tcp_options).
            type: dict
            suboptions:
              port:
                description: Port of the check (1-32767).
                type: int
                required: true
              path:
                description: URL path of the check request.
                type: str
                default: /
          tcp_options:
            description: A TCP check (healthy when the connection is accepted).
            type: dict
            suboptions:
              port:
                description: Port of the check (1-32767).
                type: int
                required: true
  state:
    description: V(absent) deletes the balancer (refused while O(deletion_protection) is on). Its target groups
      stay.
extends_documentation_fragment:
  - filmopoisk.shs.yc
  - filmopoisk.shs.yc.named
  - filmopoisk.shs.yc.wait
  - filmopoisk.shs.yc.attributes
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.actiongroups
notes:
  - Health checks come from C(198.18.235.0/24) and C(198.18.248.0/24); the targets' security groups must admit
    them (M(filmopoisk.shs.yc_security_group)'s C(predefined_target=loadbalancer_healthchecks)), or no target
    becomes healthy.
  - On localcloud every listener is on a loopback address of the machine (V(127.0.0.1) unless an address in
    C(127.0.0.0/8) is given), and two balancers cannot use the same address, port and protocol.
  - See U(https://yandex.cloud/en/docs/network-load-balancer/concepts/) and
    U(https://yandex.cloud/en/docs/network-load-balancer/concepts/health-check).
author:
  - filmopoisk.shs contributors (@filmopoisk)
'''

EXAMPLES = r'''
- name: The LB tier behind a network load balancer (the group's target group, checked on /nginx-status)
  filmopoisk.shs.yc_network_load_balancer:
    name: shs-nlb
    deletion_protection: true
    listeners:
      - name: http
        port: 80
        target_port: 80
    attached_target_groups:
      - target_group_id: "{{ lb_group.instance_group.target_group_id }}"
        healthchecks:
          - name: nginx-status
            interval: 2
            timeout: 1
            http_options:
              port: 80
              path: /nginx-status
  register: nlb

- name: Its address
  ansible.builtin.debug:
    msg: "{{ nlb.network_load_balancer.listeners[0].address }}"

- name: An internal balancer with a TCP check
  filmopoisk.shs.yc_network_load_balancer:
    name: shs-db-nlb
    type: internal
    listeners:
      - name: postgres
        port: 5432
        internal_address_spec:
          subnet_id: "{{ subnet.subnet.id }}"
    attached_target_groups:
      - target_group_id: "{{ db_target_group_id }}"
        healthchecks:
          - name: postgres
            tcp_options:
              port: 5432

- name: Remove it (turn deletion_protection off first)
  filmopoisk.shs.yc_network_load_balancer:
    name: shs-db-nlb
    state: absent
'''

RETURN = r'''
network_load_balancer:
  description: The balancer as the API holds it after the run (empty when absent; the requested state in check
    mode).
  returned: always
  type: dict
  contains:
    id:
      description: Balancer ID.
      type: str
      sample: b7r97ah2jn5rmo6k1dsk
    folder_id:
      description: Folder.
      type: str
    name:
      description: Name.
      type: str
      sample: shs-nlb
    description:
      description: Description.
      type: str
    labels:
      description: Labels.
      type: dict
    region_id:
      description: Region.
      type: str
      sample: ru-central1
    type:
      description: V(external) or V(internal).
      type: str
      sample: external
    status:
      description: C(ACTIVE), C(STOPPED), C(INACTIVE) (no listener, or no target in its groups), C(CREATING), ...
      type: str
      sample: ACTIVE
    deletion_protection:
      description: Whether deletes are refused.
      type: bool
    listeners:
      description: The listeners, by name.
      type: list
      elements: dict
      contains:
        name:
          description: Name.
          type: str
          sample: http
        address:
          description: The listener's address (the same for all listeners of the balancer).
          type: str
          sample: 203.0.113.10
        port:
          description: Port.
          type: int
          sample: 80
        target_port:
          description: Targets' port.
          type: int
          sample: 80
        protocol:
          description: V(tcp) or V(udp).
          type: str
        subnet_id:
          description: Subnet of an internal listener's address (V('') for an external one).
          type: str
        ip_version:
          description: V(ipv4) or V(ipv6).
          type: str
    attached_target_groups:
      description: The attached target groups, by ID.
      type: list
      elements: dict
      contains:
        target_group_id:
          description: Target group ID.
          type: str
        healthchecks:
          description: Its health check (one).
          type: list
          elements: dict
          contains:
            name:
              description: Name.
              type: str
            interval:
              description: Seconds between checks.
              type: int
            timeout:
              description: Seconds to answer.
              type: int
            unhealthy_threshold:
              description: Failed checks to unhealthy.
              type: int
            healthy_threshold:
              description: Passed checks to healthy.
              type: int
            http_options:
              description: C(port), C(path) of an HTTP check; V(null) for a TCP check.
              type: dict
            tcp_options:
              description: C(port) of a TCP check; V(null) for an HTTP check.
              type: dict
    created_at:
      description: Creation time (RFC 3339).
      type: str
update_mask:
  description: Options sent in the update (only those that changed).
  returned: when updated
  type: list
  elements: str
  sample: [listeners]
operation_id:
  description: The API operation of the write.
  returned: when something was written
  type: str
'''

from ansible_collections.filmopoisk.shs.plugins.module_utils.yc import (
    YCError, YCModule, Resource, check_named_resource, field_mask, named_resource_spec)
from ansible_collections.filmopoisk.shs.plugins.module_utils.yc_loadbalancer import (
    API_FIELDS, attached_target_group_spec, attached_target_groups, attached_target_groups_ok, balancer_to_user,
    listener_spec, listener_specs, listeners_ok)

try:
    from yandex.cloud.loadbalancer.v1 import network_load_balancer_pb2 as nlb_pb2
    from yandex.cloud.loadbalancer.v1 import network_load_balancer_service_pb2 as svc
    from yandex.cloud.loadbalancer.v1.network_load_balancer_service_pb2_grpc import NetworkLoadBalancerServiceStub
except ImportError:
    pass  # YCModule reports the missing SDK

REGIONS = ('ru-central1',)


class Balancer(Resource):
    kind = 'network_load_balancer'
    list_field = 'network_load_balancers'
    UPDATABLE = ('description', 'labels', 'listeners', 'attached_target_groups', 'deletion_protection')
    IMMUTABLE = ('region_id', 'type')

    def __init__(self, module, listeners, groups):
        super(Balancer, self).__init__(module)
        self.stub = NetworkLoadBalancerServiceStub
        self.response_type = nlb_pb2.NetworkLoadBalancer
        self.listeners = listeners
        self.groups = groups

    @property
    def label(self):
        return "network load balancer '%s'" % self.params['name']

    def list_request(self):
        return svc.ListNetworkLoadBalancersRequest(folder_id=self.module.require_folder_id())

    def get_request(self, resource_id):
        return svc.GetNetworkLoadBalancerRequest(network_load_balancer_id=resource_id)

    def to_user(self, balancer):
        return balancer_to_user(balancer)

    def desired(self):
        desired = super(Balancer, self).desired()
        for key, value in (('listeners', self.listeners), ('attached_target_groups', self.groups)):
            desired.pop(key, None)  # the options as given; converted and checked below
            if value is not None:
                desired[key] = value
        return desired

    def merged(self, before, desired):
        """A listener given without an address keeps the one it has (else the balancer's): what the API does."""
        after = super(Balancer, self).merged(before, desired)
        if 'listeners' in desired:
            current = dict((item['name'], item['address']) for item in before.get('listeners') or [])
            shared = (before.get('listeners') or [{}])[0].get('address')
            after['listeners'] = [dict(item, address=item['address'] or current.get(item['name']) or shared)
                                  for item in desired['listeners']]
        return after

    def check_listeners(self, listeners, kind):
        """A listener's address spec must fit the balancer's type (type was not given: the balancer's own)."""
        for i, item in enumerate(listeners or []):
            if (kind == 'internal') != bool(item['subnet_id']):
                raise YCError('listeners[%d]: %s is %s, so its listeners take %s' % (
                    i, self.label, kind, 'internal_address_spec (with subnet_id)' if kind == 'internal'
                    else 'external_address_spec, not internal_address_spec'))

    def create_request(self, desired):
        kind = desired.get('type') or 'external'
        self.check_listeners(desired.get('listeners'), kind)
        return svc.CreateNetworkLoadBalancerRequest(
            folder_id=self.module.require_folder_id(), name=self.params['name'],
            description=desired.get('description', ''), labels=desired.get('labels', {}),
            region_id=desired.get('region_id') or REGIONS[0], type=nlb_pb2.NetworkLoadBalancer.Type.Value(kind.upper()),
            listener_specs=listener_specs(desired.get('listeners') or [], kind),
            attached_target_groups=attached_target_groups(desired.get('attached_target_groups') or []),
            deletion_protection=bool(desired.get('deletion_protection')))

    def update_request(self, balancer, after, paths):
        self.check_listeners(after['listeners'], after['type'])
        return svc.UpdateNetworkLoadBalancerRequest(
            network_load_balancer_id=balancer.id, update_mask=field_mask([API_FIELDS.get(p, p) for p in paths]),
            name=balancer.name, description=after['description'], labels=after['labels'],
            listener_specs=listener_specs(after['listeners'], after['type']),
            attached_target_groups=attached_target_groups(after['attached_target_groups']),
            deletion_protection=after['deletion_protection'])

    def delete_request(self, balancer):
        return svc.DeleteNetworkLoadBalancerRequest(network_load_balancer_id=balancer.id)


def main():
    module = YCModule(
        argument_spec=named_resource_spec(
            region_id=dict(type='str'),
            type=dict(type='str', choices=['external', 'internal']),
            deletion_protection=dict(type='bool'),
            listeners=listener_spec(),
            attached_target_groups=attached_target_group_spec(),
        ),
        supports_check_mode=True,
    )
    params = module.params
    try:
        check_named_resource(module)
        if params['region_id'] is not None and params['region_id'] not in REGIONS:
            raise YCError('region_id: unknown region %r (regions: %s)' % (params['region_id'], ', '.join(REGIONS)))
        balancer = Balancer(module, listeners_ok(params['listeners'], params['type']),
                            attached_target_groups_ok(params['attached_target_groups']))
        result = balancer.ensure()
    except YCError as exc:
        module.fail_json(msg=exc.msg, **exc.extra)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
