"""IamTokenService: OAuth token or service-account JWT -> IAM token (the only way in for the SDK)."""

from yandex.cloud.iam.v1 import iam_token_service_pb2, iam_token_service_pb2_grpc, service_account_pb2

from localcloud.server import registry
from localcloud.server.errors import invalid, unauthenticated


@registry.register
class IamTokenService(iam_token_service_pb2_grpc.IamTokenServiceServicer):
    # Revoke: the token in the request is the credential. CreateForServiceAccount needs the caller's IAM
    # token like everywhere else (note: the SDK's auth plugin sends none to IamTokenService: pass metadata).
    public_methods = ('Create', 'Revoke')

    def __init__(self, cloud):
        self.cloud = cloud
        self.auth = cloud.auth

    def _issue(self, subject):
        token, expires_at = self.auth.issue_iam_token(subject)
        return iam_token_service_pb2.CreateIamTokenResponse(iam_token=token, expires_at=expires_at)

    def Create(self, request, context):
        which = request.WhichOneof('identity')
        if which == 'yandex_passport_oauth_token':
            return self._issue(self.auth.subject_for_oauth(request.yandex_passport_oauth_token))
        if which == 'jwt':
            return self._issue(self.auth.subject_for_jwt(request.jwt))
        raise invalid('identity', 'one of yandex_passport_oauth_token, jwt is required')

    def CreateForServiceAccount(self, request, context):
        self.cloud.get(service_account_pb2.ServiceAccount, request.service_account_id, 'Service account')
        return self._issue({'type': 'serviceAccount', 'id': request.service_account_id})

    def Revoke(self, request, context):
        subject = self.auth.revoke(request.iam_token)
        if subject is None:
            raise unauthenticated('The token is invalid')
        return iam_token_service_pb2.RevokeIamTokenResponse(subject_id=subject['id'])
