"""yc_instance_group's deploy_policy.minimal_action and auto_healing_policy, and complete Update requests, against
localcloud. The groups have size 0 (no VMs boot): what is checked is what the module and the API say to each other.

- A group made without the two policies (the API defaults) compares equal to the options' defaults: no diff.
- Every Update carries the five fields YC requires (en/compute/instancegroup/api-ref/grpc/InstanceGroup/update.md,
  `(required) = true` in instance_group_service.proto) while its mask names only the changed field; localcloud
  refuses an Update without one, naming it.
- minimal_action / auto_healing_action: set, the same call changed=false, check mode, change; the _info module.
"""

import uuid

import grpc
import pytest
from google.protobuf.field_mask_pb2 import FieldMask
from yandex.cloud.compute.v1.instancegroup import instance_group_pb2 as ig, instance_group_service_pb2 as svc
from yandex.cloud.compute.v1.instancegroup.instance_group_service_pb2_grpc import InstanceGroupServiceStub

from instance_group_support import ping_metadata
from test_resource_lifecycle import changed_keys, mask_paths, writes
from yc_modules_support import instance_group_base, ok, remove_instance_group_base, run_module

GB = 1 << 30
REQUIRED = ('instance_template', 'scale_policy', 'deploy_policy', 'allocation_policy', 'service_account_id')
SECRET = 'policy-secret-%s' % uuid.uuid4().hex[:8]


@pytest.fixture(scope='module')
def base(localcloud):
    found = instance_group_base(localcloud, 'igp')
    found['names'] = []
    yield found
    for name in found['names']:  # after a failure
        run_module('yc_instance_group', localcloud, name=name, state='absent')
    remove_instance_group_base(localcloud, found)


def new_name(base):
    name = 'igp-%s-%s' % (base['suffix'], uuid.uuid4().hex[:4])
    base['names'].append(name)
    return name


def module_args(base, name, **extra):
    args = dict(
        name=name, service_account_id=base['account']['id'],
        instance_template=dict(
            resources=dict(cores=2, memory=1), boot_disk=dict(image_id=base['image']['id']),
            network_interfaces=[dict(network_id=base['network']['id'], subnet_ids=[base['subnet']['id']])],
            metadata=ping_metadata(SECRET), name=name + '-{instance.index}'),
        scale_policy=dict(fixed_scale=dict(size=0)), allocation_policy=dict(zones=['ru-central1-a']),
        deploy_policy=dict(max_unavailable=1), wait_for_instances=False)
    args.update(extra)
    return args


def raw_create(localcloud, base, name):
    """The group as a client that never heard of the two policies makes it: neither is set (API defaults)."""
    sdk = localcloud.sdk()
    template = ig.InstanceTemplate(
        platform_id='standard-v3', metadata=ping_metadata(SECRET), name=name + '-{instance.index}',
        resources_spec=ig.ResourcesSpec(cores=2, memory=GB, core_fraction=100),
        boot_disk_spec=ig.AttachedDiskSpec(mode=ig.AttachedDiskSpec.READ_WRITE, disk_spec=ig.AttachedDiskSpec.DiskSpec(
            type_id='network-hdd', size=30 * GB, image_id=base['image']['id'])),
        network_interface_specs=[ig.NetworkInterfaceSpec(network_id=base['network']['id'],
                                                         subnet_ids=[base['subnet']['id']])])
    request = svc.CreateInstanceGroupRequest(
        folder_id=localcloud.folder_id, name=name, service_account_id=base['account']['id'],
        instance_template=template, scale_policy=ig.ScalePolicy(fixed_scale=ig.ScalePolicy.FixedScale(size=0)),
        deploy_policy=ig.DeployPolicy(max_unavailable=1),
        allocation_policy=ig.AllocationPolicy(zones=[ig.AllocationPolicy.Zone(zone_id='ru-central1-a')]))
    stub = sdk.client(InstanceGroupServiceStub)
    return sdk.wait_operation_and_get_result(stub.Create(request), response_type=ig.InstanceGroup).response


def get_full(localcloud, group_id):
    return localcloud.sdk().client(InstanceGroupServiceStub).Get(
        svc.GetInstanceGroupRequest(instance_group_id=group_id, view=svc.FULL))


def updates(localcloud):
    return [c['request'] for c in writes(localcloud) if c['method'].endswith('.InstanceGroupService/Update')]


def assert_complete(request, group):
    """The recorded Update holds all five required fields; those not changed are the group's own."""
    missing = [field for field in REQUIRED if not request.get(field)]
    assert missing == [], 'Update without %s' % missing
    assert request['service_account_id'] == group.service_account_id
    template = request['instance_template']
    assert template['name'] == group.instance_template.name
    image_id = group.instance_template.boot_disk_spec.disk_spec.image_id
    assert template['boot_disk_spec']['disk_spec']['image_id'] == image_id
    assert sorted(template['metadata']) == ['docker-compose', 'user-data']  # the FULL view's template
    assert [z['zone_id'] for z in request['allocation_policy']['zones']] == ['ru-central1-a']


def test_api_defaults_compare_equal_and_updates_are_complete(localcloud, base):
    name = new_name(base)
    group = get_full(localcloud, raw_create(localcloud, base, name).id)
    assert not group.HasField('auto_healing_policy') and group.deploy_policy.minimal_action == 0

    # The options' defaults (left out, or given as the documented defaults) against the unset API values: no diff
    for extra in ({}, dict(deploy_policy=dict(max_unavailable=1, minimal_action='live_update'),
                           auto_healing_policy=dict(auto_healing_action='restart'))):
        localcloud.reset_calls()
        same = ok(run_module('yc_instance_group', localcloud, **module_args(base, name, **extra)))
        assert same['changed'] is False, same.get('diff')
        assert same['instance_group']['deploy_policy']['minimal_action'] == 'live_update'
        assert same['instance_group']['auto_healing_policy'] == {'auto_healing_action': 'restart'}
        assert writes(localcloud) == [], 'a no-op run wrote to the API'

    # Only labels given: the Update still carries the template, policies and service account (the group's own);
    # the mask names labels alone, and nothing else changes.
    localcloud.reset_calls()
    labelled = ok(run_module('yc_instance_group', localcloud, name=name, labels={'tier': 'app'},
                             wait_for_instances=False))
    assert labelled['changed'] is True and labelled['update_mask'] == ['labels']
    (request,) = updates(localcloud)
    assert mask_paths(request) == ['labels']
    assert_complete(request, group)
    after = get_full(localcloud, group.id)
    assert dict(after.labels) == {'tier': 'app'}
    assert after.instance_template == group.instance_template and after.deploy_policy == group.deploy_policy
    assert not after.HasField('auto_healing_policy')

    # All options given, one changed: the five fields are the desired values, the mask is that one path
    localcloud.reset_calls()
    changed = ok(run_module('yc_instance_group', localcloud, **module_args(
        base, name, labels={'tier': 'app'}, scale_policy=dict(fixed_scale=dict(size=0)),
        deploy_policy=dict(max_unavailable=2))))
    assert changed['changed'] is True and changed['update_mask'] == ['deploy_policy']
    (request,) = updates(localcloud)
    assert mask_paths(request) == ['deploy_policy']
    assert_complete(request, group)
    assert int(request['deploy_policy']['max_unavailable']) == 2
    assert get_full(localcloud, group.id).deploy_policy.max_unavailable == 2
    assert ok(run_module('yc_instance_group', localcloud, name=name, state='absent'))['changed'] is True


def test_update_missing_a_required_field_is_invalid_argument(localcloud, base):
    name = new_name(base)
    group = raw_create(localcloud, base, name)
    stub = localcloud.sdk().client(InstanceGroupServiceStub)
    full = get_full(localcloud, group.id)
    fields = dict((field, getattr(full, field)) for field in REQUIRED)
    try:
        for left_out in REQUIRED:
            request = svc.UpdateInstanceGroupRequest(
                instance_group_id=group.id, update_mask=FieldMask(paths=['description']), description='changed',
                **dict((k, v) for k, v in fields.items() if k != left_out))
            with pytest.raises(grpc.RpcError) as err:
                stub.Update(request)
            assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
            assert err.value.details() == 'Request validation error: %s: this field is required' % left_out
        assert get_full(localcloud, group.id).description == '', 'a refused Update changed the group'
        # With all five it goes through, and only the masked field changes
        request = svc.UpdateInstanceGroupRequest(
            instance_group_id=group.id, update_mask=FieldMask(paths=['description']), description='changed', **fields)
        localcloud.sdk().wait_operation_and_get_result(stub.Update(request), response_type=ig.InstanceGroup)
        assert get_full(localcloud, group.id).description == 'changed'
    finally:
        ok(run_module('yc_instance_group', localcloud, name=name, state='absent'))


def test_minimal_action_and_auto_healing_lifecycle(localcloud, base):
    name = new_name(base)
    args = module_args(base, name, deploy_policy=dict(max_unavailable=1, minimal_action='restart'),
                       auto_healing_policy=dict(auto_healing_action='recreate'))
    created = ok(run_module('yc_instance_group', localcloud, **args))
    assert created['changed'] is True
    group = created['instance_group']
    assert group['deploy_policy']['minimal_action'] == 'restart'
    assert group['auto_healing_policy'] == {'auto_healing_action': 'recreate'}
    full = get_full(localcloud, group['id'])
    assert full.deploy_policy.minimal_action == ig.DeployPolicy.RESTART
    assert full.auto_healing_policy.auto_healing_action == ig.AutoHealingPolicy.RECREATE

    localcloud.reset_calls()
    assert ok(run_module('yc_instance_group', localcloud, **args))['changed'] is False
    assert writes(localcloud) == []
    # Left out, auto_healing_policy is not managed: the group keeps RECREATE
    assert ok(run_module('yc_instance_group', localcloud, **dict(
        args, auto_healing_policy=None)))['changed'] is False
    assert writes(localcloud) == []

    changed_args = dict(args, deploy_policy=dict(max_unavailable=1, minimal_action='recreate'),
                        auto_healing_policy=dict(auto_healing_action='none'))
    preview = ok(run_module('yc_instance_group', localcloud, check=True, **changed_args))
    assert preview['changed'] is True and changed_keys(preview['diff']) == ['auto_healing_policy', 'deploy_policy']
    assert preview['diff']['before']['deploy_policy']['minimal_action'] == 'restart'
    assert preview['diff']['after']['deploy_policy']['minimal_action'] == 'recreate'
    assert preview['diff']['after']['auto_healing_policy'] == {'auto_healing_action': 'none'}
    assert writes(localcloud) == [], 'check mode wrote to the API'
    assert get_full(localcloud, group['id']).deploy_policy.minimal_action == ig.DeployPolicy.RESTART

    updated = ok(run_module('yc_instance_group', localcloud, **changed_args))
    assert updated['changed'] is True
    assert sorted(updated['update_mask']) == ['auto_healing_policy', 'deploy_policy']
    (request,) = updates(localcloud)
    assert mask_paths(request) == ['auto_healing_policy', 'deploy_policy']
    assert_complete(request, full)
    assert request['deploy_policy']['minimal_action'] == 'RECREATE'
    assert request['auto_healing_policy'] == {'auto_healing_action': 'NONE'}
    assert updated['instance_group']['deploy_policy']['minimal_action'] == 'recreate'
    full = get_full(localcloud, group['id'])
    assert full.deploy_policy.minimal_action == ig.DeployPolicy.RECREATE
    assert full.auto_healing_policy.auto_healing_action == ig.AutoHealingPolicy.NONE

    localcloud.reset_calls()
    assert ok(run_module('yc_instance_group', localcloud, **changed_args))['changed'] is False
    assert writes(localcloud) == []

    (listed,) = ok(run_module('yc_instance_group_info', localcloud, name=name, instances=False))['instance_groups']
    assert listed['deploy_policy']['minimal_action'] == 'recreate' and listed['deploy_policy']['max_unavailable'] == 1
    assert listed['auto_healing_policy'] == {'auto_healing_action': 'none'}

    bad = run_module('yc_instance_group', localcloud, **dict(changed_args, deploy_policy=dict(minimal_action='reboot')))
    assert bad['failed'] and 'minimal_action' in bad['msg']
    assert ok(run_module('yc_instance_group', localcloud, name=name, state='absent'))['changed'] is True


def test_labels_left_out_are_kept_and_purge_labels_false_adds(localcloud, base):
    """As in every other yc_* module: labels omitted are not managed; purge_labels=false merges."""
    name = new_name(base)
    created = run_module('yc_instance_group', localcloud, **module_args(base, name, labels={'team': 'shs'}))
    assert ok(created)['changed'] and created['instance_group']['labels'] == {'team': 'shs'}
    group_id = created['instance_group']['id']
    kept = ok(run_module('yc_instance_group', localcloud, **module_args(base, name)))
    assert kept['changed'] is False and get_full(localcloud, group_id).labels == {'team': 'shs'}
    merged = ok(run_module('yc_instance_group', localcloud,
                           **module_args(base, name, labels={'tier': 'app'}, purge_labels=False)))
    assert merged['changed'] and merged['update_mask'] == ['labels']
    assert dict(get_full(localcloud, group_id).labels) == {'team': 'shs', 'tier': 'app'}
    purged = ok(run_module('yc_instance_group', localcloud, **module_args(base, name, labels={'tier': 'app'})))
    assert purged['changed'] and dict(get_full(localcloud, group_id).labels) == {'tier': 'app'}
    assert ok(run_module('yc_instance_group', localcloud, name=name, state='absent'))['changed']


def test_description_left_out_is_kept_and_a_no_op_run_reads_the_group_once(localcloud, base):
    """The shared named-resource options: description omitted is not managed (as in every other yc_* module). A
    no-op run reads the group once (List with the FULL view, no Get after it) and lists its instances."""
    name = new_name(base)
    created = ok(run_module('yc_instance_group', localcloud, **module_args(base, name, description='shs app')))
    group_id = created['instance_group']['id']
    assert created['instance_group']['description'] == 'shs app'
    localcloud.reset_calls()
    kept = ok(run_module('yc_instance_group', localcloud, **module_args(base, name)))
    group_calls = [c['method'].rsplit('/', 1)[-1] for c in localcloud.calls('/yandex.cloud.compute.v1.instancegroup.')]
    assert group_calls == ['List', 'ListInstances'], group_calls
    assert kept['changed'] is False and get_full(localcloud, group_id).description == 'shs app'
    # one conversion for both modules: the _info twin returns the group as the module does, plus its instances
    (listed,) = ok(run_module('yc_instance_group_info', localcloud, name=name))['instance_groups']
    assert listed.pop('instances') == kept['instances'] == []
    counts = dict((key, listed.pop(key)) for key in ('target_size', 'running_actual_count', 'running_outdated_count',
                                                    'processing_count'))
    assert counts == dict(target_size=0, running_actual_count=0, running_outdated_count=0, processing_count=0)
    shown = dict(kept['instance_group'])
    shown['instance_template'] = dict(shown['instance_template'], metadata={})  # BASIC view: no metadata
    assert listed == shown
    cleared = ok(run_module('yc_instance_group', localcloud, **module_args(base, name, description='')))
    assert cleared['changed'] and cleared['update_mask'] == ['description']
    assert ok(run_module('yc_instance_group', localcloud, name=name, state='absent'))['changed']


def test_a_surge_group_without_a_healing_policy_reads_as_recreate_and_restart_is_sent(localcloud, base):
    """YC heals a group without a policy "depending on the deployment policy" (policies/healing-policy.md): with
    max_unavailable 0 and max_expansion 1 only by creating a replacement (autohealing.md). So such a group reads
    as recreate, and asking for restart (what site.yml does for the app tier's surge) is a change that is sent."""
    name = new_name(base)
    surge = dict(max_unavailable=0, max_expansion=1)
    created = ok(run_module('yc_instance_group', localcloud, **module_args(base, name, deploy_policy=surge)))
    assert created['instance_group']['auto_healing_policy'] == {'auto_healing_action': 'recreate'}
    assert not get_full(localcloud, created['instance_group']['id']).HasField('auto_healing_policy')

    args = module_args(base, name, deploy_policy=surge, auto_healing_policy=dict(auto_healing_action='restart'))
    localcloud.reset_calls()
    updated = ok(run_module('yc_instance_group', localcloud, **args))
    assert updated['changed'] is True and updated['update_mask'] == ['auto_healing_policy']
    full = get_full(localcloud, created['instance_group']['id'])
    assert full.auto_healing_policy.auto_healing_action == ig.AutoHealingPolicy.RESTART
    localcloud.reset_calls()
    assert ok(run_module('yc_instance_group', localcloud, **args))['changed'] is False
    assert writes(localcloud) == []
    ok(run_module('yc_instance_group', localcloud, name=name, state='absent'))
