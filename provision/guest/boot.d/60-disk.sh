# The disk may have been made larger than the image (machine init --disk-size):
# grow the filesystem to fill it, online.
resize2fs /dev/vda >/dev/null 2>&1 || echo "launcher-guest: resize2fs failed"
