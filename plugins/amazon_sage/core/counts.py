"""The record counts every phase reports: a stable interface for the run report, the archive and sellers.

Each phase task pushes one :class:`PhaseCounts` to XCom under the key ``counts`` as a plain dict:
``in`` (records the phase read), ``out`` (records it passed on or wrote), ``failed`` and
``skipped``, then any details of its own (``duplicates``, ``attention``, ``pages``). The README
promises these four keys, so they never change name.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

XCOM_KEY = "counts"
IMPORT_FILE_KEY = "import_file"  # the audit-trail route's file for Sage's import: the run report names it
STANDARD_KEYS = ("in", "out", "failed", "skipped")


@dataclass(frozen=True)
class PhaseCounts:
    """How many records a phase read (``records_in``), passed on (``records_out``), failed and skipped."""

    records_in: int
    records_out: int
    failed: int = 0
    skipped: int = 0
    details: Mapping[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        clash = set(self.details) & set(STANDARD_KEYS)
        if clash:
            raise ValueError(f"details may not reuse the standard count names {sorted(clash)}")

    def as_dict(self) -> dict[str, int]:
        """The XCom value: the four standard keys first, then the details."""
        return {"in": self.records_in, "out": self.records_out, "failed": self.failed, "skipped": self.skipped,
                **self.details}

    @classmethod
    def from_dict(cls, value: Mapping[str, Any]) -> PhaseCounts:
        """Read an XCom value back; keys other than the standard four become details."""
        return cls(records_in=int(value.get("in", 0)), records_out=int(value.get("out", 0)),
                   failed=int(value.get("failed", 0)), skipped=int(value.get("skipped", 0)),
                   details={k: int(v) for k, v in value.items() if k not in STANDARD_KEYS})
