"""Download and unpack an image's layers, several at a time.

Each layer is one job: download into a ``BlobWriter`` (verified while it
streams), then unpack the verified blob into the store's layer directory
(diff id checked). Layers are independent directories (overlay lowers), so
jobs run side by side: one layer unpacks while the next downloads — zlib,
sha256 and file writes release the GIL, so the two cores both work.

The first failure stops the rest: queued jobs are cancelled, running ones
see the abort flag at their next chunk. Workers are always joined before
``fetch_all`` returns or raises (see pull.py: no threads may outlive a pull).
"""

from __future__ import annotations

import threading

from launcher.errors import ImageError, LauncherError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from launcher.image.progress import Reporter
    from launcher.image.store import ImageStore
    from launcher.registry.client import Registry

PARALLEL = 3  # as Docker's max-concurrent-downloads


class _Aborted(Exception):
    """Raised inside a worker when another layer already failed."""


class LayerFetcher:
    __slots__ = ("_abort", "parallel", "registry", "repo", "report", "store")

    def __init__(self, store: ImageStore, registry: Registry, repo: str, report: Reporter,
                 parallel: int = PARALLEL) -> None:
        self.store = store
        self.registry = registry
        self.repo = repo
        self.report = report
        self.parallel = parallel
        self._abort = threading.Event()

    def fetch_all(self, layers: list[dict[str, Any]], diff_ids: list[str]) -> None:
        jobs = [(layer, diff_id) for layer, diff_id in zip(layers, diff_ids, strict=True)
                if not self._present(layer["digest"], diff_id)]
        if not jobs:
            return
        if len(jobs) == 1 or self.parallel <= 1:
            for layer, diff_id in jobs:
                self._one(layer, diff_id)
            return
        self._parallel(jobs)

    def _parallel(self, jobs: list[tuple[dict[str, Any], str]]) -> None:
        from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait

        pool = ThreadPoolExecutor(max_workers=min(self.parallel, len(jobs)),
                                  thread_name_prefix="launcher-pull")
        try:
            futures = [pool.submit(self._one, layer, diff_id) for layer, diff_id in jobs]
            wait(futures, return_when=FIRST_EXCEPTION)
            failed = [f for f in futures if f.done() and f.exception() is not None]
            if failed:
                self._abort.set()
                for f in futures:
                    f.cancel()
                wait(futures)
                raise _first_real(failed)
        except BaseException:  # Ctrl-C included: stop the workers, then propagate
            self._abort.set()
            raise
        finally:
            pool.shutdown(wait=True, cancel_futures=True)

    def _present(self, digest: str, diff_id: str) -> bool:
        if self.store.has_layer(diff_id) and self.store.has_blob(digest):
            self.report.layer(digest, "Already exists")
            return True
        return False

    def _one(self, layer: dict[str, Any], diff_id: str) -> None:
        digest: str = layer["digest"]
        size: int = layer["size"]
        if self._abort.is_set():
            raise _Aborted
        if not self.store.has_blob(digest):
            self._download(digest, size)
        if not self.store.has_layer(diff_id):
            self.report.layer(digest, "Extracting")
            try:
                with self.store.open_blob(digest) as blob:
                    self.store.unpack_layer(blob, expected_diff_id=diff_id)
            except ImageError as exc:
                raise ImageError(f"layer {digest}: {exc}") from None
        self.report.layer(digest, "Pull complete")

    def _download(self, digest: str, size: int) -> None:
        self.report.start(digest, size)
        abort = self._abort

        def progress(n: int) -> None:
            if abort.is_set():
                raise _Aborted
            self.report.advance(digest, n)

        with self.store.blob_writer(digest, size) as writer:
            self.registry.fetch_blob(self.repo, digest, writer.write, size=size,
                                     progress=progress)
            try:
                writer.commit()
            except ImageError as exc:
                raise ImageError(f"layer {digest} from {self.registry.domain}/{self.repo}: "
                                 f"{exc}") from None
        self.report.layer(digest, "Download complete")


def _first_real(failed: list[Any]) -> BaseException:
    """The error to show: a real one, not the ``_Aborted`` it caused elsewhere."""
    errors: list[BaseException] = [f.exception() for f in failed]
    for err in errors:
        if isinstance(err, LauncherError):
            return err
    for err in errors:
        if not isinstance(err, _Aborted):
            return err
    return ImageError("pull aborted")
