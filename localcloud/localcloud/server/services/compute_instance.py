"""compute.v1 InstanceService, read side: the VMs instance groups made (what the yc_compute inventory lists).

An instance is an engine record (localcloud.instancegroups) seen through its group's template: name, FQDN,
zone, addresses, labels, platform, resources, service account. Metadata is never returned (YC returns it only
with view FULL; here it holds the payload's secrets and is the group's anyway). Instances are created and
deleted by their groups only: Create/Delete/... answer UNIMPLEMENTED.
"""

from yandex.cloud.compute.v1 import instance_pb2, instance_service_pb2, instance_service_pb2_grpc
from yandex.cloud.compute.v1.instancegroup import instance_group_pb2

from localcloud.server import registry, validate
from localcloud.server.errors import not_found
from localcloud.server.services.compute_instance_group import engine

Instance = instance_pb2.Instance
M = instance_group_pb2.ManagedInstance
STATUS = {M.CREATING_INSTANCE: Instance.PROVISIONING, M.STARTING_INSTANCE: Instance.STARTING,
          M.STOPPING_INSTANCE: Instance.RESTARTING, M.DELETING_INSTANCE: Instance.DELETING}


def to_instance(record, group):
    template = group.instance_template
    instance = Instance(id=record['instance_id'], folder_id=group.folder_id, name=record['name'],
                        description=template.description, labels=template.labels, zone_id=record['zone_id'],
                        platform_id=template.platform_id, status=STATUS.get(record['status'], Instance.RUNNING),
                        fqdn=record['fqdn'], service_account_id=template.service_account_id)
    instance.created_at.FromNanoseconds(int(record['created_at'] * 1e9))
    spec = template.resources_spec
    instance.resources.CopyFrom(instance_pb2.Resources(memory=spec.memory, cores=spec.cores,
                                                       core_fraction=spec.core_fraction or 100, gpus=spec.gpus))
    instance.boot_disk.CopyFrom(instance_pb2.AttachedDisk(device_name='boot', auto_delete=True,
                                                          mode=instance_pb2.AttachedDisk.READ_WRITE))
    for disk in template.secondary_disk_specs:
        instance.secondary_disks.add(device_name=disk.device_name, auto_delete=True,
                                     mode=instance_pb2.AttachedDisk.READ_WRITE)
    nic = instance.network_interfaces.add(index='0', mac_address=record.get('mac_address', ''),
                                          subnet_id=record['subnet_id'])
    nic.primary_v4_address.address = record['address']
    if record.get('nat_address'):
        nic.primary_v4_address.one_to_one_nat.address = record['nat_address']
        nic.primary_v4_address.one_to_one_nat.ip_version = instance_pb2.IPV4
    if template.network_interface_specs:
        nic.security_group_ids.extend(template.network_interface_specs[0].security_group_ids)
    instance.scheduling_policy.preemptible = template.scheduling_policy.preemptible
    return instance


@registry.register
class InstanceService(instance_service_pb2_grpc.InstanceServiceServicer):
    def __init__(self, cloud):
        self.cloud = cloud
        self.engine = engine(cloud)

    def _instances(self, where=lambda group: True):
        groups = dict((g.id, g) for g in self.cloud.store.list(instance_group_pb2.InstanceGroup, where=where))
        records = [r for r in self.engine.records() if r['group_id'] in groups]
        records.sort(key=lambda r: r['created_at'])
        return [to_instance(r, groups[r['group_id']]) for r in records]

    def Get(self, request, context):
        validate.required('instance_id', request.instance_id)
        for instance in self._instances():
            if instance.id == request.instance_id:
                return instance
        raise not_found('Instance', request.instance_id)

    def List(self, request, context):
        self.cloud.require_folder(request.folder_id)
        wanted = validate.parse_filter(request.filter, ('name',))
        items = [i for i in self._instances(lambda g: g.folder_id == request.folder_id)
                 if wanted.get('name', i.name) == i.name]
        page, token = validate.page(items, request.page_size, request.page_token)
        return instance_service_pb2.ListInstancesResponse(instances=page, next_page_token=token)
