"""Request checks shared by the services; each failure is INVALID_ARGUMENT naming the request field.

Patterns are the ones the YC protos document for the field (see the SDK's *_pb2.pyi docstrings).
"""

import base64
import ipaddress
import re

from localcloud.server.errors import invalid

# VPC resources (network, subnet, security group): `|[a-zA-Z]([-_a-zA-Z0-9]{0,61}[a-zA-Z0-9])?`.
VPC_NAME = re.compile(r'|[a-zA-Z]([-_a-zA-Z0-9]{0,61}[a-zA-Z0-9])?')
# Service accounts, folders, registries: lowercase, required.
LOWER_NAME = re.compile(r'[a-z]([-a-z0-9]{0,61}[a-z0-9])?')
LABEL_KEY = re.compile(r'[a-z][-_0-9a-z]*')
LABEL_VALUE = re.compile(r'[-_0-9a-z]*')
# Security groups allow a few more characters in labels.
SG_LABEL_KEY = re.compile(r'[a-z][-_./\\@0-9a-z]*')
SG_LABEL_VALUE = re.compile(r'[-_./\\@0-9a-z]*')
ZONES = ('ru-central1-a', 'ru-central1-b', 'ru-central1-d')
DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000
# Private ranges a YC subnet may use, and the allowed prefix lengths.
PRIVATE_V4 = tuple(ipaddress.ip_network(n) for n in ('10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16'))
SUBNET_PREFIXES = range(16, 29)


def required(field, value):
    if not value:
        raise invalid(field, 'this field is required')
    return value


def name(field, value, pattern=VPC_NAME, required_=False):
    if required_ and not value:
        raise invalid(field, 'this field is required')
    if not pattern.fullmatch(value):
        raise invalid(field, 'invalid name %r: must match the regular expression `%s`' % (value, pattern.pattern))
    return value


def description(field, value, limit=256):
    if len(value) > limit:
        raise invalid(field, 'the length must be less than or equal to %d' % limit)
    return value


def labels(field, mapping, key_pattern=LABEL_KEY, value_pattern=LABEL_VALUE):
    if len(mapping) > 64:
        raise invalid(field, 'the number of labels must be less than or equal to 64')
    for key, value in mapping.items():
        if not 1 <= len(key) <= 63 or not key_pattern.fullmatch(key):
            raise invalid(field, 'label key %r must be 1-63 characters matching `%s`' % (key, key_pattern.pattern))
        if len(value) > 63 or not value_pattern.fullmatch(value):
            raise invalid(field, 'label %s value %r must be up to 63 characters matching `%s`'
                          % (key, value, value_pattern.pattern))
    return mapping


def zone(field, value):
    required(field, value)
    if value not in ZONES:
        raise invalid(field, 'unknown zone %s (zones: %s)' % (value, ', '.join(ZONES)))
    return value


def cidr_v4(field, value):
    """An IPv4 network in CIDR form with no host bits set."""
    try:
        network = ipaddress.IPv4Network(value, strict=False)
    except ValueError:
        raise invalid(field, '%r is not an IPv4 CIDR block' % value)
    if '/' not in value or str(network) != value:
        raise invalid(field, '%r is not a canonical IPv4 CIDR block (did you mean %s?)' % (value, network))
    return network


def subnet_cidr(field, value):
    network = cidr_v4(field, value)
    if not any(network.subnet_of(private) for private in PRIVATE_V4):
        raise invalid(field, '%s is not in a private range (%s)' % (value, ', '.join(map(str, PRIVATE_V4))))
    if network.prefixlen not in SUBNET_PREFIXES:
        raise invalid(field, '%s: the prefix length must be between /16 and /28' % value)
    return network


# -- List: filter and paging ------------------------------------------------------------------------
_FILTER_TERM = re.compile(r'\s*([a-z_][a-z_0-9]*)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|\'((?:[^\'\\]|\\.)*)\')\s*')


def parse_filter(value, fields=('name',)):
    """`name="x"` (terms joined with AND) -> {"name": "x"}. Only the given fields may be filtered on."""
    result = {}
    if not value.strip():
        return result
    for term in re.split(r'\s+(?:AND|and)\s+', value.strip()):
        match = _FILTER_TERM.fullmatch(term)
        if not match:
            raise invalid('filter', 'cannot parse %r: expected <field>="<value>"' % value)
        field = match.group(1)
        if field not in fields:
            raise invalid('filter', 'filtering on %s is not supported (supported: %s)' % (field, ', '.join(fields)))
        raw = match.group(2) if match.group(2) is not None else match.group(3)
        result[field] = re.sub(r'\\(.)', r'\1', raw)
    return result


def page(items, page_size, page_token):
    """(items of this page, next_page_token)."""
    if page_size < 0 or page_size > MAX_PAGE_SIZE:
        raise invalid('page_size', 'the value must be between 0 and %d' % MAX_PAGE_SIZE)
    size = page_size or DEFAULT_PAGE_SIZE
    offset = 0
    if page_token:
        try:
            offset = int(base64.urlsafe_b64decode(page_token.encode()).decode().partition(':')[2])
        except (ValueError, UnicodeDecodeError):
            raise invalid('page_token', 'invalid page token')
    chunk = items[offset:offset + size]
    more = offset + size < len(items)
    token = base64.urlsafe_b64encode(('offset:%d' % (offset + size)).encode()).decode() if more else ''
    return chunk, token
