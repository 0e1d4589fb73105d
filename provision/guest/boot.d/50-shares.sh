# Host directories shared with the machine (9p, virtio transport), mounted at
# the same path as on the host: one "TAG PATH" line each.
while read -r tag path; do
    [ -n "$tag" ] || continue
    [ -d "$path" ] || busybox mkdir -p "$path"
    busybox mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144,cache=mmap "$tag" "$path" \
        || echo "launcher-guest: cannot mount share $tag at $path"
done </run/launcher/shares
