# What containers need (overlay, veth, bridge, nftables) is loaded in the
# background a few seconds on, not while the host logs in; the kernel would
# also load each on first use (a container started first just loads them).
(busybox sleep 3; modprobe -a -q overlay veth bridge br_netfilter nf_tables nft_chain_nat \
    nft_masq nft_nat nft_ct nft_fib_inet nft_fib_ipv4 nft_fib_ipv6 nf_nat) \
    </dev/null >/dev/null 2>&1 &
