"""The work root's run folders as holders of buyer PII: found, redacted for one buyer, removed when expired.

Layout (:mod:`amazon_sage.core.run_folder`): ``<work root>/<dag_id>/<run_id>/`` per run, plus
``<work root>/<dag_id>/.archive-*/``, the scratch folder of a run's archiving, which a killed archive
task leaves behind (it holds the run's files as a plain zip). Files directly in the work root (the feed
registry, ``.notices.json``, ``.fba_inventory_report.json``) are product state, never a run's, and are never
touched here.

A run folder outlives its run only when the run failed (a successful run's folder is deleted once
archived): it is kept so that a retry finds its files, and it holds the buyer data of the orders it
downloaded in plain (private, 0600) files.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

from amazon_sage.core.archive.redaction import ORDER_FILES, Chooser, redact_file

SCRATCH_PREFIX = ".archive-"


def run_folders(work_root: Path) -> list[Path]:
    """Every run folder and archiving scratch folder of the work root, sorted."""
    if not work_root.is_dir():
        return []
    return sorted(run for dag in work_root.iterdir() if dag.is_dir() and not dag.is_symlink()
                  for run in dag.iterdir() if run.is_dir() and not run.is_symlink())


def last_change(folder: Path) -> datetime:
    """The latest modification time of ``folder`` or anything in it (a retry writing one file makes it recent)."""
    latest = folder.stat().st_mtime
    for parent, dirs, files in os.walk(folder):
        for name in (*dirs, *files):
            latest = max(latest, os.lstat(os.path.join(parent, name)).st_mtime)
    return datetime.fromtimestamp(latest, timezone.utc)


def contains(path: Path, needle: bytes) -> bool:
    """Whether file ``path`` contains ``needle``, read 1 MiB at a time (working files can be hundreds of MB)."""
    tail = b""
    with path.open("rb") as handle:
        while block := handle.read(1 << 20):
            if needle in tail + block:
                return True
            tail = block[-len(needle):]
    return False


def files_of(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and not p.is_symlink())


def redact_folder(folder: Path, chosen: Chooser) -> tuple[dict[Path, set[str]], list[Path]]:
    """Take the buyer data of the records ``chosen`` returns true for out of the order files of ``folder``, in place.

    Returns the files changed with the values removed from each, and the order files that could not
    be read (not well-formed: they are left as they are, for the caller to report).
    """
    changed: dict[Path, set[str]] = {}
    unreadable = []
    for path in files_of(folder):
        if not ORDER_FILES.match(path.name):
            continue
        rewritten = path.with_name(f".{path.name}.redacted")  # private (atomic_output), beside it, then renamed over it
        removed = redact_file(path, rewritten, chosen)
        if removed:
            rewritten.replace(path)
            changed[path] = removed
            continue
        rewritten.unlink(missing_ok=True)  # nothing of the buyer's in it: the file stays byte for byte as it was
        if removed is None:
            unreadable.append(path)
    return changed, unreadable


@dataclass
class ExpiredFolders:
    """What one housekeeping pass did with the work root: folders removed, and folders of DAGs with a run
    in progress, left for a later pass."""

    removed: list[str] = field(default_factory=list)
    postponed: list[str] = field(default_factory=list)


def remove_expired_folders(work_root: Path, days: int, busy: Callable[[str], bool],
                           now: datetime | None = None) -> ExpiredFolders:
    """Remove the run folders (and archiving scratch folders) unchanged for ``days`` days.

    ``busy(dag_id)`` says whether the DAG has a run queued or running: its folders are then left for a
    later pass, since a retry may be using one. A removed folder's orders are not lost: Amazon still has
    them (a new run of the window downloads them again) and Sage has those that were imported.
    """
    if days < 1:
        raise ValueError(f"PII_RETENTION_DAYS must be at least 1 (it is {days}).")
    cutoff = (now or datetime.now(timezone.utc)) - timedelta(days=days)
    outcome = ExpiredFolders()
    verdicts: dict[str, bool] = {}
    for folder in run_folders(work_root):
        if last_change(folder) > cutoff:
            continue
        dag_id = folder.parent.name
        if dag_id not in verdicts:
            verdicts[dag_id] = busy(dag_id)  # asked once per DAG, and only when it has an expired folder
        name = folder.relative_to(work_root).as_posix()
        if verdicts[dag_id]:
            outcome.postponed.append(name)
            continue
        shutil.rmtree(folder)
        outcome.removed.append(name)
    return outcome
