"""Configuration: bingo's YAML keys plus a few of our own, with environment overrides.

bingo reads /opt/bingo/config.yaml with `student_email` and `postgres_cluster`; everything else
here (`http_host`, `http_port`, `db_pool_size`, `startup_request`, `quirks`) is ours and optional,
so a config file written for the real binary works unchanged.
"""

import copy
import hashlib
import os

import yaml

DEFAULT_CONFIG_PATH = '/opt/bingo/config.yaml'
DEFAULT_LOG_ROOT = '/opt/bongo/logs'
MASK = '********'

# bingo's own keys, exactly as `bingo print_default_config` prints them.
BINGO_DEFAULTS = {
    'student_email': 'test@example.com',
    'postgres_cluster': {
        'hosts': [{'address': 'localhost', 'port': 5432}],
        'user': 'postgres',
        'password': 'postgres',
        'db_name': 'postgres',
        'ssl_mode': 'disable',
        'use_closest_node': False,
    },
}

# Our extra keys. http_port None means "derive it from student_email" (as bingo does).
EXTRA_DEFAULTS = {
    'http_host': '0.0.0.0',
    'http_port': None,
    'db_pool_size': 10,
    'startup_request': {'url': '', 'timeout': 30},
    'quirks': {
        'seed': None,  # None: a fresh random seed per start (logged, so a run can be replayed)
        'crash': {'enabled': False, 'after': None, 'min_seconds': 600, 'max_seconds': 1500},
        'sick_ping': {'enabled': False, 'healthy_seconds': [60, 300], 'sick_seconds': [10, 60]},
        'rps_limit': 0,
        'leak_bytes_per_request': 0,
    },
}

SSL_MODES = ('disable', 'allow', 'prefer', 'require', 'verify-ca', 'verify-full')


class ConfigError(Exception):
    """The configuration cannot be used; the message says why."""


def defaults():
    merged = copy.deepcopy(BINGO_DEFAULTS)
    merged.update(copy.deepcopy(EXTRA_DEFAULTS))
    return merged


def config_path():
    return os.environ.get('SHS_CONFIG') or DEFAULT_CONFIG_PATH


def log_root():
    return os.environ.get('SHS_LOG_ROOT') or DEFAULT_LOG_ROOT


def email_digest(email):
    return hashlib.sha1(email.encode('utf-8')).hexdigest()


def derived_port(email):
    """The port bingo-style: fixed per student_email. bingo's own formula is unknown; this one is ours."""
    return 10000 + int(email_digest(email)[10:14], 16) % 40000


def log_dir(email):
    return os.path.join(log_root(), email_digest(email)[:10])


def _deep_merge(base, override, where=''):
    for key, value in override.items():
        if isinstance(base.get(key), dict):
            if value is None:  # `quirks:` left empty: keep the defaults
                continue
            if not isinstance(value, dict):
                raise ConfigError('%s%s must be a mapping' % (where, key))
            _deep_merge(base[key], value, where + key + '.')
        else:
            base[key] = value
    return base


def _bool(text):
    lowered = text.strip().lower()
    if lowered in ('1', 'true', 'yes', 'on'):
        return True
    if lowered in ('0', 'false', 'no', 'off', ''):
        return False
    raise ValueError('not a boolean: %r' % text)


def _range(text):
    """'5' -> [5, 5]; '5,30' or '5-30' -> [5, 30]."""
    parts = text.replace('-', ',').split(',')
    values = [float(p) for p in parts if p.strip()]
    if len(values) == 1:
        values *= 2
    if len(values) != 2:
        raise ValueError('expected N or MIN,MAX: %r' % text)
    return values


# env var -> (config path, parser). Every extra key can be set without editing the file.
ENV_OVERRIDES = {
    'SHS_HTTP_HOST': (('http_host',), str),
    'SHS_HTTP_PORT': (('http_port',), int),
    'SHS_DB_POOL_SIZE': (('db_pool_size',), int),
    'SHS_STARTUP_URL': (('startup_request', 'url'), str),
    'SHS_STARTUP_TIMEOUT': (('startup_request', 'timeout'), float),
    'SHS_QUIRK_SEED': (('quirks', 'seed'), int),
    'SHS_QUIRK_CRASH': (('quirks', 'crash', 'enabled'), _bool),
    'SHS_QUIRK_CRASH_AFTER': (('quirks', 'crash', 'after'), float),
    'SHS_QUIRK_SICK_PING': (('quirks', 'sick_ping', 'enabled'), _bool),
    'SHS_QUIRK_SICK_HEALTHY': (('quirks', 'sick_ping', 'healthy_seconds'), _range),
    'SHS_QUIRK_SICK_DURATION': (('quirks', 'sick_ping', 'sick_seconds'), _range),
    'SHS_QUIRK_RPS_LIMIT': (('quirks', 'rps_limit'), int),
    'SHS_QUIRK_LEAK_BYTES': (('quirks', 'leak_bytes_per_request'), int),
}


def _apply_env(cfg, environ):
    for var, (path, parse) in ENV_OVERRIDES.items():
        if var not in environ:
            continue
        try:
            value = parse(environ[var])
        except ValueError as exc:
            raise ConfigError('environment variable %s: %s' % (var, exc))
        node = cfg
        for key in path[:-1]:
            node = node.setdefault(key, {})
        node[path[-1]] = value
    # A crash interval given explicitly switches the crash quirk on (SHS_QUIRK_CRASH_AFTER=5 is enough).
    if 'SHS_QUIRK_CRASH_AFTER' in environ and 'SHS_QUIRK_CRASH' not in environ:
        cfg['quirks']['crash']['enabled'] = True


def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _validate(cfg):
    email = cfg.get('student_email')
    if not isinstance(email, str) or not email.strip():
        raise ConfigError('student_email must be a non-empty string')
    pgc = cfg['postgres_cluster']
    hosts = pgc.get('hosts')
    if not isinstance(hosts, list) or not hosts:
        raise ConfigError('postgres_cluster.hosts must be a non-empty list of {address, port}')
    for i, host in enumerate(hosts):
        if not isinstance(host, dict) or not isinstance(host.get('address'), str) or not host['address']:
            raise ConfigError('postgres_cluster.hosts[%d].address must be a non-empty string' % i)
        port = host.get('port', 5432)
        if not _is_int(port) or not 0 < port < 65536:
            raise ConfigError('postgres_cluster.hosts[%d].port must be an integer port' % i)
    for key in ('user', 'db_name'):
        if not isinstance(pgc.get(key), str) or not pgc[key]:
            raise ConfigError('postgres_cluster.%s must be a non-empty string' % key)
    if pgc.get('password') is not None and not isinstance(pgc['password'], (str, int)):
        raise ConfigError('postgres_cluster.password must be a string')
    if pgc.get('ssl_mode') not in SSL_MODES:
        raise ConfigError('postgres_cluster.ssl_mode must be one of %s' % ', '.join(SSL_MODES))
    if not isinstance(cfg.get('http_host'), str) or not cfg['http_host']:
        raise ConfigError('http_host must be an address to listen on, e.g. 0.0.0.0')
    port = cfg.get('http_port')
    if port is not None and (not _is_int(port) or not 0 < port < 65536):
        raise ConfigError('http_port must be an integer port (or null to derive it from student_email)')
    if not _is_int(cfg.get('db_pool_size')) or cfg['db_pool_size'] < 1:
        raise ConfigError('db_pool_size must be a positive integer')
    startup = cfg['startup_request']
    if not isinstance(startup.get('url') or '', str):
        raise ConfigError('startup_request.url must be a string')
    if not _is_number(startup.get('timeout')) or startup['timeout'] < 0:
        raise ConfigError('startup_request.timeout must be a non-negative number of seconds')
    quirks = cfg['quirks']
    if quirks.get('seed') is not None and not _is_int(quirks['seed']):
        raise ConfigError('quirks.seed must be an integer (or null for a random one)')
    for key in ('rps_limit', 'leak_bytes_per_request'):
        if not _is_int(quirks.get(key)) or quirks[key] < 0:
            raise ConfigError('quirks.%s must be a non-negative integer (0 = off)' % key)
    for section in ('crash', 'sick_ping'):
        if not isinstance(quirks[section].get('enabled'), bool):
            raise ConfigError('quirks.%s.enabled must be true or false' % section)
    for key in ('healthy_seconds', 'sick_seconds'):
        value = quirks['sick_ping'].get(key)
        if not (isinstance(value, list) and len(value) == 2 and all(_is_number(v) for v in value)
                and 0 <= value[0] <= value[1]):
            raise ConfigError('quirks.sick_ping.%s must be [min, max] seconds' % key)
    crash = quirks['crash']
    if crash.get('after') is not None and (not _is_number(crash['after']) or crash['after'] < 0):
        raise ConfigError('quirks.crash.after must be a number of seconds (or null)')
    low, high = crash.get('min_seconds'), crash.get('max_seconds')
    if not (_is_number(low) and _is_number(high) and 0 <= low <= high):
        raise ConfigError('quirks.crash needs numbers 0 <= min_seconds <= max_seconds')


def load(path=None, environ=None):
    """Read the YAML file, lay it over the defaults, apply SHS_* env overrides, validate.

    Returns the effective config, with http_port filled in (derived when not set).
    """
    path = path or config_path()
    environ = os.environ if environ is None else environ
    try:
        with open(path) as handle:
            data = yaml.safe_load(handle)
    except FileNotFoundError:
        raise ConfigError('failed to read config data: %s does not exist '
                          '(`bingo print_default_config` shows what it should contain)' % path)
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError('failed to read config data from %s: %s' % (path, exc))
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError('%s must contain a YAML mapping' % path)
    cfg = _deep_merge(defaults(), data)
    _apply_env(cfg, environ)
    _validate(cfg)
    if cfg['http_port'] is None:
        cfg['http_port'] = derived_port(cfg['student_email'])
    return cfg


def masked(cfg):
    """A copy safe to print: the database password replaced by a mask."""
    out = copy.deepcopy(cfg)
    if out.get('postgres_cluster', {}).get('password'):
        out['postgres_cluster']['password'] = MASK
    return out


def dump(cfg):
    return yaml.safe_dump(cfg, sort_keys=False, default_flow_style=False)
