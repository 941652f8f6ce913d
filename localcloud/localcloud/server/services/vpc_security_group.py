"""vpc.v1 SecurityGroupService: rule specs are checked and become rules with ids.

Stored rules carry protocol_name and protocol_number both (TCP 6, UDP 17, ICMP 1, IPV6_ICMP 58, ANY -1), as YC
reports them. Update with rule_specs replaces the rules; a rule equal to an existing one keeps its id.
"""

from yandex.cloud.vpc.v1 import (network_pb2, security_group_pb2, security_group_service_pb2,
                                 security_group_service_pb2_grpc)

from localcloud.server import ids, masks, registry, resources, validate
from localcloud.server.errors import invalid, not_found

SecurityGroup = security_group_pb2.SecurityGroup
Rule = security_group_pb2.SecurityGroupRule
KIND = 'Security group'
PROTOCOLS = {'ANY': -1, 'ICMP': 1, 'TCP': 6, 'UDP': 17, 'GRE': 47, 'ESP': 50, 'AH': 51, 'IPV6_ICMP': 58,
             'VRRP': 112}
PROTOCOL_NAMES = {number: name for name, number in PROTOCOLS.items()}
PREDEFINED_TARGETS = ('self_security_group', 'loadbalancer_healthchecks')
PORTLESS = ('ICMP', 'IPV6_ICMP')


def check_fields(request, paths):
    if 'name' in paths:
        validate.name('name', request.name)
    if 'description' in paths:
        validate.description('description', request.description)
    if 'labels' in paths:
        validate.labels('labels', request.labels, validate.SG_LABEL_KEY, validate.SG_LABEL_VALUE)


def rule_from_spec(cloud, field, spec):
    """A SecurityGroupRule (without id) from a SecurityGroupRuleSpec, or INVALID_ARGUMENT naming the field."""
    validate.description(field + '.description', spec.description)
    validate.labels(field + '.labels', spec.labels, validate.SG_LABEL_KEY, validate.SG_LABEL_VALUE)
    if spec.direction not in (Rule.INGRESS, Rule.EGRESS):
        raise invalid(field + '.direction', 'must be INGRESS or EGRESS')
    which = spec.WhichOneof('protocol')
    if which == 'protocol_name':
        name = spec.protocol_name.upper()
        if name not in PROTOCOLS:
            raise invalid(field + '.protocol_name', 'unknown protocol %r (known: %s)'
                          % (spec.protocol_name, ', '.join(PROTOCOLS)))
        number = PROTOCOLS[name]
    elif which == 'protocol_number':
        number = spec.protocol_number
        if not 0 <= number <= 255:
            raise invalid(field + '.protocol_number', 'must be between 0 and 255')
        name = PROTOCOL_NAMES.get(number, str(number))
    else:
        raise invalid(field + '.protocol', 'one of protocol_name, protocol_number is required')
    rule = Rule(description=spec.description, labels=spec.labels, direction=spec.direction, protocol_name=name,
                protocol_number=number)
    if spec.HasField('ports'):
        if name in PORTLESS:
            raise invalid(field + '.ports', 'ports cannot be set for %s' % name)
        if not 0 <= spec.ports.from_port <= spec.ports.to_port <= 65535:
            raise invalid(field + '.ports', 'expected 0 <= from_port <= to_port <= 65535, got %d-%d'
                          % (spec.ports.from_port, spec.ports.to_port))
        rule.ports.CopyFrom(spec.ports)
    target = spec.WhichOneof('target')
    if target == 'cidr_blocks':
        blocks = spec.cidr_blocks
        if not blocks.v4_cidr_blocks and not blocks.v6_cidr_blocks:
            raise invalid(field + '.cidr_blocks', 'at least one CIDR block is required')
        for i, block in enumerate(blocks.v4_cidr_blocks):
            validate.cidr_v4('%s.cidr_blocks.v4_cidr_blocks[%d]' % (field, i), block)
        rule.cidr_blocks.CopyFrom(blocks)
    elif target == 'security_group_id':
        if cloud.store.get(SecurityGroup, spec.security_group_id) is None:
            raise not_found(KIND, spec.security_group_id)
        rule.security_group_id = spec.security_group_id
    elif target == 'predefined_target':
        if spec.predefined_target not in PREDEFINED_TARGETS:
            raise invalid(field + '.predefined_target', 'must be one of %s' % ', '.join(PREDEFINED_TARGETS))
        rule.predefined_target = spec.predefined_target
    else:
        raise invalid(field + '.target', 'one of cidr_blocks, security_group_id, predefined_target is required')
    return rule


def rules_from_specs(cloud, field, specs):
    return [rule_from_spec(cloud, '%s[%d]' % (field, i), spec) for i, spec in enumerate(specs)]


def _same(a, b):
    a, b = Rule.FromString(a.SerializeToString()), Rule.FromString(b.SerializeToString())
    a.id = b.id = ''
    return a == b


def assign_ids(new_rules, existing=()):
    """Give each rule an id (an identical existing rule's id if there is one); return the ids that are new."""
    available = list(existing)
    added = []
    for rule in new_rules:
        twin = next((old for old in available if _same(old, rule)), None)
        if twin is not None:
            available.remove(twin)
            rule.id = twin.id
        else:
            rule.id = ids.new(ids.SECURITY_GROUP_RULE)
            added.append(rule.id)
    return added


@registry.register
class SecurityGroupService(security_group_service_pb2_grpc.SecurityGroupServiceServicer):
    def __init__(self, cloud):
        self.cloud = cloud
        self.store = cloud.store

    def Get(self, request, context):
        return self.cloud.get(SecurityGroup, request.security_group_id, KIND)

    def List(self, request, context):
        return resources.list_page(self.cloud, SecurityGroup, request,
                                   security_group_service_pb2.ListSecurityGroupsResponse, 'security_groups')

    def _start(self, metadata, work, description):
        return self.cloud.operations.start(metadata, work, description)

    def Create(self, request, context):
        self.cloud.require_folder(request.folder_id)
        check_fields(request, ('name', 'description', 'labels'))
        validate.required('network_id', request.network_id)
        network = self.cloud.get(network_pb2.Network, request.network_id, 'Network')
        rules = rules_from_specs(self.cloud, 'rule_specs', request.rule_specs)
        resources.ensure_unique_name(self.cloud, SecurityGroup, request.folder_id, request.name, KIND)
        assign_ids(rules)
        group = SecurityGroup(id=ids.new(ids.SECURITY_GROUP), folder_id=request.folder_id,
                              created_at=resources.now(), name=request.name, description=request.description,
                              labels=request.labels, network_id=network.id, status=SecurityGroup.ACTIVE, rules=rules)

        def work():
            self.cloud.get(network_pb2.Network, group.network_id, 'Network')
            resources.ensure_unique_name(self.cloud, SecurityGroup, group.folder_id, group.name, KIND)
            return self.store.put(group)
        return self._start(security_group_service_pb2.CreateSecurityGroupMetadata(security_group_id=group.id), work,
                           'Create security group')

    def Update(self, request, context):
        group = self.cloud.get(SecurityGroup, request.security_group_id, KIND)
        paths = masks.update_paths(request, 'security_group_id')
        check_fields(request, paths)
        if 'name' in paths:
            resources.ensure_unique_name(self.cloud, SecurityGroup, group.folder_id, request.name, KIND, group.id)
        replace_rules = masks.touches(paths, 'rule_specs')
        metadata = security_group_service_pb2.UpdateSecurityGroupMetadata(security_group_id=group.id)
        if replace_rules:
            rules = rules_from_specs(self.cloud, 'rule_specs', request.rule_specs)
            metadata.added_rule_ids.extend(assign_ids(rules, group.rules))

        def work():
            current = self.cloud.get(SecurityGroup, group.id, KIND)
            if 'name' in paths:
                resources.ensure_unique_name(self.cloud, SecurityGroup, current.folder_id, request.name, KIND,
                                             current.id)
            masks.apply(request, current, paths, skip=('rule_specs',))
            if replace_rules:
                current.ClearField('rules')
                current.rules.extend(rules)
            return self.store.put(current)
        return self._start(metadata, work, 'Update security group')

    def UpdateRules(self, request, context):
        group = self.cloud.get(SecurityGroup, request.security_group_id, KIND)
        present = {rule.id for rule in group.rules}
        for i, rule_id in enumerate(request.deletion_rule_ids):
            if rule_id not in present:
                raise invalid('deletion_rule_ids[%d]' % i, 'rule %s is not in security group %s' % (rule_id, group.id))
        added = rules_from_specs(self.cloud, 'addition_rule_specs', request.addition_rule_specs)
        for rule in added:
            rule.id = ids.new(ids.SECURITY_GROUP_RULE)
        deleted = set(request.deletion_rule_ids)
        metadata = security_group_service_pb2.UpdateSecurityGroupMetadata(
            security_group_id=group.id, added_rule_ids=[r.id for r in added])

        def work():
            current = self.cloud.get(SecurityGroup, group.id, KIND)
            kept = [r for r in current.rules if r.id not in deleted]
            current.ClearField('rules')
            current.rules.extend(kept + added)
            return self.store.put(current)
        return self._start(metadata, work, 'Update security group rules')

    def UpdateRule(self, request, context):
        group = self.cloud.get(SecurityGroup, request.security_group_id, KIND)
        if request.rule_id not in {rule.id for rule in group.rules}:
            raise not_found('Security group rule', request.rule_id)
        paths = masks.update_paths(request, 'security_group_id', 'rule_id')
        if 'description' in paths:
            validate.description('description', request.description)
        if 'labels' in paths:
            validate.labels('labels', request.labels, validate.SG_LABEL_KEY, validate.SG_LABEL_VALUE)

        def work():
            current = self.cloud.get(SecurityGroup, group.id, KIND)
            for rule in current.rules:
                if rule.id == request.rule_id:
                    masks.apply(request, rule, paths)
                    self.store.put(current)
                    return rule
            raise not_found('Security group rule', request.rule_id)
        return self._start(security_group_service_pb2.UpdateSecurityGroupRuleMetadata(
            security_group_id=group.id, rule_id=request.rule_id), work, 'Update security group rule')

    def Delete(self, request, context):
        group = self.cloud.get(SecurityGroup, request.security_group_id, KIND)
        what = 'Security group %s' % group.id
        registry.ensure_unused(self.cloud, SecurityGroup, group.id, what)

        def work():
            self.cloud.get(SecurityGroup, group.id, KIND)
            registry.ensure_unused(self.cloud, SecurityGroup, group.id, what)
            self.store.delete(SecurityGroup, group.id)
        return self._start(security_group_service_pb2.DeleteSecurityGroupMetadata(security_group_id=group.id), work,
                           'Delete security group')
