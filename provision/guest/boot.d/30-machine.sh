# Per-VM data, given by launcher through QEMU's fw_cfg (opt/launcher/*): the SSH
# host key launcher generated and pins, the authorized key, the hostname and
# the host's shares. Where the driver has no fw_cfg, a seed disk carries the
# same files: a raw second disk holding a cpio archive whose first entry is
# LAUNCHER-SEED. Read with shell builtins: no process per file.
src=/sys/firmware/qemu_fw_cfg/by_name/opt/launcher
item=raw
if [ ! -d "$src" ] && [ -b /dev/vdb ]; then
    busybox mkdir -p -m 700 /run/launcher/seed
    (cd /run/launcher/seed && busybox cpio -i -d -H newc </dev/vdb 2>/dev/null)
    if [ -e /run/launcher/seed/LAUNCHER-SEED ]; then
        src=/run/launcher/seed item=
    fi
fi
read_item() {
    f="$src/$1${item:+/$item}"
    [ -r "$f" ] || return 0
    while IFS= read -r line || [ -n "$line" ]; do printf '%s\n' "$line"; done <"$f"
}
umask 077
read_item ssh_host_ed25519_key >/run/launcher/ssh_host_ed25519_key
read_item authorized_keys >/run/launcher/authorized_keys
read_item shares >/run/launcher/shares
umask 022
name=
[ -r "$src/hostname${item:+/$item}" ] && read -r name <"$src/hostname${item:+/$item}"
name=${name:-launcher}
echo "$name" >/proc/sys/kernel/hostname
echo "$name" >/run/launcher/hostname
