"""Small file helpers shared by every phase: atomic writes and private permissions.

Working files hold buyer PII, so every file the product writes is created 0600 and every folder it
makes 0700, whatever the umask: through :func:`atomic_output`, :func:`append_private`,
:func:`private_file` and :func:`private_dir`, never a bare ``open``/``mkdir``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO

PRIVATE_FILE = 0o600
PRIVATE_DIR = 0o700


def private_dir(path: Path) -> Path:
    """Create ``path`` and make it private to the owner; return it.

    Missing parents are created 0700 too (``mkdir(parents=True)`` alone would make them by the umask,
    0755 under Debian's): the work root and a DAG's folder hold nothing but private folders. Parents
    that already exist are left as they are.
    """
    missing = [parent for parent in reversed(path.parents) if not parent.exists()]
    for folder in [*missing, path]:
        try:
            folder.mkdir(mode=PRIVATE_DIR)
        except FileExistsError:
            if not folder.is_dir():
                raise
            if folder is not path:
                continue  # an existing parent is someone else's to set (the archive destination, /tmp)
        folder.chmod(PRIVATE_DIR)
    return path


def private_file(path: Path) -> Path:
    """Create ``path`` empty with mode 0600 (whatever the umask) unless it exists; return it.

    For files that a library then writes by name (``shutil.copyfile``, ``zipfile``, boto3's
    downloads): opening an existing file for writing keeps its mode, so they stay private.
    """
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT, PRIVATE_FILE))
    os.chmod(path, PRIVATE_FILE)
    return path


def append_private(path: Path, encoding: str = "utf-8") -> TextIO:
    """Open text file ``path`` for appending, created 0600; an existing file is made 0600 as well.

    For files that grow as a phase works (the import's journal), where :func:`atomic_output`
    does not fit. The mode is set on the open descriptor, so it holds whatever the umask, and
    also for a file an earlier version left 0644.
    """
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, PRIVATE_FILE)
    try:
        os.fchmod(fd, PRIVATE_FILE)
        return os.fdopen(fd, "a", encoding=encoding)
    except BaseException:
        os.close(fd)
        raise


@contextmanager
def atomic_output(path: Path) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; on success move it into place atomically.

    A crash leaves either the old file or none, never half a file under the final name.
    """
    tmp = path.with_name(f".{path.name}.partial")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, PRIVATE_FILE)
    try:
        os.fchmod(fd, PRIVATE_FILE)  # also when a crashed earlier try left the partial file with another mode
    finally:
        os.close(fd)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
