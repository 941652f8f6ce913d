"""A YAML 1.2 core-schema reader for tests: PyYAML's parser with the tag resolution of YAML 1.2.2, 10.3.2.

PyYAML resolves plain scalars by YAML 1.1, where "08", "0o17" or "1e3" are strings; Go's YAML readers (compose-go,
the COI agent) follow 1.2, where they are numbers. `load_core(text)` reads text the 1.2 way, so a test sees what
those readers see without a Go toolchain (`docker compose config` tests add what yaml.v3 does beyond the spec).
"""

import math
import random
import re

import yaml


# Strings a YAML 1.2 reader (compose-go, the COI agent) or a YAML 1.1 one (PyYAML, cloud-init) takes for something
# else; PyYAML alone leaves some of them unquoted (issue 10: a label 004859582582 reached a node as 4.859582582e+09).
LOOKALIKES = ['004859582582', '08', '0o17', '0x1F', '1e3', '1_000', '1:20', '.inf', 'null', 'Null', '~', 'yes',
              'on', 'true', '+1', '-0', '.5', '0777', '1E3', '-.INF', '.NaN', '1.', 'y', 'N', '', '2024-1-2']


def random_lookalikes(count=400, seed=10):
    """Seeded random short strings of digits, letters, dots, signs, underscores and colons."""
    rng = random.Random(seed)
    alphabet = '0123456789' * 3 + 'eExXoObBafny' + '..++--__:'
    return [''.join(rng.choice(alphabet) for _ in range(rng.randint(1, 8))) for _ in range(count)]


class CoreLoader(yaml.SafeLoader):
    """SafeLoader with only the core schema's implicit tags (no 1.1 yes/no, base 60, timestamps, merge keys)."""

    yaml_implicit_resolvers = {}


# The regular expressions of the YAML 1.2.2 core schema table (10.3.2 Tag Resolution).
for _tag, _pattern in (
        ('null', r'null|Null|NULL|~|'),
        ('bool', r'true|True|TRUE|false|False|FALSE'),
        ('int', r'[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+'),
        ('float', r'[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?'
                  r'|[-+]?(\.inf|\.Inf|\.INF)|\.nan|\.NaN|\.NAN')):
    CoreLoader.add_implicit_resolver('tag:yaml.org,2002:' + _tag, re.compile(r'^(?:%s)$' % _pattern), None)


def _int(loader, node):
    value = loader.construct_scalar(node)
    if value.startswith(('0o', '0x')):
        return int(value[2:], 8 if value[1] == 'o' else 16)
    return int(value)


def _float(loader, node):
    value = loader.construct_scalar(node).lower()
    if value.endswith('.nan'):
        return math.nan
    if value.endswith('.inf'):
        return -math.inf if value.startswith('-') else math.inf
    return float(value)


CoreLoader.add_constructor('tag:yaml.org,2002:int', _int)
CoreLoader.add_constructor('tag:yaml.org,2002:float', _float)


def load_core(text):
    return yaml.load(text, Loader=CoreLoader)
