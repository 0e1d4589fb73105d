# QEMU user networking: a fixed address plan (10.0.2.0/24, gateway .2, DNS .3),
# so no DHCP client and no wait.
[ -z "$LAUNCHER_MODULES" ] || wait "$LAUNCHER_MODULES"  # virtio_net (10-mounts.sh)
# One ip process for all of it: each process costs tens of ms under TCG.
ip -batch - <<EOF
link set lo up
link set eth0 up
addr add 10.0.2.15/24 dev eth0
route add default via 10.0.2.2
EOF
echo "nameserver 10.0.2.3" >/run/launcher/resolv.conf
printf '127.0.0.1\tlocalhost\n127.0.1.1\t%s\n::1\tlocalhost ip6-localhost\n' \
    "$name" >/run/launcher/hosts
echo "launcher-guest: network up"  # launcher waits for this and sshd's line
