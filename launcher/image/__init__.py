"""Images: references, the content store, registries, archives, unpacking, container rootfs.

Names and the store:

    reference.py     Docker-compatible image references (hand-written parser)
    digest.py        ``sha256:<hex>`` validation and streaming hashers
    jsondoc.py       manifest and config JSON parsed and checked once (diff ids)
    platform.py      image platforms; picking one manifest from an index
    store.py         ImageStore: blobs, unpacked layers, the image index
    blobs.py         BlobWriter (verify, fsync, rename) and durable-file helpers
    layersize.py     each layer's unpacked size, in its ``layer-sizes/`` sidecar
    index.py         the image index ``images.json``: references -> records
    lock.py          the store lock (writers shared, GC exclusive)
    catalog.py       ``images``, ``rmi``, ``tag``, ``image inspect``
    usage.py         which images and layers containers use
    gc.py            store garbage collection: mark from the index, sweep

Layers:

    decompress.py    layer compression by magic bytes (gzip, zstd, none), in-process
    prefetch.py      read a stream ahead in a helper thread
    resolve.py       in-root path resolution (openat2 RESOLVE_IN_ROOT, or a safe walk)
    tarstream.py     tarfile as a bounded, forward-only header parser
    unpack.py        apply one layer tar stream (the driver loop)
    applier.py       each tar entry applied fd-relative, whiteouts for overlay

Getting images in and out:

    pull.py          ``launcher pull`` from a registry
    fetch.py         download and unpack an image's layers, several at a time
    push.py          ``launcher push`` to a registry
    progress.py      what a pull or push shows while it works
    archive.py       image archive layouts, limits, and reading them
    archive_write.py tar and directory writers for save
    save.py          ``launcher save``: docker-archive, oci-archive, oci-dir
    load.py          ``launcher load``: store layers, index the images
    load_plan.py     load's phase 1: an archive's manifests and configs, verified
    importer.py      ``launcher import ROOTFS.tar NAME[:TAG]``
    bootstrap.py     the offline default image ``busybox:latest``

Containers:

    userdb.py        ``-u`` resolution against the image's /etc/passwd and /etc/group
    rootfs.py        overlay (or copied) rootfs of one container
    copytree.py      the copy fallback for hosts without overlayfs

Nothing is imported here: each caller imports the module it needs.
"""
