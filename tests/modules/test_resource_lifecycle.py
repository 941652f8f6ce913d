"""Every resource module against localcloud: create -> same call changed=false -> change one field (diff shows
only it, the request's field mask holds only it) -> check mode changes nothing -> delete -> delete again."""

import pytest

from yc_modules_support import ok, run_module

WRITES = ('/Create', '/Update', '/UpdateRules', '/Delete', '/UpdateAccessBindings', '/SetAccessBindings')


def writes(localcloud):
    """Calls that change resources (the IAM token exchange every run starts with is not one)."""
    return [call for call in localcloud.calls()
            if call['method'].endswith(WRITES) and '.IamTokenService/' not in call['method']]


def mask_paths(request):
    """update_mask as MessageToDict renders a FieldMask (one comma-separated camelCase string) -> snake paths."""
    mask = request.get('update_mask') or ''
    paths = mask.split(',') if isinstance(mask, str) else mask.get('paths', [])
    return sorted(''.join('_' + c.lower() if c.isupper() else c for c in path) for path in paths if path)


def changed_keys(diff):
    before, after = diff['before'], diff['after']
    return sorted(key for key in set(before) | set(after) if before.get(key) != after.get(key))


@pytest.fixture(scope='module')
def network(localcloud):
    result = ok(run_module('yc_network', localcloud, name='lifecycle-base'))
    yield result['network']
    run_module('yc_network', localcloud, name='lifecycle-base', state='absent')


def cases(network):
    sg_rule = dict(direction='ingress', protocol='tcp', port=80, v4_cidr_blocks=['0.0.0.0/0'])
    return {
        'yc_network': ('network', 'NetworkService', dict(name='lc-net', description='one', labels={'env': 'test'}),
                       dict(description='two'), 'description'),
        'yc_subnet': ('subnet', 'SubnetService',
                      dict(name='lc-subnet', network_id=network['id'], zone_id='ru-central1-a',
                           v4_cidr_blocks=['10.77.0.0/24']),
                      dict(labels={'tier': 'app'}), 'labels'),
        'yc_service_account': ('service_account', 'ServiceAccountService', dict(name='lc-sa', description='x'),
                               dict(labels={'role': 'ig'}), 'labels'),
        'yc_security_group': ('security_group', 'SecurityGroupService',
                              dict(name='lc-sg', network_id=network['id'], rules=[sg_rule]),
                              dict(description='now described'), 'description'),
    }


@pytest.mark.parametrize('module', ['yc_network', 'yc_subnet', 'yc_service_account', 'yc_security_group'])
def test_lifecycle(localcloud, network, module):
    key, service, create, change, field = cases(network)[module]

    created = ok(run_module(module, localcloud, **create))
    assert created['changed'] is True
    resource = created[key]
    assert resource['id'] and resource['name'] == create['name']
    assert created['diff']['before'] == {}

    localcloud.reset_calls()
    again = ok(run_module(module, localcloud, **create))
    assert again['changed'] is False and again[key]['id'] == resource['id']
    assert writes(localcloud) == [], 'a no-op run wrote to the API'

    localcloud.reset_calls()
    preview = ok(run_module(module, localcloud, check=True, **dict(create, **change)))
    assert preview['changed'] is True and changed_keys(preview['diff']) == [field]
    assert writes(localcloud) == [], 'check mode wrote to the API'

    localcloud.reset_calls()
    updated = ok(run_module(module, localcloud, **dict(create, **change)))
    assert updated['changed'] is True and updated['update_mask'] == [field]
    assert changed_keys(updated['diff']) == [field]
    assert updated[key][field] == change[field]
    update_calls = [c for c in writes(localcloud) if c['method'].endswith('.%s/Update' % service)]
    assert len(update_calls) == 1 and mask_paths(update_calls[0]['request']) == [field]
    assert ok(run_module(module, localcloud, **dict(create, **change)))['changed'] is False

    localcloud.reset_calls()
    assert ok(run_module(module, localcloud, check=True, name=create['name'], state='absent'))['changed'] is True
    assert writes(localcloud) == []
    removed = ok(run_module(module, localcloud, name=create['name'], state='absent'))
    assert removed['changed'] is True and removed[key] == {}
    assert ok(run_module(module, localcloud, name=create['name'], state='absent'))['changed'] is False


def test_security_group_rules_change_only_what_differs(localcloud, network):
    http = dict(direction='ingress', protocol='tcp', port=80, v4_cidr_blocks=['0.0.0.0/0'])
    https = dict(direction='ingress', protocol='tcp', port=443, v4_cidr_blocks=['0.0.0.0/0'])
    egress = dict(direction='egress', protocol='any', v4_cidr_blocks=['0.0.0.0/0'])
    base = dict(name='lc-sg-rules', network_id=network['id'])
    first = ok(run_module('yc_security_group', localcloud, rules=[http, egress], **base))
    ids = dict((r['from_port'], r) for r in first['security_group']['rules'])

    localcloud.reset_calls()
    second = ok(run_module('yc_security_group', localcloud, rules=[https, http, egress], **base))
    assert second['changed'] is True and second['update_mask'] == ['rules']
    (call,) = [c for c in writes(localcloud) if c['method'].endswith('/UpdateRules')]
    assert not call['request'].get('deletion_rule_ids')
    assert [spec['ports'] for spec in call['request']['addition_rule_specs']] == [{'from_port': '443',
                                                                                    'to_port': '443'}]
    assert len(second['security_group']['rules']) == 3 and ids

    # purge_rules=false only adds; the default purges what is not listed
    assert ok(run_module('yc_security_group', localcloud, rules=[http], purge_rules=False, **base))['changed'] is False
    purged = ok(run_module('yc_security_group', localcloud, rules=[http], **base))
    assert [r['from_port'] for r in purged['security_group']['rules']] == [80]
    # a group referenced by another group's rule
    ref = dict(name='lc-sg-ref', network_id=network['id'],
               rules=[dict(direction='ingress', protocol='tcp', port=8080,
                           security_group_id=purged['security_group']['id'])])
    assert ok(run_module('yc_security_group', localcloud, **ref))['changed'] is True
    assert ok(run_module('yc_security_group', localcloud, **ref))['changed'] is False
    for name in ('lc-sg-ref', 'lc-sg-rules'):
        ok(run_module('yc_security_group', localcloud, name=name, state='absent'))


def test_immutable_field_is_refused_not_recreated(localcloud, network):
    subnet = dict(name='lc-immutable', network_id=network['id'], zone_id='ru-central1-a',
                  v4_cidr_blocks=['10.78.0.0/24'])
    created = ok(run_module('yc_subnet', localcloud, **subnet))
    moved = run_module('yc_subnet', localcloud, **dict(subnet, zone_id='ru-central1-b'))
    assert moved['failed'] and 'zone_id cannot be changed' in moved['msg']
    still = ok(run_module('yc_subnet', localcloud, **subnet))
    assert still['changed'] is False and still['subnet']['id'] == created['subnet']['id']
    ok(run_module('yc_subnet', localcloud, name='lc-immutable', state='absent'))


def test_folder_iam_binding_adds_and_removes_one_member(localcloud):
    account = ok(run_module('yc_service_account', localcloud, name='lc-binding-sa'))['service_account']
    other = ok(run_module('yc_service_account', localcloud, name='lc-binding-other'))['service_account']
    ok(run_module('yc_folder_iam_binding', localcloud, role='viewer', subject_id=other['id']))
    binding = dict(role='compute.editor', member='serviceAccount:' + account['id'])

    localcloud.reset_calls()
    assert ok(run_module('yc_folder_iam_binding', localcloud, check=True, **binding))['changed'] is True
    assert writes(localcloud) == []
    added = ok(run_module('yc_folder_iam_binding', localcloud, **binding))
    assert added['changed'] is True and added['diff']['after']['binding']['role_id'] == 'compute.editor'
    (call,) = writes(localcloud)
    assert call['method'].endswith('/UpdateAccessBindings')
    assert [d['action'] for d in call['request']['access_binding_deltas']] == ['ADD']
    assert ok(run_module('yc_folder_iam_binding', localcloud, **binding))['changed'] is False
    # the same thing written as subject_id/subject_type is the same binding
    assert ok(run_module('yc_folder_iam_binding', localcloud, role='compute.editor',
                         subject_id=account['id']))['changed'] is False

    removed = ok(run_module('yc_folder_iam_binding', localcloud, state='absent', **binding))
    assert removed['changed'] is True
    assert ok(run_module('yc_folder_iam_binding', localcloud, state='absent', **binding))['changed'] is False
    # the other subject's binding was left alone
    assert ok(run_module('yc_folder_iam_binding', localcloud, role='viewer', subject_id=other['id']))['changed'] is False
    ok(run_module('yc_folder_iam_binding', localcloud, role='viewer', subject_id=other['id'], state='absent'))
    for name in ('lc-binding-sa', 'lc-binding-other'):
        ok(run_module('yc_service_account', localcloud, name=name, state='absent'))
