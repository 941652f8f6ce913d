"""The pure parts of the YC module base: credentials, proto <-> options, diffs. No API involved."""

import json
import types

import pytest

from ansible_collections.filmopoisk.shs.plugins.module_utils import yc
from ansible_collections.filmopoisk.shs.plugins.modules import yc_instance_group as ig

KEY = {'id': 'ajekey', 'service_account_id': 'ajesa', 'private_key': '-----BEGIN PRIVATE KEY-----\nx\n'}


def test_explicit_credential_wins_over_environment():
    assert yc.resolve_credentials({'iam_token': 't1'}, {'YC_TOKEN': 'oauth'}) == ('iam_token', 't1')


def test_one_credential_from_environment():
    assert yc.resolve_credentials({}, {'YC_TOKEN': 'oauth'}) == ('token', 'oauth')


def test_no_credentials_never_means_metadata_service():
    with pytest.raises(yc.YCError, match='No Yandex Cloud credentials'):
        yc.resolve_credentials({}, {})


def test_two_credentials_in_environment_are_named():
    with pytest.raises(yc.YCError, match='YC_TOKEN, YC_IAM_TOKEN'):
        yc.resolve_credentials({}, {'YC_TOKEN': 'a', 'YC_IAM_TOKEN': 'b'})


def test_service_account_key_file(tmp_path):
    path = tmp_path / 'key.json'
    path.write_text(json.dumps(KEY))
    assert yc.resolve_credentials({}, {'YC_SERVICE_ACCOUNT_KEY_FILE': str(path)}) == ('service_account_key', KEY)
    with pytest.raises(yc.YCError, match='cannot read the key file'):
        yc.resolve_credentials({'service_account_key': str(tmp_path / 'missing.json')}, {})
    with pytest.raises(yc.YCError, match='missing private_key'):
        yc.resolve_credentials({'service_account_key': dict(KEY, private_key='')}, {})


@pytest.mark.parametrize('before, after, changed', [
    ({'labels': {}}, {'labels': None}, []),
    ({'description': ''}, {'description': None}, []),
    ({'labels': {'a': '1'}}, {'labels': {'a': '2'}}, ['labels']),
    ({'x': {'y': [1, 2]}}, {'x': {'y': [2, 1]}}, ['x']),
])
def test_changed_paths_treats_empty_as_unset(before, after, changed):
    assert yc.changed_paths(before, after, sorted(set(before) | set(after))) == changed


def options(**overrides):
    params = dict(
        folder_id='b1gfolder', name='shs-app', description='', labels={'project': 'shs'}, variables={'k': 'v'},
        service_account_id='ajeig', deletion_protection=False,
        instance_template=dict(
            description='', labels={}, platform_id='standard-v3',
            resources=dict(cores=2, memory=0.5, core_fraction=20, gpus=0),
            boot_disk=dict(image_id='fd8coi', size=30, type='network-hdd', mode='read_write'),
            secondary_disks=[dict(device_name='pgdata', name='', size=20, type='network-ssd', image_id='',
                                  mode='read_write')],
            network_interfaces=[dict(network_id='enpnet', subnet_ids=['e9bsub'], nat=True, ip_address='',
                                     security_group_ids=['enpsg'])],
            metadata={'user-data': '#cloud-config\npassword: s3cret\n', 'docker-compose': 'services: {}\n'},
            name='shs-{instance.index}', hostname='shs-{instance.index}', service_account_id='ajevm',
            preemptible=False),
        scale_policy=dict(fixed_scale=dict(size=2), auto_scale=None),
        allocation_policy=dict(zones=['ru-central1-a']),
        deploy_policy=dict(max_unavailable=1, max_expansion=0, max_creating=0, max_deleting=0, startup_duration=30,
                           strategy='proactive', minimal_action='live_update'),
        auto_healing_policy=None,
        health_checks=[dict(interval=3, timeout=2, healthy_threshold=2, unhealthy_threshold=3,
                            http_options=dict(port=80, path='/ping'), tcp_options=None)],
        max_checking_health_duration=600, load_balancer=None)
    params.update(overrides)
    return types.SimpleNamespace(params=params)


def test_instance_group_options_round_trip_through_the_api_message():
    module = options()
    user = ig.group_to_user(ig.request_from_options(module))
    template = user['instance_template']
    assert template['resources'] == dict(cores=2, memory=0.5, core_fraction=20, gpus=0)
    assert template['secondary_disks'][0]['size'] == 20 and template['network_interfaces'][0]['nat'] is True
    assert user['deploy_policy']['startup_duration'] == 30 and user['deploy_policy']['strategy'] == 'proactive'
    assert user['health_checks'] == [dict(interval=3, timeout=2, healthy_threshold=2, unhealthy_threshold=3,
                                          http_options=dict(port=80, path='/ping'))]
    assert user['max_checking_health_duration'] == 600 and user['scale_policy'] == {'fixed_scale': {'size': 2}}
    assert user['variables'] == {'k': 'v'}


def test_instance_group_metadata_never_shown():
    request = ig.request_from_options(options())
    assert request.instance_template.metadata['user-data'].endswith('s3cret\n')  # what the API gets
    shown = json.dumps(ig.group_to_user(request))
    assert 's3cret' not in shown and 'services:' not in shown
    assert ig.group_to_user(request)['instance_template']['metadata']['user-data'].startswith('sha256:')


def test_only_the_scale_policy_differs_when_only_the_size_changes():
    before = ig.group_to_user(ig.request_from_options(options()))
    after = ig.group_to_user(ig.request_from_options(options(scale_policy=dict(fixed_scale=dict(size=3)))))
    assert yc.changed_paths(before, after, list(ig.MASK_PATHS)) == ['scale_policy']


def test_a_metadata_change_is_seen_without_showing_it():
    changed = options()
    changed.params['instance_template'] = dict(changed.params['instance_template'],
                                               metadata={'user-data': 'other', 'docker-compose': 'services: {}\n'})
    before = ig.group_to_user(ig.request_from_options(options()))
    after = ig.group_to_user(ig.request_from_options(changed))
    assert yc.changed_paths(before, after, list(ig.MASK_PATHS)) == ['instance_template']
