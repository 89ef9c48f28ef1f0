"""Per-run working folders: ``<work root>/<dag_id>/<run_id>/``, so runs never share files."""

from __future__ import annotations

import re
from pathlib import Path

from amazon_sage.core.files import private_dir

UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def safe_name(text: str) -> str:
    """``manual__2026-11-26T10:15:00+00:00`` -> ``manual__2026-11-26T10_15_00_00_00``."""
    return UNSAFE.sub("_", text).strip("._") or "run"


def run_folder(work_root: Path, dag_id: str, run_id: str, *, create: bool = True) -> Path:
    """Return the working folder of one DAG run, created (private) unless ``create`` is false."""
    folder = work_root / safe_name(dag_id) / safe_name(run_id)
    if not create:
        return folder
    private_dir(folder.parent)  # the DAG's folder too, though an earlier version made it by the umask
    return private_dir(folder)
