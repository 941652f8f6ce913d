"""KeyService: authorized keys of service accounts (what sa-key.json / `yc iam key create` hold)."""

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from google.protobuf import timestamp_pb2
from yandex.cloud.iam.v1 import key_pb2, key_service_pb2, key_service_pb2_grpc, service_account_pb2

from localcloud.server import ids, masks, registry, validate
from localcloud.server.errors import invalid

KEY_BITS = {key_pb2.Key.RSA_2048: 2048, key_pb2.Key.RSA_4096: 4096}


def new_key(service_account_id, algorithm=key_pb2.Key.RSA_2048, description=''):
    """(Key, private key PEM): the private half exists only in the answer, never in the state db."""
    private = rsa.generate_private_key(public_exponent=65537, key_size=KEY_BITS[algorithm])
    created = timestamp_pb2.Timestamp()
    created.GetCurrentTime()
    key = key_pb2.Key(id=ids.new(ids.SA_KEY), service_account_id=service_account_id, created_at=created,
                      description=description, key_algorithm=algorithm,
                      public_key=private.public_key().public_bytes(
                          serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode())
    pem = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    return key, pem


@registry.register
class KeyService(key_service_pb2_grpc.KeyServiceServicer):
    def __init__(self, cloud):
        self.cloud = cloud
        self.store = cloud.store

    def _sa(self, sa_id, field='service_account_id'):
        validate.required(field, sa_id)
        return self.cloud.get(service_account_pb2.ServiceAccount, sa_id, 'Service account')

    def Get(self, request, context):
        return self.cloud.get(key_pb2.Key, request.key_id, 'Key')

    def List(self, request, context):
        sa = self._sa(request.service_account_id)
        keys = self.store.list(key_pb2.Key, where=lambda k: k.service_account_id == sa.id)
        items, token = validate.page(keys, request.page_size, request.page_token)
        return key_service_pb2.ListKeysResponse(keys=items, next_page_token=token)

    def Create(self, request, context):
        sa = self._sa(request.service_account_id)
        validate.description('description', request.description)
        algorithm = request.key_algorithm or key_pb2.Key.RSA_2048
        if algorithm not in KEY_BITS:
            raise invalid('key_algorithm', 'unsupported algorithm %s' % key_pb2.Key.Algorithm.Name(algorithm))
        key, pem = new_key(sa.id, algorithm, request.description)
        self.store.put(key)
        return key_service_pb2.CreateKeyResponse(key=key, private_key=pem)

    def Update(self, request, context):
        key = self.cloud.get(key_pb2.Key, request.key_id, 'Key')
        paths = masks.update_paths(request, 'key_id')
        validate.description('description', request.description)

        def work():
            current = self.cloud.get(key_pb2.Key, key.id, 'Key')
            masks.apply(request, current, paths)
            return self.store.put(current)
        return self.cloud.operations.start(key_service_pb2.UpdateKeyMetadata(key_id=key.id), work, 'Update key')

    def Delete(self, request, context):
        key = self.cloud.get(key_pb2.Key, request.key_id, 'Key')

        def work():
            self.cloud.get(key_pb2.Key, key.id, 'Key')
            self.store.delete(key_pb2.Key, key.id)
        return self.cloud.operations.start(key_service_pb2.DeleteKeyMetadata(key_id=key.id), work, 'Delete key')
