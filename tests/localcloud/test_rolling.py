"""InstanceGroupService.RollingRestart / RollingRecreate (en/compute/operations/instance-groups/rolling-restart.md,
rolling-recreate.md): instances one by one within deploy_policy.max_unavailable; restart keeps the VMs, recreate
makes new ones; the operation ends when the group runs again."""

import threading
import time

import grpc
import pytest
from yandex.cloud.compute.v1.instancegroup import instance_group_pb2 as ig
from yandex.cloud.compute.v1.instancegroup import instance_group_service_pb2 as svc

from helpers import rpc_error, run
from instance_group_support import leftovers
from support import docker
from test_instance_groups import cloud, create_request, instances_of, status_names, wait_running  # noqa: F401

CODE = grpc.StatusCode
S = ig.ManagedInstance
pytestmark = pytest.mark.slow


def started_at(instance_id):
    return docker('inspect', '-f', '{{.State.StartedAt}}', instance_id).stdout.strip()


class Sampler:
    """ListInstances every 0.2 s while a rolling action runs."""

    def __init__(self, cloud, group_id):
        self.samples, self.stop = [], threading.Event()
        self.thread = threading.Thread(target=self.run, args=(cloud, group_id), daemon=True)
        self.thread.start()

    def run(self, cloud, group_id):
        while not self.stop.is_set():
            self.samples.append(status_names(instances_of(cloud, group_id)))
            time.sleep(0.2)

    def done(self):
        self.stop.set()
        self.thread.join()
        return self.samples


def test_rolling_restart_and_recreate(localcloud, cloud):
    stub, sdk = cloud['stub'], cloud['sdk']
    group = run(sdk, stub.Create(create_request(localcloud, cloud, **{
        'scale_policy': {'fixed_scale': {'size': 3}}})), ig.InstanceGroup).response
    try:
        first = wait_running(cloud, group.id, 3, timeout=150)
        boots = dict((i.instance_id, started_at(i.instance_id)) for i in first)

        # Bad input names the field and marks nothing
        details = rpc_error(lambda: stub.RollingRestart(svc.RollingRestartRequest(
            instance_group_id=group.id, managed_instance_ids=[first[0].id, 'cl1nosuchinstance000'])),
            CODE.INVALID_ARGUMENT)
        assert 'managed_instance_ids' in details and 'cl1nosuchinstance000' in details
        rpc_error(lambda: stub.RollingRestart(svc.RollingRestartRequest(instance_group_id='cl1nosuchgroup000000')),
                  CODE.NOT_FOUND)
        time.sleep(1.5)
        assert [(i.instance_id, i.status) for i in instances_of(cloud, group.id)] == \
            [(i.instance_id, S.RUNNING_ACTUAL) for i in first]
        assert boots == dict((i.instance_id, started_at(i.instance_id)) for i in first), 'a refused call restarted'

        # Restart all: the same VMs, each rebooted, never two down at once (max_unavailable 1)
        sampler = Sampler(cloud, group.id)
        result = run(sdk, stub.RollingRestart(svc.RollingRestartRequest(instance_group_id=group.id)),
                     ig.InstanceGroup, svc.RollingRestartMetadata)
        samples = sampler.done()
        assert result.meta.instance_group_id == group.id
        assert result.response.id == group.id and result.response.status == ig.InstanceGroup.ACTIVE
        restarted = instances_of(cloud, group.id)
        assert [i.instance_id for i in restarted] == [i.instance_id for i in first], 'restart re-created VMs'
        assert all(i.status == S.RUNNING_ACTUAL for i in restarted), 'operation done before the group runs'
        for instance in first:
            assert started_at(instance.instance_id) != boots[instance.instance_id], '%s not restarted' % instance.name
        serving = [sum(1 for _, status in sample if status == 'RUNNING_ACTUAL') for sample in samples]
        assert min(serving) == 2, 'not exactly max_unavailable 1 down at the worst: %r' % samples
        # one by one: each name was seen down alone, in index order
        order = []
        for sample in samples:
            for name, status in sample:
                if status != 'RUNNING_ACTUAL' and name not in order:
                    order.append(name)
        assert order == ['web-1', 'web-2', 'web-3'], samples

        # Recreate one, named by its compute instance id (as the CLI's --instance-ids): a new VM for it only
        target = restarted[1]
        boots = dict((i.instance_id, started_at(i.instance_id)) for i in restarted)
        sampler = Sampler(cloud, group.id)
        result = run(sdk, stub.RollingRecreate(svc.RollingRecreateRequest(
            instance_group_id=group.id, managed_instance_ids=[target.instance_id])), ig.InstanceGroup,
            svc.RollingRecreateMetadata)
        samples = sampler.done()
        assert result.meta.instance_group_id == group.id
        after = instances_of(cloud, group.id)
        assert len(after) == 3 and all(i.status == S.RUNNING_ACTUAL for i in after)
        kept = [i.instance_id for i in after if i.name != target.name]
        assert kept == [restarted[0].instance_id, restarted[2].instance_id], 'recreate touched other instances'
        (new,) = [i for i in after if i.name == target.name]
        assert new.instance_id != target.instance_id and new.id != target.id
        assert min(sum(1 for _, status in sample if status == 'RUNNING_ACTUAL') for sample in samples) == 2
        for instance_id in kept:
            assert started_at(instance_id) == boots[instance_id], 'a kept instance was restarted'
    finally:
        run(cloud['sdk'], cloud['stub'].Delete(svc.DeleteInstanceGroupRequest(instance_group_id=group.id)))
    assert leftovers(group.id) == []
