"""skopeo helpers for integration tests: push OCI layouts, inspect registries.

Every call runs skopeo with a private accept-anything policy and no ambient
auth file, over plain HTTP. ocibuild.py re-exports these names.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile


class SkopeoError(RuntimeError):
    """skopeo failed; the message carries its command line and stderr."""


def push_with_skopeo(
    layout_dir: str,
    tag: str,
    registry_host: str,
    repo_tag: str,
    *,
    all: bool = False,  # skopeo's own flag name
    creds: str | tuple[str, str] | None = None,
) -> None:
    """``skopeo copy oci:DIR:TAG docker://HOST/REPO:TAG`` over plain HTTP.

    ``all`` copies every image of an index (``--all``); ``creds`` is ``"user:pw"``
    or ``(user, pw)``.
    """
    args = ["copy", "--dest-tls-verify=false", "--retry-times=0"]
    if all:
        args.append("--all")
    if creds is not None:
        args.append("--dest-creds=" + _creds(creds))
    args += [f"oci:{layout_dir}:{tag}", f"docker://{registry_host}/{repo_tag}"]
    run_skopeo(args)


def skopeo_inspect(
    registry_host: str,
    repo_ref: str,
    *,
    creds: str | tuple[str, str] | None = None,
    raw: bool = False,
) -> dict[str, object]:
    """``skopeo inspect [--raw] docker://HOST/REPO_REF`` parsed as JSON."""
    args = ["inspect", "--tls-verify=false", "--retry-times=0"]
    if raw:
        args.append("--raw")
    if creds is not None:
        args.append("--creds=" + _creds(creds))
    args.append(f"docker://{registry_host}/{repo_ref}")
    result: dict[str, object] = json.loads(run_skopeo(args))
    return result


def run_skopeo(args: list[str]) -> str:
    """Run skopeo with a private accept-anything policy and no ambient auth file."""
    with tempfile.TemporaryDirectory(prefix="launcher-test-skopeo-") as tmp:
        policy = os.path.join(tmp, "policy.json")
        with open(policy, "w", encoding="utf-8") as f:
            f.write('{"default": [{"type": "insecureAcceptAnything"}]}\n')
        # A missing auth file keeps host credentials (if any) out of the tests.
        env = {**os.environ, "REGISTRY_AUTH_FILE": os.path.join(tmp, "auth.json")}
        cmd = ["skopeo", "--policy", policy, *args]
        proc = subprocess.run(cmd, capture_output=True, env=env, timeout=300, check=False)
    if proc.returncode != 0:
        stderr = proc.stderr.decode("utf-8", "replace").strip()
        raise SkopeoError(f"{' '.join(cmd[3:])} failed ({proc.returncode}):\n{stderr}")
    return proc.stdout.decode("utf-8", "replace")


def _creds(creds: str | tuple[str, str]) -> str:
    return creds if isinstance(creds, str) else f"{creds[0]}:{creds[1]}"
