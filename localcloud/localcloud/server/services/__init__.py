"""Every service module localcloud serves; importing one registers its servicers (see registry.py).

To add a service: write services/<api>_<resource>.py with a registered Servicer subclass and list it here.
"""

from localcloud.server import operations
from localcloud.server.services import (
    compute_image,
    compute_instance,
    compute_instance_group,
    containerregistry,
    endpoint,
    iam_key,
    iam_service_account,
    iam_token,
    loadbalancer_network_load_balancer,
    loadbalancer_target_group,
    resourcemanager_cloud,
    resourcemanager_folder,
    vpc_gateway,
    vpc_network,
    vpc_route_table,
    vpc_security_group,
    vpc_subnet,
)

__all__ = ['operations', 'compute_image', 'compute_instance', 'compute_instance_group', 'containerregistry',
           'endpoint', 'iam_key', 'iam_service_account', 'iam_token', 'loadbalancer_network_load_balancer',
           'loadbalancer_target_group', 'resourcemanager_cloud',
           'resourcemanager_folder', 'vpc_gateway', 'vpc_network', 'vpc_route_table', 'vpc_security_group',
           'vpc_subnet']
