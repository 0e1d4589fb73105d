"""Container networking: bridge networks, IPAM leases, veth endpoints (netlink via pyroute2)."""
