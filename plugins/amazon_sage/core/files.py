"""Small file helpers shared by every phase: atomic writes and private permissions.

Working files hold buyer PII, so they are created 0600 in folders of 0700.
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
    """Create ``path`` (and parents) and make it private to the owner; return it."""
    path.mkdir(parents=True, exist_ok=True, mode=PRIVATE_DIR)
    path.chmod(PRIVATE_DIR)
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
    os.close(fd)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
