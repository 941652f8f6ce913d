"""An instance group behind a network load balancer, as a user of the API sees it: the group's target group follows
its instances (OPENING_TRAFFIC -> in, CLOSING_TRAFFIC -> out before a stop), the listener forwards to the healthy
ones through a real L4 proxy (localcloud/nlb.py, HAProxy), and that proxy keeps forwarding while the API server is
killed, then the restarted server has the same state.

What Yandex Cloud documents and this checks: en/compute/concepts/instance-groups/balancers.md (the group makes the
target group; an instance is added when it runs, goes OPENING_TRAFFIC until the balancer finds it healthy, and is
removed when it is stopped), statuses.md (OPENING_TRAFFIC, CLOSING_TRAFFIC), deploy/instance.md (load_balancer_spec
cannot change), en/tutorials/infrastructure-management/updating-under-load.md (load-balancer.editor),
en/network-load-balancer/concepts/health-check.md (HTTP checks healthy on 200; interval > timeout) and
operations/target-group-delete.md (an attached target group cannot go). That the data plane keeps forwarding without
its API is inferred (the docs describe no dependency of traffic on the API).

A localcloud of its own (the test kills it); the payload is python's http.server answering /ping and /whoami
(tests/instance_group_support.py). Traffic goes to 127.0.0.1 only.
"""

import os
import signal
import subprocess
import threading
import time
import urllib.request

import grpc
import pytest
from google.protobuf import json_format
from yandex.cloud.compute.v1 import image_service_pb2 as image_svc
from yandex.cloud.compute.v1.image_service_pb2_grpc import ImageServiceStub
from yandex.cloud.compute.v1.instancegroup import instance_group_pb2 as ig
from yandex.cloud.compute.v1.instancegroup import instance_group_service_pb2 as svc
from yandex.cloud.compute.v1.instancegroup.instance_group_service_pb2_grpc import InstanceGroupServiceStub
from yandex.cloud.iam.v1 import service_account_pb2, service_account_service_pb2 as sa_svc
from yandex.cloud.iam.v1.service_account_service_pb2_grpc import ServiceAccountServiceStub
from yandex.cloud.loadbalancer.v1 import network_load_balancer_pb2 as nlb_pb2
from yandex.cloud.loadbalancer.v1 import network_load_balancer_service_pb2 as nlb_svc
from yandex.cloud.loadbalancer.v1 import target_group_service_pb2 as tg_svc
from yandex.cloud.loadbalancer.v1.network_load_balancer_service_pb2_grpc import NetworkLoadBalancerServiceStub
from yandex.cloud.loadbalancer.v1.target_group_service_pb2_grpc import TargetGroupServiceStub
from yandex.cloud.vpc.v1 import security_group_pb2, security_group_service_pb2 as sg_svc
from yandex.cloud.vpc.v1.security_group_service_pb2_grpc import SecurityGroupServiceStub

from helpers import rpc_error, run, unique
from iam_support import INSTANCE_GROUP_ROLES, grant
from instance_group_support import ping_metadata, random_cidr, remove_nodes
from localcloud import nlb
from localcloud_fixture import LocalCloudServer
from support import free_listener_port, wait_for
from test_vpc import make_network, make_subnet

S = ig.ManagedInstance
pytestmark = pytest.mark.slow


def get(url, timeout=3):
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return response.read().decode()


class Load:
    """GET /whoami through the listener every 20 ms in a thread: which instances answered, and every failure."""

    def __init__(self, url):
        self.url, self.answers, self.failures = url, [], []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.wait(0.02):
            try:
                self.answers.append((time.monotonic(), get(self.url).split()[0]))
            except Exception as exc:  # a failed request is what the test counts
                self.failures.append((time.monotonic(), repr(exc)))

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(5)


@pytest.fixture(scope='module')
def own_cloud(tmp_path_factory):
    server = LocalCloudServer(tmp_path_factory.mktemp('nlb-localcloud'))
    server.start()
    try:
        yield server
    finally:
        server.stop()
        remove_nodes(server.state_dir)


def group_request(server, sdk, name):
    network = make_network(server, sdk)
    subnet = make_subnet(server, sdk, network.id, [random_cidr()])
    rules = [sg_svc.SecurityGroupRuleSpec(direction=security_group_pb2.SecurityGroupRule.INGRESS, protocol_name='TCP',
                                          ports={'from_port': 80, 'to_port': 80},
                                          predefined_target='loadbalancer_healthchecks'),
             sg_svc.SecurityGroupRuleSpec(direction=security_group_pb2.SecurityGroupRule.EGRESS, protocol_name='ANY',
                                          cidr_blocks={'v4_cidr_blocks': ['0.0.0.0/0']})]
    sg = run(sdk, sdk.client(SecurityGroupServiceStub).Create(sg_svc.CreateSecurityGroupRequest(
        folder_id=server.folder_id, name=unique('web'), network_id=network.id, rule_specs=rules)),
        security_group_pb2.SecurityGroup).response
    account = run(sdk, sdk.client(ServiceAccountServiceStub).Create(sa_svc.CreateServiceAccountRequest(
        folder_id=server.folder_id, name=unique('ig-sa'))), service_account_pb2.ServiceAccount).response
    image = sdk.client(ImageServiceStub).GetLatestByFamily(image_svc.GetImageLatestByFamilyRequest(
        folder_id='standard-images', family='container-optimized-image'))
    request = json_format.ParseDict({
        'folder_id': server.folder_id, 'name': name, 'service_account_id': account.id,
        'instance_template': {
            'platform_id': 'standard-v3', 'resources_spec': {'cores': 2, 'memory': str(1 << 30)},
            'boot_disk_spec': {'disk_spec': {'image_id': image.id, 'size': str(30 << 30)}},
            'name': 'web-{instance.index}', 'hostname': 'web-{instance.index}-{instance_group.id}',
            'metadata': ping_metadata('pong'),
            'network_interface_specs': [{'network_id': network.id, 'subnet_ids': [subnet.id],
                                         'security_group_ids': [sg.id]}]},
        'scale_policy': {'fixed_scale': {'size': 2}},
        'allocation_policy': {'zones': [{'zone_id': 'ru-central1-a'}]},
        'deploy_policy': {'max_unavailable': 1, 'startup_duration': '1s'},
        'health_checks_spec': {'health_check_specs': [{'interval': '1s', 'timeout': '1s', 'healthy_threshold': 2,
                                                       'unhealthy_threshold': 2,
                                                       'http_options': {'port': 80, 'path': '/ping'}}]},
        'load_balancer_spec': {'target_group_spec': {'name': name + '-tg', 'labels': {'tier': 'web'}},
                               'max_opening_traffic_duration': '60s'}}, svc.CreateInstanceGroupRequest())
    return request, account


def instances(stub, group_id):
    return stub.ListInstances(svc.ListInstanceGroupInstancesRequest(instance_group_id=group_id)).instances


def targets(sdk, target_group_id):
    group = sdk.client(TargetGroupServiceStub).Get(tg_svc.GetTargetGroupRequest(target_group_id=target_group_id))
    return sorted(t.address for t in group.targets)


def test_group_behind_a_network_load_balancer(own_cloud):
    server, sdk = own_cloud, own_cloud.sdk()
    stub = sdk.client(InstanceGroupServiceStub)
    name = unique('nlb-ig')
    request, account = group_request(server, sdk, name)

    # The group's account needs load-balancer.editor for the target group (updating-under-load.md): without it
    # the instances wait, naming the role.
    grant(server, account.id, *INSTANCE_GROUP_ROLES)
    group = run(sdk, stub.Create(request), ig.InstanceGroup).response
    target_group_id = group.load_balancer_state.target_group_id
    assert target_group_id.startswith('enp')
    tg = sdk.client(TargetGroupServiceStub).Get(tg_svc.GetTargetGroupRequest(target_group_id=target_group_id))
    assert tg.name == name + '-tg' and dict(tg.labels) == {'tier': 'web'}
    wait_for(lambda: any('load-balancer.editor' in i.status_message for i in instances(stub, group.id)), 60,
             interval=0.5, what='an instance waiting for load-balancer.editor')
    assert targets(sdk, target_group_id) == []
    grant(server, account.id, 'load-balancer.editor')

    # Healthy instances join the target group; no balancer attached yet, so they run at once.
    wait_for(lambda: [i.status for i in instances(stub, group.id)] == [S.RUNNING_ACTUAL] * 2, 120, interval=0.5,
             what='2 instances RUNNING_ACTUAL')
    addresses = sorted(i.network_interfaces[0].primary_v4_address.address for i in instances(stub, group.id))
    assert targets(sdk, target_group_id) == addresses

    # A balancer: its listener on loopback forwards to both, its checks see both healthy.
    port = free_listener_port()
    nlbs = sdk.client(NetworkLoadBalancerServiceStub)
    check = {'name': 'ping', 'interval': '2s', 'timeout': '1s', 'healthy_threshold': 2, 'unhealthy_threshold': 2,
             'http_options': {'port': 80, 'path': '/ping'}}
    balancer = run(sdk, nlbs.Create(json_format.ParseDict({
        'folder_id': server.folder_id, 'name': unique('nlb'), 'region_id': 'ru-central1', 'type': 'EXTERNAL',
        'listener_specs': [{'name': 'http', 'port': str(port), 'target_port': '80', 'protocol': 'TCP',
                            'external_address_spec': {'ip_version': 'IPV4'}}],
        'attached_target_groups': [{'target_group_id': target_group_id, 'health_checks': [check]}]},
        nlb_svc.CreateNetworkLoadBalancerRequest())), nlb_pb2.NetworkLoadBalancer).response
    assert balancer.listeners[0].address == '127.0.0.1'

    def states():
        answer = nlbs.GetTargetStates(nlb_svc.GetTargetStatesRequest(network_load_balancer_id=balancer.id,
                                                                     target_group_id=target_group_id))
        return sorted((s.address, nlb_pb2.TargetState.Status.Name(s.status)) for s in answer.target_states)
    wait_for(lambda: states() == [(a, 'HEALTHY') for a in addresses], 30, interval=0.3, what='both targets HEALTHY')
    url = 'http://127.0.0.1:%d/whoami' % port
    assert {get(url).split()[0] for _ in range(10)} == {'1', '2'}

    # The group cannot lose the target group the balancer uses, nor change load_balancer_spec.
    rpc_error(lambda: stub.Delete(svc.DeleteInstanceGroupRequest(instance_group_id=group.id)),
              grpc.StatusCode.FAILED_PRECONDITION)
    changed = svc.UpdateInstanceGroupRequest(
        instance_group_id=group.id, update_mask={'paths': ['load_balancer_spec']},
        instance_template=request.instance_template, scale_policy=request.scale_policy,
        deploy_policy=request.deploy_policy, allocation_policy=request.allocation_policy,
        service_account_id=request.service_account_id, load_balancer_spec=request.load_balancer_spec)
    changed.load_balancer_spec.target_group_spec.name = 'other'
    assert 'load_balancer_spec' in rpc_error(lambda: stub.Update(changed), grpc.StatusCode.INVALID_ARGUMENT)

    # A rolling restart under load: each instance leaves the target group before it stops (CLOSING_TRAFFIC), comes
    # back through OPENING_TRAFFIC, and no request fails.
    seen = set()
    with Load(url) as load:
        operation = stub.RollingRestart(svc.RollingRestartRequest(instance_group_id=group.id))

        def watch():
            for instance in instances(stub, group.id):
                seen.add(S.Status.Name(instance.status))
                if instance.status == S.CLOSING_TRAFFIC or instance.status == S.STOPPING_INSTANCE:
                    address = instance.network_interfaces[0].primary_v4_address.address
                    # out of the target group while it closes or stops
                    seen.add('out' if address not in targets(sdk, target_group_id) else 'still in')
            return operation_done(sdk, operation)
        wait_for(watch, 180, interval=0.1, what='the rolling restart')
    assert {'CLOSING_TRAFFIC', 'OPENING_TRAFFIC', 'out'} <= seen and 'still in' not in seen, seen
    assert load.failures == [], load.failures[:5]
    assert len(load.answers) > 100 and {who for _, who in load.answers} == {'1', '2'}
    assert targets(sdk, target_group_id) == addresses

    # The API server is killed: the listener keeps answering for 10 s; restarted, it has the same state.
    with Load(url) as load:
        os.kill(server.pid, signal.SIGKILL)
        server.process.wait(10)
        time.sleep(10)
    assert load.failures == [] and len(load.answers) > 100, (load.failures[:5], len(load.answers))
    server.start()
    sdk = server.sdk()
    nlbs, stub = sdk.client(NetworkLoadBalancerServiceStub), sdk.client(InstanceGroupServiceStub)
    assert nlbs.Get(nlb_svc.GetNetworkLoadBalancerRequest(network_load_balancer_id=balancer.id)).status == \
        nlb_pb2.NetworkLoadBalancer.ACTIVE
    assert targets(sdk, target_group_id) == addresses and states() == [(a, 'HEALTHY') for a in addresses]
    assert get(url).split()[0] in ('1', '2')

    # Deleting the balancer closes its listener (the last one: the data plane's container goes); then the group
    # goes, and its target group with it.
    run(sdk, nlbs.Delete(nlb_svc.DeleteNetworkLoadBalancerRequest(network_load_balancer_id=balancer.id)))
    wait_for(lambda: not _answers(url), 15, interval=0.2, what='the listener closed')
    wait_for(lambda: not _dataplane_containers(server.state_dir), 15, interval=0.2, what='the data plane removed')
    run(sdk, stub.Delete(svc.DeleteInstanceGroupRequest(instance_group_id=group.id)))
    rpc_error(lambda: sdk.client(TargetGroupServiceStub).Get(tg_svc.GetTargetGroupRequest(
        target_group_id=target_group_id)), grpc.StatusCode.NOT_FOUND)


def _dataplane_containers(state_dir):
    owner = nlb.DataPlane(state_dir, store=None).owner
    return subprocess.run(['docker', 'ps', '-aq', '--filter', 'label=%s=%s' % (nlb.OWNER_LABEL, owner)],
                          stdout=subprocess.PIPE, text=True, check=True).stdout.split()


def _answers(url):
    try:
        get(url, timeout=1)
        return True
    except Exception:
        return False


def operation_done(sdk, operation):
    from yandex.cloud.operation.operation_service_pb2 import GetOperationRequest
    from yandex.cloud.operation.operation_service_pb2_grpc import OperationServiceStub
    found = sdk.client(OperationServiceStub).Get(GetOperationRequest(operation_id=operation.id))
    if found.done and found.HasField('error'):
        raise AssertionError('operation failed: %s' % found.error)
    return found.done
