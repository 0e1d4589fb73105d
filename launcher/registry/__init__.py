"""The OCI distribution client: talk to registries for ``pull``, ``push`` and ``login``.

    mediatypes   the manifest, index, config and layer media types, and ``ACCEPT``
    config       registries.toml (insecure registries) and loopback detection
    credentials  auth.json (Docker's config.json ``auths``), written atomically, 0600
    transport    HTTP(S) connections per thread and origin, TLS/plain choice, redirects
    auth         ``WWW-Authenticate`` parsing, bearer tokens, where credentials may go
    manifests    ``Manifest``, the 4 MiB cap, media type checks (type confusion)
    blobio       the resumable blob download, upload bodies
    client       ``Registry``: manifests, blobs (resumable download, mount, upload)

Only the stdlib is used, and nothing here is on the container start path:
``launcher.image.pull``/``push`` and ``launcher.imageops`` import it lazily.
"""
