"""A run's files for the run report: the list, the failed records' reasons, and downloads, all from its archive.

The working folder is deleted once a run is archived, so a run's success, fail and skipped files
(and the audit-trail CSV) exist only inside its encrypted archive. Everything here goes through the
product's own archive store (local folder or S3, :func:`~amazon_sage.hooks.archive_destination.open_archive_store`)
and keyring, exactly as ``python -m amazon_sage.cli.archives restore`` does.

Contract:

* A run is named by its DAG id and run id only. The archive's name comes from Airflow's record of
  the run (the archive task's XCom), never from the request, so no path is ever built from input.
* A file is served only if its name is listed in the archive's manifest (:func:`manifest_files`);
  anything else (``../``, absolute paths, names of other runs) is :class:`RunFileNotFound`. Answers
  and errors name files by their name in the archive, never by a path on the server.
* Decryption happens in a private temporary folder (0700, files 0600, the product's rule) that is
  removed once the response has been streamed, or at once when anything fails.
* The failed records' reasons are read from the run's fail files (``*_fail.xml``: each record with
  its ``<Errors>``), not from XCom: a reason is free text (Sage's or Amazon's message) and could
  echo buyer data, and the metadata database must hold none. An archive changes only when buyer-data
  retention rewrites it under the same name, which keeps its file names, record ids and messages, so
  what is read from one is kept in memory (a small LRU cache) instead of decrypting it per page.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path, PurePosixPath
from typing import Any

from amazon_sage.core.archive.stores import ARCHIVE_NAME, SEALED_SUFFIX, StoredArchive, created_at
from amazon_sage.core.files import private_dir, private_file

ARCHIVE_TASK = "archive_workflow_data"
FAIL_SUFFIX, SUCCESS_SUFFIX, SKIPPED_SUFFIX = "_fail.xml", "_success.xml", "_skipped.xml"
RECORD_ID_TAGS = ("CustomerOrderNumber", "orderId", "Sku", "sageOrderNumber", "Id")  # first found names a record
RECORD_DEPTH = 2  # the depth left after a record's end event: below Company and the collection
MAX_REASONS = 500  # per fail file; the file itself lists every one
CACHED_ARCHIVES = 64


class RunFileNotFound(Exception):
    """No such run, archive or file in the archive; the message is safe to show (no server paths)."""


class RunFileUnavailable(Exception):
    """The archive could not be read (store outage, missing or wrong key); the message is safe to show."""


@dataclass(frozen=True)
class ArchivedRun:
    dag_id: str
    run_id: str
    archive: str  # the archive's file name in the store


def archived_run(dag_id: str, run_id: str) -> ArchivedRun:
    """The archive of run ``run_id`` of product DAG ``dag_id``, as Airflow recorded it; RunFileNotFound if none."""
    from airflow.models.dag import DagModel
    from airflow.models.dagrun import DagRun
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    from amazon_sage.dag_factories import OWNER

    with create_session() as session:
        run_db_id = session.scalar(select(DagRun.id).where(
            DagRun.dag_id == dag_id, DagRun.run_id == run_id,
            DagRun.dag_id.in_(select(DagModel.dag_id).where(DagModel.owners == OWNER))))
        if run_db_id is None:
            raise RunFileNotFound(f"There is no run {run_id} of {dag_id}.")
        xcom = session.scalar(select(XComModel).where(XComModel.dag_run_id == run_db_id,
                                                      XComModel.task_id == ARCHIVE_TASK,
                                                      XComModel.key == "return_value"))
        uri = XComModel.deserialize_value(xcom) if xcom is not None else None
    run = archive_of(dag_id, run_id, uri)
    if run is None:
        raise RunFileNotFound(f"Run {run_id} of {dag_id} has no archive (it has not been archived yet).")
    return run


def archive_of(dag_id: str, run_id: str, uri: object) -> ArchivedRun | None:
    """The run's archive from the URI its archive task returned (a path or ``s3://…``); None if it has none."""
    name = PurePosixPath(str(uri or "").replace("\\", "/")).name
    return ArchivedRun(dag_id, run_id, name) if ARCHIVE_NAME.match(name) else None


def _store() -> Any:
    from amazon_sage.hooks.archive_destination import open_archive_store

    return open_archive_store()


def _destination() -> str:
    from amazon_sage import settings

    return settings.archive_destination()


def _unavailable(exc: Exception, archive: str) -> RunFileUnavailable:
    """The archive error as a message without the store's paths (a local store's errors name its folder)."""
    from amazon_sage import settings

    message = str(exc).replace(settings.archive_destination(), "<archive destination>")
    return RunFileUnavailable(f"Archive {archive} cannot be read: {message}")


def _decrypted(run: ArchivedRun, prefix: str) -> tuple[Path, Path]:
    """A new private temporary folder (0700) and the run's archive decrypted into it as a zip.

    On any failure the folder is removed before the error goes on; else the caller removes it.
    """
    from amazon_sage.core.archive.run_archive import ArchiveError, open_archive
    from amazon_sage.hooks.archive_destination import archive_keyring

    scratch = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        return scratch, open_archive(_store(), run.dag_id, run.archive, scratch, archive_keyring)
    except ArchiveError as exc:
        shutil.rmtree(scratch, ignore_errors=True)
        raise _unavailable(exc, run.archive) from None
    except BaseException:
        shutil.rmtree(scratch, ignore_errors=True)
        raise


def _extract(opened: zipfile.ZipFile, name: str, target: Path) -> Path:
    """Member ``name`` of ``opened`` copied into the new private file ``target``."""
    with opened.open(name) as source, private_file(target).open("wb") as sink:
        shutil.copyfileobj(source, sink)
    return target


@contextlib.contextmanager
def _opened(run: ArchivedRun) -> Iterator[tuple[Path, zipfile.ZipFile]]:
    """The run's archive decrypted into a private temporary folder, as a zip; the folder goes on exit."""
    scratch, zipped = _decrypted(run, "amazon-sage-report-")
    try:
        with zipfile.ZipFile(zipped) as opened:
            yield scratch, opened
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


@lru_cache(maxsize=CACHED_ARCHIVES)
def _cached_manifest_files(destination: str, dag_id: str, archive: str) -> tuple[str, ...]:
    from amazon_sage.core.archive.run_archive import ArchiveError, read_manifest
    from amazon_sage.hooks.archive_destination import archive_keyring

    stored = StoredArchive(archive, "", created_at(archive))
    try:
        manifest = read_manifest(_store(), dag_id, stored, archive_keyring)
    except ArchiveError as exc:
        raise _unavailable(exc, archive) from None
    return tuple(str(entry["name"]) for entry in manifest.get("files", []))


def manifest_files(run: ArchivedRun) -> list[str]:
    """The names of the files in the run's archive, from its manifest (the sidecar; inside it if none)."""
    return list(_cached_manifest_files(_destination(), run.dag_id, run.archive))


def file_role(name: str, import_file: str | None = None) -> str | None:
    """``success``, ``fail``, ``skipped`` or ``audit trail`` for a file the report offers; None for the rest."""
    base = PurePosixPath(name).name
    for suffix, role in ((SUCCESS_SUFFIX, "success"), (FAIL_SUFFIX, "fail"), (SKIPPED_SUFFIX, "skipped")):
        if base.endswith(suffix):
            return role
    if import_file and base == import_file:
        return "audit trail"
    return None


def _record_id(record: Any) -> str:
    for tag in RECORD_ID_TAGS:
        found = record.find(tag)
        if found is not None and (found.text or "").strip():
            return found.text.strip()
    return "(no id)"


def read_reasons(path: Path) -> list[tuple[str, str]]:
    """``(record id, reason)`` for each record of fail file ``path`` (the first MAX_REASONS).

    A fail file is ``Company/<collection>/<record>`` with each record's ``<Errors>`` first, so a
    record is read at its end (its id comes after the errors), then dropped to keep memory flat.
    """
    from amazon_sage.core.xml_files import iterparse_xml_file

    found: list[tuple[str, str]] = []
    depth = 0
    for event, element in iterparse_xml_file(path, "Fail file", events=("start", "end")):
        depth += 1 if event == "start" else -1
        if event != "end" or depth != RECORD_DEPTH:
            continue
        reason = "; ".join((error.findtext("Description") or "").strip()
                           for error in element.iterfind("Errors/Error"))
        found.append((_record_id(element), reason))
        element.clear()
        if len(found) >= MAX_REASONS:
            break
    return found


@lru_cache(maxsize=CACHED_ARCHIVES)
def _cached_reasons(destination: str, dag_id: str, run_id: str, archive: str) -> tuple[tuple[str, str], ...]:
    run = ArchivedRun(dag_id, run_id, archive)
    reasons: list[tuple[str, str]] = []
    with _opened(run) as (scratch, opened):
        for name in opened.namelist():
            if file_role(name) != "fail":
                continue
            reasons += read_reasons(_extract(opened, name, scratch / f"member-{len(reasons)}.xml"))
    return tuple(reasons)


def failure_reasons(run: ArchivedRun) -> list[tuple[str, str]]:
    """``(record id, reason)`` of every failed record in the run's fail files, read from its archive."""
    return list(_cached_reasons(_destination(), run.dag_id, run.run_id, run.archive))


@dataclass(frozen=True)
class Download:
    """A decrypted file ready to stream: ``path`` inside ``scratch``, which the caller removes afterwards."""

    path: Path
    filename: str
    media_type: str
    scratch: Path


def _media_type(name: str) -> str:
    return {".xml": "application/xml", ".csv": "text/csv", ".json": "application/json",
            ".zip": "application/zip"}.get(PurePosixPath(name).suffix, "application/octet-stream")


def prepare_download(run: ArchivedRun, name: str | None) -> Download:
    """Decrypt the run's archive and take out file ``name`` (None: the whole archive, as a zip).

    ``name`` must be one of the manifest's file names, else :class:`RunFileNotFound`, before anything
    is fetched. The caller streams ``path`` and then removes ``scratch`` (see the module doc).
    """
    if name is not None and name not in manifest_files(run):
        raise RunFileNotFound(f"The archive of run {run.run_id} holds no file {name!r}.")
    scratch, zipped = _decrypted(run, "amazon-sage-download-")
    try:
        if name is None:
            return Download(zipped, run.archive.removesuffix(SEALED_SUFFIX).removesuffix(".zip") + ".zip",
                            "application/zip", scratch)
        with zipfile.ZipFile(zipped) as opened:
            if name not in opened.namelist():
                raise RunFileNotFound(f"The archive of run {run.run_id} holds no file {name!r}.")
            target = _extract(opened, name, private_dir(scratch / "file") / "member")
        zipped.unlink()  # only the one file stays decrypted while it streams
        return Download(target, PurePosixPath(name).name, _media_type(name), scratch)
    except BaseException:
        shutil.rmtree(scratch, ignore_errors=True)
        raise
