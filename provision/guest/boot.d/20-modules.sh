# Drivers the initramfs did not load: the NIC, fw_cfg (per-VM data), the 9p
# share, overlay (container root filesystems), and networking for containers.
for m in virtio_net qemu_fw_cfg 9p 9pnet_virtio overlay veth bridge nf_tables nft_chain_nat \
         nft_masq nft_nat nft_ct nft_fib_inet nft_fib_ipv4 nft_fib_ipv6 nf_nat br_netfilter; do
    modprobe -q "$m" || echo "launcher-guest: modprobe $m failed"
done
