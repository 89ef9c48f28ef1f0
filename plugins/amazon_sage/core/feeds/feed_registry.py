"""The feed ids this product has recorded, for every run: ``<work root>/.feed_registry.json``.

Amazon's Feed object does not name its input document, so when a createFeed answer was lost
the upload looks for its feed among those getFeeds lists. A feed in this registry already
belongs to a run (or was declared not this product's), so it is never taken for another.

Contract:

* an entry is written *before* the run's own journal gets the feed id, so a kill between the
  two leaves the feed findable here by its ``feedDocumentId`` (see ``submissions.py``);
* writes are atomic and private (0600), under an exclusive ``flock`` on a lock file beside the
  registry, so tasks running at once never lose each other's entries. With several machines
  the work root must be shared storage with working locks (NFSv4, EFS), as WORK_ROOT already
  must be shared;
* entries older than getFeeds' 90 days are dropped on write: Amazon lists no older feed;
* an unreadable registry is an error, never "empty": treating it as empty could take another
  run's feed for this one.
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from amazon_sage.core.files import PRIVATE_FILE, atomic_output, private_dir

REGISTRY_NAME = ".feed_registry.json"
RETENTION = timedelta(days=90)  # "Feeds are retained for a maximum of 90 days" (getFeeds, feeds_2021-06-30.json)
NOT_THIS_PRODUCT = "(not this product's)"


class FeedRegistryError(Exception):
    """The registry cannot be read; nothing was decided from it."""


def registry_path(work_root: Path) -> Path:
    """Where the registry of ``work_root`` lives, next to the other product-wide state (``.notices.json``)."""
    return work_root / REGISTRY_NAME


def _utc_now() -> datetime:
    return datetime.now(UTC)


class FeedRegistry:
    """Recorded feed ids: ``{feed_id: {"owner", "document", "feedDocumentId", "recordedAt"}}``.

    ``owner`` is ``<dag_id>/<run_id>`` of the run that submitted the feed, or
    :data:`NOT_THIS_PRODUCT` for a feed a person declared foreign.
    """

    def __init__(self, path: Path, clock: Callable[[], datetime] = _utc_now):
        self.path, self.clock = path, clock

    def entries(self) -> dict[str, dict[str, Any]]:
        """Every recorded feed. Needs no lock: writers replace the file atomically."""
        if not self.path.exists():
            return {}
        try:
            data = json.loads(self.path.read_text())
            feeds = data["feeds"]
            if not isinstance(feeds, dict):
                raise TypeError("'feeds' is not an object")
        except (ValueError, KeyError, TypeError) as exc:
            raise FeedRegistryError(f"The feed registry {self.path} is unreadable ({exc}). Restore it from a backup "
                                    "or from the feed ids in the runs' amazon_*_feed_submissions.json files; until "
                                    "then no lost feed can be told from another run's.") from None
        return feeds

    def recorded_ids(self) -> set[str]:
        return set(self.entries())

    def feed_for_document(self, feed_document_id: str) -> str | None:
        """The feed recorded as made from the uploaded document ``feed_document_id``, if any."""
        return next((feed_id for feed_id, entry in self.entries().items()
                     if entry.get("feedDocumentId") == feed_document_id), None)

    def record(self, feed_id: str, *, owner: str, document: str, feed_document_id: str) -> None:
        """Record ``feed_id`` as ``owner``'s feed made from ``document`` (uploaded as ``feed_document_id``)."""
        with self._changing() as feeds:
            feeds[feed_id] = {"owner": owner, "document": document, "feedDocumentId": feed_document_id,
                              "recordedAt": self.clock().isoformat()}

    def mark_not_ours(self, feed_ids: Iterable[str], *, note: str) -> None:
        """Record feeds a person checked and found not made by this product, so no run takes them."""
        with self._changing() as feeds:
            for feed_id in feed_ids:
                feeds.setdefault(feed_id, {"owner": NOT_THIS_PRODUCT, "document": "", "feedDocumentId": "",
                                           "recordedAt": self.clock().isoformat(), "note": note})

    @contextmanager
    def _changing(self) -> Iterator[dict[str, dict[str, Any]]]:
        """Read, let the caller change, prune and write back the feeds, all under the exclusive lock."""
        private_dir(self.path.parent)
        lock = os.open(self.path.with_name(self.path.name + ".lock"), os.O_RDWR | os.O_CREAT, PRIVATE_FILE)
        try:
            fcntl.flock(lock, fcntl.LOCK_EX)
            feeds = self.entries()
            yield feeds
            oldest = (self.clock() - RETENTION).isoformat()
            kept = {feed_id: entry for feed_id, entry in feeds.items() if entry.get("recordedAt", oldest) >= oldest}
            with atomic_output(self.path) as tmp:
                tmp.write_text(json.dumps({"feeds": kept}, indent=1, sort_keys=True))
        finally:
            os.close(lock)  # closing the descriptor releases the lock
