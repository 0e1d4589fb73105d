"""Kubernetes Pod manifests: ``launcher kube generate | play | down`` (podman's verbs).

    model.py     the checked Pod a manifest describes (and the labels that mark a played pod)
    fields.py    typed, path-naming access to the parsed YAML; the DNS-1123 name checks
    manifest.py  YAML text → Pods, every field mapped, ignored on purpose, or refused
    quantity.py  resource quantities (256Mi, 500m) both ways
    play.py      Pod → `launcher run` requests; play (atomic, rolled back) and down
    podops.py    the host seam play/down act through (run -d, rm -f, volumes)
    pause.py     the infra container's image: the host's static catatonit alone
    generate.py  Docker-style inspect objects → a Pod/Deployment manifest (pure)
    describe.py  this host's containers (or a played pod) as generate's input

Not on the container start path; PyYAML is imported only where YAML is read or written.
"""
