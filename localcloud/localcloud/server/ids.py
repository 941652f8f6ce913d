"""YC-looking resource ids: a 3-character prefix + 17 random characters (20 in all, [0-9a-z])."""

import secrets
import string

_ALPHABET = string.digits + string.ascii_lowercase

# The prefixes YC uses for these kinds (what a reader of logs expects to see).
CLOUD = 'b1g'
FOLDER = 'b1g'
USER_ACCOUNT = 'aje'
SERVICE_ACCOUNT = 'aje'
SA_KEY = 'aje'
NETWORK = 'enp'
SECURITY_GROUP = 'enp'
SECURITY_GROUP_RULE = 'enp'
SUBNET_BY_ZONE = {'ru-central1-a': 'e9b', 'ru-central1-b': 'e2l', 'ru-central1-d': 'fl8'}


def new(prefix):
    return prefix + ''.join(secrets.choice(_ALPHABET) for _ in range(20 - len(prefix)))


def secret(prefix, nbytes=32):
    """An opaque bearer secret (OAuth/IAM token look-alike)."""
    return prefix + secrets.token_urlsafe(nbytes)
