# -*- coding: utf-8 -*-
# Copyright: filmopoisk.shs contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Network load balancers as the user sees them, one conversion for yc_network_load_balancer and its _info twin,
and the checks of their options made before any API call. The rules are Yandex Cloud's (en/network-load-balancer/
concepts/listener.md, health-check.md, operations/load-balancer-create.md; network_load_balancer_service.proto,
health_check.proto); the option names and defaults are Terraform's yandex_lb_network_load_balancer."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible_collections.filmopoisk.shs.plugins.module_utils.yc import YCError, id_ok

try:
    from google.protobuf.duration_pb2 import Duration
    from yandex.cloud.loadbalancer.v1 import health_check_pb2, network_load_balancer_pb2 as nlb_pb2
    from yandex.cloud.loadbalancer.v1 import network_load_balancer_service_pb2 as svc
except ImportError:
    pass  # YCModule reports the missing SDK

# Listener and health check names: `[a-z][-a-z0-9]{1,61}[a-z0-9]` (3-63 characters; the protos' pattern).
ITEM_NAME = r'^[a-z][-a-z0-9]{1,61}[a-z0-9]$'
# The API's names for the options that differ.
API_FIELDS = dict(listeners='listener_specs')


def listener_spec():
    address = dict(address=dict(type='str'), ip_version=dict(type='str', choices=['ipv4', 'ipv6'], default='ipv4'))
    return dict(type='list', elements='dict', options=dict(
        name=dict(type='str', required=True),
        port=dict(type='int', required=True),
        target_port=dict(type='int'),
        protocol=dict(type='str', choices=['tcp', 'udp'], default='tcp'),
        external_address_spec=dict(type='dict', options=address),
        internal_address_spec=dict(type='dict', options=dict(address, subnet_id=dict(type='str', required=True))),
    ))


def attached_target_group_spec():
    return dict(type='list', elements='dict', options=dict(
        target_group_id=dict(type='str', required=True),
        healthchecks=dict(type='list', elements='dict', required=True, options=dict(
            name=dict(type='str', required=True),
            interval=dict(type='int', default=2),
            timeout=dict(type='int', default=1),
            unhealthy_threshold=dict(type='int', default=2),
            healthy_threshold=dict(type='int', default=2),
            http_options=dict(type='dict', options=dict(port=dict(type='int', required=True),
                                                        path=dict(type='str', default='/'))),
            tcp_options=dict(type='dict', options=dict(port=dict(type='int', required=True))),
        )),
    ))


# -- API -> user ---------------------------------------------------------------------------------------------
def _seconds(duration):
    value = duration.seconds + duration.nanos / 1e9
    return int(value) if value == int(value) else value


def healthcheck_to_user(check):
    return dict(name=check.name, interval=_seconds(check.interval), timeout=_seconds(check.timeout),
                unhealthy_threshold=check.unhealthy_threshold, healthy_threshold=check.healthy_threshold,
                http_options=(dict(port=check.http_options.port, path=check.http_options.path)
                              if check.HasField('http_options') else None),
                tcp_options=dict(port=check.tcp_options.port) if check.HasField('tcp_options') else None)


def listener_to_user(listener):
    return dict(name=listener.name, port=listener.port, target_port=listener.target_port,
                protocol=nlb_pb2.Listener.Protocol.Name(listener.protocol).lower(), address=listener.address,
                subnet_id=listener.subnet_id, ip_version=_ip_version(listener.ip_version))


def _ip_version(value):
    return 'ipv6' if value == nlb_pb2.IPV6 else 'ipv4'


def balancer_to_user(balancer):
    """Listeners by name, attached groups by id: the API keeps the order it was given, which means nothing."""
    listeners = sorted((listener_to_user(item) for item in balancer.listeners), key=lambda item: item['name'])
    groups = sorted((dict(target_group_id=item.target_group_id,
                          healthchecks=[healthcheck_to_user(c) for c in item.health_checks])
                     for item in balancer.attached_target_groups), key=lambda item: item['target_group_id'])
    return dict(id=balancer.id, folder_id=balancer.folder_id, name=balancer.name, description=balancer.description,
                labels=dict(balancer.labels), region_id=balancer.region_id,
                type=nlb_pb2.NetworkLoadBalancer.Type.Name(balancer.type).lower(),
                status=nlb_pb2.NetworkLoadBalancer.Status.Name(balancer.status),
                deletion_protection=balancer.deletion_protection, listeners=listeners,
                attached_target_groups=groups, created_at=balancer.created_at.ToJsonString())


def target_state_to_user(state):
    return dict(subnet_id=state.subnet_id, address=state.address,
                status=nlb_pb2.TargetState.Status.Name(state.status))


# -- options -> user shape (checked) --------------------------------------------------------------------------
def _range(value, low, high, option, unit=''):
    if value is None or not low <= value <= high:
        raise YCError('%s: must be between %d and %d%s, got %s' % (option, low, high, unit, value))


def _item_name(value, option):
    if not re.match(ITEM_NAME, value or ''):
        raise YCError('%s: invalid name %r (3-63 lower-case letters, digits and hyphens; starts with a letter, does '
                      'not end with a hyphen)' % (option, value))


def listeners_ok(listeners, balancer_type, option='listeners'):
    """The listeners option in the returned shape (address None when not given), sorted by name; None: not given.
    balancer_type: 'external', 'internal' or None (not given: the balancer's own type, which the API checks)."""
    if listeners is None:
        return None
    internal = balancer_type == 'internal'
    result, names, ports = [], {}, {}
    for i, item in enumerate(listeners):
        field = '%s[%d]' % (option, i)
        _item_name(item['name'], field + '.name')
        if item['name'] in names:
            raise YCError('%s.name: %s is also the name of %s[%d]' % (field, item['name'], option, names[item['name']]))
        names[item['name']] = i
        _range(item['port'], 1, 32767, field + '.port')
        if item['port'] in ports:
            raise YCError('%s.port: %d is also the port of %s[%d]; two listeners of a load balancer cannot use the '
                          'same port' % (field, item['port'], option, ports[item['port']]))
        ports[item['port']] = i
        target_port = item.get('target_port') or item['port']
        _range(target_port, 1, 65535, field + '.target_port')
        external, inner = item.get('external_address_spec'), item.get('internal_address_spec')
        if external and inner:
            raise YCError('%s: set external_address_spec or internal_address_spec, not both' % field)
        if internal and not inner:
            raise YCError('%s.internal_address_spec: required on an internal load balancer (with its subnet_id)'
                          % field)
        if balancer_type == 'external' and inner:
            raise YCError('%s.internal_address_spec: an external load balancer takes external_address_spec '
                          '(set type: internal for an internal one)' % field)
        spec = inner or external or {}
        if inner:
            id_ok(inner['subnet_id'], field + '.internal_address_spec.subnet_id')
        result.append(dict(name=item['name'], port=item['port'], target_port=target_port, protocol=item['protocol'],
                           address=spec.get('address') or None, subnet_id=(inner or {}).get('subnet_id') or '',
                           ip_version=spec.get('ip_version') or 'ipv4'))
    return sorted(result, key=lambda item: item['name'])


def healthcheck_ok(check, field):
    _item_name(check['name'], field + '.name')
    _range(check['interval'], 1, 60, field + '.interval', ' seconds')
    _range(check['timeout'], 1, 60, field + '.timeout', ' seconds')
    if check['interval'] < check['timeout'] + 1:
        raise YCError('%s.interval: must be at least 1 second longer than the timeout (%d), got %d'
                      % (field, check['timeout'], check['interval']))
    for key in ('unhealthy_threshold', 'healthy_threshold'):
        _range(check[key], 2, 10, '%s.%s' % (field, key))
    http, tcp = check.get('http_options'), check.get('tcp_options')
    if bool(http) == bool(tcp):
        raise YCError('%s: set exactly one of http_options or tcp_options' % field)
    kind = 'http_options' if http else 'tcp_options'
    _range((http or tcp)['port'], 1, 32767, '%s.%s.port' % (field, kind))
    if http and not (http.get('path') or '/').startswith('/'):
        raise YCError('%s.http_options.path: must start with /, got %r' % (field, http['path']))
    return dict(name=check['name'], interval=check['interval'], timeout=check['timeout'],
                unhealthy_threshold=check['unhealthy_threshold'], healthy_threshold=check['healthy_threshold'],
                http_options=dict(port=http['port'], path=http.get('path') or '/') if http else None,
                tcp_options=dict(port=tcp['port']) if tcp else None)


def attached_target_groups_ok(groups, option='attached_target_groups'):
    """The option in the returned shape, sorted by target group id; None: not given."""
    if groups is None:
        return None
    result, seen = [], {}
    for i, item in enumerate(groups):
        field = '%s[%d]' % (option, i)
        id_ok(item['target_group_id'], field + '.target_group_id')
        if item['target_group_id'] in seen:
            raise YCError('%s.target_group_id: %s is also %s[%d]' % (field, item['target_group_id'], option,
                                                                     seen[item['target_group_id']]))
        seen[item['target_group_id']] = i
        checks = item['healthchecks'] or []
        if len(checks) != 1:
            raise YCError('%s.healthchecks: exactly one health check per attached target group (the API\'s limit), '
                          'got %d' % (field, len(checks)))
        result.append(dict(target_group_id=item['target_group_id'],
                           healthchecks=[healthcheck_ok(checks[0], field + '.healthchecks[0]')]))
    return sorted(result, key=lambda item: item['target_group_id'])


# -- user shape -> API ----------------------------------------------------------------------------------------
def listener_specs(listeners, balancer_type):
    result = []
    for item in listeners:
        spec = svc.ListenerSpec(name=item['name'], port=item['port'], target_port=item['target_port'],
                                protocol=nlb_pb2.Listener.Protocol.Value(item['protocol'].upper()))
        version = nlb_pb2.IpVersion.Value(item['ip_version'].upper())
        if balancer_type == 'internal':
            spec.internal_address_spec.CopyFrom(svc.InternalAddressSpec(
                address=item['address'] or '', subnet_id=item['subnet_id'], ip_version=version))
        else:
            spec.external_address_spec.CopyFrom(svc.ExternalAddressSpec(address=item['address'] or '',
                                                                        ip_version=version))
        result.append(spec)
    return result


def attached_target_groups(groups):
    result = []
    for item in groups:
        checks = []
        for check in item['healthchecks']:
            message = health_check_pb2.HealthCheck(
                name=check['name'], interval=Duration(seconds=int(check['interval'])),
                timeout=Duration(seconds=int(check['timeout'])), unhealthy_threshold=check['unhealthy_threshold'],
                healthy_threshold=check['healthy_threshold'])
            if check.get('http_options'):
                message.http_options.CopyFrom(health_check_pb2.HealthCheck.HttpOptions(**check['http_options']))
            else:
                message.tcp_options.CopyFrom(health_check_pb2.HealthCheck.TcpOptions(**check['tcp_options']))
            checks.append(message)
        result.append(nlb_pb2.AttachedTargetGroup(target_group_id=item['target_group_id'], health_checks=checks))
    return result
