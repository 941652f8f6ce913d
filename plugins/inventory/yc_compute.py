# -*- coding: utf-8 -*-
# Copyright: filmopoisk.shs contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
name: yc_compute
short_description: Yandex Compute Cloud instances as inventory hosts
version_added: 0.2.0
description:
  - The instances of a folder (C(compute.v1.InstanceService.List)), optionally only those of some instance groups
    or with some labels, as hosts; with C(constructed) options (compose, groups, keyed_groups) and caching.
  - The inventory file name must end with C(yc_compute.yml) or C(yc_compute.yaml).
  - Credentials and endpoint as for the C(yc_*) modules (options or the C(yc) CLI's environment variables).
extends_documentation_fragment:
  - constructed
  - inventory_cache
  - filmopoisk.shs.yc
  - filmopoisk.shs.yc.plugins
options:
  plugin:
    description: The name of this plugin.
    required: true
    choices: [filmopoisk.shs.yc_compute]
    type: str
  instance_groups:
    description: Only instances of these instance groups (names or IDs). Hosts get C(yc_instance_group).
    type: list
    elements: str
    default: []
  labels:
    description: Only instances that carry all these labels.
    type: dict
    default: {}
  statuses:
    description: Only instances in these statuses (V(RUNNING), V(STOPPED), ...). Empty for all.
    type: list
    elements: str
    default: [RUNNING]
  hostnames:
    description:
      - How a host is named, by preference; the first that the instance has wins.
      - V(fqdn), V(name), V(private_ip), V(nat_ip), V(id).
    type: list
    elements: str
    default: [fqdn, name]
  ansible_host:
    description: What C(ansible_host) is set to (V(nat_ip) falls back to V(private_ip) when an instance has no NAT).
    type: str
    choices: [private_ip, nat_ip, fqdn]
    default: private_ip
'''

EXAMPLES = r'''
# inventory/yc/shs.yc_compute.yml
plugin: filmopoisk.shs.yc_compute
folder_id: b1gabcdefghijklmnopq
instance_groups: [shs-app, shs-lb]
hostnames: [fqdn]
keyed_groups:
  - key: yc_instance_group
    prefix: ig
compose:
  tier: yc_labels.tier | default('none')
cache: true
cache_plugin: ansible.builtin.jsonfile
cache_connection: ~/.cache/filmopoisk.shs/inventory
'''

from ansible.errors import AnsibleError
from ansible.plugins.inventory import BaseInventoryPlugin, Cacheable, Constructable

from ansible_collections.filmopoisk.shs.plugins.module_utils.yc import YC_IMPORT_ERROR, YCClient, YCError

try:
    from yandex.cloud.compute.v1 import instance_pb2, instance_service_pb2
    from yandex.cloud.compute.v1.instance_service_pb2_grpc import InstanceServiceStub
    from yandex.cloud.compute.v1.instancegroup import instance_group_service_pb2 as ig_service_pb2
    from yandex.cloud.compute.v1.instancegroup.instance_group_service_pb2_grpc import InstanceGroupServiceStub
except ImportError:
    pass  # reported in parse()

AUTH_OPTIONS = ('token', 'iam_token', 'service_account_key', 'endpoint', 'api_endpoints', 'root_certificates',
                'folder_id', 'api_retry_timeout')


def instance_vars(instance, group_name):
    nic = instance.network_interfaces[0] if instance.network_interfaces else None
    return dict(
        yc_id=instance.id, yc_name=instance.name, yc_fqdn=instance.fqdn, yc_zone_id=instance.zone_id,
        yc_status=instance_pb2.Instance.Status.Name(instance.status), yc_labels=dict(instance.labels),
        yc_platform_id=instance.platform_id, yc_folder_id=instance.folder_id,
        yc_private_ip=nic.primary_v4_address.address if nic else '',
        yc_nat_ip=nic.primary_v4_address.one_to_one_nat.address if nic else '',
        yc_subnet_id=nic.subnet_id if nic else '', yc_instance_group=group_name or '',
        yc_service_account_id=instance.service_account_id)


class InventoryModule(BaseInventoryPlugin, Constructable, Cacheable):

    NAME = 'filmopoisk.shs.yc_compute'

    def verify_file(self, path):
        return super(InventoryModule, self).verify_file(path) and path.endswith(('yc_compute.yml', 'yc_compute.yaml'))

    def _client(self):
        # endpoint, root_certificates and folder_id fall back to YC_* by their documented env entries.
        params = dict((option, self.get_option(option)) for option in AUTH_OPTIONS)
        if not params.get('folder_id'):
            raise AnsibleError('yc_compute: folder_id is required (or set YC_FOLDER_ID)')
        try:
            return YCClient(params), params['folder_id']
        except YCError as exc:
            raise AnsibleError('yc_compute: %s' % exc.msg)

    def _fetch(self):
        """Host records (plain data, so they can be cached)."""
        client, folder_id = self._client()
        wanted_groups = self.get_option('instance_groups')
        group_of = {}
        if wanted_groups:
            groups = client.list_all(InstanceGroupServiceStub, 'List',
                                     ig_service_pb2.ListInstanceGroupsRequest(folder_id=folder_id), 'instance_groups',
                                     'instance groups of folder %s' % folder_id)
            for group in groups:
                if group.name in wanted_groups or group.id in wanted_groups:
                    request = ig_service_pb2.ListInstanceGroupInstancesRequest(instance_group_id=group.id)
                    for managed in client.list_all(InstanceGroupServiceStub, 'ListInstances', request, 'instances',
                                                   "instances of instance group '%s'" % group.name):
                        group_of[managed.instance_id] = group.name
        instances = client.list_all(InstanceServiceStub, 'List',
                                    instance_service_pb2.ListInstancesRequest(folder_id=folder_id), 'instances',
                                    'instances of folder %s' % folder_id)
        labels = self.get_option('labels')
        statuses = [status.upper() for status in self.get_option('statuses')]
        records = []
        for instance in instances:
            if wanted_groups and instance.id not in group_of:
                continue
            if any(instance.labels.get(key) != str(value) for key, value in labels.items()):
                continue
            host_vars = instance_vars(instance, group_of.get(instance.id))
            if statuses and host_vars['yc_status'] not in statuses:
                continue
            records.append(host_vars)
        return sorted(records, key=lambda record: record['yc_name'])

    def _hostname(self, record):
        keys = dict(fqdn='yc_fqdn', name='yc_name', private_ip='yc_private_ip', nat_ip='yc_nat_ip', id='yc_id')
        for preference in self.get_option('hostnames'):
            if preference not in keys:
                raise AnsibleError('yc_compute: hostnames: unknown %r (one of %s)' % (preference, ', '.join(keys)))
            if record.get(keys[preference]):
                return record[keys[preference]]
        return record['yc_id']

    def parse(self, inventory, loader, path, cache=True):
        super(InventoryModule, self).parse(inventory, loader, path, cache)
        if YC_IMPORT_ERROR:
            raise AnsibleError('yc_compute needs the yandexcloud package: %s' % YC_IMPORT_ERROR)
        self._read_config_data(path)
        cache_key = self.get_cache_key(path)
        use_cache = self.get_option('cache') and cache
        records = None
        if use_cache:
            try:
                records = self._cache[cache_key]
            except KeyError:
                records = None
        if records is None:
            try:
                records = self._fetch()
            except YCError as exc:
                raise AnsibleError('yc_compute: %s' % exc.msg)
            if self.get_option('cache'):
                self._cache[cache_key] = records
        self._populate(records)

    def _populate(self, records):
        strict = self.get_option('strict')
        address_key = dict(private_ip='yc_private_ip', nat_ip='yc_nat_ip', fqdn='yc_fqdn')[self.get_option('ansible_host')]
        for record in records:
            host = self.inventory.add_host(self._hostname(record))
            for key, value in record.items():
                self.inventory.set_variable(host, key, value)
            self.inventory.set_variable(host, 'ansible_host', record[address_key] or record['yc_private_ip'])
            self._set_composite_vars(self.get_option('compose'), record, host, strict=strict)
            self._add_host_to_composed_groups(self.get_option('groups'), record, host, strict=strict)
            self._add_host_to_keyed_groups(self.get_option('keyed_groups'), record, host, strict=strict)
