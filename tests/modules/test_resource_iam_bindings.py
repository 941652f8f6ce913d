"""yc_service_account_iam_binding and yc_container_registry_iam_binding against localcloud: a role on one service
account / one registry (least privilege instead of a folder role). create -> same call changed=false with no write
-> check mode writes nothing -> absent -> absent again changed=false; bad input fails naming the field before any
API call; a missing resource is reported by its id."""

import uuid

import pytest

from yc_modules_support import ok, run_module

WRITES = ('/UpdateAccessBindings', '/SetAccessBindings', '/Create', '/Update', '/Delete')
MODULES = ['yc_service_account_iam_binding', 'yc_container_registry_iam_binding']


def writes(localcloud):
    """Calls that change something (the IAM token exchange every run starts with is not one)."""
    return [call for call in localcloud.calls()
            if call['method'].endswith(WRITES) and '.IamTokenService/' not in call['method']]


def api_calls(localcloud):
    return [c for c in localcloud.calls() if '/ApiEndpointService/' not in c['method']]


@pytest.fixture(scope='module')
def resources(localcloud):
    """A target service account and a registry (the resources), a subject account, and a bystander account that
    holds another role on both (which must be left alone)."""
    suffix = uuid.uuid4().hex[:6]
    names = dict(target='rib-target-' + suffix, subject='rib-subject-' + suffix, bystander='rib-other-' + suffix)
    accounts = dict((key, ok(run_module('yc_service_account', localcloud, name=name))['service_account'])
                    for key, name in names.items())
    registry = ok(run_module('yc_container_registry', localcloud, name='rib-registry-' + suffix))['registry']
    yield dict(accounts=accounts, registry=registry)
    ok(run_module('yc_container_registry', localcloud, name=registry['name'], state='absent'))
    for name in names.values():
        ok(run_module('yc_service_account', localcloud, name=name, state='absent'))


def target(module, resources):
    """(option, resource id, stub, role) of a module."""
    if module == 'yc_service_account_iam_binding':
        from yandex.cloud.iam.v1.service_account_service_pb2_grpc import ServiceAccountServiceStub
        return 'service_account_id', resources['accounts']['target']['id'], ServiceAccountServiceStub, \
            'iam.serviceAccounts.user'
    from yandex.cloud.containerregistry.v1.registry_service_pb2_grpc import RegistryServiceStub
    return 'registry_id', resources['registry']['id'], RegistryServiceStub, 'container-registry.images.puller'


def bindings_on(localcloud, stub, resource_id):
    """The resource's bindings as the API lists them: (role, subject type, subject id)."""
    from yandex.cloud.access import access_pb2
    response = localcloud.sdk().client(stub).ListAccessBindings(
        access_pb2.ListAccessBindingsRequest(resource_id=resource_id))
    return sorted((b.role_id, b.subject.type, b.subject.id) for b in response.access_bindings)


@pytest.mark.parametrize('module', MODULES)
def test_binding_lifecycle_on_the_resource(localcloud, resources, module):
    option, resource_id, stub, role = target(module, resources)
    subject, bystander = resources['accounts']['subject']['id'], resources['accounts']['bystander']['id']
    ok(run_module(module, localcloud, role='viewer', subject_id=bystander, **{option: resource_id}))
    args = {option: resource_id, 'role': role, 'subject_id': subject}
    expected = {option: resource_id, 'role_id': role, 'subject': {'id': subject, 'type': 'serviceAccount'}}

    localcloud.reset_calls()
    planned = ok(run_module(module, localcloud, check=True, **args))
    assert planned['changed'] is True and planned['diff'] == {'before': {'binding': None},
                                                              'after': {'binding': expected}}
    assert writes(localcloud) == [], 'check mode wrote to the API'
    assert (role, 'serviceAccount', subject) not in bindings_on(localcloud, stub, resource_id)

    localcloud.reset_calls()
    created = ok(run_module(module, localcloud, **args))
    assert created['changed'] is True and created['binding'] == expected and created['operation_id']
    (call,) = writes(localcloud)
    assert call['method'].endswith('/UpdateAccessBindings') and call['request']['resource_id'] == resource_id
    assert [d['action'] for d in call['request']['access_binding_deltas']] == ['ADD']
    assert bindings_on(localcloud, stub, resource_id) == sorted([('viewer', 'serviceAccount', bystander),
                                                                 (role, 'serviceAccount', subject)])

    localcloud.reset_calls()
    again = ok(run_module(module, localcloud, **args))
    assert again['changed'] is False and again['binding'] == expected
    assert writes(localcloud) == [], 'a no-op run wrote to the API'

    localcloud.reset_calls()
    planned_removal = ok(run_module(module, localcloud, check=True, state='absent', **args))
    assert planned_removal['changed'] is True and planned_removal['diff']['after'] == {'binding': None}
    assert writes(localcloud) == [], 'check mode wrote to the API'

    localcloud.reset_calls()
    removed = ok(run_module(module, localcloud, state='absent', **args))
    assert removed['changed'] is True
    (call,) = writes(localcloud)
    assert [d['action'] for d in call['request']['access_binding_deltas']] == ['REMOVE']
    # the bystander's binding was left alone
    assert bindings_on(localcloud, stub, resource_id) == [('viewer', 'serviceAccount', bystander)]

    localcloud.reset_calls()
    assert ok(run_module(module, localcloud, state='absent', **args))['changed'] is False
    assert writes(localcloud) == []
    ok(run_module(module, localcloud, role='viewer', subject_id=bystander, state='absent', **{option: resource_id}))
    assert bindings_on(localcloud, stub, resource_id) == []


def test_bindings_go_on_the_resource_not_the_folder(localcloud, resources):
    from yandex.cloud.resourcemanager.v1.folder_service_pb2_grpc import FolderServiceStub
    subject = resources['accounts']['subject']['id']
    before = bindings_on(localcloud, FolderServiceStub, localcloud.folder_id)
    args = dict(registry_id=resources['registry']['id'], role='container-registry.images.pusher', subject_id=subject)
    ok(run_module('yc_container_registry_iam_binding', localcloud, **args))
    assert bindings_on(localcloud, FolderServiceStub, localcloud.folder_id) == before
    # the same role on the folder is another binding: the registry's one does not make it there
    folder = ok(run_module('yc_folder_iam_binding', localcloud, check=True, role=args['role'], subject_id=subject))
    assert folder['changed'] is True
    ok(run_module('yc_container_registry_iam_binding', localcloud, state='absent', **args))


@pytest.mark.parametrize('module, args, field', [
    ('yc_service_account_iam_binding', dict(service_account_id='', role='viewer', subject_id='aje1'),
     'service_account_id'),
    ('yc_service_account_iam_binding', dict(role='viewer', subject_id='aje1'), 'service_account_id'),
    ('yc_service_account_iam_binding', dict(service_account_id='aje1', role='', subject_id='aje2'), 'role'),
    ('yc_service_account_iam_binding', dict(service_account_id='aje1', role='viewer', subject_id=''), 'subject_id'),
    ('yc_service_account_iam_binding', dict(service_account_id='aje1', role='viewer', subject_id='aje2',
                                            subject_type='robot'), 'subject_type'),
    ('yc_service_account_iam_binding', dict(service_account_id='aje1', role='r' * 65, subject_id='aje2'), 'role'),
    ('yc_container_registry_iam_binding', dict(role='viewer', subject_id='aje1'), 'registry_id'),
    ('yc_container_registry_iam_binding', dict(registry_id='x' * 65, role='viewer', subject_id='aje1'),
     'registry_id'),
    ('yc_container_registry_iam_binding', dict(registry_id='crp1', role='viewer'), 'subject_id'),
    ('yc_container_registry_iam_binding', dict(registry_id='crp1', role='viewer', subject_id='a' * 101),
     'subject_id'),
    ('yc_container_registry_iam_binding', dict(registry_id='crp1', role='viewer', subject_id='aje1',
                                               state='gone'), 'state'),
])
def test_bad_input_names_the_field_and_calls_nothing(localcloud, module, args, field):
    localcloud.reset_calls()
    result = run_module(module, localcloud, **args)
    assert result.get('failed') and field in result['msg'], result
    assert api_calls(localcloud) == []


@pytest.mark.parametrize('module, option, missing', [
    ('yc_service_account_iam_binding', 'service_account_id', 'ajenosuchaccount0000'),
    ('yc_container_registry_iam_binding', 'registry_id', 'crpnosuchregistry000'),
])
def test_missing_resource_is_named_and_nothing_written(localcloud, resources, module, option, missing):
    localcloud.reset_calls()
    result = run_module(module, localcloud, role='viewer', subject_id=resources['accounts']['subject']['id'],
                        **{option: missing})
    assert result.get('failed') and missing in result['msg'] and 'NOT_FOUND' in result['msg'], result
    assert writes(localcloud) == []


@pytest.mark.parametrize('module, option', [('yc_service_account_iam_binding', 'service_account_id'),
                                            ('yc_container_registry_iam_binding', 'registry_id')])
def test_documented_and_in_the_yc_action_group(module, option):
    """ansible-doc renders the module with its options and return keys; module_defaults for group/yc reach it."""
    import json
    import os
    import subprocess
    import sys

    import yaml
    from support import REPO_ROOT
    from yc_modules_support import COLLECTIONS

    ansible_doc = os.path.join(os.path.dirname(sys.executable), 'ansible-doc')  # the venv's, next to python
    done = subprocess.run([ansible_doc, '--json', 'filmopoisk.shs.' + module], capture_output=True, text=True,
                          env=dict(os.environ, ANSIBLE_COLLECTIONS_PATH=COLLECTIONS), timeout=120, check=True)
    doc = json.loads(done.stdout)['filmopoisk.shs.' + module]
    options = doc['doc']['options']
    assert {option, 'role', 'subject_id', 'subject_type', 'state', 'token', 'endpoint'} <= set(options)
    assert options[option]['required'] and options['subject_type']['default'] == 'serviceAccount'
    assert set(doc['return']) == {'binding', 'operation_id'} and doc['examples'].strip()
    with open(os.path.join(REPO_ROOT, 'meta', 'runtime.yml')) as handle:
        assert module in yaml.safe_load(handle)['action_groups']['yc']
