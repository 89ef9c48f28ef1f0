"""Retention of buyer PII, not of records: archives rewritten without buyer data once it is no longer needed.

An archive's buyer data is due for removal ``days`` after the latest date of its orders: each order's
ship date where the archive knows it (its latest package ``shipTime``), else its purchase date
(``createdTime``). An archive without order dates (a stock run, or one archived before the manifest
kept them) counts from the run's start. :func:`remove_expired_buyer_data` goes through every archive
of a DAG, so archives already past retention are handled on its first run, and:

1. fetches and decrypts the archive, and rewrites each file without buyer PII
   (:mod:`~amazon_sage.core.archive.redaction`);
2. verifies the rewrite: the manifest's bookkeeping (every order, Sage number, date, payment, line,
   SKU, quantity, net and VAT) and record ids read from the rewritten files equal the original's,
   and no record keeps a value removed from it;
3. zips it with a manifest marked ``pii_removed_at``, encrypts it with the *current* key (so this
   re-keys old archives too) and checks it decrypts back;
4. replaces the archive under the same name (local: a 0600 partial file renamed over it; S3: one PUT
   or a completed multipart upload, atomic either way), then the manifest beside it.

Killed at any point, the store holds the old archive or the new one, both whole and decryptable,
and the manifest beside it says which until the next run: an archive whose manifest lacks
``pii_removed_at`` is simply done again (the rewrite of a rewritten archive changes nothing).
Archives written before encryption (plain ``.zip``) are rewritten encrypted as ``.zip.enc`` (with
their buyer data removed once due), and the plain zip is deleted after.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import zipfile
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from amazon_sage.core.archive.bookkeeping import bookkeeping
from amazon_sage.core.archive.encryption import ArchiveKeyring
from amazon_sage.core.archive.redaction import RedactionError, redact_file
from amazon_sage.core.archive.run_archive import (
    Keys,
    load_keyring,
    open_archive,
    read_manifest,
    record_ids,
    seal,
    zip_folder,
)
from amazon_sage.core.archive.stores import (
    SEALED_SUFFIX,
    ArchiveError,
    ArchiveStore,
    ArchiveStoreUnavailable,
    StoredArchive,
    sha256_file,
)
from amazon_sage.core.files import private_dir

MANIFEST = "manifest.json"


@dataclass
class BuyerDataOutcome:
    """What one pass did: archives rewritten without buyer data, legacy zips encrypted, archives not yet due,
    and archives that could not be rewritten with certainty (each message names one; it was left as it was)."""

    removed: list[str] = field(default_factory=list)
    encrypted: list[str] = field(default_factory=list)
    not_due: int = 0
    failed: list[str] = field(default_factory=list)


def _instant(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def buyer_data_due(manifest: dict[str, Any], archive: StoredArchive, days: int) -> datetime:
    """When the archive's buyer data is to be removed: ``days`` after its latest ship-or-purchase date."""
    dates = [_instant(d.get("shipped") or d["purchased"]) for d in manifest.get("order_dates", {}).values()
             if d.get("shipped") or d.get("purchased")]
    return (max(dates) if dates else archive.created) + timedelta(days=days)


def _unpack(zipped: Path, folder: Path) -> dict[str, Any]:
    """Extract the zip's files into ``folder`` (private) and return its manifest (empty if it has none)."""
    with zipfile.ZipFile(zipped) as archive:
        archive.extractall(private_dir(folder))
    inner = folder / MANIFEST
    manifest = json.loads(inner.read_text()) if inner.is_file() else {}
    inner.unlink(missing_ok=True)
    return manifest


def _files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file())


def _verified(old: Path, new: Path, name: str) -> None:
    """Raise :class:`ArchiveError` unless the rewrite kept every record id and every figure the books need."""
    if record_ids(_files(old)) != record_ids(_files(new)):
        raise ArchiveError(f"Removing buyer data from {name} would change its order ids or SKUs; it is left as it "
                           "was.")
    if bookkeeping(old) != bookkeeping(new):
        raise ArchiveError(f"Removing buyer data from {name} would change its orders' amounts, lines or dates; it is "
                           "left as it was.")


def rewrite_archive(store: ArchiveStore, dag_id: str, archive: StoredArchive, keyring: ArchiveKeyring, *,
                    remove_buyer_data: bool, now: datetime) -> str:
    """Rewrite one archive encrypted with the current key, without buyer data if asked; return its new name."""
    name = archive.name if archive.name.endswith(SEALED_SUFFIX) else archive.name + ".enc"
    with tempfile.TemporaryDirectory(prefix="amazon-sage-buyer-data-") as scratch:
        work = Path(scratch)
        manifest = _unpack(open_archive(store, dag_id, archive.name, work, keyring), work / "old")
        new = private_dir(work / "new")
        left_out = []
        for path in _files(work / "old"):
            target = new / path.relative_to(work / "old")
            private_dir(target.parent)
            if not remove_buyer_data:
                shutil.copyfile(path, target)
                continue
            try:
                removed = redact_file(path, target)
            except RedactionError as exc:
                raise ArchiveError(f"Archive {archive.name}: {exc}") from None
            if removed is None:
                left_out.append(path.relative_to(work / "old").as_posix())
        if remove_buyer_data and not left_out:
            _verified(work / "old", new, archive.name)
        files = _files(new)
        manifest.update({
            "files": [{"name": p.relative_to(new).as_posix(), "size": p.stat().st_size, "sha256": sha256_file(p)}
                      for p in files],
            "records": record_ids(files), **bookkeeping(new)})
        if remove_buyer_data:
            manifest["pii_removed_at"] = now.isoformat(timespec="seconds")
            if left_out:
                manifest["left_out_unreadable"] = left_out
        zip_folder(new, manifest, work / "new.zip")
        sealed = work / name
        sidecar = work / StoredArchive(name, "", archive.created).manifest_name
        sidecar.write_text(json.dumps({**manifest, "key_id": seal(work / "new.zip", sealed, keyring)}, indent=2))
        store.put(dag_id, name, sealed)  # replaces the old archive in one step; put() reads it back
        store.put(dag_id, sidecar.name, sidecar)
    if name != archive.name:
        store.discard(dag_id, archive.name)  # the plain zip, now that its encrypted rewrite is stored
    return name


def remove_expired_buyer_data(store: ArchiveStore, dag_id: str, keys: Keys, days: int,
                              now: datetime | None = None) -> BuyerDataOutcome:
    """Rewrite every archive of ``dag_id`` whose buyer data is due, and encrypt plain zips from before encryption.

    An archive that cannot be rewritten with certainty is left as it was and listed in ``failed``;
    the others still get their turn. Raises :class:`ArchiveError` for a missing or unusable key and
    :class:`ArchiveStoreUnavailable` in an outage; what was done before stays done, and the next run
    carries on.
    """
    if days < 1:
        raise ArchiveError(f"PII_RETENTION_DAYS must be at least 1 (it is {days}).")
    now = now or datetime.now(timezone.utc)
    outcome = BuyerDataOutcome()
    keyring: ArchiveKeyring | None = None
    archives = store.list(dag_id)
    names = {a.name for a in archives}
    for archive in archives:
        legacy = not archive.name.endswith(SEALED_SUFFIX)
        manifest = read_manifest(store, dag_id, archive, keys)
        if legacy and archive.name + ".enc" in names:
            if manifest.get("pii_removed_at") or buyer_data_due(manifest, archive, days) > now:
                store.discard(dag_id, archive.name)  # a rewrite killed before it deleted the plain zip
                continue
        elif not legacy and (manifest.get("pii_removed_at") or buyer_data_due(manifest, archive, days) > now):
            outcome.not_due += not manifest.get("pii_removed_at")
            continue
        due = buyer_data_due(manifest, archive, days) <= now
        keyring = keyring or load_keyring(keys)
        try:
            name = rewrite_archive(store, dag_id, archive, keyring, remove_buyer_data=due, now=now)
        except ArchiveStoreUnavailable:
            raise
        except ArchiveError as exc:
            outcome.failed.append(str(exc))
            continue
        (outcome.removed if due else outcome.encrypted).append(name)
    return outcome


def erase_buyer_data(store: ArchiveStore, records: str | Collection[str], keys: Keys,
                     now: datetime | None = None) -> list[str]:
    """Remove buyer data now from every archive naming one of ``records`` (Amazon order ids), whatever its age.

    For a buyer's erasure request: each archive whose manifest names the order is rewritten exactly as
    retention would (verified, atomic, the books kept); archives already without buyer data are left.
    Returns ``<dag>/<archive>`` of each archive rewritten; raises :class:`ArchiveError` if one cannot be.
    """
    now = now or datetime.now(timezone.utc)
    wanted = {records} if isinstance(records, str) else set(records)
    rewritten = []
    for dag_id in store.dags():
        for archive in store.list(dag_id):
            manifest = read_manifest(store, dag_id, archive, keys)
            if wanted & set(manifest.get("records", [])) and not manifest.get("pii_removed_at"):
                name = rewrite_archive(store, dag_id, archive, load_keyring(keys), remove_buyer_data=True, now=now)
                rewritten.append(f"{dag_id}/{name}")
    return rewritten


__all__ = ["ArchiveError", "ArchiveStoreUnavailable", "BuyerDataOutcome", "buyer_data_due", "erase_buyer_data",
           "remove_expired_buyer_data", "rewrite_archive"]
