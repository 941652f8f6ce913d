"""Yandex Cloud security groups enforced in a COI node's network namespace (iptables, filter table).

    text = restore_text(groups, members, healthcheck_sources=['10.1.2.1/32'], always_egress=[...])
    # -> iptables-restore input for the chains YC-SG-IN (hooked from INPUT) and YC-SG-OUT (from OUTPUT)
    enforcer = Enforcer(fetch, execute, started_at)    # keeps every node's chains equal to its groups
    enforcer.sync(instances); enforcer.forget(instance_id); enforcer.stop()

What a rule means follows en/vpc/concepts/security-groups.md (yandex-cloud/docs) and the rule message of
yandex/cloud/vpc/v1/security_group.proto:

- Deny by default once a group is attached ("what is not allowed is forbidden"); the rules of every group on
  the interface add up (a packet passes if at least one rule allows it). A group without rules: no traffic.
- Stateful: "Rules store session statuses": replies of an allowed connection pass (conntrack
  ESTABLISHED,RELATED), in both directions, so an ingress-only group can answer but not initiate.
- Targets: ``cidr_blocks.v4_cidr_blocks``; ``security_group_id`` -> the private addresses of the interfaces
  that carry that group (section "Exchanging traffic with other security groups"); ``self_security_group``
  -> the members of the rule's own group; ``loadbalancer_healthchecks`` -> 198.18.235.0/24, 198.18.248.0/24
  (the NLB health check ranges, en/network-load-balancer/concepts/health-check.md) plus the address
  localcloud's own health checks come from (the subnet's docker gateway: localcloud's stand-in).
- Protocols TCP, UDP, ICMP, ANY ("All available protocols") and the other IANA numbers; ``ports`` (null = any).
- Never blocked: sending to the metadata address 169.254.169.254 and to the subnet's DNS server (x.x.x.2);
  the caller passes those (and localcloud's real DNS servers) as ``always_egress``.

Inferred where the docs are silent (see localcloud's README): ANY with a port range narrower than 0-65535
means TCP and UDP on those ports (ports mean nothing to ICMP); ANY with no ports or 0-65535 is every
protocol; IPv6 blocks and IPV6_ICMP are ignored (the docker networks are IPv4 only); loopback always passes.

Allowed packets RETURN to the hooking chain rather than ACCEPT, so chains the node's own software hooks
(the payload's DOCKER-USER from OUTPUT, coinode's nat COI-PORTS) still see them; everything else is DROPped
(a refused connection times out, as on YC). Ingress ports are matched on the conntrack original destination
port: coinode's COI-PORTS REDIRECTs "VM:CONTAINER" ports in PREROUTING, and the group speaks of the VM port.

Standard library only (the messages are the SDK's SecurityGroup); the docker calls are injected.
"""

import hashlib
import ipaddress
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor

log = logging.getLogger('localcloud.firewall')

IN_CHAIN, OUT_CHAIN = 'YC-SG-IN', 'YC-SG-OUT'
# en/network-load-balancer/concepts/health-check.md, en/vpc/concepts/security-groups.md
LOADBALANCER_HEALTHCHECK_RANGES = ('198.18.235.0/24', '198.18.248.0/24')
METADATA_ADDRESS = '169.254.169.254/32'
INGRESS, EGRESS = 1, 2  # SecurityGroupRule.Direction
PORT_PROTOCOLS = ('tcp', 'udp')
# What a node runs: the chains from stdin (a declared chain that exists is flushed, so this is one atomic
# replace of our two chains and nothing else), then the hooks if they are not there yet.
APPLY_SCRIPT = ('iptables-restore -w --noflush && '
                'for hook in "INPUT %s" "OUTPUT %s"; do set -- $hook; '
                'iptables -w -C $1 -j $2 2>/dev/null || iptables -w -I $1 1 -j $2 || exit 1; done'
                % (IN_CHAIN, OUT_CHAIN))


def _network(cidr):
    return ipaddress.IPv4Network(cidr, strict=False)


def subnet_addresses(cidr):
    """(gateway, DNS server) of a subnet: YC's first two addresses; the gateway is the docker bridge."""
    network = _network(cidr)
    return '%s/32' % (network.network_address + 1), '%s/32' % (network.network_address + 2)


def _protocols(rule):
    """[iptables -p value or None for any, ...] and whether the rule's ports apply."""
    name = (rule.protocol_name or '').upper()
    number = rule.protocol_number
    has_ports = rule.HasField('ports')
    everything = not has_ports or (rule.ports.from_port <= 1 and rule.ports.to_port >= 65535)
    if name in ('', 'ANY') and number in (0, -1):
        return ([None], False) if everything else (list(PORT_PROTOCOLS), True)
    if name in ('TCP', 'UDP') or number in (6, 17):
        return [name.lower() if name in ('TCP', 'UDP') else {6: 'tcp', 17: 'udp'}[number]], not everything
    if name == 'ICMP' or number == 1:
        return ['icmp'], False
    if name == 'IPV6_ICMP' or number == 58:
        return [], False
    return [str(number)], False


def _peers(rule, group_id, members, healthcheck_sources):
    """CIDRs the rule lets traffic come from (ingress) or go to (egress)."""
    target = rule.WhichOneof('target')
    if target == 'cidr_blocks':
        return [str(_network(block)) for block in rule.cidr_blocks.v4_cidr_blocks]
    if target == 'security_group_id':
        return ['%s/32' % address for address in sorted(members.get(rule.security_group_id, ()))]
    if target == 'predefined_target' and rule.predefined_target == 'self_security_group':
        return ['%s/32' % address for address in sorted(members.get(group_id, ()))]
    if target == 'predefined_target' and rule.predefined_target == 'loadbalancer_healthchecks':
        return list(LOADBALANCER_HEALTHCHECK_RANGES) + [str(_network(c)) for c in healthcheck_sources]
    return []


def rule_lines(rule, group_id, members, healthcheck_sources=()):
    """iptables-restore lines (``-A YC-SG-IN ...``) of one SecurityGroupRule; [] if it matches nothing here."""
    ingress = rule.direction == INGRESS
    if rule.direction not in (INGRESS, EGRESS):
        return []
    chain, side = (IN_CHAIN, '-s') if ingress else (OUT_CHAIN, '-d')
    protocols, ports = _protocols(rule)
    comment = '-m comment --comment "sg %s rule %s"' % (group_id, rule.id or '-')
    lines = []
    for peer in _peers(rule, group_id, members, healthcheck_sources):
        where = '' if peer == '0.0.0.0/0' else ' %s %s' % (side, peer)
        for protocol in protocols:
            match = ' -p %s' % protocol if protocol else ''
            if ports:
                low, high = rule.ports.from_port, rule.ports.to_port
                span = '%d' % low if low == high else '%d:%d' % (low, high)
                # ingress: the port the packet was sent to, before coinode's REDIRECT
                match += ' -m conntrack --ctorigdstport %s' % span if ingress else ' --dport %s' % span
            lines.append('-A %s%s%s %s -j RETURN' % (chain, where, match, comment))
    return lines


def restore_text(groups, members, healthcheck_sources=(), always_egress=()):
    """The iptables-restore input enforcing ``groups`` (the SecurityGroup messages of one interface).

    members: {security group id: [IPv4 address of each interface carrying it]};
    healthcheck_sources: CIDRs localcloud's health checks come from (what loadbalancer_healthchecks adds);
    always_egress: [(cidr, protocol or None, port or None)] never blocked (metadata, DNS).
    """
    lines = ['*filter', ':%s - [0:0]' % IN_CHAIN, ':%s - [0:0]' % OUT_CHAIN]
    for chain, interface in ((IN_CHAIN, '-i'), (OUT_CHAIN, '-o')):
        lines.append('-A %s %s lo -j RETURN' % (chain, interface))
        lines.append('-A %s -m conntrack --ctstate RELATED,ESTABLISHED -j RETURN' % chain)
    for cidr, protocol, port in always_egress:
        match = ' -p %s' % protocol if protocol else ''
        match += ' --dport %d' % port if protocol and port else ''
        lines.append('-A %s -d %s%s -j RETURN' % (OUT_CHAIN, _network(cidr), match))
    seen = set(lines)
    for group in groups:
        if group is None:
            continue
        for rule in group.rules:
            for line in rule_lines(rule, group.id, members, healthcheck_sources):
                key = line.split(' -m comment')[0]  # the same match from two groups: once
                if key not in seen:
                    seen.add(key)
                    lines.append(line)
    lines += ['-A %s -j DROP' % IN_CHAIN, '-A %s -j DROP' % OUT_CHAIN, 'COMMIT', '']
    return '\n'.join(lines)


def host_nameservers(paths=('/etc/resolv.conf', '/run/systemd/resolve/resolv.conf')):
    """The DNS servers docker's embedded DNS (127.0.0.11 in each node) forwards to, from the node's netns:
    the host's non-loopback nameservers, or docker's fallback 8.8.8.8/8.8.4.4 when there is none."""
    found = []
    for path in paths:
        try:
            with open(path) as handle:
                for line in handle:
                    parts = line.split()
                    if len(parts) >= 2 and parts[0] == 'nameserver':
                        try:
                            address = ipaddress.IPv4Address(parts[1])
                        except ValueError:
                            continue
                        if not address.is_loopback and str(address) not in found:
                            found.append(str(address))
        except OSError:
            continue
        if found:
            break
    return found or ['8.8.8.8', '8.8.4.4']


def instance_text(instance, groups, members, nameservers):
    """restore_text for one instance dict ({'security_group_ids', 'subnet_cidr', ...}) of an Enforcer."""
    always = [(METADATA_ADDRESS, None, None)]
    sources = []
    if instance.get('subnet_cidr'):
        gateway, dns = subnet_addresses(instance['subnet_cidr'])
        sources.append(gateway)
        always.append((dns, None, None))
    for server in nameservers:
        always += [('%s/32' % server, 'udp', 53), ('%s/32' % server, 'tcp', 53)]
    return restore_text([groups.get(sg) for sg in instance['security_group_ids']], members, sources, always)


class Enforcer:
    """Keeps each node's YC-SG chains equal to what its interface's security groups say.

    fetch(ids) -> {security group id: SecurityGroup or None} (the API's current groups; polled every
    ``fetch_every`` s and whenever the set of ids changes); execute(container, text) applies one restore text
    (raises on failure); started_at(containers) -> {container: start time} of the running ones (one docker
    inspect). A rule set is applied only when its text changed, the node was restarted (its netns and rules
    are new: seen by the start time, checked every ``verify_every`` s, or told by forget()) or a try failed.
    """

    RETRY = 1.0

    def __init__(self, fetch, execute, started_at, fetch_every=1.0, verify_every=5.0, workers=4, nameservers=None):
        self._fetch, self._execute, self._started_at = fetch, execute, started_at
        self.fetch_every, self.verify_every = fetch_every, verify_every
        self.nameservers = host_nameservers() if nameservers is None else list(nameservers)
        self._lock = threading.Lock()
        self._groups, self._ids, self._next_fetch, self._next_verify = {}, None, 0.0, 0.0
        self._applied = {}   # instance id -> {'hash', 'container', 'started'}
        self._busy, self._retry, self._epoch = set(), {}, {}
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix='sg-apply')

    def forget(self, instance_id):
        """The node (re)started: its rules are gone with its old netns; apply them again."""
        with self._lock:
            self._applied.pop(instance_id, None)
            self._retry.pop(instance_id, None)
            self._epoch[instance_id] = self._epoch.get(instance_id, 0) + 1

    def stop(self):
        self._pool.shutdown(wait=False, cancel_futures=True)

    def sync(self, instances):
        """instances: [{'id', 'container', 'address', 'security_group_ids', 'subnet_cidr', 'enforce'}] — every
        interface that counts as a group member; 'enforce' ones (nodes that exist) get their rules."""
        now = time.monotonic()
        ids = sorted(set(sg for i in instances for sg in i['security_group_ids']))
        if ids != self._ids or now >= self._next_fetch:
            self._groups = self._fetch(ids) if ids else {}
            self._ids, self._next_fetch = ids, now + self.fetch_every
        members = {}
        for instance in instances:
            for sg in instance['security_group_ids'] if instance['address'] else ():
                members.setdefault(sg, []).append(instance['address'])
        wanted = {}
        for instance in instances:
            if instance['security_group_ids'] and instance['enforce']:
                text = instance_text(instance, self._groups, members, self.nameservers)
                wanted[instance['id']] = (instance['container'], text, hashlib.sha256(text.encode()).hexdigest())
        with self._lock:
            for gone in set(self._applied) - set(wanted):
                del self._applied[gone]
            for instance_id, (container, text, digest) in wanted.items():
                if (self._applied.get(instance_id, {}).get('hash') == digest or instance_id in self._busy
                        or now < self._retry.get(instance_id, 0.0)):
                    continue
                self._busy.add(instance_id)
                self._pool.submit(self._apply, instance_id, container, text, digest, self._epoch.get(instance_id, 0))
            verify = now >= self._next_verify and dict((i, a['container']) for i, a in self._applied.items())
            if now >= self._next_verify:
                self._next_verify = now + self.verify_every
        if verify:
            started = self._started_at(sorted(set(verify.values())))
            with self._lock:
                for instance_id, container in verify.items():
                    applied = self._applied.get(instance_id)
                    if applied and started.get(container) != applied['started']:
                        log.info('node %s restarted: applying its security groups again', container)
                        del self._applied[instance_id]

    def _apply(self, instance_id, container, text, digest, epoch):
        try:
            started = self._started_at([container]).get(container)
            if not started:
                raise RuntimeError('node %s is not running' % container)
            self._execute(container, text)
            with self._lock:
                if self._epoch.get(instance_id, 0) == epoch:
                    self._applied[instance_id] = {'hash': digest, 'container': container, 'started': started}
                self._retry.pop(instance_id, None)
            log.debug('security groups applied to %s', container)
        except Exception as exc:  # the node may be booting or going: try again shortly
            log.debug('security groups of %s not applied: %s', container, exc)
            with self._lock:
                self._retry[instance_id] = time.monotonic() + self.RETRY
        finally:
            with self._lock:
                self._busy.discard(instance_id)


__all__ = ['Enforcer', 'restore_text', 'rule_lines', 'instance_text', 'subnet_addresses', 'host_nameservers',
           'APPLY_SCRIPT', 'IN_CHAIN', 'OUT_CHAIN', 'LOADBALANCER_HEALTHCHECK_RANGES']
