# Per-VM data, given by launcher through QEMU's fw_cfg (opt/launcher/*): the SSH
# host key launcher generated and pins, the authorized key, the hostname and
# the host's shares. A seed disk labelled LAUNCHER-SEED carries the same files
# where fw_cfg is missing.
src=/sys/firmware/qemu_fw_cfg/by_name/opt/launcher
read_item() { busybox cat "$src/$1/raw" 2>/dev/null; }  # static: cheap to start
if [ ! -d "$src" ] && [ -b /dev/disk/by-label/LAUNCHER-SEED ]; then
    mkdir -p /run/launcher/seed && mount -o ro /dev/disk/by-label/LAUNCHER-SEED /run/launcher/seed
    read_item() { busybox cat "/run/launcher/seed/$1" 2>/dev/null; }
fi
umask 077
read_item ssh_host_ed25519_key >/run/launcher/ssh_host_ed25519_key
read_item authorized_keys >/run/launcher/authorized_keys
read_item shares >/run/launcher/shares
umask 022
name=$(read_item hostname)
echo "${name:-launcher}" >/proc/sys/kernel/hostname
echo "${name:-launcher}" >/run/launcher/hostname
