"""localcloud checks roles where Yandex Cloud does (localcloud/README.md, "IAM"): the instance group's service
account for each VM it creates, the caller's right to use the group's account, the VM account's right to pull, and
a VM's way out to the registry. Through the real SDK, real nodes, the real registry."""

import json
import urllib.request

import grpc
import pytest
from google.protobuf import json_format
from google.protobuf.field_mask_pb2 import FieldMask
from yandex.cloud.access import access_pb2
from yandex.cloud.compute.v1 import image_service_pb2 as image_svc
from yandex.cloud.compute.v1.image_service_pb2_grpc import ImageServiceStub
from yandex.cloud.compute.v1.instancegroup import instance_group_pb2 as ig
from yandex.cloud.compute.v1.instancegroup import instance_group_service_pb2 as svc
from yandex.cloud.compute.v1.instancegroup.instance_group_service_pb2_grpc import InstanceGroupServiceStub
from yandex.cloud.containerregistry.v1 import registry_service_pb2 as rs
from yandex.cloud.containerregistry.v1.registry_pb2 import Registry
from yandex.cloud.containerregistry.v1.registry_service_pb2_grpc import RegistryServiceStub
from yandex.cloud.iam.v1 import key_service_pb2 as ks, service_account_pb2, service_account_service_pb2 as sa_svc
from yandex.cloud.iam.v1.key_service_pb2_grpc import KeyServiceStub
from yandex.cloud.iam.v1.service_account_service_pb2_grpc import ServiceAccountServiceStub
from yandex.cloud.vpc.v1 import gateway_service_pb2 as gs, route_table_service_pb2 as rts, subnet_service_pb2 as ss
from yandex.cloud.vpc.v1.gateway_service_pb2_grpc import GatewayServiceStub
from yandex.cloud.vpc.v1.route_table_service_pb2_grpc import RouteTableServiceStub
from yandex.cloud.vpc.v1.subnet_service_pb2_grpc import SubnetServiceStub

from helpers import rpc_error, run, unique
from iam_support import grant
from instance_group_support import leftovers, ping_metadata, random_cidr, remove_nodes
from registry_support import DockerCLI, registry_host
from support import docker, wait_for
from test_vpc import make_network, make_subnet
from test_vpc_egress import make_gateway, make_table, nat_route

CODE = grpc.StatusCode
S = ig.ManagedInstance
# The roles a group's account needs for a VM with a public address and an account of its own (YC's docs).
GROUP_ROLES = ('compute.editor', 'vpc.publicAdmin', 'iam.serviceAccounts.user')


# ---------------------------------------------------------------------------------------------- the role model

def test_role_model_follows_the_docs(tmp_path):
    """Which role includes which, and inheritance from the cloud, in process (localcloud.server.iam_roles)."""
    from localcloud.server import access, iam_roles
    from localcloud.server.app import LocalCloud, _binding

    assert {'compute.editor', 'vpc.publicAdmin', 'iam.serviceAccounts.user',
            'container-registry.images.puller'} <= iam_roles.included('editor')
    assert iam_roles.included('resource-manager.clouds.owner') >= iam_roles.included('admin') >= \
        iam_roles.included('editor') >= iam_roles.included('viewer')
    assert 'container-registry.images.puller' in iam_roles.included('viewer')   # en/cos/error/index.md
    assert 'vpc.user' in iam_roles.included('compute.editor')                   # en/_mermaid/roles/compute.md
    assert not {'vpc.publicAdmin', 'iam.serviceAccounts.user'} & iam_roles.included('compute.editor')
    assert 'vpc.publicAdmin' in iam_roles.included('vpc.admin')
    assert 'container-registry.images.puller' in iam_roles.included('container-registry.images.pusher')

    cloud = LocalCloud(str(tmp_path / 'state'))
    try:
        chain = iam_roles.chain(cloud, folder_id=cloud.folder_id)
        assert chain == [cloud.folder_id, cloud.cloud_id]
        # The bootstrap user owns the cloud (inherited by the folder); the bootstrap account is the folder's admin.
        user = {'type': 'userAccount', 'id': cloud.config['user_id']}
        admin = {'type': 'serviceAccount', 'id': cloud.config['service_account_id']}
        for role in ('compute.editor', 'vpc.publicAdmin', 'iam.serviceAccounts.user'):
            assert iam_roles.has_role(cloud, user, role, chain) and iam_roles.has_role(cloud, admin, role, chain)
        other = {'type': 'serviceAccount', 'id': 'ajeother0000000000aa'}
        assert not iam_roles.has_role(cloud, other, 'vpc.user', chain)
        access.replace(cloud.store, cloud.cloud_id, access.get(cloud.store, cloud.cloud_id) +
                       [_binding('compute.admin', 'serviceAccount', other['id'])])
        assert iam_roles.has_role(cloud, other, 'vpc.user', chain)                 # bound on the cloud, inherited
        message = iam_roles.missing_role(cloud, other, 'vpc.publicAdmin', chain, 'give a VM a public address')
        assert message.startswith('serviceAccount %s has no role vpc.publicAdmin' % other['id'])
        assert 'folder %s' % cloud.folder_id in message and 'vpc.admin' in message
    finally:
        cloud.stop()


# ---------------------------------------------------------------------------------------------- API fixtures

@pytest.fixture(scope='module')
def base(localcloud):
    sdk = localcloud.sdk()
    network = make_network(localcloud, sdk)
    subnet = make_subnet(localcloud, sdk, network.id, [random_cidr()])
    image = sdk.client(ImageServiceStub).GetLatestByFamily(image_svc.GetImageLatestByFamilyRequest(
        folder_id='standard-images', family='container-optimized-image'))
    yield dict(sdk=sdk, network=network, subnet=subnet, image=image, stub=sdk.client(InstanceGroupServiceStub))
    remove_nodes(localcloud.state_dir)


def make_sa(localcloud, sdk, prefix):
    return run(sdk, sdk.client(ServiceAccountServiceStub).Create(sa_svc.CreateServiceAccountRequest(
        folder_id=localcloud.folder_id, name=unique(prefix))), service_account_pb2.ServiceAccount).response


def delete_sa(sdk, sa_id):
    run(sdk, sdk.client(ServiceAccountServiceStub).Delete(sa_svc.DeleteServiceAccountRequest(service_account_id=sa_id)))


def group_request(localcloud, base, sa_id, vm_sa_id='', nat=True, subnet_id=None, metadata=None):
    address = {'one_to_one_nat_spec': {'ip_version': 'IPV4'}} if nat else {}
    request = {
        'folder_id': localcloud.folder_id, 'name': unique('iam'), 'service_account_id': sa_id,
        'instance_template': {
            'platform_id': 'standard-v3', 'resources_spec': {'cores': 2, 'memory': str(1 << 30)},
            'boot_disk_spec': {'disk_spec': {'image_id': base['image'].id, 'size': str(30 << 30)}},
            'metadata': metadata or ping_metadata('pong'), 'service_account_id': vm_sa_id,
            'network_interface_specs': [{'network_id': base['network'].id,
                                         'subnet_ids': [subnet_id or base['subnet'].id],
                                         'primary_v4_address_spec': address}]},
        'scale_policy': {'fixed_scale': {'size': 1}},
        'allocation_policy': {'zones': [{'zone_id': 'ru-central1-a'}]},
        'deploy_policy': {'max_unavailable': 1, 'startup_duration': '1s'},
        # An instance whose payload did not start is not healthy in time and is healed (its image pulled again).
        'health_checks_spec': {'max_checking_health_duration': '15s',
                               'health_check_specs': [{'interval': '1s', 'timeout': '1s', 'healthy_threshold': 2,
                                                       'unhealthy_threshold': 2,
                                                       'http_options': {'port': 80, 'path': '/ping'}}]}}
    return json_format.ParseDict(request, svc.CreateInstanceGroupRequest())


def update_request(base, group_id, paths, **fields):
    """An Update carrying the fields UpdateInstanceGroupRequest requires whatever the mask (from the group)."""
    group = base['stub'].Get(svc.GetInstanceGroupRequest(instance_group_id=group_id, view=svc.FULL))
    request = svc.UpdateInstanceGroupRequest(instance_group_id=group_id, update_mask=FieldMask(paths=paths),
                                             service_account_id=group.service_account_id)
    for field in ('instance_template', 'scale_policy', 'deploy_policy', 'allocation_policy'):
        getattr(request, field).CopyFrom(getattr(group, field))
    for field, value in fields.items():
        setattr(request, field, value)
    return request


def instances(base, group_id):
    return list(base['stub'].ListInstances(svc.ListInstanceGroupInstancesRequest(instance_group_id=group_id))
                .instances)


def wait_refused(base, group_id, role, timeout=30):
    """The group's one instance waits in CREATING_INSTANCE with a message naming the missing role."""
    def refused():
        found = instances(base, group_id)
        return (len(found) == 1 and found[0].status == S.CREATING_INSTANCE and role in found[0].status_message
                and found[0])
    return wait_for(refused, timeout, interval=0.3, what='an instance refused for lack of %s' % role)


def wait_running(base, group_id, timeout=120, what='the instance RUNNING_ACTUAL'):
    def ready():
        found = instances(base, group_id)
        return len(found) == 1 and found[0].status == S.RUNNING_ACTUAL and found[0]
    return wait_for(ready, timeout, interval=0.3, what=what)


def delete_group(base, group_id):
    run(base['sdk'], base['stub'].Delete(svc.DeleteInstanceGroupRequest(instance_group_id=group_id)))


def http_get(url, timeout=3):
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return response.read().decode()


# ---------------------------------------------------------------------------------------------- the group's account

@pytest.mark.slow
def test_group_account_needs_compute_editor_and_vpc_public_admin_for_a_nat_vm(localcloud, base):
    """en/compute/security/index.md: "Creating a VM with a public IP address: compute.editor and vpc.publicAdmin for
    the folder". Without them no VM is made, the instance says why, and a later grant lets the group come up."""
    sdk = base['sdk']
    account = make_sa(localcloud, sdk, 'ig-bare')
    group = run(sdk, base['stub'].Create(group_request(localcloud, base, account.id)), ig.InstanceGroup).response
    try:
        waiting = wait_refused(base, group.id, 'compute.editor')
        assert waiting.status_message.startswith('Permission denied: serviceAccount %s has no role compute.editor'
                                                 % account.id)
        assert 'folder %s' % localcloud.folder_id in waiting.status_message
        grant(localcloud, account.id, 'compute.editor')
        waiting = wait_refused(base, group.id, 'vpc.publicAdmin')
        assert 'public IP address' in waiting.status_message and leftovers(group.id) == []
        got = base['stub'].Get(svc.GetInstanceGroupRequest(instance_group_id=group.id))
        assert got.status == ig.InstanceGroup.STARTING and got.managed_instances_state.running_actual_count == 0
        grant(localcloud, account.id, 'vpc.publicAdmin')
        running = wait_running(base, group.id, what='the instance once vpc.publicAdmin is granted')
        assert running.instance_id == waiting.instance_id  # the same instance, admitted now
        nat = running.network_interfaces[0].primary_v4_address.one_to_one_nat.address
        assert nat and http_get('http://%s:80/ping' % nat) == 'pong'
    finally:
        delete_group(base, group.id)
        delete_sa(sdk, account.id)


@pytest.mark.slow
def test_group_account_needs_service_accounts_user_to_attach_the_vm_account(localcloud, base):
    """en/_includes/connect-sa-to-vm-intro.md: linking a service account to a VM needs the right to use it; a binding
    on that account (a resource-level binding) is enough."""
    sdk = base['sdk']
    account, vm_account = make_sa(localcloud, sdk, 'ig-nouse'), make_sa(localcloud, sdk, 'vm')
    grant(localcloud, account.id, 'compute.editor', 'vpc.publicAdmin')
    group = run(sdk, base['stub'].Create(group_request(localcloud, base, account.id, vm_account.id)),
                ig.InstanceGroup).response
    try:
        waiting = wait_refused(base, group.id, 'iam.serviceAccounts.user')
        assert vm_account.id in waiting.status_message and leftovers(group.id) == []
        binding = access_pb2.AccessBinding(role_id='iam.serviceAccounts.user',
                                           subject=access_pb2.Subject(type='serviceAccount', id=account.id))
        run(sdk, sdk.client(ServiceAccountServiceStub).UpdateAccessBindings(access_pb2.UpdateAccessBindingsRequest(
            resource_id=vm_account.id, access_binding_deltas=[access_pb2.AccessBindingDelta(
                action=access_pb2.ADD, access_binding=binding)])))
        wait_running(base, group.id, what='the instance once the group may use the VM account')
    finally:
        delete_group(base, group.id)
        delete_sa(sdk, account.id)
        delete_sa(sdk, vm_account.id)


# ---------------------------------------------------------------------------------------------- the caller

def test_caller_needs_service_accounts_user_on_the_group_account(localcloud, base):
    """en/_roles/iam/serviceAccounts/user.md: "when creating an instance group, you specify the service account and
    the IAM checks whether you have permission to use it"."""
    sdk = base['sdk']
    caller, target, other = (make_sa(localcloud, sdk, p) for p in ('caller', 'target', 'other'))
    grant(localcloud, caller.id, 'compute.editor')  # may manage groups, may not use accounts
    created = sdk.client(KeyServiceStub).Create(ks.CreateKeyRequest(service_account_id=caller.id))
    as_caller = localcloud.sdk(service_account_key={'id': created.key.id, 'service_account_id': caller.id,
                                                    'private_key': created.private_key})
    stub = as_caller.client(InstanceGroupServiceStub)
    group = None
    try:
        details = rpc_error(lambda: stub.Create(group_request(localcloud, base, target.id)), CODE.PERMISSION_DENIED)
        assert details.startswith('Permission denied: serviceAccount %s has no role iam.serviceAccounts.user'
                                  % caller.id) and 'service account %s' % target.id in details
        assert not [g for g in base['stub'].List(svc.ListInstanceGroupsRequest(folder_id=localcloud.folder_id))
                    .instance_groups if g.service_account_id == target.id]
        # A binding on the target account itself is enough.
        binding = access_pb2.AccessBinding(role_id='iam.serviceAccounts.user',
                                           subject=access_pb2.Subject(type='serviceAccount', id=caller.id))
        run(sdk, sdk.client(ServiceAccountServiceStub).UpdateAccessBindings(access_pb2.UpdateAccessBindingsRequest(
            resource_id=target.id, access_binding_deltas=[access_pb2.AccessBindingDelta(
                action=access_pb2.ADD, access_binding=binding)])))
        group = run(as_caller, stub.Create(group_request(localcloud, base, target.id)), ig.InstanceGroup).response
        # Update: the account is checked when the mask names it, against the new one.
        to_other = update_request(base, group.id, ['service_account_id'], service_account_id=other.id)
        details = rpc_error(lambda: stub.Update(to_other), CODE.PERMISSION_DENIED)
        assert 'service account %s' % other.id in details and 'iam.serviceAccounts.user' in details
        renamed = run(as_caller, stub.Update(update_request(base, group.id, ['description'], description='renamed')),
                      ig.InstanceGroup).response
        assert renamed.description == 'renamed' and renamed.service_account_id == target.id
        # The fixture's OAuth user owns the cloud: it may use any account.
        run(sdk, base['stub'].Update(to_other), ig.InstanceGroup)
    finally:
        if group is not None:
            delete_group(base, group.id)
        for account in (caller, target, other):
            delete_sa(sdk, account.id)


# ---------------------------------------------------------------------------------------------- pulls

@pytest.fixture()
def pushed(localcloud, base, tmp_path):
    """An image only the registry has (pushed by the fixture's user from the host, then removed locally)."""
    sdk = base['sdk']
    registry = run(sdk, sdk.client(RegistryServiceStub).Create(rs.CreateRegistryRequest(
        folder_id=localcloud.folder_id, name=unique('iamreg'))), Registry).response
    host = registry_host(localcloud)
    ref = '%s/%s/shs:iam' % (host, registry.id)
    cli = DockerCLI(tmp_path / 'docker')
    cli('tag', 'filmopoisk/shs:latest', ref)
    cli.login(host, 'oauth', localcloud.token)
    cli('push', ref)  # a user's push from the host: no egress involved
    cli('rmi', ref)
    yield ref
    run(sdk, sdk.client(RegistryServiceStub).ForceDelete(rs.DeleteRegistryRequest(registry_id=registry.id)))
    docker('rmi', ref, check=False)


def compose_journal(instance_id):
    """What `journalctl -u` of the compose unit says in the node (yc-container-daemon's log on a COI VM)."""
    return docker('exec', instance_id, 'journalctl', '-u', 'coi-compose', '--no-pager', check=False).stdout


def wait_pull_failed(base, group_id, text, timeout=60):
    def failed():
        found = instances(base, group_id)
        if len(found) == 1 and found[0].status != S.RUNNING_ACTUAL and found[0].instance_id:
            return text in compose_journal(found[0].instance_id) and found[0]
    return wait_for(failed, timeout, interval=1, what='a pull failing with %r' % text)


@pytest.mark.slow
def test_vm_account_needs_the_puller_role_to_pull(localcloud, base, pushed):
    """en/container-registry/security/index.md: a pull needs container-registry.images.puller (for the registry, or
    above it); en/cos/error/index.md#permission-denied shows what the VM logs without it."""
    sdk = base['sdk']
    account, vm_account = make_sa(localcloud, sdk, 'ig-pull'), make_sa(localcloud, sdk, 'vm-pull')
    grant(localcloud, account.id, *GROUP_ROLES)
    request = group_request(localcloud, base, account.id, vm_account.id, metadata=ping_metadata('pulled', pushed))
    group = run(sdk, base['stub'].Create(request), ig.InstanceGroup).response
    try:
        failed = wait_pull_failed(base, group.id, 'pull access denied')
        assert 'requested access to the resource is denied' in compose_journal(failed.instance_id)
        grant(localcloud, vm_account.id, 'container-registry.images.puller')
        running = wait_running(base, group.id, what='the instance pulling once the VM account is a puller')
        assert http_get('http://%s:80/ping' % running.network_interfaces[0].primary_v4_address.address) == 'pulled'
    finally:
        delete_group(base, group.id)
        delete_sa(sdk, account.id)
        delete_sa(sdk, vm_account.id)


@pytest.mark.slow
def test_vm_without_public_address_pulls_only_through_a_nat_gateway(localcloud, base, pushed):
    """en/cos/error/index.md#connection-to-cr: a VM with no public address and no NAT gateway on its subnet cannot
    reach cr.yandex (there the pull times out; localcloud refuses at once, saying why). A route 0.0.0.0/0 through a
    NAT gateway on the subnet's route table (en/vpc/concepts/gateways.md) lets the next pull through."""
    sdk = base['sdk']
    subnet = make_subnet(localcloud, sdk, base['network'].id, [random_cidr()], zone='ru-central1-a')
    account, vm_account = make_sa(localcloud, sdk, 'ig-egress'), make_sa(localcloud, sdk, 'vm-egress')
    grant(localcloud, account.id, *GROUP_ROLES)
    grant(localcloud, vm_account.id, 'container-registry.images.puller')
    request = group_request(localcloud, base, account.id, vm_account.id, nat=False, subnet_id=subnet.id,
                            metadata=ping_metadata('egress', pushed))
    group = run(sdk, base['stub'].Create(request), ig.InstanceGroup).response
    gateway = table = None
    try:
        failed = wait_pull_failed(base, group.id, 'no connection to cr.yandex')
        journal = compose_journal(failed.instance_id)
        assert 'subnet %s has no route table' % subnet.id in journal and 'NAT gateway' in journal
        gateway = make_gateway(localcloud, sdk)
        table = make_table(localcloud, sdk, base['network'].id, [nat_route(gateway.id)])
        run(sdk, sdk.client(SubnetServiceStub).Update(ss.UpdateSubnetRequest(
            subnet_id=subnet.id, route_table_id=table.id, update_mask=FieldMask(paths=['route_table_id']))))
        running = wait_running(base, group.id, what='the instance pulling through the NAT gateway')
        address = running.network_interfaces[0].primary_v4_address
        assert not address.one_to_one_nat.address and http_get('http://%s:80/ping' % address.address) == 'egress'
    finally:
        delete_group(base, group.id)
        for account_id in (account.id, vm_account.id):
            delete_sa(sdk, account_id)
        run(sdk, sdk.client(SubnetServiceStub).Delete(ss.DeleteSubnetRequest(subnet_id=subnet.id)))
        if table is not None:
            run(sdk, sdk.client(RouteTableServiceStub).Delete(rts.DeleteRouteTableRequest(route_table_id=table.id)))
        if gateway is not None:
            run(sdk, sdk.client(GatewayServiceStub).Delete(gs.DeleteGatewayRequest(gateway_id=gateway.id)))


def test_node_login_is_bound_to_its_instance(tmp_path):
    """node_docker_config(cloud, sa, instance): the token remembers the VM (what the token endpoint checks);
    tokens of users and of the API are bound to nothing."""
    import base64
    from localcloud.server.app import LocalCloud
    from localcloud.server.services import containerregistry

    cloud = LocalCloud(str(tmp_path / 'state'))
    try:
        instance = {'instance_id': 'fhmtest0000000000000', 'subnet_id': 'e9bnosuchsubnet00000', 'public_ip': ''}
        config = containerregistry.node_docker_config(cloud, cloud.config['service_account_id'], instance)
        (entry,) = config['auths'].values()
        token = base64.b64decode(entry['auth']).decode().partition(':')[2]
        assert cloud.auth.token_instance(token) == instance
        ok, reason = containerregistry.egress(cloud, instance)
        assert not ok and 'e9bnosuchsubnet00000' in reason
        user_token, _ = cloud.auth.issue_iam_token({'type': 'userAccount', 'id': cloud.config['user_id']})
        assert cloud.auth.token_instance(user_token) is None
        assert json.loads(json.dumps(config)) == config
    finally:
        cloud.stop()
