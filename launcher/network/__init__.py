"""Container networking: bridge networks, IPAM leases, veth endpoints.

Links, addresses and routes are changed with launcher's own rtnetlink requests
on a raw socket (``rtnl``, behind the ``link.NetOps`` seam); pyroute2 is not
used here, only by the tests, as an independent implementation to check against.
"""
