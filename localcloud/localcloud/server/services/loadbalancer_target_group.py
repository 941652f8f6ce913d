"""loadbalancer.v1 TargetGroupService: the targets (subnet + address) a network load balancer sends traffic to.

As en/network-load-balancer/concepts/target-resources.md describes them: "A target is defined by two parameters: the
subnet ID and the internal IP address of the resource. Targets within one group must be located in the same cloud
network. All targets must be connected to the same subnet within a single availability zone. The maximum number of
resources in a target group is 254." A group attached to a load balancer cannot be deleted
(en/network-load-balancer/operations/target-group-delete.md: "Before deleting a target group, detach it from the
network load balancer"); the users are whatever registers `registry.references(TargetGroup)` (the load balancers,
the instance groups that made a group from their `load_balancer_spec`).

Every write tells the data plane (localcloud/nlb.py), which re-reads the store.
"""

import ipaddress
import re

from yandex.cloud.loadbalancer.v1 import target_group_pb2, target_group_service_pb2_grpc
from yandex.cloud.loadbalancer.v1 import target_group_service_pb2 as svc
from yandex.cloud.vpc.v1 import subnet_pb2

from localcloud import nlb
from localcloud.server import ids, masks, registry, resources, validate
from localcloud.server.errors import invalid
from localcloud.server.services.vpc_gateway import operations_of

TargetGroup = target_group_pb2.TargetGroup
Target = target_group_pb2.Target
KIND = 'Target group'
# Target group ids as the docs show them (`enpu2l7q9kth********` in en/network-load-balancer/operations/
# load-balancer-create.md; older pages show `b7r...`).
ID_PREFIX = 'enp'
# target_group_service.proto: names `|[a-z][-a-z0-9]{1,61}[a-z0-9]` (3-63 characters, or empty).
NAME = re.compile(r'|[a-z][-a-z0-9]{1,61}[a-z0-9]')
# The one region (Terraform's yandex_lb_* validate region_id against ["ru-central1"], its default).
REGIONS = ('ru-central1',)
MAX_TARGETS = 254  # target-resources.md; en/_includes/load-balancer-limits.md "Number of targets per target group"


def check_fields(request, paths):
    if 'name' in paths:
        validate.name('name', request.name, NAME)
    if 'description' in paths:
        validate.description('description', request.description)
    if 'labels' in paths:
        validate.labels('labels', request.labels)


def region(field, value):
    """region_id: empty -> ru-central1 (Terraform's default); anything else must be a region."""
    if len(value) > 50:
        raise invalid(field, 'the length must be less than or equal to 50')
    if value and value not in REGIONS:
        raise invalid(field, 'unknown region %r (regions: %s)' % (value, ', '.join(REGIONS)))
    return value or REGIONS[0]


def check_targets(cloud, targets, field='targets'):
    """The rules of target-resources.md, each error naming targets[i].<field>: the subnet exists (NOT_FOUND), the
    address is an IPv4 address inside one of its CIDR blocks, one network for all, one subnet per zone, no target
    twice, at most 254."""
    if len(targets) > MAX_TARGETS:
        raise invalid(field, 'a target group holds at most %d targets, got %d' % (MAX_TARGETS, len(targets)))
    network = None
    zones = {}
    seen = {}
    for i, target in enumerate(targets):
        item = '%s[%d]' % (field, i)
        validate.required(item + '.subnet_id', target.subnet_id)
        if len(target.subnet_id) > 50:
            raise invalid(item + '.subnet_id', 'the length must be less than or equal to 50')
        subnet = cloud.get(subnet_pb2.Subnet, target.subnet_id, 'Subnet')
        validate.required(item + '.address', target.address)
        try:
            address = ipaddress.IPv4Address(target.address)
        except ValueError:
            raise invalid(item + '.address', '%r is not an IPv4 address' % target.address)
        blocks = [ipaddress.IPv4Network(block) for block in subnet.v4_cidr_blocks]
        if not any(address in block for block in blocks):
            raise invalid(item + '.address', '%s is not in subnet %s (%s)'
                          % (address, subnet.id, ', '.join(map(str, blocks))))
        if network is None:
            network = subnet.network_id
        elif subnet.network_id != network:
            raise invalid(item + '.subnet_id', 'subnet %s is in network %s; the targets of a group must be in one '
                          'network (%s)' % (subnet.id, subnet.network_id, network))
        other = zones.setdefault(subnet.zone_id, subnet.id)
        if other != subnet.id:
            raise invalid(item + '.subnet_id', 'subnet %s is in zone %s, where the group already has targets in '
                          'subnet %s: one subnet per availability zone' % (subnet.id, subnet.zone_id, other))
        key = (target.subnet_id, target.address)
        if key in seen:
            raise invalid(item, 'target %s %s is also %s[%d]' % (target.subnet_id, target.address, field, seen[key]))
        seen[key] = i


def _key(target):
    return (target.subnet_id, target.address)


@registry.register
class TargetGroupService(target_group_service_pb2_grpc.TargetGroupServiceServicer):
    def __init__(self, cloud):
        self.cloud = cloud
        self.store = cloud.store

    def _changed(self):
        nlb.dataplane(self.cloud).changed()

    def Get(self, request, context):
        return self.cloud.get(TargetGroup, request.target_group_id, KIND)

    def List(self, request, context):
        return resources.list_page(self.cloud, TargetGroup, request, svc.ListTargetGroupsResponse, 'target_groups')

    def Create(self, request, context):
        self.cloud.require_folder(request.folder_id)
        check_fields(request, ('name', 'description', 'labels'))
        region_id = region('region_id', request.region_id)
        check_targets(self.cloud, request.targets)
        resources.ensure_unique_name(self.cloud, TargetGroup, request.folder_id, request.name, KIND)
        group = TargetGroup(id=ids.new(ID_PREFIX), folder_id=request.folder_id, created_at=resources.now(),
                            name=request.name, description=request.description, labels=request.labels,
                            region_id=region_id, targets=request.targets)

        def work():
            resources.ensure_unique_name(self.cloud, TargetGroup, group.folder_id, group.name, KIND)
            check_targets(self.cloud, group.targets)  # a subnet deleted meanwhile
            self.store.put(group)
            self._changed()
            return group
        return self.cloud.operations.start(svc.CreateTargetGroupMetadata(target_group_id=group.id), work,
                                           'Create target group')

    def Update(self, request, context):
        group = self.cloud.get(TargetGroup, request.target_group_id, KIND)
        paths = masks.update_paths(request, 'target_group_id')
        check_fields(request, paths)
        if 'targets' in paths:
            check_targets(self.cloud, request.targets)
        if 'name' in paths:
            resources.ensure_unique_name(self.cloud, TargetGroup, group.folder_id, request.name, KIND, group.id)

        def work():
            current = self.cloud.get(TargetGroup, group.id, KIND)
            if 'name' in paths:
                resources.ensure_unique_name(self.cloud, TargetGroup, current.folder_id, request.name, KIND,
                                             current.id)
            masks.apply(request, current, paths)
            self.store.put(current)
            self._changed()
            return current
        return self.cloud.operations.start(svc.UpdateTargetGroupMetadata(target_group_id=group.id), work,
                                           'Update target group')

    def Delete(self, request, context):
        group = self.cloud.get(TargetGroup, request.target_group_id, KIND)
        what = 'Target group %s' % group.id
        registry.ensure_unused(self.cloud, TargetGroup, group.id, what)

        def work():
            self.cloud.get(TargetGroup, group.id, KIND)
            registry.ensure_unused(self.cloud, TargetGroup, group.id, what)
            self.store.delete(TargetGroup, group.id)
            self._changed()
        return self.cloud.operations.start(svc.DeleteTargetGroupMetadata(target_group_id=group.id), work,
                                           'Delete target group')

    def AddTargets(self, request, context):
        group = self.cloud.get(TargetGroup, request.target_group_id, KIND)
        # target_group_service.proto AddTargetsRequest.targets: "greater than or equal to 1".
        validate.required('targets', list(request.targets))
        check_targets(self.cloud, request.targets)
        check_targets(self.cloud, self._added(group, request.targets))  # the group as it would be

        def work():
            current = self.cloud.get(TargetGroup, group.id, KIND)
            targets = self._added(current, request.targets)
            check_targets(self.cloud, targets)
            current.ClearField('targets')
            current.targets.extend(targets)
            self.store.put(current)
            self._changed()
            return current
        return self.cloud.operations.start(svc.AddTargetsMetadata(target_group_id=group.id), work,
                                           'Add targets to target group')

    def RemoveTargets(self, request, context):
        group = self.cloud.get(TargetGroup, request.target_group_id, KIND)
        validate.required('targets', list(request.targets))
        present = set(_key(t) for t in group.targets)
        for i, target in enumerate(request.targets):
            # The docs do not say what YC answers for a target the group does not have: refused here, naming it.
            if _key(target) not in present:
                raise invalid('targets[%d]' % i, 'target %s %s is not in target group %s'
                              % (target.subnet_id, target.address, group.id))

        def work():
            current = self.cloud.get(TargetGroup, group.id, KIND)
            gone = set(_key(t) for t in request.targets)
            kept = [t for t in current.targets if _key(t) not in gone]
            current.ClearField('targets')
            current.targets.extend(kept)
            self.store.put(current)
            self._changed()
            return current
        return self.cloud.operations.start(svc.RemoveTargetsMetadata(target_group_id=group.id), work,
                                           'Remove targets from target group')

    @staticmethod
    def _added(group, targets):
        """The group's targets and the new ones; a target it already has is not added twice."""
        result = list(group.targets)
        keys = set(_key(t) for t in result)
        for target in targets:
            if _key(target) not in keys:
                keys.add(_key(target))
                result.append(Target(subnet_id=target.subnet_id, address=target.address))
        return result

    def ListOperations(self, request, context):
        group = self.cloud.get(TargetGroup, request.target_group_id, KIND)
        return operations_of(self.cloud, (svc.CreateTargetGroupMetadata, svc.UpdateTargetGroupMetadata,
                                          svc.DeleteTargetGroupMetadata, svc.AddTargetsMetadata,
                                          svc.RemoveTargetsMetadata), 'target_group_id', group.id,
                             request, svc.ListTargetGroupOperationsResponse)
