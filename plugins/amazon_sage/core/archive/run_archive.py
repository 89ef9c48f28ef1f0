"""Archive Workflow Data: one verified, encrypted archive per DAG run, retention, finding a run's files again.

* The archive is named ``<run start, UTC>_<dag>_<run>.zip.enc`` so it sorts by time and a retry
  of the same run writes the same name: never a second archive, never another run's.
* It is the run folder's files and ``manifest.json`` zipped, then encrypted with the current archive
  key (:mod:`amazon_sage.core.archive.encryption`: AES-256-GCM in authenticated chunks, the key id
  in its header). The plain zip exists only in a private scratch folder beside the run folder.
* The manifest (each file's size and SHA-256, the counts of each phase, the record ids - Amazon
  order ids, SKUs - and the bookkeeping of :mod:`~amazon_sage.core.archive.bookkeeping`) holds no
  buyer data. It is also stored beside the archive, unencrypted, so archives can be listed, searched
  and reconciled without the key.
* The working folder is deleted only after the encrypted archive has been decrypted back to the
  zip's SHA-256 and the store has read it back and matched its checksum. Any failure keeps the
  working files and raises :class:`ArchiveError`.
* Archives written before encryption (plain ``.zip``) are still listed, searched and restored.
* Retention (Zynk's housekeeping): ``none``, ``count`` (keep the newest N per DAG) or ``days``
  (delete those older than N days). It only ever considers names of this product's pattern.
  When the store is unreachable (an outage) it raises :class:`RetentionPostponed`: the run's
  archive is already stored, and retention simply runs again with the next run.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
import zipfile
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from amazon_sage.core.archive.bookkeeping import bookkeeping
from amazon_sage.core.archive.encryption import (
    ArchiveDecryptionError,
    ArchiveKeyError,
    ArchiveKeyring,
    decrypt_file,
    decrypt_stream,
    encrypt_file,
    is_sealed,
)
from amazon_sage.core.archive.stores import (
    SEALED_SUFFIX,
    ArchiveError,
    ArchiveStore,
    ArchiveStoreUnavailable,
    StoredArchive,
    sha256_file,
)
from amazon_sage.core.files import private_dir, private_file
from amazon_sage.core.run_folder import safe_name
from amazon_sage.core.xml_files import XmlFileError, iterparse_xml_file

RECORD_ID_TAGS = ("orderId", "Sku")
RETENTION_POLICIES = ("none", "count", "days")

__all__ = ["ArchiveError", "RetentionPostponed", "apply_retention", "archive_name", "archive_run", "find_archives",
           "open_archive", "restore_archive"]

# The keyring, or what loads it: reading archives needs it only when one must be decrypted.
Keys = ArchiveKeyring | Callable[[], ArchiveKeyring]


class RetentionPostponed(ArchiveError):
    """The store was unreachable during retention; ``deleted`` lists what was deleted before it went.

    Nothing is lost by waiting: the next run's retention deletes whatever is then beyond the policy.
    """

    def __init__(self, message: str, deleted: list[StoredArchive]):
        super().__init__(message)
        self.deleted = deleted


def archive_name(dag_id: str, run_id: str, run_started: datetime) -> str:
    return (f"{run_started.astimezone(timezone.utc):%Y%m%dT%H%M%SZ}_{safe_name(dag_id)}_{safe_name(run_id)}"
            f"{SEALED_SUFFIX}")


def record_ids(files: list[Path]) -> list[str]:
    """Amazon order ids and SKUs named anywhere in the run's XML files (for finding them later)."""
    ids: set[str] = set()
    for path in files:
        if path.suffix != ".xml":
            continue
        try:
            for _, element in iterparse_xml_file(path, tag=RECORD_ID_TAGS):
                if element.text and element.text.strip():
                    ids.add(element.text.strip())
                element.clear()
        except XmlFileError:
            continue  # a broken file is archived as it is; it just adds no ids
    return sorted(ids)


def build_manifest(folder: Path, *, dag_id: str, run_id: str, counts: dict[str, Any]) -> dict[str, Any]:
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    return {
        "dag_id": dag_id,
        "run_id": run_id,
        "archived_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "files": [{"name": p.relative_to(folder).as_posix(), "size": p.stat().st_size, "sha256": sha256_file(p)}
                  for p in files],
        "counts": counts,
        "records": record_ids(files),
        **bookkeeping(folder),
    }


def zip_folder(folder: Path, manifest: dict[str, Any], target: Path) -> None:
    with zipfile.ZipFile(private_file(target), "w", zipfile.ZIP_DEFLATED) as archive:
        for entry in manifest["files"]:
            archive.write(folder / entry["name"], entry["name"])
        archive.writestr("manifest.json", json.dumps(manifest, indent=2))
    with zipfile.ZipFile(target) as archive:  # the zip itself must hold what the manifest says
        if archive.testzip() is not None:
            raise ArchiveError(f"The zip of {folder} is corrupt; the run's files are kept.")


def load_keyring(keys: Keys) -> ArchiveKeyring:
    try:
        return keys() if callable(keys) else keys
    except ArchiveKeyError as exc:
        raise ArchiveError(str(exc)) from None


def seal(zipped: Path, target: Path, keys: Keys) -> str:
    """Encrypt ``zipped`` into ``target`` and prove it decrypts back to the same bytes; return the key id."""
    keyring = load_keyring(keys)
    key_id = encrypt_file(zipped, target, keyring)
    digest = hashlib.sha256()
    try:
        decrypt_stream(target, keyring, digest.update)
    except (ArchiveDecryptionError, ArchiveKeyError) as exc:
        raise ArchiveError(f"The encrypted archive does not decrypt back: {exc}") from None
    if digest.hexdigest() != sha256_file(zipped):
        raise ArchiveError(f"The encrypted archive {target.name} does not decrypt back to its zip.")
    return key_id


def archive_run(folder: Path, store: ArchiveStore, *, keys: Keys, dag_id: str, run_id: str, run_started: datetime,
                counts: dict[str, Any] | None = None) -> tuple[str, dict[str, Any]]:
    """Archive ``folder`` into ``store`` encrypted with ``keys``' current key, verify, delete ``folder``.

    Returns the URI and the manifest. A missing or unusable key raises :class:`ArchiveError` before
    anything is stored (the key is loaded first when ``keys`` is a loader).

    Idempotent per run: a retry after the folder was already archived and removed returns
    the existing archive (with an empty manifest).
    """
    name = archive_name(dag_id, run_id, run_started)
    if not folder.is_dir():
        if store.exists(dag_id, name):
            return next(a.uri for a in store.list(dag_id) if a.name == name), {}
        raise ArchiveError(f"Run folder {folder} does not exist and the run has no archive {name}.")
    keyring = load_keyring(keys)  # before any work: without a key nothing can be archived
    manifest = build_manifest(folder, dag_id=dag_id, run_id=run_id, counts=counts or {})
    with tempfile.TemporaryDirectory(prefix=".archive-", dir=folder.parent) as scratch:
        zipped = Path(scratch) / "run.zip"
        zip_folder(folder, manifest, zipped)
        sealed = Path(scratch) / name
        manifest["key_id"] = seal(zipped, sealed, keyring)  # beside the archive only: the zip is sealed by now
        sidecar = Path(scratch) / StoredArchive(name, "", run_started).manifest_name
        sidecar.write_text(json.dumps(manifest, indent=2))
        uri = store.put(dag_id, name, sealed)
        store.put(dag_id, sidecar.name, sidecar)
    shutil.rmtree(folder)
    return uri, manifest


def apply_retention(store: ArchiveStore, dag_id: str, policy: str, number: int,
                    now: datetime | None = None) -> list[StoredArchive]:
    """Delete this DAG's archives beyond the policy; return what was deleted.

    Raises :class:`RetentionPostponed` when the store cannot be reached (an outage), and
    :class:`ArchiveError` for a bad policy or a store that refuses (e.g. no permission to delete).
    """
    if policy not in RETENTION_POLICIES:
        raise ArchiveError(f"Unknown archive retention {policy!r}: use one of {', '.join(RETENTION_POLICIES)}")
    if policy == "none":
        return []
    if number < 1 and policy == "count":
        raise ArchiveError("ARCHIVE_RETENTION_NUMBER must be at least 1 to keep the newest archives")
    deleted: list[StoredArchive] = []
    try:
        archives = store.list(dag_id)
        if policy == "count":
            doomed = archives[:-number] if len(archives) > number else []
        else:
            cutoff = (now or datetime.now(timezone.utc)) - timedelta(days=number)
            doomed = [a for a in archives if a.created < cutoff]
        for archive in doomed:
            store.delete(dag_id, archive)
            deleted.append(archive)
    except ArchiveStoreUnavailable as exc:
        raise RetentionPostponed(f"Archive retention is postponed: {exc}.", deleted) from None
    return deleted


def open_archive(store: ArchiveStore, dag_id: str, name: str, scratch: Path, keys: Keys) -> Path:
    """Fetch archive ``name`` of ``dag_id`` into the private folder ``scratch``; return the path of its zip.

    An encrypted archive is decrypted (all of it authenticated first); a plain zip from before
    encryption is returned as it is. A missing key, a wrong key or a damaged archive raises
    :class:`ArchiveError` saying which, and leaves no decrypted bytes behind.
    """
    fetched = store.fetch(dag_id, name, private_file(scratch / f"fetched-{name}"))
    if not is_sealed(fetched):
        return fetched  # written before archives were encrypted
    zipped = scratch / f"{name.removesuffix(SEALED_SUFFIX)}.zip"
    try:
        decrypt_file(fetched, zipped, load_keyring(keys), archive=f"Archive {name}")
    except (ArchiveDecryptionError, ArchiveKeyError) as exc:
        raise ArchiveError(str(exc)) from None
    finally:
        fetched.unlink()
    return zipped


def read_manifest(store: ArchiveStore, dag_id: str, archive: StoredArchive, keys: Keys) -> dict[str, Any]:
    """The archive's manifest: the one stored beside it, or else the one inside it."""
    with tempfile.TemporaryDirectory() as scratch:
        try:
            path = store.fetch(dag_id, archive.manifest_name, private_file(Path(scratch) / "m.json"))
            return json.loads(path.read_text())
        except Exception:  # an archive without a sidecar is searched inside, which needs the key
            with zipfile.ZipFile(open_archive(store, dag_id, archive.name, Path(scratch), keys)) as opened:
                if "manifest.json" not in opened.namelist():
                    return {}  # a zip from before manifests: nothing is known of it but its name
                return json.loads(opened.read("manifest.json"))


def find_archives(store: ArchiveStore, *, dag_id: str | None = None, run_id: str | None = None,
                  record: str | None = None, keys: Keys | None = None) -> list[dict[str, Any]]:
    """Archives matching a DAG, a run id and/or a record id (order id or SKU), from their manifests.

    ``keys`` is needed only to search an archive whose manifest is not stored beside it.
    """
    found = []
    for dag in [dag_id] if dag_id else store.dags():
        for archive in store.list(dag):
            if run_id and safe_name(run_id) not in archive.name:
                continue
            manifest: dict[str, Any] = {}
            if record:
                manifest = read_manifest(store, dag, archive, keys or _no_keys)
                if record not in manifest.get("records", []):
                    continue
            found.append({"dag_id": dag, "archive": archive.uri, "created": archive.created.isoformat(),
                          "counts": manifest.get("counts")})
    return found


def _no_keys() -> ArchiveKeyring:
    raise ArchiveKeyError("No archive key was given to read an encrypted archive.")


def restore_archive(store: ArchiveStore, dag_id: str, name: str, target: Path, keys: Keys) -> Path:
    """Decrypt and unpack archive ``name`` of ``dag_id`` into ``target`` (private) and return it.

    Nothing is unpacked unless the whole archive decrypts and authenticates.
    """
    with tempfile.TemporaryDirectory() as scratch:
        zipped = open_archive(store, dag_id, name, Path(scratch), keys)
        if not target.is_dir():
            private_dir(target)  # a folder the person named and that exists keeps its mode; what is unpacked is private
        with zipfile.ZipFile(zipped) as archive:
            archive.extractall(target)
    for path in target.rglob("*"):
        path.chmod(0o600 if path.is_file() else 0o700)
    return target
