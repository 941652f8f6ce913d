"""localcloud Container Registry: the API through the real SDK, and a real registry server behind it (docker
login/push/pull with IAM and OAuth tokens, refusals, what the API reports of what was pushed, restarts, a COI
node pulling with its service account's credentials)."""

import base64
import json
import os
import signal

import grpc
import pytest
from google.protobuf.field_mask_pb2 import FieldMask
from yandex.cloud.containerregistry.v1 import image_service_pb2 as ims
from yandex.cloud.containerregistry.v1 import registry_service_pb2 as rs
from yandex.cloud.containerregistry.v1 import repository_service_pb2 as rps
from yandex.cloud.containerregistry.v1.image_service_pb2_grpc import ImageServiceStub
from yandex.cloud.containerregistry.v1.registry_pb2 import Registry
from yandex.cloud.containerregistry.v1.registry_service_pb2_grpc import RegistryServiceStub
from yandex.cloud.containerregistry.v1.repository_pb2 import Repository
from yandex.cloud.containerregistry.v1.repository_service_pb2_grpc import RepositoryServiceStub
from yandex.cloud.iam.v1 import iam_token_service_pb2 as its
from yandex.cloud.iam.v1 import service_account_service_pb2 as sas
from yandex.cloud.iam.v1.iam_token_service_pb2_grpc import IamTokenServiceStub
from yandex.cloud.iam.v1.service_account_pb2 import ServiceAccount
from yandex.cloud.iam.v1.service_account_service_pb2_grpc import ServiceAccountServiceStub

from helpers import rpc_error, run, unique
from iam_support import grant
from support import wait_for
from registry_support import DockerCLI, iam_token, make_context, registry_host, remove_local_images

CODE = grpc.StatusCode


def create_registry(localcloud, sdk, name=None, **fields):
    op = sdk.client(RegistryServiceStub).Create(rs.CreateRegistryRequest(
        folder_id=localcloud.folder_id, name=name or unique('reg'), **fields))
    return run(sdk, op, Registry).response


@pytest.fixture(scope='module')
def host(localcloud):
    found = registry_host(localcloud)
    yield found
    remove_local_images(found)


@pytest.fixture(scope='module')
def pushed(localcloud, host, tmp_path_factory):
    """One registry with app:v1 pushed by a client logged in with an IAM token: (registry, reference, digest)."""
    sdk = localcloud.sdk()
    registry = create_registry(localcloud, sdk)
    ref = '%s/%s/app:v1' % (host, registry.id)
    cli = DockerCLI(tmp_path_factory.mktemp('docker-pusher'))
    cli('build', '-q', '-t', ref, make_context(tmp_path_factory.mktemp('ctx'), 'one'))
    cli.login(host, 'iam', iam_token(localcloud))
    out = cli('push', ref).stdout
    digest = [word for word in out.split() if word.startswith('sha256:')][-1]
    yield registry, ref, digest
    op = sdk.client(RegistryServiceStub).ForceDelete(rs.DeleteRegistryRequest(registry_id=registry.id))
    run(sdk, op)


def test_registry_crud_and_errors(localcloud):
    sdk = localcloud.sdk()
    stub = sdk.client(RegistryServiceStub)
    name = unique('crud')
    registry = create_registry(localcloud, sdk, name, labels={'env': 'test'}, secure=True)
    assert registry.id.startswith('crp') and len(registry.id) == 20
    assert registry.status == Registry.ACTIVE and dict(registry.labels) == {'env': 'test'}
    assert stub.Get(rs.GetRegistryRequest(registry_id=registry.id)) == registry
    listed = stub.List(rs.ListRegistriesRequest(folder_id=localcloud.folder_id, filter='name="%s"' % name))
    assert [r.id for r in listed.registries] == [registry.id]

    details = rpc_error(lambda: stub.Create(rs.CreateRegistryRequest(folder_id=localcloud.folder_id, name=name)),
                        CODE.ALREADY_EXISTS)
    assert name in details
    details = rpc_error(lambda: stub.Create(rs.CreateRegistryRequest(folder_id=localcloud.folder_id, name='X_y')),
                        CODE.INVALID_ARGUMENT)
    assert details.startswith('Request validation error: name:')
    rpc_error(lambda: stub.Create(rs.CreateRegistryRequest(folder_id=localcloud.folder_id, name='ok-name',
                                                           labels={'Bad': 'x'})), CODE.INVALID_ARGUMENT)
    rpc_error(lambda: stub.Get(rs.GetRegistryRequest(registry_id='crpnosuchregistry000')), CODE.NOT_FOUND)
    rpc_error(lambda: stub.List(rs.ListRegistriesRequest(folder_id='b1gnosuchfolder00000')), CODE.PERMISSION_DENIED)

    # a label-only update with a mask leaves the name alone even though the request carries none
    op = stub.Update(rs.UpdateRegistryRequest(registry_id=registry.id, update_mask=FieldMask(paths=['labels']),
                                              labels={'env': 'prod'}))
    updated = run(sdk, op, Registry).response
    assert updated.name == name and dict(updated.labels) == {'env': 'prod'}
    rpc_error(lambda: stub.Update(rs.UpdateRegistryRequest(registry_id=registry.id,
                                                           update_mask=FieldMask(paths=['colour']))),
              CODE.INVALID_ARGUMENT)

    run(sdk, stub.Delete(rs.DeleteRegistryRequest(registry_id=registry.id)))
    rpc_error(lambda: stub.Get(rs.GetRegistryRequest(registry_id=registry.id)), CODE.NOT_FOUND)
    rpc_error(lambda: stub.Delete(rs.DeleteRegistryRequest(registry_id=registry.id)), CODE.NOT_FOUND)


def test_endpoint_json_names_the_registry_host(localcloud, host):
    assert host.startswith('127.0.0.1:')
    assert host != localcloud.endpoint


def test_push_is_reflected_by_the_api(localcloud, pushed):
    registry, ref, digest = pushed
    sdk = localcloud.sdk()
    images = sdk.client(ImageServiceStub).List(ims.ListImagesRequest(repository_name=registry.id + '/app')).images
    assert len(images) == 1
    image = images[0]
    assert (image.name, list(image.tags), image.digest) == (registry.id + '/app', ['v1'], digest)
    assert image.compressed_size > 1000 and len(image.layers) == 2 and image.config.digest.startswith('sha256:')
    assert image.created_at.seconds > 0
    assert sdk.client(ImageServiceStub).Get(ims.GetImageRequest(image_id=image.id)) == image
    by_registry = sdk.client(ImageServiceStub).List(ims.ListImagesRequest(registry_id=registry.id)).images
    assert [i.id for i in by_registry] == [image.id]

    repos = sdk.client(RepositoryServiceStub)
    listed = repos.List(rps.ListRepositoriesRequest(registry_id=registry.id)).repositories
    assert [r.name for r in listed] == [registry.id + '/app']
    assert repos.GetByName(rps.GetRepositoryByNameRequest(repository_name=registry.id + '/app')) == listed[0]
    assert repos.Get(rps.GetRepositoryRequest(repository_id=listed[0].id)) == listed[0]
    rpc_error(lambda: repos.GetByName(rps.GetRepositoryByNameRequest(repository_name=registry.id + '/nope')),
              CODE.NOT_FOUND)
    # a registry with images is not deleted without ForceDelete (as on YC)
    details = rpc_error(lambda: sdk.client(RegistryServiceStub).Delete(
        rs.DeleteRegistryRequest(registry_id=registry.id)), CODE.FAILED_PRECONDITION)
    assert 'not empty' in details and registry.id + '/app' in details


def test_pull_with_iam_or_oauth_token_and_refusals(localcloud, host, pushed, tmp_path):
    registry, ref, _ = pushed
    anonymous = DockerCLI(tmp_path / 'anonymous')
    refused = anonymous('pull', ref, check=False)
    assert refused.returncode != 0 and 'unauthorized' in refused.stderr.lower()

    wrong = DockerCLI(tmp_path / 'wrong')
    for user, password in (('iam', 't1.not-a-token'), ('oauth', 'y0_not-a-token'), ('admin', 'x')):
        failed = wrong.login(host, user, password, check=False)
        assert failed.returncode != 0 and 'unauthorized' in failed.stderr.lower(), failed.stderr

    token = iam_token(localcloud)
    for user, password in (('iam', token), ('oauth', localcloud.token)):
        cli = DockerCLI(tmp_path / user)
        cli.login(host, user, password)
        cli('rmi', '-f', ref, check=False)
        cli('pull', ref)
        assert cli('run', '--rm', ref).stdout == 'one\n'

    # a revoked IAM token stops working; a registry that does not exist cannot be pushed to
    cli = DockerCLI(tmp_path / 'revoked')
    cli.login(host, 'iam', token)
    localcloud.sdk().client(IamTokenServiceStub).Revoke(its.RevokeIamTokenRequest(iam_token=token))
    cli('rmi', '-f', ref, check=False)
    failed = cli('pull', ref, check=False)
    assert failed.returncode != 0 and 'unauthorized' in failed.stderr.lower()
    cli.login(host, 'iam', iam_token(localcloud))
    cli('pull', ref)
    stray = '%s/crpnosuchregistry000/app:v1' % host
    cli('tag', ref, stray)
    denied = cli('push', stray, check=False)
    assert denied.returncode != 0 and 'denied' in denied.stderr.lower()


def test_repositories_and_image_delete(localcloud, host, tmp_path):
    sdk = localcloud.sdk()
    registry = create_registry(localcloud, sdk)
    repos = sdk.client(RepositoryServiceStub)
    op = repos.Upsert(rps.UpsertRepositoryRequest(name=registry.id + '/empty'))
    empty = run(sdk, op, Repository).response
    assert empty.name == registry.id + '/empty'
    again = run(sdk, repos.Upsert(rps.UpsertRepositoryRequest(name=registry.id + '/empty')), Repository).response
    assert again.id == empty.id
    rpc_error(lambda: repos.Upsert(rps.UpsertRepositoryRequest(name='crpnosuchregistry000/x')), CODE.NOT_FOUND)
    rpc_error(lambda: repos.Upsert(rps.UpsertRepositoryRequest(name=registry.id + '/Bad')), CODE.INVALID_ARGUMENT)

    cli = DockerCLI(tmp_path / 'cli')
    cli.login(host, 'iam', iam_token(localcloud))
    refs = []
    for tag, content in (('a', 'first'), ('b', 'second')):
        ref = '%s/%s/two:%s' % (host, registry.id, tag)
        cli('build', '-q', '-t', ref, make_context(tmp_path / tag, content))
        cli('push', ref)
        refs.append(ref)
    cli('tag', refs[0], refs[0][:-1] + 'latest')
    cli('push', refs[0][:-1] + 'latest')
    images = sdk.client(ImageServiceStub).List(ims.ListImagesRequest(repository_name=registry.id + '/two')).images
    assert sorted(tuple(i.tags) for i in images) == [('a', 'latest'), ('b',)]
    names = [r.name for r in repos.List(rps.ListRepositoriesRequest(registry_id=registry.id)).repositories]
    assert names == [registry.id + '/empty', registry.id + '/two']

    first = [i for i in images if 'a' in i.tags][0]
    run(sdk, sdk.client(ImageServiceStub).Delete(ims.DeleteImageRequest(image_id=first.id)))
    left = sdk.client(ImageServiceStub).List(ims.ListImagesRequest(repository_name=registry.id + '/two')).images
    assert [tuple(i.tags) for i in left] == [('b',)]
    cli('rmi', refs[0], refs[0][:-1] + 'latest')
    assert cli('pull', refs[0], check=False).returncode != 0
    rpc_error(lambda: sdk.client(ImageServiceStub).Get(ims.GetImageRequest(image_id=first.id)), CODE.NOT_FOUND)

    run(sdk, repos.Delete(rps.DeleteRepositoryRequest(repository_id=empty.id)))
    two = repos.GetByName(rps.GetRepositoryByNameRequest(repository_name=registry.id + '/two'))
    run(sdk, repos.Delete(rps.DeleteRepositoryRequest(repository_id=two.id)))
    assert list(repos.List(rps.ListRepositoriesRequest(registry_id=registry.id)).repositories) == []
    # empty now: a plain Delete works
    run(sdk, sdk.client(RegistryServiceStub).Delete(rs.DeleteRegistryRequest(registry_id=registry.id)))


def test_force_delete_removes_the_images(localcloud, host, tmp_path):
    sdk = localcloud.sdk()
    registry = create_registry(localcloud, sdk)
    cli = DockerCLI(tmp_path / 'cli')
    cli.login(host, 'iam', iam_token(localcloud))
    ref = '%s/%s/gone:v1' % (host, registry.id)
    cli('build', '-q', '-t', ref, make_context(tmp_path / 'ctx', 'gone'))
    cli('push', ref)
    run(sdk, sdk.client(RegistryServiceStub).ForceDelete(rs.DeleteRegistryRequest(registry_id=registry.id)))
    cli('rmi', ref)
    failed = cli('pull', ref, check=False)
    assert failed.returncode != 0
    # a new registry never sees what an old one held
    assert not os.path.exists(os.path.join(localcloud.state_dir, 'registry', 'storage', 'docker', 'registry', 'v2',
                                           'repositories', registry.id, 'gone'))


def test_registry_survives_a_restart(localcloud, host, pushed, tmp_path):
    registry, ref, digest = pushed
    localcloud.restart()
    assert registry_host(localcloud) == host
    sdk = localcloud.sdk()
    images = sdk.client(ImageServiceStub).List(ims.ListImagesRequest(registry_id=registry.id)).images
    assert [i.digest for i in images] == [digest]
    cli = DockerCLI(tmp_path / 'cli')
    cli.login(host, 'iam', iam_token(localcloud))
    cli('rmi', '-f', ref, check=False)
    cli('pull', ref)


def test_a_registry_process_that_dies_is_started_again(localcloud, pushed):
    """The data plane is a managed service: when its process dies, the next call that needs it starts it again
    (a few times at most) and nothing pushed is lost."""
    registry, _, digest = pushed
    pid_file = os.path.join(localcloud.state_dir, 'registry', 'registry.pid')
    with open(pid_file) as handle:
        pid = int(handle.read())
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: not os.path.exists('/proc/%d/cmdline' % pid) or
             open('/proc/%d/stat' % pid).read().split()[2] == 'Z', 10, what='the registry process gone')
    images = localcloud.sdk().client(ImageServiceStub).List(ims.ListImagesRequest(
        repository_name=registry.id + '/app')).images
    assert [image.digest for image in images] == [digest]
    with open(pid_file) as handle:
        assert int(handle.read()) != pid
    with open(os.path.join(localcloud.state_dir, 'server.log')) as handle:
        assert 'the registry exited with -9' in handle.read()


def test_node_docker_config_is_the_service_accounts_login(localcloud, tmp_path):
    """The hook for COI nodes, in process: a config.json whose login is an IAM token of the VM's account."""
    from localcloud.server.app import LocalCloud
    from localcloud.server.services import containerregistry

    cloud = LocalCloud(str(tmp_path / 'state'))
    try:
        sa_id = cloud.config['service_account_id']
        config = containerregistry.node_docker_config(cloud, sa_id)
        ((host, entry),) = config['auths'].items()
        assert host == cloud.container_registry.host == cloud.info_extra['registry']
        user, _, token = base64.b64decode(entry['auth']).decode().partition(':')
        assert user == 'iam' and cloud.auth.authenticate(token) == {'type': 'serviceAccount', 'id': sa_id}
        assert containerregistry.node_docker_config(cloud, '') == {}
        assert containerregistry.node_docker_config(cloud, 'ajenosuchaccount0000') == {}
    finally:
        cloud.stop()


@pytest.mark.slow
def test_coi_node_pulls_with_its_service_account(localcloud, host, pushed, tmp_path):
    """A COI node's docker CLI (inside the node, on the host engine) pulls with the config the hook writes."""
    from coinode import Node
    registry, ref, _ = pushed
    sdk = localcloud.sdk()
    op = sdk.client(ServiceAccountServiceStub).Create(sas.CreateServiceAccountRequest(
        folder_id=localcloud.folder_id, name=unique('puller')))
    sa = run(sdk, op, ServiceAccount).response
    grant(localcloud, sa.id, 'container-registry.images.puller')  # a VM's account needs it to pull
    # What node_docker_config() returns, made from outside the server process: the account's IAM token.
    token = sdk.client(IamTokenServiceStub).CreateForServiceAccount(
        its.CreateIamTokenForServiceAccountRequest(service_account_id=sa.id),
        metadata=[('authorization', 'Bearer ' + iam_token(localcloud))]).iam_token
    from localcloud.containerregistry import docker_config
    config = json.dumps(docker_config(host, token))
    node = Node(unique('crnode'), {}, unique('crnet'), state_dir=str(tmp_path / 'nodes'))
    try:
        node.start()
        node.wait_ready(60)
        node.exec(['docker', 'rmi', '-f', ref], check=False)
        refused = node.exec(['docker', 'pull', ref], check=False)
        assert refused.returncode != 0 and 'unauthorized' in refused.stderr.lower()
        # what the instance group engine puts at /root/.docker/config.json before the node boots
        encoded = base64.b64encode(config.encode()).decode()
        node.exec('mkdir -p /root/.docker && echo %s | base64 -d > /root/.docker/config.json' % encoded)
        node.exec(['docker', 'pull', ref])
        assert node.exec(['docker', 'run', '--rm', ref]).stdout == 'one\n'
    finally:
        node.remove()
