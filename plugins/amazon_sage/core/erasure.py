"""A buyer's erasure request: their PII removed now, by Amazon order id or buyer e-mail, from every archive and
work folder, with a line printed for each change.

* By e-mail (Amazon's anonymised relay address, ``...@marketplace.amazon.co.uk``, matched whatever its
  case): the manifests hold no e-mails, so every archive that still has buyer data is decrypted and its
  order files read for the buyer's orders (``buyerEmail`` in Amazon's download, ``Email`` in the Zynk
  files); the run folders are read too. The orders found are then erased as by order id.
* By order id: every archive whose manifest names the order is rewritten without buyer data, as
  retention would (:func:`~amazon_sage.core.archive.pii_retention.erase_buyer_data`: the whole archive,
  verified, atomic, the books kept). In the run folders (a failed run's files, kept for a retry) only that
  buyer's records are rewritten, in place, so a retry still imports the other orders; the erased order, if
  retried, reaches Sage without a name or address.
* What cannot be changed with certainty is reported, not guessed at: an order file that is not well-formed,
  another file of a run folder that still holds a value removed from the buyer's records, and an
  archiving scratch folder left by a killed archive task (a plain zip): delete those.

Sage's own copy (the sales order's name and addresses, a tax record) is the seller's to change in Sage.
"""

from __future__ import annotations

import tempfile
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from amazon_sage.core.archive.pii_retention import erase_buyer_data
from amazon_sage.core.archive.redaction import ORDER_FILES, record_id
from amazon_sage.core.archive.run_archive import Keys, open_archive, read_manifest
from amazon_sage.core.archive.stores import ArchiveStore
from amazon_sage.core.files import private_dir
from amazon_sage.core.work_folders import SCRATCH_PREFIX, contains, files_of, redact_folder, run_folders
from amazon_sage.core.xml_files import XmlFileError, iterparse_xml_file

EMAIL_TAGS = ("buyerEmail", "Email")
RECORD_TAGS = ("Order", "SalesOrder")
# Removed values looked for in a run folder's other files: e-mails and values this long (names, address lines,
# phones), not a town or a postcode that other buyers' records share.
DISTINCTIVE = 12


@dataclass
class Buyer:
    """Whom to erase: their Amazon order ids, and their e-mail (lower case; empty when asked by order id)."""

    order_ids: set[str] = field(default_factory=set)
    email: str = ""

    def has_email(self, record: Any) -> bool:
        return bool(self.email) and any((e.text or "").strip().lower() == self.email for e in record.iter(*EMAIL_TAGS))

    def names(self, record: Any) -> bool:
        """Whether an ``<Order>`` or ``<SalesOrder>`` is one of this buyer's."""
        return record_id(record) in self.order_ids or self.has_email(record)


def orders_of(buyer: Buyer, files: Iterable[Path]) -> set[str]:
    """The ids of the records in the order files among ``files`` whose e-mail is the buyer's."""
    found = set()
    for path in files:
        if not ORDER_FILES.match(path.name):
            continue
        try:
            for _, record in iterparse_xml_file(path, tag=RECORD_TAGS):
                if buyer.has_email(record) and record_id(record):
                    found.add(record_id(record))
                record.clear()
        except XmlFileError:
            continue  # reported when the folder is redacted; an archive's broken file is left out by the rewrite
    return found


def _orders_in_archives(store: ArchiveStore, buyer: Buyer, keys: Keys) -> set[str]:
    """The buyer's order ids in the order files of every archive that still holds buyer data (decrypted)."""
    found: set[str] = set()
    for dag_id in store.dags():
        for archive in store.list(dag_id):
            if read_manifest(store, dag_id, archive, keys).get("pii_removed_at"):
                continue
            with tempfile.TemporaryDirectory(prefix="amazon-sage-erasure-") as scratch:
                unpacked = private_dir(Path(scratch) / "files")
                with zipfile.ZipFile(open_archive(store, dag_id, archive.name, Path(scratch), keys)) as opened:
                    opened.extractall(unpacked, [n for n in opened.namelist() if ORDER_FILES.match(Path(n).name)])
                found |= orders_of(buyer, files_of(unpacked))
    return found


def _erase_in_folders(work_root: Path, buyer: Buyer) -> list[str]:
    """Redact the buyer's records in every run folder; return a line per change and per thing left to delete."""
    lines = []
    for folder in run_folders(work_root):
        if folder.name.startswith(SCRATCH_PREFIX):
            lines.append(f"not changed: {folder} is the scratch folder of a killed archive task and may hold a run's "
                         "files as a plain zip: delete it (no archive task of its DAG may be running)")
            continue
        changed, unreadable = redact_folder(folder, buyer.names)
        lines += [f"removed buyer data from {path}" for path in changed]
        for path in unreadable:
            lines.append(f"not changed: {path} is not well-formed XML, so the buyer's records cannot be found in "
                         "it: delete it or the run's folder")
        values = {v.encode() for removed in changed.values() for v in removed if "@" in v or len(v) >= DISTINCTIVE}
        for path in files_of(folder):
            if not ORDER_FILES.match(path.name) and any(contains(path, value) for value in values):
                lines.append(f"not changed: {path} still holds a value removed from the buyer's records: delete it "
                             "or the run's folder")
    return lines


def erase_buyer(store: ArchiveStore, work_root: Path, keys: Keys, *, order_id: str = "", email: str = "",
                now: datetime | None = None) -> list[str]:
    """Erase one buyer's PII, named by ``order_id`` or ``email``, from every archive and run folder now.

    Returns one line per change (and per file it could not change, saying what to do), for the person
    answering the data-subject request. Raises :class:`~amazon_sage.core.archive.stores.ArchiveError`
    if an archive cannot be read or rewritten (what was done before stays done; running it again
    carries on).
    """
    buyer = Buyer({order_id.strip()} - {""}, email.strip().lower())
    lines = []
    if buyer.email:
        buyer.order_ids |= _orders_in_archives(store, buyer, keys) | orders_of(
            buyer, [p for folder in run_folders(work_root) for p in files_of(folder)])
        lines.append(f"orders of {buyer.email}: {', '.join(sorted(buyer.order_ids)) or 'none found'}")
    if buyer.order_ids:
        lines += [f"removed buyer data from archive {name}" for name in erase_buyer_data(store, buyer.order_ids, keys,
                                                                                           now)]
    return lines + _erase_in_folders(work_root, buyer)
