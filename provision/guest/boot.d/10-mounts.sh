# /etc/fstab's kernel and tmpfs filesystems in one process (busybox's applets:
# a static binary starts much faster than util-linux under TCG), then the
# directories launcher and sshd need.
busybox mount -a
umask 077
busybox mkdir -p /run/launcher /run/sshd /var/lib/launcher
umask 022
# The NIC (40-network.sh) and 9p (50-shares.sh) load while sshd starts;
# those scripts wait for this.
modprobe -a -q virtio_net 9pnet_virtio 9p </dev/null &
LAUNCHER_MODULES=$!
