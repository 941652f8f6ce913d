"""yc_container_registry, yc_container_repository and yc_container_image against localcloud's real registry:
lifecycle with field masks and check mode, content-hash tags pushed once (a no-op run builds nothing), pulls
with an IAM token, refusals, bad input before any call, no secret in the output."""

import json
import os
import shutil

import pytest

from registry_support import (DockerCLI, iam_token, local_image_exists, make_context, registry_host,
                              remove_local_images, unique_name)
from yc_modules_support import auth_args, ok, run_module

WRITES = ('/Create', '/Update', '/Delete', '/ForceDelete', '/Upsert')


def writes(localcloud):
    return [c for c in localcloud.calls() if c['method'].endswith(WRITES) and '.IamTokenService/' not in c['method']]


def methods(localcloud):
    """Short names of the calls since the last reset (discovery left out)."""
    return [c['method'].rsplit('.', 1)[-1] for c in localcloud.calls() if 'ApiEndpointService/' not in c['method']]


# A run with the OAuth token: the SDK's own token exchange, then the module's calls.
NOOP_CALLS = ['IamTokenService/Create', 'ImageService/List']


def with_credential(localcloud, **credential):
    """Module args with another credential than the OAuth token (run_module(..., auth=False))."""
    args = auth_args(localcloud)
    args.pop('token')
    return dict(args, **credential)


def mask_paths(request):
    mask = request.get('update_mask') or ''
    paths = mask.split(',') if isinstance(mask, str) else mask.get('paths', [])
    return sorted(path for path in paths if path)


@pytest.fixture(scope='module')
def host(localcloud):
    found = registry_host(localcloud)
    yield found
    remove_local_images(found)


@pytest.fixture(scope='module')
def registry(localcloud):
    name = unique_name('images')
    created = ok(run_module('yc_container_registry', localcloud, name=name))['registry']
    yield created
    run_module('yc_container_registry', localcloud, name=name, state='absent', force_absent=True)


def test_registry_lifecycle(localcloud):
    name = unique_name('lifecycle')
    created = ok(run_module('yc_container_registry', localcloud, name=name, labels={'env': 'test'}))
    assert created['changed'] is True and created['diff']['before'] == {}
    registry = created['registry']
    assert registry['id'].startswith('crp') and registry['status'] == 'ACTIVE' and registry['labels'] == {'env': 'test'}

    localcloud.reset_calls()
    again = ok(run_module('yc_container_registry', localcloud, name=name, labels={'env': 'test'}))
    assert again['changed'] is False and again['registry']['id'] == registry['id']
    assert writes(localcloud) == []

    localcloud.reset_calls()
    preview = ok(run_module('yc_container_registry', localcloud, check=True, name=name, labels={'env': 'prod'}))
    assert preview['changed'] is True and preview['update_mask'] == ['labels']
    assert preview['diff']['after']['labels'] == {'env': 'prod'} and writes(localcloud) == []

    localcloud.reset_calls()
    updated = ok(run_module('yc_container_registry', localcloud, name=name, labels={'env': 'prod'}))
    assert updated['changed'] is True and updated['update_mask'] == ['labels']
    before, after = updated['diff']['before'], updated['diff']['after']
    assert sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k)) == ['labels']
    (call,) = writes(localcloud)
    assert call['method'].endswith('RegistryService/Update') and mask_paths(call['request']) == ['labels']
    assert ok(run_module('yc_container_registry', localcloud, name=name, labels={'env': 'prod'}))['changed'] is False
    # purge_labels=false only adds
    merged = ok(run_module('yc_container_registry', localcloud, name=name, labels={'tier': 'x'}, purge_labels=False))
    assert merged['registry']['labels'] == {'env': 'prod', 'tier': 'x'}

    localcloud.reset_calls()
    assert ok(run_module('yc_container_registry', localcloud, check=True, name=name, state='absent'))['changed']
    assert writes(localcloud) == []
    removed = ok(run_module('yc_container_registry', localcloud, name=name, state='absent'))
    assert removed['changed'] is True and removed['registry'] == {}
    assert ok(run_module('yc_container_registry', localcloud, name=name, state='absent'))['changed'] is False


def test_repository_module(localcloud, registry):
    args = dict(registry_id=registry['id'], name='team/app')
    localcloud.reset_calls()
    assert ok(run_module('yc_container_repository', localcloud, check=True, **args))['changed'] is True
    assert writes(localcloud) == []
    created = ok(run_module('yc_container_repository', localcloud, **args))
    assert created['changed'] is True and created['repository']['name'] == registry['id'] + '/team/app'
    again = ok(run_module('yc_container_repository', localcloud, **args))
    assert again['changed'] is False and again['repository']['id'] == created['repository']['id']
    assert ok(run_module('yc_container_repository', localcloud, state='absent', **args))['changed'] is True
    assert ok(run_module('yc_container_repository', localcloud, state='absent', **args))['changed'] is False


def test_image_push_once_then_noop_without_building(localcloud, registry, host, tmp_path):
    context = make_context(tmp_path / 'ctx', 'v1')
    args = dict(registry_id=registry['id'], registry_host=host, name='app', path=context)

    localcloud.reset_calls()
    preview = ok(run_module('yc_container_image', localcloud, check=True, **args))
    assert preview['changed'] is True and preview['pushed'] is False and preview['image']['digest'] == ''
    reference = preview['image']['reference']
    tag = preview['image']['tag']
    assert reference == '%s/%s/app:%s' % (host, registry['id'], tag) and len(tag) == 12
    assert not local_image_exists(reference), 'check mode built the image'
    assert methods(localcloud) == NOOP_CALLS

    pushed = ok(run_module('yc_container_image', localcloud, **args))
    assert pushed['changed'] is True and pushed['pushed'] is True and pushed['image']['reference'] == reference
    assert pushed['image']['digest'].startswith('sha256:') and pushed['image']['id'].startswith('crp')
    assert pushed['diff'] == {'before': {}, 'after': {'reference': reference}}

    # the second run asks the registry once and builds nothing (the local image is gone and stays gone)
    shutil.rmtree(os.path.join(context, '__pycache__'), ignore_errors=True)
    os.makedirs(os.path.join(context, '__pycache__'))  # caches do not change the tag
    DockerCLI(tmp_path / 'cli')('rmi', reference)
    localcloud.reset_calls()
    again = ok(run_module('yc_container_image', localcloud, **args))
    assert again['changed'] is False and again['pushed'] is False and again['image'] == pushed['image']
    assert methods(localcloud) == NOOP_CALLS
    assert not local_image_exists(reference)
    assert ok(run_module('yc_container_image', localcloud, check=True, **args))['changed'] is False

    # what a COI node does: pull with an IAM token
    cli = DockerCLI(tmp_path / 'puller')
    cli.login(host, 'iam', iam_token(localcloud))
    cli('pull', reference)
    assert cli('run', '--rm', reference).stdout == 'v1\n'
    cli('rmi', reference)
    anonymous = DockerCLI(tmp_path / 'anonymous')('pull', reference, check=False)
    assert anonymous.returncode != 0 and 'unauthorized' in anonymous.stderr.lower()


def test_changed_context_pushes_a_new_tag(localcloud, registry, host, tmp_path):
    context = make_context(tmp_path / 'ctx', 'first')
    args = dict(registry_id=registry['id'], registry_host=host, name='changing', path=context)
    first = ok(run_module('yc_container_image', localcloud, **args))['image']
    make_context(tmp_path / 'ctx', 'second')
    localcloud.reset_calls()
    preview = ok(run_module('yc_container_image', localcloud, check=True, **args))
    assert preview['changed'] is True and preview['image']['tag'] != first['tag'] and writes(localcloud) == []
    # the service account key way in: the module gets its IAM token through IamTokenService.Create (JWT)
    second = ok(run_module('yc_container_image', auth=False,
                           **dict(with_credential(localcloud, service_account_key=localcloud.sa_key_file), **args)))
    assert second['changed'] is True and second['image']['tag'] == preview['image']['tag']
    assert second['image']['digest'] != first['digest']
    # build args are part of the tag
    with_args = ok(run_module('yc_container_image', localcloud, build_args={'X': '1'}, **args))
    assert with_args['changed'] is True and with_args['image']['tag'] not in (first['tag'], second['image']['tag'])
    listed = ok(run_module('yc_container_image', localcloud, **args))
    assert listed['changed'] is False
    cli = DockerCLI(tmp_path / 'cli')
    cli.login(host, 'oauth', localcloud.token)
    for image, content in ((first, 'first'), (second['image'], 'second')):
        cli('pull', image['reference'])
        assert cli('run', '--rm', image['reference']).stdout == content + '\n'


def test_image_with_an_iam_token_and_no_secret_in_the_output(localcloud, registry, host, tmp_path):
    token = iam_token(localcloud)
    context = make_context(tmp_path / 'ctx', 'iam')
    result = run_module('yc_container_image', auth=False, registry_id=registry['id'], registry_host=host, name='iam',
                        path=context, **with_credential(localcloud, iam_token=token))
    ok(result)
    assert result['pushed'] is True
    text = json.dumps(result)
    assert token not in text and localcloud.token not in text


def test_refusals_are_clear(localcloud, registry, host, tmp_path):
    context = make_context(tmp_path / 'ctx', 'refused')
    base = dict(registry_host=host, name='app', path=context)
    missing = run_module('yc_container_image', localcloud, registry_id='crpnosuchregistry000', **base)
    assert missing['failed'] and 'NOT_FOUND' in missing['msg'] and 'crpnosuchregistry000' in missing['msg']
    bad_token = run_module('yc_container_image', auth=False, registry_id=registry['id'],
                           **dict(with_credential(localcloud, iam_token='t1.bogus'), **base))
    assert bad_token['failed'] and 'UNAUTHENTICATED' in bad_token['msg'] and 't1.bogus' not in bad_token['msg']


@pytest.mark.parametrize('module, args, field', [
    ('yc_container_registry', dict(name='ab'), 'name'),
    ('yc_container_registry', dict(name='Upper-case'), 'name'),
    ('yc_container_registry', dict(name='fine-name', labels={'Bad': 'x'}), 'labels'),
    ('yc_container_repository', dict(registry_id='crp1', name='Bad/Name'), 'name'),
    ('yc_container_image', dict(registry_id='crp1', name='app', path='/nonexistent'), 'path'),
    ('yc_container_image', dict(registry_id='crp1', name='App', path='CTX'), 'name'),
    ('yc_container_image', dict(registry_id='crp1', name='app', path='CTX', dockerfile='../etc/passwd'),
     'dockerfile'),
    ('yc_container_image', dict(registry_id='crp1', name='app', path='CTX', tag='-bad'), 'tag'),
    ('yc_container_image', dict(registry_id='crp1', name='app', path='CTX', registry_host='http://x/'),
     'registry_host'),
    ('yc_container_image', dict(registry_id='crp1', name='app', path='CTX', build_args={'A': [1]}), 'build_args'),
])
def test_bad_input_names_the_field_and_calls_nothing(localcloud, module, args, field, tmp_path):
    if args.get('path') == 'CTX':  # a valid context: only the field under test is wrong
        args = dict(args, path=make_context(tmp_path / 'ctx', 'x'))
    localcloud.reset_calls()
    result = run_module(module, localcloud, **args)
    assert result.get('failed') and field in result['msg'], result
    assert methods(localcloud) == []


def test_force_absent_deletes_a_registry_with_images(localcloud, host, tmp_path):
    name = unique_name('doomed')
    registry = ok(run_module('yc_container_registry', localcloud, name=name))['registry']
    ok(run_module('yc_container_image', localcloud, registry_id=registry['id'], registry_host=host, name='app',
                  path=make_context(tmp_path / 'ctx', 'doomed')))
    refused = run_module('yc_container_registry', localcloud, name=name, state='absent')
    assert refused['failed'] and 'FAILED_PRECONDITION' in refused['msg'] and 'not empty' in refused['msg']
    localcloud.reset_calls()
    assert ok(run_module('yc_container_registry', localcloud, name=name, state='absent', force_absent=True,
                         check=True))['changed'] is True
    assert writes(localcloud) == []
    removed = ok(run_module('yc_container_registry', localcloud, name=name, state='absent', force_absent=True))
    assert removed['changed'] is True and removed['diff']['before']['id'] == registry['id']
    assert ok(run_module('yc_container_registry', localcloud, name=name, state='absent',
                         force_absent=True))['changed'] is False
