# The disk may have been made larger than the image (machine init --disk-size):
# grow the filesystem to fill it, online, once per size.
read -r size </sys/block/vda/size
old=
[ -e /var/lib/launcher-guest-disk-size ] && read -r old </var/lib/launcher-guest-disk-size
if [ "$old" != "$size" ]; then
    resize2fs /dev/vda >/dev/null 2>&1 || echo "launcher-guest: resize2fs failed"
    echo "$size" >/var/lib/launcher-guest-disk-size
fi
