"""Credentials: OAuth token and service-account JWT -> IAM token; IAM token -> the caller (subject).

IAM tokens live 12 h and survive restarts (kept hashed in the state db). A token issued for a VM (the registry login
an instance group node gets, node_docker_config) remembers the instance it was issued to (`instance`: id, subnet,
public address): the registry's token endpoint checks that instance's egress. A JWT is checked the way YC
documents it: PS256 signed by the authorized key named in `kid`, `iss` = the key's service account,
`aud` = the IAM token URL, `exp` in the future and at most an hour after `iat`.
"""

import hashlib
import threading
import time

import jwt
from google.protobuf import timestamp_pb2
from yandex.cloud.iam.v1 import key_pb2, service_account_pb2

from localcloud.server import ids
from localcloud.server.errors import unauthenticated

IAM_TOKEN_TTL = 12 * 3600
JWT_MAX_LIFETIME = 3600
CLOCK_SKEW = 60
TOKEN_URL_PATH = '/iam/v1/tokens'
NS_IAM = 'iam_token'
NS_OAUTH = 'oauth_token'


def _digest(token):
    return hashlib.sha256(token.encode()).hexdigest()


class Auth:
    def __init__(self, cloud):
        self.cloud = cloud
        self.store = cloud.store
        self._lock = threading.Lock()
        self._cache = {}

    # -- OAuth (the user's token, made at bootstrap) ------------------------------------------------
    def add_oauth_token(self, token, user_id):
        self.store.kv_put(NS_OAUTH, _digest(token), {'type': 'userAccount', 'id': user_id})

    def subject_for_oauth(self, token):
        subject = self.store.kv_get(NS_OAUTH, _digest(token)) if token else None
        if not subject:
            raise unauthenticated('The OAuth token is invalid')
        return subject

    # -- service-account JWT ------------------------------------------------------------------------
    def audiences(self):
        """The one audience YC documents, adapted to this server: `aud` is "the link by which an IAM token will be
        requested: https://iam.api.cloud.yandex.net/iam/v1/tokens" (en/iam/operations/iam-token/create-for-sa.md),
        which is `https://iam.<API endpoint>/iam/v1/tokens` - what the SDK builds from the endpoint it is given.
        Here the API endpoint is this server's address under a name its certificate holds (127.0.0.1, localhost)
        with the port it listens on, written as a URL writes an authority: without the port when it is https's
        default 443, as in YC's one documented value. So a `:443` spelling is refused (not the documented URL), and
        so are YC's own audience (a JWT made for the real IAM) and other ports."""
        host, _, port = self.cloud.endpoint.rpartition(':')
        authority = '' if port == '443' else ':' + port
        hosts = sorted({host, '127.0.0.1', 'localhost'})
        return ['https://iam.%s%s%s' % (name, authority, TOKEN_URL_PATH) for name in hosts]

    def subject_for_jwt(self, token):
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise unauthenticated('JWT is malformed: %s' % exc)
        if header.get('alg') != 'PS256':
            raise unauthenticated('JWT must be signed with PS256, not %s' % header.get('alg'))
        key = self.store.get(key_pb2.Key, header.get('kid') or '')
        if key is None or not key.service_account_id:
            raise unauthenticated('JWT kid %r is not an authorized key of a service account' % header.get('kid'))
        try:
            claims = jwt.decode(token, key.public_key, algorithms=['PS256'], audience=self.audiences(),
                                leeway=CLOCK_SKEW, options={'require': ['iss', 'aud', 'iat', 'exp']})
        except jwt.InvalidAudienceError:
            raise unauthenticated('JWT aud must be one of %s (the IAM token URL of this endpoint), not %r' % (
                ', '.join(self.audiences()), jwt.decode(token, options={'verify_signature': False}).get('aud')))
        except jwt.PyJWTError as exc:
            raise unauthenticated('JWT validation failed: %s' % exc)
        if claims['iss'] != key.service_account_id:
            raise unauthenticated('JWT iss %s is not the service account of key %s' % (claims['iss'], key.id))
        if claims['exp'] - claims['iat'] > JWT_MAX_LIFETIME + CLOCK_SKEW:
            raise unauthenticated('JWT lifetime (exp - iat) must be at most %d s' % JWT_MAX_LIFETIME)
        if self.store.get(service_account_pb2.ServiceAccount, key.service_account_id) is None:
            raise unauthenticated('service account %s does not exist' % key.service_account_id)
        return {'type': 'serviceAccount', 'id': key.service_account_id}

    # -- IAM tokens -----------------------------------------------------------------------------------
    def issue_iam_token(self, subject, instance=None):
        """Return (token, expires_at Timestamp). `instance` ({'instance_id', 'subnet_id', 'public_ip', ...}): the VM
        the token is for (a metadata-service token on YC); token_instance() gives it back."""
        token = ids.secret('t1.')
        expires = int(time.time()) + IAM_TOKEN_TTL
        record = {'subject': subject, 'expires_at': expires}
        if instance:
            record['instance'] = dict(instance)
        self.store.kv_put(NS_IAM, _digest(token), record)
        with self._lock:
            self._cache[_digest(token)] = record
        return token, timestamp_pb2.Timestamp(seconds=expires)

    def authenticate(self, token):
        """The subject of a valid IAM token; UNAUTHENTICATED otherwise."""
        return self._record(token)['subject']

    def token_instance(self, token):
        """The instance a valid IAM token was issued to (None for users' and API tokens); UNAUTHENTICATED otherwise."""
        return self._record(token).get('instance')

    def _record(self, token):
        if token is None:
            raise unauthenticated('Authentication required: no "authorization: Bearer <IAM token>" metadata')
        digest = _digest(token)
        with self._lock:
            record = self._cache.get(digest)
        if record is None:
            record = self.store.kv_get(NS_IAM, digest)
            if record is None:
                raise unauthenticated('The token is invalid')
            with self._lock:
                self._cache[digest] = record
        if record['expires_at'] <= time.time():
            raise unauthenticated('The token has expired')
        return record

    def revoke(self, token):
        digest = _digest(token)
        record = self.store.kv_get(NS_IAM, digest)
        self.store.kv_delete(NS_IAM, digest)
        with self._lock:
            self._cache.pop(digest, None)
        return record['subject'] if record else None

    def forget_subject(self, subject_id):
        """Drop the IAM tokens of a deleted service account."""
        for digest, record in self.store.kv_items(NS_IAM):
            if record['subject']['id'] == subject_id:
                self.store.kv_delete(NS_IAM, digest)
                with self._lock:
                    self._cache.pop(digest, None)

    def purge_expired(self):
        now = time.time()
        for digest, record in self.store.kv_items(NS_IAM):
            if record['expires_at'] <= now:
                self.store.kv_delete(NS_IAM, digest)
