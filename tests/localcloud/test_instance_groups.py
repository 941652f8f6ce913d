"""localcloud compute: instance groups whose instances are real COI nodes, and the COI image.

The engine (localcloud.instancegroups) on its own: NAT address, x-yc-disks, re-adoption
after a restart, auto-healing of an instance that turns unhealthy and of one that never gets healthy. Then the
API through the real SDK: validation, a 2-instance group (FQDNs between nodes, auto-healing, a rolling update
that honours max_unavailable, a scale change that recreates nothing, a server restart), deletion leaving nothing.
The payload is python's http.server from the shs image answering /ping (tests/instance_group_support.py).
"""

import os
import threading
import time
import urllib.request

import grpc
import pytest
from google.protobuf import json_format
from google.protobuf.field_mask_pb2 import FieldMask
from yandex.cloud.compute.v1 import image_service_pb2 as image_svc, instance_service_pb2 as instance_svc
from yandex.cloud.compute.v1.instance_service_pb2_grpc import InstanceServiceStub
from yandex.cloud.compute.v1.image_service_pb2_grpc import ImageServiceStub
from yandex.cloud.compute.v1.instancegroup import instance_group_pb2 as ig
from yandex.cloud.compute.v1.instancegroup import instance_group_service_pb2 as svc
from yandex.cloud.compute.v1.instancegroup.instance_group_service_pb2_grpc import InstanceGroupServiceStub
from yandex.cloud.iam.v1 import service_account_pb2, service_account_service_pb2 as sa_svc
from yandex.cloud.iam.v1.service_account_service_pb2_grpc import ServiceAccountServiceStub
from yandex.cloud.vpc.v1 import security_group_pb2, security_group_service_pb2 as sg_svc, subnet_service_pb2 as ss
from yandex.cloud.vpc.v1.security_group_service_pb2_grpc import SecurityGroupServiceStub
from yandex.cloud.vpc.v1.subnet_service_pb2_grpc import SubnetServiceStub

from helpers import rpc_error, run, unique
from iam_support import INSTANCE_GROUP_ROLES, grant
from instance_group_support import leftovers, ping_metadata, random_cidr, remove_nodes, subnet_networks
from support import docker, wait_for
from test_vpc import make_network, make_subnet

from localcloud import instancegroups

CODE = grpc.StatusCode
S = ig.ManagedInstance
pytestmark = pytest.mark.slow


def http_get(url, timeout=3):
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return response.read().decode()


def status_names(instances):
    return [(i.name, S.Status.Name(i.status)) for i in instances]


def service_container(instance_id, service='web'):
    ids = docker('ps', '-q', '--filter', 'label=com.docker.compose.project=coi-' + instance_id,
                 '--filter', 'label=com.docker.compose.service=' + service).stdout.split()
    assert len(ids) == 1, (instance_id, ids)
    return ids[0]


# ---------------------------------------------------------------------------------------------- templates

def test_templates_render_like_yc():
    values = instancegroups.placeholder_values('cl1group', {'tier': 'app'}, [ig.Variable(key='short_a', value='rc1a')],
                                               index=3, index_in_zone=2, zone_id='ru-central1-a', short_id='x1y2')
    render = instancegroups.render
    assert render('app-{instance.index}', values, 'name') == 'app-3'
    assert render('{instance_group.labels.tier}-{instance.short_id}', values, 'name') == 'app-x1y2'
    # innermost first: a variable named after the zone
    values['zone_ru-central1-a'] = 'rc1a'
    assert render('n-{zone_{instance.zone_id}}-{instance.index_in_zone}', values, 'name') == 'n-rc1a-2'
    assert render('echo {{instance.index}} is {instance.index}', values, 'm', strict=False) == \
        'echo {instance.index} is 3'
    assert render('${HOME} {unknown}', values, 'm', strict=False) == '${HOME} {unknown}'
    with pytest.raises(instancegroups.TemplateError) as err:
        render('app-{instance.nope}', values, 'instance_template.name')
    assert err.value.field == 'instance_template.name' and '{instance.nope}' in err.value.message
    with pytest.raises(instancegroups.TemplateError):
        render('app-{instance.index', values, 'instance_template.name')
    group = ig.InstanceGroup(scale_policy=ig.ScalePolicy(fixed_scale=ig.ScalePolicy.FixedScale(size=2)))
    group.instance_template.name = 'same-name'
    with pytest.raises(instancegroups.TemplateError) as err:
        instancegroups.check_template(group)
    assert err.value.field == 'instance_template.name' and 'same name' in err.value.message


# ---------------------------------------------------------------------------------------------- engine

def engine_group(subnet_id, **overrides):
    spec = {
        'id': instancegroups._new_id('cl1'), 'folder_id': 'b1gtest', 'name': unique('eng'),
        'instance_template': {
            'name': 'eng-{instance.index}', 'hostname': 'eng-{instance.index}',
            'metadata': ping_metadata('pong'),
            'secondary_disk_specs': [{'device_name': 'data', 'disk_spec': {'size': str(1 << 30)}}],
            'network_interface_specs': [{'network_id': 'enp', 'subnet_ids': [subnet_id],
                                         'primary_v4_address_spec': {'one_to_one_nat_spec': {'ip_version': 'IPV4'}}}]},
        'scale_policy': {'fixed_scale': {'size': 1}},
        'allocation_policy': {'zones': [{'zone_id': 'ru-central1-a'}]},
        'deploy_policy': {'max_unavailable': 1},
        'health_checks_spec': {'health_check_specs': [{'interval': '1s', 'timeout': '1s', 'healthy_threshold': 2,
                                                       'unhealthy_threshold': 2,
                                                       'http_options': {'port': 80, 'path': '/ping'}}]}}
    spec.update(overrides)
    return json_format.ParseDict(spec, ig.InstanceGroup())


def wait_engine(engine, group_id, predicate, timeout, what):
    return wait_for(lambda: predicate(engine.instances(group_id)) and engine.instances(group_id), timeout,
                    interval=0.3, what=what)


def test_engine_nat_disk_restart_and_healing(tmp_path):
    subnet = 'e9b' + unique('eng')[-8:]
    env = {'image': 'filmopoisk/coi-node:latest', 'subnets': {subnet: {'zone_id': 'ru-central1-a',
                                                                       'cidr': random_cidr()}},
           'nat_ports': [80]}
    group = engine_group(subnet)
    compose = group.instance_template.metadata['docker-compose']
    group.instance_template.metadata['docker-compose'] = compose.replace(
        'volumes: ["/opt/www:/opt/www:ro"]', 'volumes: ["/opt/www:/opt/www:ro", "/data:/data"]') + \
        'x-yc-disks:\n  - device_name: data\n    fs_type: ext4\n    host_path: /data\n'
    engine = instancegroups.Engine(str(tmp_path / 'state'))
    engine.start()
    try:
        started = time.monotonic()
        engine.apply(group, env)
        (first,) = wait_engine(engine, group.id, lambda i: [x.status for x in i] == [S.RUNNING_ACTUAL], 90,
                               'the instance RUNNING_ACTUAL')
        print('\nengine: 1 instance RUNNING_ACTUAL in %.1f s' % (time.monotonic() - started))
        address = first.network_interfaces[0].primary_v4_address
        assert first.name == 'eng-1' and first.fqdn == 'eng-1.ru-central1.internal'
        assert address.one_to_one_nat.address.startswith('127.0.1.')
        assert http_get('http://%s:80/ping' % address.one_to_one_nat.address) == 'pong'
        # metadata placeholders substituted per instance
        who = http_get('http://%s:80/whoami' % address.address).split()
        assert who[0] == '1' and who[2] == group.id and len(who[1]) == 4
        # the x-yc-disks device is the node's disk, mounted where the spec says
        docker('exec', '-u', '0', service_container(first.instance_id), 'sh', '-c', 'echo kept > /data/file')
        assert docker('exec', first.instance_id, 'cat', '/data/file').stdout == 'kept\n'
        # a fresh disk's root is not empty: ext4's lost+found (initdb refuses such a directory)
        assert docker('exec', first.instance_id, 'stat', '-c', '%a', '/data/lost+found').stdout.strip() == '700'

        # A restarted engine re-adopts the running node (same instance, still RUNNING_ACTUAL, the node not restarted).
        node_started = docker('inspect', '-f', '{{.State.StartedAt}}', first.instance_id).stdout
        engine.stop()
        engine = instancegroups.Engine(str(tmp_path / 'state'))
        engine.start()
        wait_for(lambda: engine.settled(group.id), 30, interval=0.1, what='the engine done re-adopting the node')
        (again,) = engine.instances(group.id)
        assert again.instance_id == first.instance_id and again.status == S.RUNNING_ACTUAL
        assert docker('inspect', '-f', '{{.State.StartedAt}}', first.instance_id).stdout == node_started

        # Health checks on a port nobody answers: the running instance turns unhealthy and is recreated; the new
        # one is never healthy and is recreated after max_checking_health_duration.
        broken = ig.InstanceGroup()
        broken.CopyFrom(group)
        del broken.health_checks_spec.health_check_specs[:]
        broken.health_checks_spec.health_check_specs.add(
            interval={'seconds': 1}, timeout={'seconds': 1}, healthy_threshold=2, unhealthy_threshold=2,
            tcp_options={'port': 81})
        broken.health_checks_spec.max_checking_health_duration.seconds = 3
        broken.auto_healing_policy.auto_healing_action = ig.AutoHealingPolicy.RECREATE  # the default restarts
        seen = []

        def messages(instances):
            seen.extend(i.status_message for i in instances)
            return any('max_checking_health_duration' in m for m in seen)
        engine.apply(broken, env)
        wait_engine(engine, group.id, messages, 90, 'recreation after max_checking_health_duration')
        assert any(m.startswith('recreating: unhealthy: TCP') for m in seen), seen
        assert all(i.instance_id != first.instance_id for i in engine.instances(group.id))

        engine.delete(group.id)
        assert engine.wait_deleted(group.id, 60)
        assert leftovers(group.id) == [] and wait_for(lambda: subnet_networks(subnet) == [], 10, what='no network')
        assert not os.listdir(engine.nodes_dir), 'node directories left behind'
    finally:
        engine.delete(group.id)
        engine.wait_deleted(group.id, 60)
        engine.stop()
        remove_nodes(tmp_path / 'state')


def test_engine_restarts_a_stopped_vm_and_replaces_a_deleted_one_without_a_health_check(tmp_path):
    """autohealing.md, "Instance operability check": the group reads each instance's status every few seconds, so
    a VM that stopped is started again (same instance) and one deleted behind the group's back is replaced, with no
    application health check configured."""
    subnet = 'e9b' + unique('eng')[-8:]
    env = {'image': 'filmopoisk/coi-node:latest', 'subnets': {subnet: {'zone_id': 'ru-central1-a',
                                                                       'cidr': random_cidr()}}, 'nat_ports': [80]}
    group = engine_group(subnet, health_checks_spec={})
    group.instance_template.ClearField('secondary_disk_specs')
    engine = instancegroups.Engine(str(tmp_path / 'state'))
    engine.start()
    try:
        engine.apply(group, env)
        (first,) = wait_engine(engine, group.id, lambda i: [x.status for x in i] == [S.RUNNING_ACTUAL], 90,
                               'the instance RUNNING_ACTUAL')
        docker('stop', '-t', '1', first.instance_id)
        started = time.monotonic()
        wait_engine(engine, group.id, lambda i: [x.status for x in i] != [S.RUNNING_ACTUAL], 15, 'the stop seen')
        (again,) = wait_engine(engine, group.id, lambda i: [x.status for x in i] == [S.RUNNING_ACTUAL], 90,
                               'the stopped VM running again')
        print('\nengine: a stopped VM running again after %.1f s' % (time.monotonic() - started))
        assert again.instance_id == first.instance_id
        assert docker('inspect', '-f', '{{.State.Running}}', first.instance_id).stdout.strip() == 'true'

        docker('rm', '-f', first.instance_id)
        started = time.monotonic()
        wait_for(lambda: not any(x.instance_id == first.instance_id and x.status == S.RUNNING_ACTUAL
                                 for x in engine.instances(group.id)), 15, interval=0.1, what='the loss seen')
        seen = time.monotonic()
        # replaced at once: no boot-failure backoff (instancegroups.RETRY_MIN) for a VM that ran
        wait_for(lambda: any(x.instance_id not in ('', first.instance_id) for x in engine.instances(group.id)),
                 instancegroups.RETRY_MIN - 1, interval=0.1, what='the replacement VM created at once')
        print('engine: the replacement VM created %.1f s after the loss was seen' % (time.monotonic() - seen))
        (new,) = wait_engine(engine, group.id, lambda i: len(i) == 1 and i[0].instance_id != first.instance_id
                             and i[0].status == S.RUNNING_ACTUAL, 90, 'the deleted VM replaced')
        print('engine: a deleted VM replaced (RUNNING_ACTUAL) after %.1f s' % (time.monotonic() - started))
        assert new.name == 'eng-1'
    finally:
        engine.delete(group.id)
        engine.wait_deleted(group.id, 60)
        engine.stop()
        remove_nodes(tmp_path / 'state')


# ---------------------------------------------------------------------------------------------- API

@pytest.fixture(scope='module')
def cloud(localcloud):
    sdk = localcloud.sdk()
    network = make_network(localcloud, sdk)
    subnet = make_subnet(localcloud, sdk, network.id, [random_cidr()])
    other_zone = make_subnet(localcloud, sdk, network.id, [random_cidr()], zone='ru-central1-b')
    rule = sg_svc.SecurityGroupRuleSpec(direction=security_group_pb2.SecurityGroupRule.INGRESS, protocol_name='TCP',
                                        ports={'from_port': 80, 'to_port': 80},
                                        cidr_blocks={'v4_cidr_blocks': ['0.0.0.0/0']})
    # localcloud enforces the group in the nodes: without an egress rule a node could not reach the other one
    egress = sg_svc.SecurityGroupRuleSpec(direction=security_group_pb2.SecurityGroupRule.EGRESS, protocol_name='ANY',
                                          cidr_blocks={'v4_cidr_blocks': ['0.0.0.0/0']})
    sg = run(sdk, sdk.client(SecurityGroupServiceStub).Create(sg_svc.CreateSecurityGroupRequest(
        folder_id=localcloud.folder_id, name=unique('web'), network_id=network.id, rule_specs=[rule, egress])),
        security_group_pb2.SecurityGroup).response
    account = run(sdk, sdk.client(ServiceAccountServiceStub).Create(sa_svc.CreateServiceAccountRequest(
        folder_id=localcloud.folder_id, name=unique('ig-sa'))), service_account_pb2.ServiceAccount).response
    grant(localcloud, account.id, *INSTANCE_GROUP_ROLES)  # the roles YC checks for the group's VMs
    image = sdk.client(ImageServiceStub).GetLatestByFamily(image_svc.GetImageLatestByFamilyRequest(
        folder_id='standard-images', family='container-optimized-image'))
    yield dict(sdk=sdk, network=network, subnet=subnet, other_zone=other_zone, sg=sg, account=account, image=image,
               stub=sdk.client(InstanceGroupServiceStub))
    remove_nodes(localcloud.state_dir)  # nodes outlive the server: a failed test must not leave any


def create_request(localcloud, cloud, **overrides):
    request = {
        'folder_id': localcloud.folder_id, 'name': unique('ig'), 'service_account_id': cloud['account'].id,
        'instance_template': {
            'platform_id': 'standard-v3', 'resources_spec': {'cores': 2, 'memory': str(1 << 30)},
            'boot_disk_spec': {'disk_spec': {'image_id': cloud['image'].id, 'size': str(30 << 30)}},
            'name': 'web-{instance.index}', 'hostname': 'web-{instance.index}-{instance_group.id}',
            'metadata': ping_metadata('pong'),
            'network_interface_specs': [{'network_id': cloud['network'].id, 'subnet_ids': [cloud['subnet'].id],
                                         'security_group_ids': [cloud['sg'].id],
                                         'primary_v4_address_spec': {'one_to_one_nat_spec': {'ip_version': 'IPV4'}}}]},
        'scale_policy': {'fixed_scale': {'size': 2}},
        'allocation_policy': {'zones': [{'zone_id': 'ru-central1-a'}]},
        'deploy_policy': {'max_unavailable': 1, 'startup_duration': '1s'},
        'health_checks_spec': {'health_check_specs': [{'interval': '1s', 'timeout': '1s', 'healthy_threshold': 2,
                                                       'unhealthy_threshold': 2,
                                                       'http_options': {'port': 80, 'path': '/ping'}}]}}
    for path, value in overrides.items():
        target = request
        parts = path.split('.')
        for part in parts[:-1]:
            target = target[part]
        if value is None:
            target.pop(parts[-1], None)
        else:
            target[parts[-1]] = value
    return json_format.ParseDict(request, svc.CreateInstanceGroupRequest())


def test_image_service(localcloud, cloud):
    stub = cloud['sdk'].client(ImageServiceStub)
    image = cloud['image']
    assert image.id.startswith('fd8') and image.family == 'container-optimized-image'
    assert image.status == image.READY and image.folder_id == 'standard-images' and image.min_disk_size > 0
    assert 'filmopoisk/coi-node' in image.description
    assert stub.Get(image_svc.GetImageRequest(image_id=image.id)) == image
    listed = stub.List(image_svc.ListImagesRequest(folder_id='standard-images',
                                                   filter='family="container-optimized-image"'))
    assert image.id in [i.id for i in listed.images]
    assert 'no-such' in rpc_error(lambda: stub.GetLatestByFamily(image_svc.GetImageLatestByFamilyRequest(
        folder_id='standard-images', family='no-such')), CODE.NOT_FOUND)
    rpc_error(lambda: stub.Get(image_svc.GetImageRequest(image_id='fd8nosuchimage000000')), CODE.NOT_FOUND)
    rpc_error(lambda: stub.List(image_svc.ListImagesRequest(folder_id='b1gnosuchfolder00000')),
              CODE.PERMISSION_DENIED)


@pytest.mark.parametrize('overrides, code, field', [
    ({'allocation_policy.zones': [{'zone_id': 'ru-central1-z'}]}, CODE.INVALID_ARGUMENT,
     'allocation_policy.zones[0].zone_id'),
    ({'allocation_policy.zones': [{'zone_id': 'ru-central1-b'}]}, CODE.INVALID_ARGUMENT,
     'instance_template.network_interface_specs[0].subnet_ids[0]'),
    ({'scale_policy': {}}, CODE.INVALID_ARGUMENT, 'scale_policy'),
    ({'instance_template.name': 'web-{instance.index'}, CODE.INVALID_ARGUMENT, 'instance_template.name'),
    ({'instance_template.hostname': 'web-{instance.colour}'}, CODE.INVALID_ARGUMENT, 'instance_template.hostname'),
    ({'instance_template.name': 'web'}, CODE.INVALID_ARGUMENT, 'instance_template.name'),
    ({'deploy_policy': {'max_unavailable': 0, 'max_expansion': 0}}, CODE.INVALID_ARGUMENT,
     'deploy_policy.max_unavailable'),
    ({'health_checks_spec.health_check_specs': [{'healthy_threshold': 1, 'tcp_options': {'port': 80}}]},
     CODE.INVALID_ARGUMENT, 'health_check_specs[0].healthy_threshold'),
    ({'instance_template.boot_disk_spec.disk_spec.size': str(1 << 30)}, CODE.INVALID_ARGUMENT,
     'instance_template.boot_disk_spec.disk_spec.size'),
    ({'service_account_id': None}, CODE.INVALID_ARGUMENT, 'service_account_id'),
    ({'service_account_id': 'ajenosuchaccount0000'}, CODE.NOT_FOUND, 'ajenosuchaccount0000'),
    ({'instance_template.boot_disk_spec.disk_spec.image_id': 'fd8nosuchimage000000'}, CODE.NOT_FOUND,
     'fd8nosuchimage000000'),
])
def test_create_is_validated_like_yc(localcloud, cloud, overrides, code, field):
    request = create_request(localcloud, cloud, **overrides)
    details = rpc_error(lambda: cloud['stub'].Create(request), code)
    assert field in details
    listed = cloud['stub'].List(svc.ListInstanceGroupsRequest(folder_id=localcloud.folder_id,
                                                              filter='name="%s"' % request.name))
    assert list(listed.instance_groups) == []


def instances_of(cloud, group_id):
    return list(cloud['stub'].ListInstances(svc.ListInstanceGroupInstancesRequest(instance_group_id=group_id))
                .instances)


def wait_running(cloud, group_id, size, timeout=90, what='instances RUNNING_ACTUAL'):
    def ready():
        found = instances_of(cloud, group_id)
        return len(found) == size and all(i.status == S.RUNNING_ACTUAL for i in found) and found
    return wait_for(ready, timeout, interval=0.3, what=what)


def update(cloud, group_id, paths, **fields):
    """An Update of `paths`; the fields YC requires in every Update (update.md) come from the group as it is."""
    current = cloud['stub'].Get(svc.GetInstanceGroupRequest(instance_group_id=group_id, view=svc.FULL))
    request = svc.UpdateInstanceGroupRequest(instance_group_id=group_id, update_mask=FieldMask(paths=paths))
    for field in ('instance_template', 'scale_policy', 'deploy_policy', 'allocation_policy', 'service_account_id'):
        if field in ('service_account_id',):
            setattr(request, field, getattr(current, field))
        else:
            getattr(request, field).CopyFrom(getattr(current, field))
    json_format.ParseDict(fields, request)
    return run(cloud['sdk'], cloud['stub'].Update(request), ig.InstanceGroup).response


def test_group_lifecycle(localcloud, cloud):
    stub, sdk = cloud['stub'], cloud['sdk']
    timings = {}
    started = time.monotonic()
    group = run(sdk, stub.Create(create_request(localcloud, cloud)), ig.InstanceGroup,
                svc.CreateInstanceGroupMetadata).response
    assert group.id.startswith('cl1') and group.status in (group.STARTING, group.ACTIVE)
    first = wait_running(cloud, group.id, 2)
    timings['create 2 -> RUNNING_ACTUAL'] = time.monotonic() - started
    try:
        full = stub.Get(svc.GetInstanceGroupRequest(instance_group_id=group.id, view=svc.FULL))
        assert full.status == full.ACTIVE and full.managed_instances_state.running_actual_count == 2
        assert full.managed_instances_state.target_size == 2
        assert full.instance_template.metadata['user-data'] == ping_metadata('pong')['user-data']
        basic = stub.Get(svc.GetInstanceGroupRequest(instance_group_id=group.id))
        assert not basic.instance_template.metadata, 'BASIC view shows metadata'
        listed = stub.List(svc.ListInstanceGroupsRequest(folder_id=localcloud.folder_id,
                                                         filter='name="%s"' % group.name))
        assert [g.id for g in listed.instance_groups] == [group.id]

        one, two = first
        assert [one.name, two.name] == ['web-1', 'web-2']
        assert one.fqdn == 'web-1-%s.ru-central1.internal' % group.id
        cidr_prefix = cloud['subnet'].v4_cidr_blocks[0].rsplit('.', 1)[0] + '.'
        for instance in first:
            address = instance.network_interfaces[0].primary_v4_address
            assert address.address.startswith(cidr_prefix) and instance.network_interfaces[0].subnet_id == \
                cloud['subnet'].id
            # NAT: a loopback "public" address with the port the security group lets in
            assert http_get('http://%s:80/ping' % address.one_to_one_nat.address) == 'pong'
            assert instance.instance_id.startswith('fhm') and instance.zone_id == 'ru-central1-a'
        # The VMs, as compute.v1.InstanceService shows them (what the yc_compute inventory reads)
        vms = dict((vm.id, vm) for vm in sdk.client(InstanceServiceStub).List(
            instance_svc.ListInstancesRequest(folder_id=localcloud.folder_id)).instances)
        for instance in first:
            vm = vms[instance.instance_id]
            assert (vm.name, vm.fqdn, vm.status) == (instance.name, instance.fqdn, vm.RUNNING)
            vm_address, address = vm.network_interfaces[0].primary_v4_address, \
                instance.network_interfaces[0].primary_v4_address
            assert (vm_address.address, vm_address.one_to_one_nat.address) == \
                (address.address, address.one_to_one_nat.address)
            assert not vm.metadata and vm.service_account_id == ''
        assert sdk.client(InstanceServiceStub).Get(instance_svc.GetInstanceRequest(instance_id=one.instance_id)) == \
            vms[one.instance_id]
        # YC's internal DNS: one node resolves and reaches the other by FQDN
        resolved = docker('exec', one.instance_id, 'getent', 'hosts', two.fqdn).stdout.split()[0]
        assert resolved == two.network_interfaces[0].primary_v4_address.address
        assert docker('exec', one.instance_id, 'curl', '-fsS', '-m', '3', 'http://%s/ping' % two.fqdn).stdout == 'pong'

        # What the group uses cannot be deleted while it exists
        details = rpc_error(lambda: sdk.client(ServiceAccountServiceStub).Delete(sa_svc.DeleteServiceAccountRequest(
            service_account_id=cloud['account'].id)), CODE.FAILED_PRECONDITION)
        assert group.id in details
        rpc_error(lambda: sdk.client(SubnetServiceStub).Delete(ss.DeleteSubnetRequest(subnet_id=cloud['subnet'].id)),
                  CODE.FAILED_PRECONDITION)

        # Auto-healing, YC's default action RESTART (policies/healing-policy.md): the service dies in web-1 ->
        # unhealthy -> the same VM restarted (its compose services come up again) -> RUNNING_ACTUAL
        started = time.monotonic()
        docker('kill', service_container(one.instance_id))
        wait_for(lambda: [i for i in instances_of(cloud, group.id) if i.name == 'web-1' and i.status not in (
            S.RUNNING_ACTUAL, S.RUNNING_OUTDATED)], 30, interval=0.2, what='web-1 seen unhealthy')
        healed = wait_for(lambda: [i for i in instances_of(cloud, group.id)
                                   if i.name == 'web-1' and i.status == S.RUNNING_ACTUAL], 90, interval=0.3,
                          what='web-1 healed')
        timings['auto-heal (kill -> restarted RUNNING_ACTUAL)'] = time.monotonic() - started
        assert healed[0].instance_id == one.instance_id, 'healed by re-creation, not by a restart'
        assert healed[0].status_message == '' and http_get(
            'http://%s:80/ping' % healed[0].network_interfaces[0].primary_v4_address.address) == 'pong'
        assert instances_of(cloud, group.id)[1].instance_id == two.instance_id, 'the healthy one was touched'
        one = healed[0]

        # A metadata change restarts each instance (same VM: deploy/instance.md): the new user-data reaches the VM,
        # but cloud-init's write_files ran once per instance and does not run again, so /ping still says pong.
        template = ig.InstanceTemplate()
        template.CopyFrom(full.instance_template)
        template.metadata['user-data'] = ping_metadata('pong v2')['user-data']
        asked = time.time()
        run(sdk, stub.Update(svc.UpdateInstanceGroupRequest(
            instance_group_id=group.id, update_mask=FieldMask(paths=['instance_template']),
            instance_template=template, scale_policy=full.scale_policy, deploy_policy=full.deploy_policy,
            allocation_policy=full.allocation_policy, service_account_id=full.service_account_id)), ig.InstanceGroup)
        restarted = wait_for(lambda: (lambda found: len(found) == 2 and all(
            i.status == S.RUNNING_ACTUAL and i.status_changed_at.seconds >= int(asked) for i in found) and found)(
            instances_of(cloud, group.id)), 120, interval=0.3, what='metadata rollout done')
        assert [i.instance_id for i in restarted] == [one.instance_id, two.instance_id], 'instances re-created'
        for instance in restarted:
            assert 'pong v2' in docker('exec', instance.instance_id, 'cat', '/var/lib/cloud/instance/user-data.txt').stdout
            assert http_get('http://%s:80/ping' % instance.network_interfaces[0].primary_v4_address.address) == 'pong'
        full = stub.Get(svc.GetInstanceGroupRequest(instance_group_id=group.id, view=svc.FULL))

        # Rolling update with deploy_policy.minimal_action RECREATE: new VMs, so write_files runs with the new
        # content; never both instances down at once (max_unavailable 1)
        samples = []
        stop = threading.Event()

        def sample():
            while not stop.is_set():
                samples.append(status_names(instances_of(cloud, group.id)))
                time.sleep(0.2)
        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        started = time.monotonic()
        template = ig.InstanceTemplate()
        template.CopyFrom(full.instance_template)
        template.metadata['user-data'] = ping_metadata('pong v3')['user-data']
        deploy = ig.DeployPolicy()
        deploy.CopyFrom(full.deploy_policy)
        deploy.minimal_action = ig.DeployPolicy.RECREATE
        request = svc.UpdateInstanceGroupRequest(instance_group_id=group.id,
                                                 update_mask=FieldMask(paths=['instance_template', 'deploy_policy']),
                                                 instance_template=template, scale_policy=full.scale_policy,
                                                 deploy_policy=deploy, allocation_policy=full.allocation_policy,
                                                 service_account_id=full.service_account_id)
        run(sdk, stub.Update(request), ig.InstanceGroup)
        updated = wait_for(lambda: (lambda found: len(found) == 2 and all(
            i.status == S.RUNNING_ACTUAL and i.instance_id not in (one.instance_id, two.instance_id) for i in found)
            and found)(instances_of(cloud, group.id)), 120, interval=0.3, what='rolling update done')
        timings['rolling update of 2 (max_unavailable 1)'] = time.monotonic() - started
        stop.set()
        sampler.join()
        serving = [sum(1 for _, status in sample if status in ('RUNNING_ACTUAL', 'RUNNING_OUTDATED'))
                   for sample in samples]
        assert min(serving) >= 1, 'both instances were down at once: %r' % samples
        assert any(status == 'RUNNING_OUTDATED' for sample in samples for _, status in sample)
        assert [i.name for i in updated] == ['web-1', 'web-2']
        for instance in updated:
            assert http_get('http://%s:80/ping' % instance.network_interfaces[0].primary_v4_address.address) == \
                'pong v3'

        # Only what the mask names changes; a scale change recreates nothing
        changed = update(cloud, group.id, ['scale_policy'], scale_policy={'fixed_scale': {'size': 1}},
                         description='not in the mask')
        assert changed.description == '' and changed.scale_policy.fixed_scale.size == 1
        (kept,) = wait_running(cloud, group.id, 1, what='scaled to 1')
        assert kept.instance_id == updated[0].instance_id and kept.name == 'web-1'

        # The server restarts: the group and its running instance are re-adopted, not recreated
        started = time.monotonic()
        localcloud.restart()
        sdk = localcloud.sdk()
        cloud = dict(cloud, sdk=sdk, stub=sdk.client(InstanceGroupServiceStub))
        stub = cloud['stub']
        (after,) = wait_running(cloud, group.id, 1, what='re-adopted after restart')
        timings['server restart -> re-adopted'] = time.monotonic() - started
        assert after.instance_id == kept.instance_id
        assert stub.Get(svc.GetInstanceGroupRequest(instance_group_id=group.id)).status == ig.InstanceGroup.ACTIVE

        # deletion_protection refuses Delete
        update(cloud, group.id, ['deletion_protection'], deletion_protection=True)
        details = rpc_error(lambda: stub.Delete(svc.DeleteInstanceGroupRequest(instance_group_id=group.id)),
                            CODE.FAILED_PRECONDITION)
        assert 'deletion protection' in details
        update(cloud, group.id, ['deletion_protection'], deletion_protection=False)
    finally:
        started = time.monotonic()
        run(cloud['sdk'], cloud['stub'].Delete(svc.DeleteInstanceGroupRequest(instance_group_id=group.id)))
        timings['delete'] = time.monotonic() - started
        print('\n' + '\n'.join('%-45s %5.1f s' % item for item in timings.items()))
    # The delete operation ends when the instances and the subnet's network are gone
    assert leftovers(group.id) == [] and subnet_networks(cloud['subnet'].id) == []
    rpc_error(lambda: cloud['stub'].Get(svc.GetInstanceGroupRequest(instance_group_id=group.id)), CODE.NOT_FOUND)


def test_instances_pull_from_the_registry_as_their_service_account(localcloud, cloud, tmp_path):
    """The template's service account is the VM's identity: its nodes log in to the registry with it (what a COI
    VM gets from the metadata service), so a payload image that is only in the private registry runs."""
    from yandex.cloud.containerregistry.v1 import registry_service_pb2 as rs
    from yandex.cloud.containerregistry.v1.registry_pb2 import Registry
    from yandex.cloud.containerregistry.v1.registry_service_pb2_grpc import RegistryServiceStub
    from registry_support import DockerCLI, iam_token, registry_host

    sdk, stub = cloud['sdk'], cloud['stub']
    registry = run(sdk, sdk.client(RegistryServiceStub).Create(rs.CreateRegistryRequest(
        folder_id=localcloud.folder_id, name=unique('igreg'))), Registry).response
    ref = '%s/%s/shs:ig' % (registry_host(localcloud), registry.id)
    cli = DockerCLI(tmp_path / 'docker')
    cli('tag', 'filmopoisk/shs:latest', ref)
    cli.login(registry_host(localcloud), 'iam', iam_token(localcloud))
    cli('push', ref)
    cli('rmi', ref)  # the engine must pull it, not find it
    request = create_request(localcloud, cloud, **{'scale_policy.fixed_scale.size': 1,
                                                   'instance_template.metadata': ping_metadata('pulled', ref)})
    request.instance_template.service_account_id = cloud['account'].id
    group = run(sdk, stub.Create(request), ig.InstanceGroup).response
    try:
        (instance,) = wait_running(cloud, group.id, 1, what='the instance running the pulled image')
        address = instance.network_interfaces[0].primary_v4_address.address
        assert http_get('http://%s:80/ping' % address) == 'pulled'
        assert docker('inspect', '-f', '{{.Config.Image}}', service_container(instance.instance_id)).stdout.strip() \
            == ref
        mode = docker('exec', instance.instance_id, 'stat', '-c', '%a %U', '/root/.docker/config.json').stdout
        assert mode.split() == ['600', 'root']
        assert docker('exec', instance.instance_id, 'stat', '-c', '%a', '/root').stdout.strip() == '700'
    finally:
        run(sdk, stub.Delete(svc.DeleteInstanceGroupRequest(instance_group_id=group.id)))
        run(sdk, sdk.client(RegistryServiceStub).ForceDelete(rs.DeleteRegistryRequest(registry_id=registry.id)))
        docker('rmi', ref, check=False)
