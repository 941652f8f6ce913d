"""Whether a VM can reach the internet (e.g. cr.yandex to pull its image), from the VPC resources alone.

On Yandex Cloud a VM with neither a public address nor a NAT route has no egress at all: a COI VM in such a
subnet never pulls its image. localcloud's nodes always reach the host's registry, so the pull path asks this.
"""

from yandex.cloud.vpc.v1 import gateway_pb2, route_table_pb2, subnet_pb2

DEFAULT_ROUTE = '0.0.0.0/0'


def has_internet_egress(cloud, subnet_id, public_ip: bool):
    """(True, reason) when a VM on `subnet_id` reaches the internet, else (False, reason naming what is missing).

    cloud: the app.LocalCloud (its store is read, nothing changes). public_ip: the VM's interface has a
    one-to-one NAT address. The rules, in the order YC applies them (en/vpc/concepts/routing.md#priority):

    1. A 0.0.0.0/0 static route with a `next_hop_address` wins over everything, the public address included
       (routing.md#priority "Priority 1", #restrictions item 2; static-routes.md#internet-routes: "access via the
       vm-1 public address is disabled"). Traffic then goes to that VM; whether it reaches the internet depends
       on that VM being a working NAT instance, which the docs leave to the user and localcloud does not model:
       answered False, with the reason saying so.
    2. A public (one-to-one NAT) address: True (routing.md "Priority 2"; gateways.md: with a public address and
       a gateway route "the VM will access the internet through the public IP address rather than the gateway").
    3. A 0.0.0.0/0 route whose `gateway_id` is an existing shared egress (NAT) gateway: True
       (en/vpc/concepts/gateways.md; routing.md "Priority 3").
    4. Anything else: False.
    """
    store = cloud.store
    subnet = store.get(subnet_pb2.Subnet, subnet_id) if subnet_id else None
    if subnet is None:
        return False, 'subnet %s not found' % subnet_id
    default = None
    table = None
    if subnet.route_table_id:
        table = store.get(route_table_pb2.RouteTable, subnet.route_table_id)
        if table is not None:
            default = next((r for r in table.static_routes if r.destination_prefix == DEFAULT_ROUTE), None)

    if default is not None and default.WhichOneof('next_hop') == 'next_hop_address':
        return False, ('subnet %s: route table %s sends 0.0.0.0/0 to %s (a NAT instance?), which overrides any '
                       'public address; localcloud does not model NAT instances'
                       % (subnet.id, table.id, default.next_hop_address))
    if public_ip:
        return True, 'the instance has a public (one-to-one NAT) address'
    if default is not None and default.WhichOneof('next_hop') == 'gateway_id':
        gateway = store.get(gateway_pb2.Gateway, default.gateway_id)
        if gateway is None:
            return False, ('subnet %s: route table %s sends 0.0.0.0/0 to gateway %s, which does not exist'
                           % (subnet.id, table.id, default.gateway_id))
        if not gateway.HasField('shared_egress_gateway'):
            return False, ('subnet %s: gateway %s of route table %s is not a shared egress gateway'
                           % (subnet.id, gateway.id, table.id))
        return True, 'subnet %s: route table %s sends 0.0.0.0/0 to NAT gateway %s' % (subnet.id, table.id, gateway.id)
    if not subnet.route_table_id:
        return False, ('subnet %s has no route table and the instance no public address: no NAT gateway route, no '
                       'internet (en/vpc/concepts/gateways.md)' % subnet.id)
    if table is None:
        return False, 'subnet %s: its route table %s does not exist' % (subnet.id, subnet.route_table_id)
    return False, ('subnet %s: route table %s has no 0.0.0.0/0 route through a NAT gateway and the instance no '
                   'public address' % (subnet.id, table.id))
