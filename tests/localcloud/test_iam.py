"""localcloud IAM and resource manager: service accounts, keys, folder access bindings (real SDK)."""

import os

import grpc
import pytest
from google.protobuf.field_mask_pb2 import FieldMask
from yandex.cloud.access import access_pb2
from yandex.cloud.iam.v1 import key_service_pb2 as ks
from yandex.cloud.iam.v1 import service_account_service_pb2 as sas
from yandex.cloud.iam.v1.key_service_pb2_grpc import KeyServiceStub
from yandex.cloud.iam.v1.service_account_pb2 import ServiceAccount
from yandex.cloud.iam.v1.service_account_service_pb2_grpc import ServiceAccountServiceStub
from yandex.cloud.resourcemanager.v1 import cloud_service_pb2 as cs
from yandex.cloud.resourcemanager.v1 import folder_service_pb2 as fs
from yandex.cloud.resourcemanager.v1.cloud_service_pb2_grpc import CloudServiceStub
from yandex.cloud.resourcemanager.v1.folder_service_pb2_grpc import FolderServiceStub

from helpers import rpc_error, run, unique

CODE = grpc.StatusCode


def make_sa(localcloud, sdk, **fields):
    fields.setdefault('name', unique('sa'))
    op = sdk.client(ServiceAccountServiceStub).Create(sas.CreateServiceAccountRequest(
        folder_id=localcloud.folder_id, **fields))
    return run(sdk, op, ServiceAccount, sas.CreateServiceAccountMetadata).response


def binding(role, sa_id):
    return access_pb2.AccessBinding(role_id=role, subject=access_pb2.Subject(type='serviceAccount', id=sa_id))


def test_service_account_lifecycle(localcloud):
    sdk = localcloud.sdk()
    stub = sdk.client(ServiceAccountServiceStub)
    sa = make_sa(localcloud, sdk, description='ig', labels={'tier': 'app'})
    assert sa.id.startswith('aje') and len(sa.id) == 20 and sa.status == ServiceAccount.ACTIVE
    assert stub.Get(sas.GetServiceAccountRequest(service_account_id=sa.id)) == sa
    listed = stub.List(sas.ListServiceAccountsRequest(folder_id=localcloud.folder_id, filter='name="%s"' % sa.name))
    assert list(listed.service_accounts) == [sa]
    bootstrap = stub.List(sas.ListServiceAccountsRequest(folder_id=localcloud.folder_id,
                                                         filter='name="localcloud-admin"')).service_accounts
    assert [s.id for s in bootstrap] == [localcloud.sa_key['service_account_id']]
    assert not stub.ListAccessBindings(access_pb2.ListAccessBindingsRequest(resource_id=sa.id)).access_bindings

    updated = run(sdk, stub.Update(sas.UpdateServiceAccountRequest(
        service_account_id=sa.id, description='changed', name='ignored', update_mask=FieldMask(paths=['description']))),
        ServiceAccount).response
    assert (updated.name, updated.description, dict(updated.labels)) == (sa.name, 'changed', {'tier': 'app'})

    rpc_error(lambda: stub.Create(sas.CreateServiceAccountRequest(folder_id=localcloud.folder_id, name=sa.name)),
              CODE.ALREADY_EXISTS)
    for bad in ('', 'Upper', 'under_score', 'x' * 64):
        details = rpc_error(lambda: stub.Create(sas.CreateServiceAccountRequest(folder_id=localcloud.folder_id,
                                                                                name=bad)), CODE.INVALID_ARGUMENT)
        assert details.startswith('Request validation error: name: ')
    rpc_error(lambda: stub.Create(sas.CreateServiceAccountRequest(folder_id='b1gnosuchfolder00000', name='x')),
              CODE.PERMISSION_DENIED)

    key = sdk.client(KeyServiceStub).Create(ks.CreateKeyRequest(service_account_id=sa.id))
    run(sdk, stub.Delete(sas.DeleteServiceAccountRequest(service_account_id=sa.id)))
    assert rpc_error(lambda: stub.Get(sas.GetServiceAccountRequest(service_account_id=sa.id)),
                     CODE.NOT_FOUND) == 'Service account %s not found' % sa.id
    # Its keys went with it: the key no longer authenticates.
    rpc_error(lambda: sdk.client(KeyServiceStub).Get(ks.GetKeyRequest(key_id=key.key.id)), CODE.NOT_FOUND)


def test_folder_and_cloud(localcloud):
    sdk = localcloud.sdk()
    folders = sdk.client(FolderServiceStub)
    folder = folders.Get(fs.GetFolderRequest(folder_id=localcloud.folder_id))
    assert folder.name == 'default' and folder.cloud_id == localcloud.cloud_id
    assert [f.id for f in folders.List(fs.ListFoldersRequest(cloud_id=localcloud.cloud_id)).folders] == [folder.id]
    rpc_error(lambda: folders.Get(fs.GetFolderRequest(folder_id='b1gnosuchfolder00000')), CODE.PERMISSION_DENIED)
    clouds = sdk.client(CloudServiceStub)
    assert clouds.Get(cs.GetCloudRequest(cloud_id=localcloud.cloud_id)).name == 'localcloud'
    assert [c.id for c in clouds.List(cs.ListCloudsRequest()).clouds] == [localcloud.cloud_id]


def test_folder_access_bindings(localcloud):
    sdk = localcloud.sdk()
    folders = sdk.client(FolderServiceStub)
    sa = make_sa(localcloud, sdk)

    def bindings():
        answer = folders.ListAccessBindings(access_pb2.ListAccessBindingsRequest(resource_id=localcloud.folder_id))
        return {(b.role_id, b.subject.type, b.subject.id) for b in answer.access_bindings}
    before = bindings()
    assert ('admin', 'serviceAccount', localcloud.sa_key['service_account_id']) in before

    def update(*deltas):
        op = folders.UpdateAccessBindings(access_pb2.UpdateAccessBindingsRequest(
            resource_id=localcloud.folder_id, access_binding_deltas=list(deltas)))
        assert not op.done
        return run(sdk, op, access_pb2.AccessBindingsOperationResult, access_pb2.UpdateAccessBindingsMetadata)
    add = access_pb2.AccessBindingDelta(action=access_pb2.ADD, access_binding=binding('compute.editor', sa.id))
    result = update(add)
    assert list(result.response.effective_deltas) == [add] and result.meta.resource_id == localcloud.folder_id
    assert bindings() == before | {('compute.editor', 'serviceAccount', sa.id)}
    assert not update(add).response.effective_deltas  # already there: nothing changes
    remove = access_pb2.AccessBindingDelta(action=access_pb2.REMOVE, access_binding=binding('compute.editor', sa.id))
    assert list(update(remove).response.effective_deltas) == [remove]
    assert bindings() == before

    bad = [(access_pb2.AccessBindingDelta(action=access_pb2.ADD, access_binding=binding('Bad Role', sa.id)),
            'role_id'),
           (access_pb2.AccessBindingDelta(action=access_pb2.ACCESS_BINDING_ACTION_UNSPECIFIED,
                                          access_binding=binding('viewer', sa.id)), 'action')]
    for delta, field in bad:
        details = rpc_error(lambda: folders.UpdateAccessBindings(access_pb2.UpdateAccessBindingsRequest(
            resource_id=localcloud.folder_id, access_binding_deltas=[delta])), CODE.INVALID_ARGUMENT)
        assert field in details
    rpc_error(lambda: folders.UpdateAccessBindings(access_pb2.UpdateAccessBindingsRequest(
        resource_id=localcloud.folder_id, access_binding_deltas=[access_pb2.AccessBindingDelta(
            action=access_pb2.ADD, access_binding=binding('viewer', 'ajenosuchaccount0000'))])), CODE.NOT_FOUND)
    rpc_error(lambda: folders.ListAccessBindings(access_pb2.ListAccessBindingsRequest(
        resource_id='b1gnosuchfolder00000')), CODE.PERMISSION_DENIED)

    # SetAccessBindings replaces the list; deleting the SA drops its bindings.
    op = folders.SetAccessBindings(access_pb2.SetAccessBindingsRequest(
        resource_id=localcloud.folder_id, access_bindings=[binding(r, s) for r, _, s in before]
        + [binding('viewer', sa.id)]))
    run(sdk, op)
    assert bindings() == before | {('viewer', 'serviceAccount', sa.id)}
    run(sdk, sdk.client(ServiceAccountServiceStub).Delete(sas.DeleteServiceAccountRequest(service_account_id=sa.id)))
    assert bindings() == before


@pytest.fixture
def in_process_cloud(tmp_path):
    """A LocalCloud in this process, so a test can register what a later service (instance groups) adds."""
    from localcloud.server.app import LocalCloud
    cloud = LocalCloud(str(tmp_path / 'state'))
    info = cloud.start()
    yield cloud, info
    cloud.stop()


def test_a_used_service_account_cannot_be_deleted(in_process_cloud):
    import yandexcloud
    from localcloud.server import registry

    cloud, info = in_process_cloud
    sdk = yandexcloud.SDK(endpoint=info['endpoint'], root_certificates=open(info['ca'], 'rb').read(),
                          iam_token=cloud.auth.issue_iam_token({'type': 'userAccount', 'id': 'test'})[0])
    stub = sdk.client(ServiceAccountServiceStub)
    sa = run(sdk, stub.Create(sas.CreateServiceAccountRequest(folder_id=info['folder_id'], name='ig-sa')),
             ServiceAccount).response
    users = {sa.id: ['instance group cl1testgroup00000000']}
    registry.references(ServiceAccount)(lambda _cloud, sa_id: users.get(sa_id, []))
    details = rpc_error(lambda: stub.Delete(sas.DeleteServiceAccountRequest(service_account_id=sa.id)),
                        CODE.FAILED_PRECONDITION)
    assert details == 'Service account %s is in use by instance group cl1testgroup00000000' % sa.id
    users.clear()
    run(sdk, stub.Delete(sas.DeleteServiceAccountRequest(service_account_id=sa.id)))
    assert os.path.exists(info['sa_key_file'])


def test_keys_update_and_delete(localcloud):
    from yandex.cloud.iam.v1.key_pb2 import Key
    sdk = localcloud.sdk()
    keys = sdk.client(KeyServiceStub)
    sa = make_sa(localcloud, sdk)
    created = keys.Create(ks.CreateKeyRequest(service_account_id=sa.id, key_algorithm=Key.RSA_4096))
    assert created.key.key_algorithm == Key.RSA_4096 and created.key.service_account_id == sa.id
    minted = {'id': created.key.id, 'service_account_id': sa.id, 'private_key': created.private_key}
    as_sa = localcloud.sdk(service_account_key=minted)
    assert as_sa.client(FolderServiceStub).Get(fs.GetFolderRequest(folder_id=localcloud.folder_id)).id
    updated = run(sdk, keys.Update(ks.UpdateKeyRequest(key_id=created.key.id, description='rotated',
                                                       update_mask=FieldMask(paths=['description']))), Key).response
    assert updated.description == 'rotated' and updated.public_key == created.key.public_key
    run(sdk, keys.Delete(ks.DeleteKeyRequest(key_id=created.key.id)))
    assert not keys.List(ks.ListKeysRequest(service_account_id=sa.id)).keys
    # A JWT signed with a deleted key is refused (the SDK reports the failed exchange as UNAVAILABLE).
    with pytest.raises(grpc.RpcError) as err:
        localcloud.sdk(service_account_key=minted).client(FolderServiceStub).Get(
            fs.GetFolderRequest(folder_id=localcloud.folder_id))
    assert 'UNAUTHENTICATED' in err.value.details() and 'is not an authorized key' in err.value.details()
    rpc_error(lambda: keys.Create(ks.CreateKeyRequest(service_account_id='ajenosuchaccount0000')), CODE.NOT_FOUND)
    rpc_error(lambda: keys.Create(ks.CreateKeyRequest()), CODE.INVALID_ARGUMENT)
