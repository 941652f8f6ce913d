"""ApiEndpointService: every endpoint id the SDK knows resolves to this server's address."""

from yandex.cloud.endpoint import api_endpoint_pb2, api_endpoint_service_pb2, api_endpoint_service_pb2_grpc

from localcloud.server import registry, validate
from localcloud.server.errors import not_found

# The ids YC's discovery returns that the Python SDK maps packages to (yandexcloud/_sdk.py), plus a few
# the SDK does not map but other clients (yc CLI, Terraform) ask for.
BASE_IDS = ('compute', 'container-registry', 'endpoint', 'iam', 'load-balancer', 'operation', 'resource-manager',
            'resourcemanager', 'vpc', 'alb', 'dns', 'kms', 'lockbox', 'logging', 'serverless-functions',
            'certificate-manager', 'managed-kubernetes', 'organization-manager', 'storage-api')


def endpoint_ids():
    found = set(BASE_IDS)
    try:
        from yandexcloud import _sdk
        found.update(service_id for _, service_id in _sdk._supported_modules)
    except (ImportError, AttributeError):  # a future SDK without that table: the base ids still work
        pass
    return sorted(found)


@registry.register
class ApiEndpointService(api_endpoint_service_pb2_grpc.ApiEndpointServiceServicer):
    public_methods = ('Get', 'List')

    def __init__(self, cloud):
        self.cloud = cloud
        self.ids = endpoint_ids()

    def _endpoints(self):
        return [api_endpoint_pb2.ApiEndpoint(id=i, address=self.cloud.endpoint) for i in self.ids]

    def Get(self, request, context):
        if request.api_endpoint_id not in self.ids:
            raise not_found('Api endpoint', request.api_endpoint_id)
        return api_endpoint_pb2.ApiEndpoint(id=request.api_endpoint_id, address=self.cloud.endpoint)

    def List(self, request, context):
        # The SDK asks without page_size and expects every endpoint in one answer.
        items, token = validate.page(self._endpoints(), request.page_size or validate.MAX_PAGE_SIZE,
                                     request.page_token)
        return api_endpoint_service_pb2.ListApiEndpointsResponse(endpoints=items, next_page_token=token)
