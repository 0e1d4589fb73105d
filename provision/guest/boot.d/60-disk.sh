# The disk may have been made larger than the image (machine init --disk-size):
# grow the filesystem to fill it, online, once per size.
size=$(cat /sys/block/vda/size)
if [ "$(cat /var/lib/launcher-guest-disk-size 2>/dev/null)" != "$size" ]; then
    resize2fs /dev/vda >/dev/null 2>&1 || echo "launcher-guest: resize2fs failed"
    echo "$size" >/var/lib/launcher-guest-disk-size
fi
