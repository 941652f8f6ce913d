"""yc_instance_group against localcloud, whose instances really run: create (waits for RUNNING_ACTUAL) -> same
call changed=false -> a new size: the diff and the Update's field mask hold only scale_policy, and the instance
that was there is not recreated -> check mode writes nothing -> delete -> delete again changed=false. Metadata
(secrets) never appears in any output. Also yc_image_info and yc_instance_group_info."""

import json
import uuid

import pytest

from instance_group_support import leftovers, ping_metadata
from test_resource_lifecycle import changed_keys, mask_paths, writes
from yc_modules_support import instance_group_base, ok, remove_instance_group_base, run_module

SECRET = 'pong-secret-%s' % uuid.uuid4().hex[:8]


@pytest.fixture(scope='module')
def base(localcloud):
    found = instance_group_base(localcloud, 'igm')
    yield found
    run_module('yc_instance_group', localcloud, name='igm-' + found['suffix'], state='absent')  # after a failure
    remove_instance_group_base(localcloud, found)


def group_args(base, size=1):
    name = 'igm-' + base['suffix']
    return dict(
        name=name, service_account_id=base['account']['id'],
        instance_template=dict(
            resources=dict(cores=2, memory=1), boot_disk=dict(image_id=base['image']['id']),
            network_interfaces=[dict(network_id=base['network']['id'], subnet_ids=[base['subnet']['id']])],
            metadata=ping_metadata(SECRET), name=name + '-{instance.index}', hostname=name + '-{instance.index}'),
        scale_policy=dict(fixed_scale=dict(size=size)), allocation_policy=dict(zones=['ru-central1-a']),
        deploy_policy=dict(max_unavailable=1, startup_duration=0),
        health_checks=[dict(interval=1, timeout=1, healthy_threshold=2, unhealthy_threshold=2,
                            http_options=dict(port=80, path='/ping'))],
        wait_timeout=120)


def test_image_info(localcloud):
    latest = ok(run_module('yc_image_info', localcloud, family='container-optimized-image',
                           folder_id='standard-images'))
    assert latest['changed'] is False
    image = latest['image']
    assert image['family'] == 'container-optimized-image' and image['status'] == 'READY'
    assert image['id'].startswith('fd8') and image['folder_id'] == 'standard-images'
    assert ok(run_module('yc_image_info', localcloud, image_id=image['id']))['image'] == image
    missing = run_module('yc_image_info', localcloud, family='no-such-family')
    assert missing['failed'] and 'NOT_FOUND' in missing['msg'] and 'no-such-family' in missing['msg']
    both = run_module('yc_image_info', localcloud, family='x', image_id='y')
    assert both['failed'] and 'mutually exclusive' in both['msg']


def test_instance_group_lifecycle(localcloud, base):
    args = group_args(base)
    outputs = []

    created = ok(run_module('yc_instance_group', localcloud, **args))
    outputs.append(created)
    assert created['changed'] is True
    group = created['instance_group']
    name = args['name']
    (first,) = created['instances']
    assert first['status'] == 'RUNNING_ACTUAL' and first['name'] == name + '-1'
    assert first['fqdn'] == name + '-1.ru-central1.internal'
    assert first['address'].startswith(base['subnet']['v4_cidr_blocks'][0].rsplit('.', 1)[0] + '.')
    assert group['status'] in ('STARTING', 'ACTIVE') and group['scale_policy'] == {'fixed_scale': {'size': 1}}

    localcloud.reset_calls()
    again = ok(run_module('yc_instance_group', localcloud, **args))
    outputs.append(again)
    assert again['changed'] is False and again['instance_group']['id'] == group['id']
    assert writes(localcloud) == [], 'a no-op run wrote to the API'

    bigger = dict(args, scale_policy=dict(fixed_scale=dict(size=2)))
    localcloud.reset_calls()
    preview = ok(run_module('yc_instance_group', localcloud, check=True, **bigger))
    outputs.append(preview)
    assert preview['changed'] is True and changed_keys(preview['diff']) == ['scale_policy']
    assert writes(localcloud) == [], 'check mode wrote to the API'

    localcloud.reset_calls()
    scaled = ok(run_module('yc_instance_group', localcloud, **bigger))
    outputs.append(scaled)
    assert scaled['changed'] is True and scaled['update_mask'] == ['scale_policy']
    assert changed_keys(scaled['diff']) == ['scale_policy']
    (update,) = [c for c in writes(localcloud) if c['method'].endswith('.InstanceGroupService/Update')]
    assert mask_paths(update['request']) == ['scale_policy']
    assert [i['name'] for i in scaled['instances']] == [name + '-1', name + '-2']
    assert all(i['status'] == 'RUNNING_ACTUAL' for i in scaled['instances'])
    # A size change adds an instance; the one that was there is not recreated.
    assert scaled['instances'][0]['instance_id'] == first['instance_id']

    info = ok(run_module('yc_instance_group_info', localcloud, name=name))
    outputs.append(info)
    (listed,) = info['instance_groups']
    assert listed['id'] == group['id'] and listed['status'] == 'ACTIVE'
    assert listed['target_size'] == 2 and listed['running_actual_count'] == 2
    assert listed['instances'] == scaled['instances']
    assert ok(run_module('yc_instance_group_info', localcloud, name='no-such-group'))['instance_groups'] == []

    localcloud.reset_calls()
    assert ok(run_module('yc_instance_group', localcloud, check=True, name=name, state='absent'))['changed'] is True
    assert writes(localcloud) == []
    removed = ok(run_module('yc_instance_group', localcloud, name=name, state='absent'))
    assert removed['changed'] is True and removed['instance_group'] == {}
    assert leftovers(group['id']) == [], 'the deleted group left containers'
    assert ok(run_module('yc_instance_group', localcloud, name=name, state='absent'))['changed'] is False

    # The payload carries secrets: no output shows a metadata value (sha256 and size only).
    text = json.dumps(outputs)
    assert SECRET not in text and 'http.server' not in text
    assert 'sha256:' in json.dumps(created['diff']['after']['instance_template']['metadata'])


def test_bad_template_is_refused_naming_the_field(localcloud, base):
    args = group_args(base)
    args['instance_template'] = dict(args['instance_template'], name='igm-{instance.nope}')
    result = run_module('yc_instance_group', localcloud, **args)
    assert result['failed'] and 'INVALID_ARGUMENT' in result['msg'] and 'instance_template.name' in result['msg']
    assert ok(run_module('yc_instance_group_info', localcloud, name=args['name']))['instance_groups'] == []


def test_load_balancer_target_group_and_no_change_on_an_existing_group(localcloud, base):
    """load_balancer makes the group's target group (its id is returned, by _info too); Yandex Cloud cannot change
    it on an existing group, so the module refuses before any write, naming the option."""
    from iam_support import grant
    grant(localcloud, base['account']['id'], 'load-balancer.editor')  # the target group needs it (updating-under-load.md)
    args = dict(group_args(base), name='igm-lb-' + base['suffix'],
                load_balancer=dict(target_group_name='igm-tg-' + base['suffix'], max_opening_traffic_duration=30))
    try:
        created = ok(run_module('yc_instance_group', localcloud, **args))
        group = created['instance_group']
        assert group['target_group_id'].startswith('enp')
        assert group['load_balancer'] == dict(target_group_name=args['load_balancer']['target_group_name'],
                                              target_group_description='', target_group_labels={},
                                              max_opening_traffic_duration=30, ignore_health_checks=False)
        assert [i['status'] for i in created['instances']] == ['RUNNING_ACTUAL']  # no balancer attached: it runs
        again = ok(run_module('yc_instance_group', localcloud, **args))
        assert again['changed'] is False
        found = ok(run_module('yc_instance_group_info', localcloud, name=args['name']))['instance_groups']
        assert [g['target_group_id'] for g in found] == [group['target_group_id']]

        localcloud.reset_calls()
        other = dict(args, load_balancer=dict(args['load_balancer'], ignore_health_checks=True))
        for check_mode in (True, False):  # refused in check mode too: the plan must not promise it
            refused = run_module('yc_instance_group', localcloud, check=check_mode, **other)
            assert refused['failed'] and 'load_balancer cannot be changed once created' in refused['msg'], refused
        assert writes(localcloud) == []
        dropped = run_module('yc_instance_group', localcloud, **dict(args, load_balancer=None))
        assert dropped['changed'] is False  # left out: not managed, the group keeps its target group
    finally:
        ok(run_module('yc_instance_group', localcloud, name=args['name'], state='absent'))
