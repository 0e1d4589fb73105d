# Kernel filesystems, a tmpfs /run, cgroup v2 (the guest is pure v2), root rw.
# busybox's applets: a static binary starts much faster than util-linux under TCG.
busybox mount -t proc proc /proc
busybox mount -t sysfs sysfs /sys
busybox mount -t devtmpfs devtmpfs /dev 2>/dev/null
busybox mkdir -p /dev/pts /dev/shm
busybox mount -t devpts -o gid=5,mode=620,ptmxmode=666 devpts /dev/pts
busybox mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs /dev/shm
busybox mount -t tmpfs -o mode=755,nosuid,nodev tmpfs /run
busybox mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs /tmp
busybox mount -t cgroup2 -o nsdelegate cgroup2 /sys/fs/cgroup
busybox mount -o remount,rw,noatime /
busybox mkdir -p /run/launcher /run/sshd /var/lib/launcher && busybox chmod 700 /run/launcher
