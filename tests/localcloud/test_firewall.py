"""localcloud.firewall: YC security group rules -> the iptables-restore text a COI node gets (no docker here).

Semantics from yandex-cloud/docs en/vpc/concepts/security-groups.md (deny by default, rules add up, stateful,
targets, protocols) and en/network-load-balancer/concepts/health-check.md (the health check ranges).
"""

import re
import threading
import time

from google.protobuf import json_format
from yandex.cloud.vpc.v1 import security_group_pb2

from localcloud import firewall
from support import wait_for


def group(sg_id, *rules):
    return json_format.ParseDict({'id': sg_id, 'rules': [dict(rule, id='r%d' % i) for i, rule in enumerate(rules)]},
                                 security_group_pb2.SecurityGroup())


def chain(text, name):
    """The rules of one chain, without the -A/-m comment noise."""
    return [re.sub(r' -m comment --comment "[^"]*"', '', line[len('-A %s' % name):]).strip()
            for line in text.splitlines() if line.startswith('-A %s ' % name)]


IN, OUT = firewall.IN_CHAIN, firewall.OUT_CHAIN
STATEFUL = ['-i lo -j RETURN', '-m conntrack --ctstate RELATED,ESTABLISHED -j RETURN']


def test_ingress_targets_resolve_to_addresses_and_end_in_drop():
    db = group('sgdb',
               {'direction': 'INGRESS', 'protocol_name': 'TCP', 'ports': {'from_port': 5432, 'to_port': 5432},
                'security_group_id': 'sgapp'},
               {'direction': 'INGRESS', 'protocol_name': 'TCP', 'ports': {'from_port': 5432, 'to_port': 5432},
                'predefined_target': 'loadbalancer_healthchecks'},
               {'direction': 'INGRESS', 'protocol_name': 'ANY', 'predefined_target': 'self_security_group'},
               {'direction': 'INGRESS', 'protocol_name': 'ICMP', 'cidr_blocks': {'v4_cidr_blocks': ['10.0.0.0/8']}})
    members = {'sgapp': ['10.1.0.4', '10.1.0.3'], 'sgdb': ['10.1.0.5']}
    text = firewall.restore_text([db], members, healthcheck_sources=['10.1.0.1/32'])
    assert text.startswith('*filter\n:YC-SG-IN - [0:0]\n:YC-SG-OUT - [0:0]\n') and text.endswith('COMMIT\n')
    port = '-p tcp -m conntrack --ctorigdstport 5432 -j RETURN'
    assert chain(text, IN) == STATEFUL + [
        '-s 10.1.0.3/32 ' + port, '-s 10.1.0.4/32 ' + port,             # the app group's members
        '-s 198.18.235.0/24 ' + port, '-s 198.18.248.0/24 ' + port,      # NLB health check ranges ...
        '-s 10.1.0.1/32 ' + port,                                         # ... and localcloud's checker
        '-s 10.1.0.5/32 -j RETURN',                                       # self: any protocol
        '-s 10.0.0.0/8 -p icmp -j RETURN',
        '-j DROP']
    # No egress rule: the node answers (ESTABLISHED) but cannot initiate anything
    assert chain(text, OUT) == ['-o lo -j RETURN', '-m conntrack --ctstate RELATED,ESTABLISHED -j RETURN', '-j DROP']
    assert '-m comment --comment "sg sgdb rule r0"' in text


def test_no_rules_means_no_traffic_and_groups_add_up():
    assert chain(firewall.restore_text([group('sgempty')], {}), IN) == STATEFUL + ['-j DROP']
    web = group('sgweb', {'direction': 'INGRESS', 'protocol_name': 'TCP', 'ports': {'from_port': 80, 'to_port': 80},
                          'cidr_blocks': {'v4_cidr_blocks': ['0.0.0.0/0']}})
    out = group('sgout', {'direction': 'EGRESS', 'protocol_name': 'ANY', 'cidr_blocks': {'v4_cidr_blocks':
                                                                                          ['0.0.0.0/0']}},
                {'direction': 'INGRESS', 'protocol_name': 'TCP', 'ports': {'from_port': 80, 'to_port': 80},
                 'cidr_blocks': {'v4_cidr_blocks': ['0.0.0.0/0']}})
    text = firewall.restore_text([web, out, None], {})
    # 0.0.0.0/0 needs no -s; the same rule in two groups appears once; a missing group adds nothing
    assert chain(text, IN) == STATEFUL + ['-p tcp -m conntrack --ctorigdstport 80 -j RETURN', '-j DROP']
    assert chain(text, OUT)[-2:] == ['-j RETURN', '-j DROP']


def test_protocols_and_port_ranges():
    def lines(**rule):
        if not set(rule) & {'cidr_blocks', 'security_group_id', 'predefined_target'}:
            rule['cidr_blocks'] = {'v4_cidr_blocks': ['192.0.2.0/24']}
        return [line.split(' -m comment')[0] for line in firewall.rule_lines(
            json_format.ParseDict(rule, security_group_pb2.SecurityGroupRule()), 'sg', {})]
    assert lines(direction='EGRESS', protocol_name='UDP', ports={'from_port': 53, 'to_port': 54}) == \
        ['-A YC-SG-OUT -d 192.0.2.0/24 -p udp --dport 53:54']
    # ANY with a narrower range: TCP and UDP on those ports (inferred: ports mean nothing to ICMP)
    assert lines(direction='INGRESS', protocol_name='ANY', ports={'from_port': 8000, 'to_port': 8100}) == [
        '-A YC-SG-IN -s 192.0.2.0/24 -p tcp -m conntrack --ctorigdstport 8000:8100',
        '-A YC-SG-IN -s 192.0.2.0/24 -p udp -m conntrack --ctorigdstport 8000:8100']
    # ANY 0-65535 and TCP 0-65535: no port match at all
    assert lines(direction='INGRESS', protocol_name='ANY', protocol_number=-1,
                 ports={'from_port': 0, 'to_port': 65535}) == ['-A YC-SG-IN -s 192.0.2.0/24']
    assert lines(direction='INGRESS', protocol_name='TCP', ports={'from_port': 0, 'to_port': 65535}) == \
        ['-A YC-SG-IN -s 192.0.2.0/24 -p tcp']
    assert lines(direction='INGRESS', protocol_name='GRE', protocol_number=47) == ['-A YC-SG-IN -s 192.0.2.0/24 -p 47']
    assert lines(direction='INGRESS', protocol_name='IPV6_ICMP', protocol_number=58) == []
    # IPv6 blocks only: nothing (the docker networks are IPv4); a host address is a /32
    assert lines(direction='INGRESS', protocol_name='TCP', cidr_blocks={'v6_cidr_blocks': ['::/0']}) == []
    assert lines(direction='INGRESS', protocol_name='TCP', cidr_blocks={'v4_cidr_blocks': ['10.9.9.9/32']}) == \
        ['-A YC-SG-IN -s 10.9.9.9/32 -p tcp']
    # a group reference with no members yet matches nothing (not everything)
    assert lines(direction='INGRESS', protocol_name='TCP', security_group_id='sgnone') == []


def test_instance_text_never_blocks_metadata_and_dns():
    instance = {'security_group_ids': ['sg1'], 'subnet_cidr': '10.7.3.0/24'}
    text = firewall.instance_text(instance, {'sg1': group('sg1')}, {}, ['10.255.255.53'])
    assert chain(text, OUT) == ['-o lo -j RETURN', '-m conntrack --ctstate RELATED,ESTABLISHED -j RETURN',
                                '-d 169.254.169.254/32 -j RETURN', '-d 10.7.3.2/32 -j RETURN',
                                '-d 10.255.255.53/32 -p udp --dport 53 -j RETURN',
                                '-d 10.255.255.53/32 -p tcp --dport 53 -j RETURN', '-j DROP']
    assert firewall.subnet_addresses('10.7.3.0/24') == ('10.7.3.1/32', '10.7.3.2/32')


def test_host_nameservers(tmp_path):
    conf = tmp_path / 'resolv.conf'
    conf.write_text('# x\nnameserver 127.0.0.53\nnameserver 10.0.0.2\nnameserver fe80::1\nsearch x\n')
    assert firewall.host_nameservers([str(conf)]) == ['10.0.0.2']
    conf.write_text('nameserver 127.0.0.53\n')
    assert firewall.host_nameservers([str(conf)]) == ['8.8.8.8', '8.8.4.4']  # docker's fallback


class FakeNodes:
    """What the Enforcer drives: nodes that take a restore text, and their start times (a restart changes it)."""

    def __init__(self):
        self.rules, self.started, self.calls, self.asked = {}, {}, [], []
        self.lock = threading.Lock()

    def execute(self, container, text):
        with self.lock:
            self.calls.append(container)
            self.rules[container] = text

    def started_at(self, containers):
        with self.lock:
            self.asked.extend(containers)
        return dict((c, self.started[c]) for c in containers if c in self.started)


def settle(enforcer, instances, nodes, until, timeout=5):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        enforcer.sync(instances)
        if until():
            return
        time.sleep(0.05)
    raise AssertionError('not settled: %r' % nodes.calls)


def test_enforcer_applies_on_change_only():
    nodes = FakeNodes()
    groups = {'sgapp': group('sgapp'),
              'sgdb': group('sgdb', {'direction': 'INGRESS', 'protocol_name': 'TCP', 'security_group_id': 'sgapp'})}
    fetches = []

    def fetch(ids):
        fetches.append(ids)
        return dict((i, groups.get(i)) for i in ids)
    enforcer = firewall.Enforcer(fetch, nodes.execute, nodes.started_at, fetch_every=0.2, verify_every=0.2,
                                 nameservers=[])
    app = {'id': 'i1', 'container': 'c1', 'address': '10.0.0.3', 'security_group_ids': ['sgapp'],
           'subnet_cidr': '10.0.0.0/24', 'enforce': True}
    db = {'id': 'i2', 'container': 'c2', 'address': '10.0.0.4', 'security_group_ids': ['sgdb'],
          'subnet_cidr': '10.0.0.0/24', 'enforce': True}
    creating = {'id': 'i3', 'container': 'c3', 'address': '10.0.0.5', 'security_group_ids': ['sgapp'],
                'subnet_cidr': '10.0.0.0/24', 'enforce': False}
    unfiltered = {'id': 'i4', 'container': 'c4', 'address': '10.0.0.6', 'security_group_ids': [],
                  'subnet_cidr': '10.0.0.0/24', 'enforce': True}
    nodes.started.update(c1='t1', c2='t1', c4='t1')
    try:
        everyone = [app, db, creating, unfiltered]
        settle(enforcer, everyone, nodes, lambda: set(nodes.rules) == {'c1', 'c2'})
        # a member that is still being created counts for the reference, but gets no rules itself
        assert '-s 10.0.0.5/32 -p tcp' in nodes.rules['c2'] and '-s 10.0.0.3/32 -p tcp' in nodes.rules['c2']
        # nothing changed: no more applies however often it syncs
        calls = len(nodes.calls)
        for _ in range(10):
            enforcer.sync(everyone)
            time.sleep(0.05)
        assert len(nodes.calls) == calls and fetches[-1] == ['sgapp', 'sgdb']
        # the membership changes (an app instance goes): only the db node is touched
        settle(enforcer, [app, db, unfiltered], nodes, lambda: '10.0.0.5' not in nodes.rules['c2'])
        assert nodes.calls[calls:] == ['c2']
        # the rules change (an UpdateRules): seen at the next fetch
        groups['sgapp'] = group('sgapp', {'direction': 'EGRESS', 'protocol_name': 'ANY',
                                          'cidr_blocks': {'v4_cidr_blocks': ['0.0.0.0/0']}})
        settle(enforcer, [app, db], nodes, lambda: '-A YC-SG-OUT -m comment' in nodes.rules['c1'])
        # a node restarted behind the engine's back (new start time): applied again
        del nodes.rules['c2']
        nodes.started['c2'] = 't2'
        settle(enforcer, [app, db], nodes, lambda: 'c2' in nodes.rules)
        # forget(): the engine restarted it; applied again without waiting for the check
        del nodes.rules['c1']
        enforcer.forget('i1')
        settle(enforcer, [app, db], nodes, lambda: 'c1' in nodes.rules, timeout=0.5)
    finally:
        enforcer.stop()


def test_enforcer_retries_a_node_that_is_not_there_yet():
    nodes = FakeNodes()
    enforcer = firewall.Enforcer(lambda ids: {'sg': group('sg')}, nodes.execute, nodes.started_at, nameservers=[])
    instance = {'id': 'i1', 'container': 'c1', 'address': '10.0.0.3', 'security_group_ids': ['sg'],
                'subnet_cidr': '10.0.0.0/24', 'enforce': True}
    try:
        enforcer.sync([instance])
        wait_for(lambda: 'c1' in nodes.asked, 3, interval=0.01, what='the enforcer trying c1')  # it is not running
        assert nodes.rules == {}
        nodes.started['c1'] = 't1'   # the container runs now
        settle(enforcer, [instance], nodes, lambda: 'c1' in nodes.rules, timeout=3)
    finally:
        enforcer.stop()
