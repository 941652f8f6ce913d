# -*- coding: utf-8 -*-
# Copyright: filmopoisk.shs contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The payload merge step: payload fragments of an instance group -> COI instance metadata."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
name: coi_metadata
short_description: Merge payload fragments into Container Optimized Image (COI) instance metadata
version_added: 0.1.0
author: filmopoisk.shs contributors
description:
  - >-
    Every role of the collection renders a I(payload fragment) for a COI instance group (compose services,
    files, boot and first-run commands, systemd units). This filter turns the fragments of one group into the
    instance metadata C({"docker-compose": ..., "user-data": ...}) that goes, unchanged, to a Yandex Cloud
    instance group, to a local COI node and to molecule.
  - >-
    A fragment is a mapping with the optional keys C(name), C(compose), C(files), C(bootcmd), C(runcmd),
    C(systemd_units) and C(packages). Any other key is an error. C(None) and empty fragments are skipped
    (they keep their index in error messages).
  - >-
    C(name) is a label for the fragment (for example the role that rendered it), shown in error messages.
  - >-
    C(compose) is a docker-compose fragment. Its top-level mappings C(services), C(volumes), C(networks),
    C(configs) and C(secrets) are merged key by key; the same service, volume, network, config or secret
    defined in two fragments is an error naming both fragments (no silent override). Every service needs
    C(image); C(build) is refused (COI cannot build images). The spec starts with C(version), C(3.7) unless the
    fragments give one (they must agree): COI's docs say the file starts with it (en/cos/concepts/
    coi-specifications.md), and a Compose v1 reader takes a file without it for the legacy v1 format;
    C(name) is refused (use O(project_name)). Extension keys C(x-*) pass through; C(x-yc-disks) (the COI
    list of secondary disks to mount) lists are concatenated and a C(device_name) may appear once. Other
    C(x-*) mappings are merged key by key, other C(x-*) lists concatenated, C(x-*) scalars may be set once.
  - >-
    C(files) is a list of C({path, content, permissions, owner, encoding, defer}) that becomes cloud-config
    C(write_files). C(path) (absolute) and C(content) (a string, may be empty) are required; C(permissions)
    is an octal string, quoted in YAML (default C(0644)), C(owner) defaults to C(root:root). The same path written
    twice (by two entries, two fragments, or a file and a unit) is an error naming the path.
  - >-
    C(bootcmd) (every boot, for example iptables rules, which are lost with the network namespace) and
    C(runcmd) (once per instance) are lists of commands, each a shell string or an argv list of strings.
    They are concatenated in fragment order.
  - >-
    Files are written on every boot, not only the first: when there are files or units, C(bootcmd) starts with
    C(cloud-init single --name write_files --frequency always) (and C(systemctl daemon-reload) when there are
    units), so a fragment's C(bootcmd) (a C(chown), say) finds the current files. On Yandex Cloud a metadata
    change restarts an instance group's VM with the same instance id
    (en/compute/concepts/instance-groups/deploy/instance.md), and cloud-init runs C(write_files) once per
    instance id, so without this a changed config file would never reach a running VM. Files with
    C(defer) true are written at the first boot only.
  - >-
    C(systemd_units) is a list of C({name, content, enabled}). Each unit is written to
    C(/etc/systemd/system/<name>) with mode C(0644). If there are units, C(systemctl daemon-reload) runs
    once after every fragment's C(runcmd), then C(systemctl enable --now --no-block <name>) for each unit
    with C(enabled) true (the default), in fragment order.
  - >-
    C(packages) is a list of package names (or C([name, version]) pairs) for cloud-config C(packages);
    usually empty on COI. Duplicates are dropped, first occurrence wins.
  - >-
    The output is deterministic, the same input gives byte-identical strings, whatever the order of keys
    in the input mappings. Mappings inside the compose spec are sorted by key; list order is kept as given;
    no anchors or aliases; no timestamps. Multi-line strings (file contents, scripts) are emitted as literal
    block scalars (C(|)) so that diffs stay readable. C(user-data) starts with C(#cloud-config).
  - >-
    A string that a YAML 1.1 reader (cloud-init) or a YAML 1.2 one (Compose and the COI agent, written in Go)
    would read as a number, boolean, null or date is single-quoted, so C("08"), C("0o17"), C("1e3") or C("yes")
    reach the container as these strings; PyYAML alone quotes only the YAML 1.1 ones.
  - >-
    Compose interpolates C($VAR) and C(${VAR}) in the spec; write C($$) for a literal dollar sign in
    C(compose) values. C(files), C(bootcmd), C(runcmd) and C(systemd_units) are not interpolated.
positional: project_name
options:
  _input:
    description:
      - >-
        The payload fragments of one instance group, in order. C(None) and empty items are skipped.
    type: list
    elements: dict
    required: true
  project_name:
    description:
      - >-
        Compose project name, emitted as the top-level C(name) of the C(docker-compose) spec.
      - >-
        Lower-case letters, digits, C(-) and C(_), starting with a letter or a digit.
      - >-
        When omitted, no C(name) is emitted.
    type: str
notes:
  - >-
    Errors name the fragment index (and its C(name) label) and the field, for example
    C(fragment 1: files[0].path is required); a fragment with a C(name) label is named as
    C(fragment 1 [shs]).
seealso:
  - name: COI docker-compose metadata
    description: Yandex Cloud documentation of Docker Compose specifications on COI.
    link: https://yandex.cloud/en/docs/cos/concepts/coi-specifications
  - name: cloud-config reference
    description: The cloud-init modules user-data can configure.
    link: https://cloudinit.readthedocs.io/en/latest/reference/modules.html
'''

EXAMPLES = r'''
- name: Instance metadata of the app group
  ansible.builtin.set_fact:
    shs_metadata: "{{ [shs_fragment, watchdog_fragment] | filmopoisk.shs.coi_metadata(project_name='shs') }}"
  vars:
    shs_fragment:
      name: shs
      compose:
        services:
          shs:
            image: cr.yandex/crp0000/shs:1.2.3
            init: true
            restart: always
            volumes:
              - /opt/bingo/config.yaml:/opt/bingo/config.yaml:ro
      files:
        - path: /opt/bingo/config.yaml
          content: |
            student_email: someone@example.com
          permissions: "0640"
      bootcmd:
        - iptables -w -I DOCKER-USER -d 8.8.8.8 -j REJECT
    watchdog_fragment:
      name: watchdog
      systemd_units:
        - name: shs-watchdog.service
          content: |
            [Service]
            ExecStart=/usr/local/bin/shs-watchdog
            [Install]
            WantedBy=multi-user.target

- name: Write what the instance group will get
  ansible.builtin.copy:
    content: "{{ shs_metadata['user-data'] }}"
    dest: /tmp/shs-user-data.yaml
    mode: "0644"
'''

RETURN = r'''
_value:
  description: The instance metadata of the group.
  type: dict
  contains:
    docker-compose:
      description: The merged docker-compose spec (YAML text, starting with C(version)).
      type: str
      sample: "name: shs\nservices:\n  shs:\n    image: cr.yandex/crp0000/shs:1.2.3\n    init: true\n"
    user-data:
      description: The cloud-config (YAML text starting with C(#cloud-config)).
      type: str
      sample: "#cloud-config\nbootcmd:\n- iptables -w -I DOCKER-USER -d 8.8.8.8 -j REJECT\n"
'''

import re

from collections.abc import Mapping

import yaml

from ansible.errors import AnsibleFilterError

COMPOSE_VERSION = '3.7'
REWRITE_FILES = ('cloud-init', 'single', '--name', 'write_files', '--frequency', 'always')
FRAGMENT_KEYS = ('name', 'compose', 'files', 'bootcmd', 'runcmd', 'systemd_units', 'packages')
# Top-level compose keys whose values are mappings of named objects, merged key by key (in emission order).
COMPOSE_NAMED = ('services', 'volumes', 'networks', 'configs', 'secrets')
FILE_KEYS = ('path', 'content', 'permissions', 'owner', 'encoding', 'defer')
UNIT_KEYS = ('name', 'content', 'enabled')
FILE_ENCODINGS = ('b64', 'base64', 'gz', 'gzip', 'gz+base64', 'gzip+base64', 'gz+b64', 'gzip+b64', 'text/plain')
UNIT_SUFFIXES = ('.service', '.socket', '.timer', '.path', '.mount', '.automount', '.target', '.slice',
                 '.swap')
UNIT_DIR = '/etc/systemd/system/'
DEFAULT_PERMISSIONS = '0644'
DEFAULT_OWNER = 'root:root'

PROJECT_NAME_RE = re.compile(r'^[a-z0-9][a-z0-9_-]*$')
SERVICE_NAME_RE = re.compile(r'^[a-zA-Z0-9][a-zA-Z0-9._-]*$')
UNIT_NAME_RE = re.compile(r'^[a-zA-Z0-9:_.-]+(@[a-zA-Z0-9:_.-]*)?$')
PERMISSIONS_RE = re.compile(r'^0?[0-7]{3}$')


class _Error(Exception):
    """A validation problem at a field path; turned into AnsibleFilterError with the fragment named."""

    def __init__(self, field, problem):
        super(_Error, self).__init__(field, problem)
        self.field = field
        self.problem = problem


# ---------------------------------------------------------------------------------------------------
# Plain data: Ansible hands filters tagged/lazy str, dict and list subclasses that yaml.safe_dump does
# not know; they become plain Python values here. Mappings are sorted by key (any insertion order gives
# the same output), and every container is a fresh object, so the dumper never sees shared references.
# ---------------------------------------------------------------------------------------------------

def _plain(value, field):
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, str):
        return str(value)
    if isinstance(value, Mapping):
        items = []
        for key, item in value.items():
            if not isinstance(key, (str, int, float, bool)):
                raise _Error(field, 'has a key of unsupported type %s' % type(key).__name__)
            key = _plain(key, field)
            items.append((key, _plain(item, '%s.%s' % (field, key))))
        items.sort(key=lambda kv: (type(kv[0]).__name__, str(kv[0])))
        return dict(items)
    if isinstance(value, (list, tuple)):
        return [_plain(item, '%s[%d]' % (field, index)) for index, item in enumerate(value)]
    raise _Error(field, 'has a value of unsupported type %s' % type(value).__name__)


def _type_name(value):
    if value is None:
        return 'null'
    if isinstance(value, bool):
        return 'bool'
    if isinstance(value, Mapping):
        return 'mapping'
    if isinstance(value, (list, tuple)):
        return 'list'
    if isinstance(value, str):
        return 'string'
    return type(value).__name__


def _require(value, kind, field):
    checks = {
        'mapping': lambda v: isinstance(v, Mapping),
        'list': lambda v: isinstance(v, (list, tuple)),
        'string': lambda v: isinstance(v, str),
        'bool': lambda v: isinstance(v, bool),
    }
    if not checks[kind](value):
        article = 'an' if kind[0] in 'aeiou' else 'a'
        raise _Error(field, 'must be %s %s, got %s' % (article, kind, _type_name(value)))
    return value


def _no_unknown_keys(mapping, allowed, field):
    for key in mapping:
        if key not in allowed:
            where = '%s: ' % field if field else ''
            raise _Error(None, '%sunknown key %r (allowed: %s)' % (where, str(key), ', '.join(allowed)))


# ---------------------------------------------------------------------------------------------------
# Validation of one fragment, field by field.
# ---------------------------------------------------------------------------------------------------

def _command(value, field):
    """A cloud-config command: a shell string or an argv list of strings."""
    if isinstance(value, str):
        if not value.strip():
            raise _Error(field, 'must not be empty')
        return str(value)
    if isinstance(value, (list, tuple)):
        if not value:
            raise _Error(field, 'must not be an empty list')
        for index, arg in enumerate(value):
            _require(arg, 'string', '%s[%d]' % (field, index))
        return _Argv(str(arg) for arg in value)
    raise _Error(field, 'must be a string or a list of strings, got %s' % _type_name(value))


def _commands(fragment, key):
    value = fragment.get(key)
    if value is None:
        return []
    _require(value, 'list', key)
    return [_command(item, '%s[%d]' % (key, index)) for index, item in enumerate(value)]


def _abs_path(value, field):
    _require(value, 'string', field)
    if not value.startswith('/') or '\n' in value or '\0' in value or value.endswith('/'):
        raise _Error(field, 'must be an absolute file path, got %r' % str(value))
    return str(value)


def _file(entry, field):
    _require(entry, 'mapping', field)
    _no_unknown_keys(entry, FILE_KEYS, field)
    if entry.get('path') is None:
        raise _Error('%s.path' % field, 'is required')
    if 'content' not in entry or entry['content'] is None:
        raise _Error('%s.content' % field, 'is required (use "" for an empty file)')
    out = {'path': _abs_path(entry['path'], '%s.path' % field)}
    owner = entry.get('owner', DEFAULT_OWNER)
    _require(owner, 'string', '%s.owner' % field)
    if not owner or ' ' in owner or '\n' in owner:
        raise _Error('%s.owner' % field, 'must be "user" or "user:group", got %r' % str(owner))
    out['owner'] = str(owner)
    permissions = entry.get('permissions', DEFAULT_PERMISSIONS)
    if not isinstance(permissions, str) or not PERMISSIONS_RE.match(permissions):
        raise _Error('%s.permissions' % field, "must be a quoted octal string like '0640', got %r "
                     "(an unquoted 0640 is read as the number 416)" % (permissions,))
    out['permissions'] = str(permissions).rjust(4, '0')
    if entry.get('encoding') is not None:
        if entry['encoding'] not in FILE_ENCODINGS:
            raise _Error('%s.encoding' % field, 'must be one of %s, got %r'
                         % (', '.join(FILE_ENCODINGS), entry['encoding']))
        out['encoding'] = str(entry['encoding'])
    if entry.get('defer') is not None:
        out['defer'] = bool(_require(entry['defer'], 'bool', '%s.defer' % field))
    out['content'] = str(_require(entry['content'], 'string', '%s.content' % field))
    return out


def _unit(entry, field):
    _require(entry, 'mapping', field)
    _no_unknown_keys(entry, UNIT_KEYS, field)
    if entry.get('name') is None:
        raise _Error('%s.name' % field, 'is required')
    name = _require(entry['name'], 'string', '%s.name' % field)
    if not UNIT_NAME_RE.match(name) or not name.endswith(UNIT_SUFFIXES) or name.startswith('.'):
        raise _Error('%s.name' % field, 'must be a systemd unit file name like "watchdog.service" '
                     '(suffix one of %s), got %r' % (', '.join(UNIT_SUFFIXES), str(name)))
    if entry.get('content') is None:
        raise _Error('%s.content' % field, 'is required')
    content = _require(entry['content'], 'string', '%s.content' % field)
    if not content.strip():
        raise _Error('%s.content' % field, 'must not be empty')
    enabled = entry.get('enabled', True)
    _require(enabled, 'bool', '%s.enabled' % field)
    if enabled and '@.' in name:
        raise _Error('%s.enabled' % field, 'a template unit (%s) cannot be enabled without an instance name'
                     % name)
    return {'name': str(name), 'content': str(content), 'enabled': bool(enabled)}


def _package(value, field):
    if isinstance(value, str) and value.strip():
        return str(value)
    if (isinstance(value, (list, tuple)) and len(value) == 2
            and all(isinstance(part, str) and part for part in value)):
        return [str(value[0]), str(value[1])]
    raise _Error(field, 'must be a package name or a [name, version] pair, got %r' % (value,))


def _service(name, definition, field):
    if not isinstance(name, str) or not SERVICE_NAME_RE.match(name):
        raise _Error(field, 'is not a valid service name (letters, digits, ".", "_", "-")')
    _require(definition, 'mapping', field)
    if 'build' in definition:
        raise _Error('%s.build' % field, 'is not supported: COI cannot build images, push the image to a '
                     'registry and set image')
    image = definition.get('image')
    if image is None:
        raise _Error('%s.image' % field, 'is required')
    if not isinstance(image, str) or not image.strip():
        raise _Error('%s.image' % field, 'must be a non-empty string, got %r' % (image,))
    return _plain(definition, field)


def _x_disks(value, field):
    _require(value, 'list', field)
    disks = []
    for index, disk in enumerate(value):
        item = '%s[%d]' % (field, index)
        _require(disk, 'mapping', item)
        for key in ('device_name', 'host_path'):
            if disk.get(key) is None:
                raise _Error('%s.%s' % (item, key), 'is required')
            _require(disk[key], 'string', '%s.%s' % (item, key))
        disks.append(_plain(disk, item))
    return disks


def _compose(value):
    """Validated, plain copy of a compose fragment: {top-level key: value}."""
    _require(value, 'mapping', 'compose')
    out = {}
    for key, item in value.items():
        if not isinstance(key, str):
            raise _Error('compose', 'has a non-string key %r' % (key,))
        key = str(key)  # a plain str: Ansible's tagged strings are unknown to yaml.SafeDumper
        field = 'compose.%s' % key
        if key == 'version':
            if not isinstance(item, (str, int, float)) or isinstance(item, bool):
                raise _Error(field, 'must be a string such as "3.7"')
            out[key] = str(item)
            continue
        if key == 'name':
            raise _Error(field, 'is not allowed in a fragment: pass project_name to the filter')
        if key in COMPOSE_NAMED:
            if item is None:
                continue
            _require(item, 'mapping', field)
            named = {}
            for name, definition in item.items():
                if key == 'services':
                    named[str(name)] = _service(name, definition, '%s.%s' % (field, name))
                else:
                    if not isinstance(name, str) or not name:
                        raise _Error(field, 'has an invalid name %r' % (name,))
                    if definition is not None:
                        _require(definition, 'mapping', '%s.%s' % (field, name))
                    named[str(name)] = _plain(definition, '%s.%s' % (field, name))
            out[key] = named
        elif key == 'x-yc-disks':
            out[key] = _x_disks(item, field)
        elif key.startswith('x-'):
            out[key] = _plain(item, field)
        else:
            raise _Error(None, 'compose: unknown top-level key %r (allowed: version, %s, x-*)'
                         % (key, ', '.join(COMPOSE_NAMED)))
    return out


def _fragment(fragment):
    """Validated, plain copy of one fragment."""
    _no_unknown_keys(fragment, FRAGMENT_KEYS, '')
    out = {'compose': {}, 'files': [], 'units': [], 'packages': []}
    if fragment.get('compose') is not None:
        out['compose'] = _compose(fragment['compose'])
    files = fragment.get('files')
    if files is not None:
        _require(files, 'list', 'files')
        out['files'] = [_file(entry, 'files[%d]' % index) for index, entry in enumerate(files)]
    units = fragment.get('systemd_units')
    if units is not None:
        _require(units, 'list', 'systemd_units')
        out['units'] = [_unit(entry, 'systemd_units[%d]' % index) for index, entry in enumerate(units)]
    packages = fragment.get('packages')
    if packages is not None:
        _require(packages, 'list', 'packages')
        out['packages'] = [_package(item, 'packages[%d]' % index) for index, item in enumerate(packages)]
    out['bootcmd'] = _commands(fragment, 'bootcmd')
    out['runcmd'] = _commands(fragment, 'runcmd')
    return out


# ---------------------------------------------------------------------------------------------------
# YAML output: deterministic, no aliases, multi-line strings as literal block scalars.
# ---------------------------------------------------------------------------------------------------

# Plain scalars that some reader of the metadata resolves to something else than the string. Readers: YAML 1.1
# (PyYAML here, cloud-init on the VM; yaml.org/type/{null,bool,int,float,timestamp,merge,value}.html, as PyYAML's
# resolver spells them, plus 1.1's y/n booleans that Go's yaml.v2 reads) and the YAML 1.2 core schema
# (yaml.org/spec/1.2.2 10.3.2) as Go's yaml.v3 reads it (compose-go, COI's agent): "08" and "004859582582" are
# numbers there though 1.1 says strings. yaml.v3 also drops every "_" of a number that starts with a digit, sign
# or dot, takes a sign and 0b/0o/0x in any case, and reads a date with one-digit fields ("2024-1-2").
_YAML11_NOT_STR = re.compile(r'''
    ~|null|Null|NULL                                                                 # null
  | y|Y|yes|Yes|YES|n|N|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF  # bool
  | [-+]?0b[0-1_]+|[-+]?0[0-7_]+|[-+]?(?:0|[1-9][0-9_]*)|[-+]?0x[0-9a-fA-F_]+          # int: base 2, 8, 10, 16
  | [-+]?[1-9][0-9_]*(?::[0-5]?[0-9])+                                               # int: base 60 (1:20)
  | [-+]?[0-9][0-9_]*\.[0-9_]*(?:[eE][-+][0-9]+)?|\.[0-9][0-9_]*(?:[eE][-+][0-9]+)?    # float
  | [-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+\.[0-9_]*                                      # float: base 60
  | [-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN)                                         # float: inf, nan
  | [0-9]{4}-[0-9]{2}-[0-9]{2}                                                       # timestamp
  | [0-9]{4}-[0-9]{1,2}-[0-9]{1,2}(?:[Tt]|[ \t]+)[0-9]{1,2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]*)?
    (?:[ \t]*(?:Z|[-+][0-9]{1,2}(?::[0-9]{2})?))?
  | <<|=                                                                             # merge key, value key
''', re.X)
_YAML12_NOT_STR = re.compile(r'''
    ~|null|Null|NULL|true|True|TRUE|false|False|FALSE                                # null, bool
  | [-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN)                                         # float: inf, nan
  | [0-9]{4}-[0-9]{1,2}-[0-9]{1,2}                                                   # yaml.v3's timestamps
    (?:[Tt ][0-9]{1,2}:[0-9]{1,2}:[0-9]{1,2}(?:\.[0-9]*)?(?:Z|[-+][0-9]{1,2}(?::[0-9]{2})?)?)?
''', re.X)
_YAML12_NUMBER = re.compile(r'''
    [-+]?(?:0[bB][01]+|0[oO][0-7]+|0[xX][0-9a-fA-F]+)                                # int: base 2, 8, 16
  | [-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?                         # int: base 10, float
''', re.X)


def plain_is_string(text):
    """True if `text` written as a plain scalar reads back as this string in YAML 1.1 and in YAML 1.2 (core)."""
    number = text.replace('_', '') if text[:1] in '+-.0123456789' else text
    return bool(text) and not (_YAML11_NOT_STR.fullmatch(text) or _YAML12_NOT_STR.fullmatch(text)
                               or _YAML12_NUMBER.fullmatch(number))


class _Argv(list):
    """An argv command (runcmd/bootcmd item): emitted in flow style, `- [systemctl, restart, x]`."""


class _Dumper(yaml.SafeDumper):
    """SafeDumper that never emits aliases and writes multi-line strings as `|` block scalars."""

    def ignore_aliases(self, data):
        return True

    def analyze_scalar(self, scalar):
        analysis = super(_Dumper, self).analyze_scalar(scalar)
        # PyYAML refuses block style for tabs and for spaces before a line break, and falls back to a
        # double-quoted one-liner full of \t and \n. Both are fine in a literal block scalar (tabs after the
        # indentation are content; trailing spaces are kept); the round trip check in coi_metadata proves it.
        if (analysis.multiline and not analysis.allow_block and not scalar.endswith(' ')
                and all(ch in '\n\t' or '\x20' <= ch <= '\x7e' or ch > '\x9f' for ch in scalar)
                and not any(ch in scalar for ch in '\x85\u2028\u2029\ufeff')):
            analysis.allow_block = True
        return analysis


def _represent_str(dumper, data):
    # A string any reader would take for a number, bool, null or date is quoted, as PyYAML quotes the 1.1 ones.
    style = '|' if '\n' in data else None if plain_is_string(data) else "'"
    return dumper.represent_scalar('tag:yaml.org,2002:str', data, style=style)


def _represent_argv(dumper, data):
    return dumper.represent_sequence('tag:yaml.org,2002:seq', data, flow_style=True)


_Dumper.add_representer(str, _represent_str)
_Dumper.add_representer(_Argv, _represent_argv)


def _dump(data):
    return yaml.dump(data, Dumper=_Dumper, default_flow_style=False, sort_keys=False, allow_unicode=True,
                     width=1 << 20, explicit_start=False)


# ---------------------------------------------------------------------------------------------------
# The filter.
# ---------------------------------------------------------------------------------------------------

def _label(index, fragment):
    name = fragment.get('name') if isinstance(fragment, Mapping) else None
    if isinstance(name, str) and name:
        return 'fragment %d [%s]' % (index, name)
    return 'fragment %d' % index


def _message(label, error):
    if error.field:
        return '%s: %s %s' % (label, error.field, error.problem)
    return '%s: %s' % (label, error.problem)


def coi_metadata(fragments, project_name=None):
    """Merge payload fragments into COI instance metadata {"docker-compose": str, "user-data": str}."""
    if not isinstance(fragments, (list, tuple)):
        raise AnsibleFilterError('coi_metadata: the input must be a list of payload fragments, got %s'
                                 % _type_name(fragments))
    if project_name is not None:
        if not isinstance(project_name, str) or not PROJECT_NAME_RE.match(project_name):
            raise AnsibleFilterError('coi_metadata: project_name must be lower-case letters, digits, "-" and '
                                     '"_", starting with a letter or digit, got %r' % (project_name,))

    named = dict((key, {}) for key in COMPOSE_NAMED)  # key -> {name: definition}
    named_owner = dict((key, {}) for key in COMPOSE_NAMED)  # key -> {name: label}
    extensions, extension_owner = {}, {}
    disk_owner = {}
    write_files, path_owner = [], {}
    units, unit_owner = [], {}
    bootcmd, runcmd, packages = [], [], []
    version, version_owner = COMPOSE_VERSION, None

    for index, fragment in enumerate(fragments):
        if fragment is None or (isinstance(fragment, Mapping) and not fragment):
            continue
        label = _label(index, fragment)
        if not isinstance(fragment, Mapping):
            raise AnsibleFilterError('%s: must be a mapping, got %s' % (label, _type_name(fragment)))
        if fragment.get('name') is not None and not isinstance(fragment.get('name'), str):
            raise AnsibleFilterError('%s: name must be a string, got %s' % (label, _type_name(fragment['name'])))
        try:
            part, problem = _fragment(fragment), None
        except _Error as error:
            part, problem = None, _message(label, error)
        if problem:  # raised outside the except block: no "during handling" chain in Ansible's output
            raise AnsibleFilterError(problem)

        for key, value in part['compose'].items():
            field = 'compose.%s' % key
            if key == 'version':
                if version_owner and value != version:
                    raise AnsibleFilterError('%s: %s %r differs from %r of %s'
                                             % (label, field, value, version, version_owner))
                version, version_owner = value, label
            elif key in COMPOSE_NAMED:
                for name, definition in value.items():
                    if name in named[key]:
                        raise AnsibleFilterError('%s: %s.%s is already defined by %s (the same %s in two '
                                                 'fragments is not merged)'
                                                 % (label, field, name, named_owner[key][name], key[:-1]))
                    named[key][name] = definition
                    named_owner[key][name] = label
            elif key == 'x-yc-disks':
                for position, disk in enumerate(value):
                    device = disk['device_name']
                    if device in disk_owner:
                        raise AnsibleFilterError('%s: %s[%d].device_name %r is already used by %s'
                                                 % (label, field, position, device, disk_owner[device]))
                    disk_owner[device] = label
                extensions.setdefault(key, []).extend(value)
            elif key not in extensions:
                extensions[key] = value
                extension_owner[key] = label
                if isinstance(value, dict):
                    for name in value:
                        extension_owner[(key, name)] = label
            elif isinstance(value, dict) and isinstance(extensions[key], dict):
                for name, item in value.items():
                    if name in extensions[key]:
                        raise AnsibleFilterError('%s: %s.%s is already defined by %s'
                                                 % (label, field, name, extension_owner[(key, name)]))
                    extensions[key][name] = item
                    extension_owner[(key, name)] = label
            elif isinstance(value, list) and isinstance(extensions[key], list):
                extensions[key].extend(value)
            else:
                raise AnsibleFilterError('%s: %s is already defined by %s (only mappings and lists of x-* '
                                         'keys are merged)' % (label, field, extension_owner[key]))

        for position, entry in enumerate(part['files']):
            where = '%s (files[%d])' % (label, position)
            if entry['path'] in path_owner:
                raise AnsibleFilterError('%s: files[%d].path %s is already written by %s'
                                         % (label, position, entry['path'], path_owner[entry['path']]))
            path_owner[entry['path']] = where
            write_files.append(entry)
        for position, unit in enumerate(part['units']):
            path = UNIT_DIR + unit['name']
            if unit['name'] in unit_owner:
                raise AnsibleFilterError('%s: systemd_units[%d].name %s is already defined by %s'
                                         % (label, position, unit['name'], unit_owner[unit['name']]))
            if path in path_owner:
                raise AnsibleFilterError('%s: systemd_units[%d] writes %s, already written by %s'
                                         % (label, position, path, path_owner[path]))
            unit_owner[unit['name']] = path_owner[path] = '%s (systemd_units[%d])' % (label, position)
            units.append(unit)
        bootcmd.extend(part['bootcmd'])
        runcmd.extend(part['runcmd'])
        for package in part['packages']:
            if package not in packages:
                packages.append(package)

    # docker-compose: name, services, volumes, networks, configs, secrets, then x-* sorted.
    compose = {'version': version}
    if project_name is not None:
        compose['name'] = str(project_name)
    compose['services'] = dict(sorted(named['services'].items()))
    for key in COMPOSE_NAMED[1:]:
        if named[key]:
            compose[key] = dict(sorted(named[key].items()))
    for key in sorted(extensions):
        value = extensions[key]
        compose[key] = dict(sorted(value.items())) if isinstance(value, dict) else value

    # user-data: bootcmd, write_files (files then units), packages, runcmd (fragments' then units').
    for unit in units:
        write_files.append({'path': UNIT_DIR + unit['name'], 'owner': DEFAULT_OWNER,
                            'permissions': DEFAULT_PERMISSIONS, 'content': unit['content']})
    if write_files:  # every boot, first, so the fragments' bootcmd sees the current files (see the description)
        bootcmd[:0] = [_Argv(REWRITE_FILES)] + ([_Argv(['systemctl', 'daemon-reload'])] if units else [])
    if units:
        runcmd.append('systemctl daemon-reload')
        runcmd.extend('systemctl enable --now --no-block %s' % unit['name'] for unit in units if unit['enabled'])
    cloud_config = {}
    for key, value in (('bootcmd', bootcmd), ('write_files', write_files), ('packages', packages),
                       ('runcmd', runcmd)):
        if value:
            cloud_config[key] = value

    docker_compose = _dump(compose)
    user_data = '#cloud-config\n' + (_dump(cloud_config) if cloud_config else '{}\n')

    # Guard against an emitter corner case changing a value: what is loaded back is what was merged.
    if yaml.safe_load(docker_compose) != compose or (yaml.safe_load(user_data) or {}) != cloud_config:
        raise AnsibleFilterError('coi_metadata: internal error, the YAML output does not load back to the '
                                 'merged payload; please report this with the fragments')
    return {'docker-compose': docker_compose, 'user-data': user_data}


class FilterModule(object):
    """filmopoisk.shs.coi_metadata: the payload merge step."""

    def filters(self):
        return {'coi_metadata': coi_metadata}
