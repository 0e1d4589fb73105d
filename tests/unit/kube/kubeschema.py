"""Strict validation of generated manifests against Kubernetes' OpenAPI schema
(the kubernetes-validate package ships it): unknown fields and wrong types fail."""

from __future__ import annotations

from typing import Any

import kubernetes_validate  # type: ignore[import-untyped]

K8S_VERSION = "1.30.0"


def assert_valid(doc: dict[str, Any]) -> None:
    try:
        kubernetes_validate.validate(doc, K8S_VERSION, strict=True)
    except kubernetes_validate.ValidationError as exc:
        path = ".".join(str(p) for p in exc.path)
        raise AssertionError(f"{doc.get('kind')} invalid at {path}: {exc.message}") from None
