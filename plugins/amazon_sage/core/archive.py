"""Archive Workflow Data: zip a run's working folder, verify the zip, then remove the folder.

The archive name sorts by time and names the DAG and run. The folder is removed only after
the zip has been reopened and every member's checksum matches the file it came from.
"""

from __future__ import annotations

import hashlib
import shutil
import zipfile
from datetime import UTC, datetime
from pathlib import Path

from amazon_sage.core.files import PRIVATE_FILE, atomic_output, private_dir
from amazon_sage.core.run_folder import safe_name


class ArchiveError(Exception):
    pass


def archive_name(dag_id: str, run_id: str, when: datetime) -> str:
    return f"{when.astimezone(UTC):%Y%m%dT%H%M%SZ}_{safe_name(dag_id)}_{safe_name(run_id)}.zip"


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def archive_run_folder(folder: Path, destination: Path, *, dag_id: str, run_id: str,
                       when: datetime | None = None) -> Path:
    """Zip ``folder`` into ``destination``, verify it, delete ``folder``; return the zip path."""
    if not folder.is_dir():
        raise ArchiveError(f"Run folder {folder} does not exist: nothing to archive")
    try:
        private_dir(destination)
    except OSError as exc:
        raise ArchiveError(f"Cannot create archive folder {destination}: {exc.strerror}. Check "
                           "ARCHIVE_DESTINATION and its permissions.") from None
    existing = sorted(destination.glob(f"*_{safe_name(dag_id)}_{safe_name(run_id)}.zip"))
    target = existing[-1] if existing else destination / archive_name(dag_id, run_id, when or datetime.now(UTC))
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    digests = {p.relative_to(folder).as_posix(): _sha256(p.read_bytes()) for p in files}
    try:
        with atomic_output(target) as tmp, zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as archive:
            for path in files:
                archive.write(path, path.relative_to(folder).as_posix())
    except OSError as exc:
        raise ArchiveError(f"Cannot write archive {target}: {exc.strerror}. The run's files are kept in "
                           f"{folder}.") from None
    target.chmod(PRIVATE_FILE)
    with zipfile.ZipFile(target) as archive:
        stored = {name: _sha256(archive.read(name)) for name in archive.namelist()}
    if stored != digests:
        raise ArchiveError(f"Archive {target} does not match the run's files; they are kept in {folder}.")
    shutil.rmtree(folder)
    return target
