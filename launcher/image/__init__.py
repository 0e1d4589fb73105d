"""Images: references, the content store, layer unpacking, import, container rootfs.

    reference.py   Docker-compatible image references (hand-written parser)
    digest.py      ``sha256:<hex>`` validation and streaming hashers
    store.py       ImageStore: blobs, unpacked layers, the image index
    blobs.py       BlobWriter (verify, fsync, rename) and durable-file helpers
    decompress.py  layer compression by magic bytes (gzip, zstd, none), in-process
    resolve.py     in-root path resolution (openat2 RESOLVE_IN_ROOT, or a safe walk)
    tarstream.py   tarfile as a bounded, forward-only header parser
    unpack.py      apply one layer tar stream (the driver loop)
    applier.py     each tar entry applied fd-relative, whiteouts for overlay
    importer.py    ``launcher import ROOTFS.tar NAME[:TAG]``
    bootstrap.py   the offline default image ``busybox:latest``
    userdb.py      ``-u`` resolution against the image's /etc/passwd and /etc/group
    rootfs.py      overlay (or copied) rootfs of one container
    copytree.py    the copy fallback for hosts without overlayfs

Nothing is imported here: each caller imports the module it needs.
"""
