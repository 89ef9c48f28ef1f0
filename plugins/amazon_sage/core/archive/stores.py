"""Where archives are kept: a local folder or an S3 prefix, behind one small interface.

Both stores keep each DAG's archives under ``<destination>/<dag_id>/`` and verify what they
wrote by reading it back and comparing its SHA-256 with the local file's. They list and
delete only names that match the product's archive pattern, so retention never touches
anything else that lives at the destination.
"""

from __future__ import annotations

import hashlib
import re
import shutil
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Protocol

from amazon_sage.core.files import PRIVATE_FILE, private_dir, private_file

# 20261126T101500Z_<dag>_<run>.zip.enc (encrypted; plain .zip before archives were encrypted), and its
# sidecar manifest <same stem>.manifest.json
SEALED_SUFFIX = ".zip.enc"
ARCHIVE_NAME = re.compile(r"^(\d{8}T\d{6}Z)_[A-Za-z0-9._-]+\.zip(\.enc)?$")
CHUNK = 1024 * 1024


class ArchiveError(Exception):
    """Archiving failed; the message says what happened and that the run's files were kept."""


class ArchiveStoreUnavailable(ArchiveError):
    """The store could not be reached: connection refused or dropped, a timeout, S3's 5xx or throttling.

    An outage, not a misconfiguration: the same call is expected to work later. Callers may
    postpone work that can wait (retention) instead of failing the run for it.
    """


# S3 error codes that mean "S3 is struggling", not "you asked for something wrong".
S3_OUTAGE_CODES = frozenset(("InternalError", "ServiceUnavailable", "SlowDown", "RequestTimeout", "Throttling",
                             "ThrottlingException"))


def _s3_outage(exc: BaseException) -> bool:
    """Whether a boto3 error is S3 (or the way to it) being unavailable, rather than a refusal."""
    from botocore.exceptions import ClientError, HTTPClientError
    from botocore.exceptions import ConnectionError as BotoConnectionError

    if isinstance(exc, (BotoConnectionError, HTTPClientError)):  # no endpoint, timeouts, dropped connections
        return True
    if isinstance(exc, ClientError):
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
        return status >= 500 or exc.response.get("Error", {}).get("Code") in S3_OUTAGE_CODES
    return isinstance(exc, (ConnectionResetError, TimeoutError))


@dataclass(frozen=True)
class StoredArchive:
    name: str
    uri: str
    created: datetime

    @property
    def manifest_name(self) -> str:
        return self.name.removesuffix(".enc").removesuffix(".zip") + ".manifest.json"


def created_at(name: str) -> datetime:
    return datetime.strptime(name[:16], "%Y%m%dT%H%M%SZ").replace(tzinfo=timezone.utc)


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


class ArchiveStore(Protocol):
    def put(self, dag_id: str, name: str, source: Path) -> str:
        """Store ``source`` as ``name``, verify it, and return its URI."""

    def exists(self, dag_id: str, name: str) -> bool: ...

    def list(self, dag_id: str) -> list[StoredArchive]:
        """This product's archives of ``dag_id``, oldest first."""

    def dags(self) -> list[str]: ...

    def delete(self, dag_id: str, archive: StoredArchive) -> None:
        """Delete an archive and the manifest beside it (the manifest first)."""

    def discard(self, dag_id: str, name: str) -> None:
        """Delete the one file ``name`` (an archive replaced under a new name); no error if it is gone."""

    def fetch(self, dag_id: str, name: str, target: Path) -> Path: ...


class LocalArchiveStore:
    """Archives in a local folder (0700), files 0600."""

    def __init__(self, root: Path):
        self.root = root

    def _folder(self, dag_id: str) -> Path:
        try:
            return private_dir(self.root / dag_id)
        except OSError as exc:
            raise ArchiveError(f"Cannot use archive folder {self.root / dag_id}: {exc.strerror or exc}. Check "
                               "ARCHIVE_DESTINATION and that it is a writable folder.") from None

    def put(self, dag_id: str, name: str, source: Path) -> str:
        target = self._folder(dag_id) / name
        partial = target.with_name(f".{name}.partial")
        try:
            shutil.copyfile(source, private_file(partial))  # 0600 from its creation, never readable by others
            partial.chmod(PRIVATE_FILE)
            partial.replace(target)
        except OSError as exc:
            partial.unlink(missing_ok=True)
            raise ArchiveError(f"Cannot write archive {target}: {exc.strerror or exc}.") from None
        if sha256_file(target) != sha256_file(source):
            raise ArchiveError(f"Archive {target} does not read back as written.")
        return str(target)

    def exists(self, dag_id: str, name: str) -> bool:
        return (self.root / dag_id / name).is_file()

    def list(self, dag_id: str) -> list[StoredArchive]:
        folder = self.root / dag_id
        if not folder.is_dir():
            return []
        return sorted((StoredArchive(p.name, str(p), created_at(p.name)) for p in folder.iterdir()
                       if p.is_file() and ARCHIVE_NAME.match(p.name)), key=lambda a: a.name)

    def dags(self) -> list[str]:
        return sorted(p.name for p in self.root.iterdir() if p.is_dir()) if self.root.is_dir() else []

    def delete(self, dag_id: str, archive: StoredArchive) -> None:
        for name in (archive.manifest_name, archive.name):  # the sidecar first, as S3ArchiveStore.delete
            self.discard(dag_id, name)

    def discard(self, dag_id: str, name: str) -> None:
        (self.root / dag_id / name).unlink(missing_ok=True)

    def fetch(self, dag_id: str, name: str, target: Path) -> Path:
        source = self.root / dag_id / name
        if not source.is_file():
            raise ArchiveError(f"There is no archive {name} in {self.root / dag_id} (list them with: python -m "
                               "amazon_sage.cli.archives list).")
        shutil.copyfile(source, private_file(target))
        return target


class S3ArchiveStore:
    """Archives under ``s3://bucket/prefix/<dag_id>/`` through a boto3 S3 client.

    Uploads go through boto3's managed transfer, which switches to multipart above
    ``multipart_threshold`` bytes. ``sse`` is ``AES256`` or ``aws:kms`` (with ``kms_key_id``).
    """

    def __init__(self, client: Any, bucket: str, prefix: str = "", *, sse: str = "", kms_key_id: str = "",
                 multipart_threshold: int = 64 * CHUNK):
        self.client, self.bucket, self.prefix = client, bucket, prefix.strip("/")
        self.sse, self.kms_key_id, self.multipart_threshold = sse, kms_key_id, multipart_threshold

    def _key(self, dag_id: str, name: str = "") -> str:
        return "/".join(part for part in (self.prefix, dag_id, name) if part)

    def uri(self, dag_id: str, name: str) -> str:
        return f"s3://{self.bucket}/{self._key(dag_id, name)}"

    def _extra_args(self) -> dict[str, str]:
        args: dict[str, str] = {}
        if self.sse:
            args["ServerSideEncryption"] = self.sse
            if self.sse == "aws:kms" and self.kms_key_id:
                args["SSEKMSKeyId"] = self.kms_key_id
        return args

    def put(self, dag_id: str, name: str, source: Path) -> str:
        from boto3.s3.transfer import TransferConfig

        key = self._key(dag_id, name)
        config = TransferConfig(multipart_threshold=self.multipart_threshold, multipart_chunksize=max(
            8 * CHUNK, self.multipart_threshold // 4))
        try:
            self.client.upload_file(str(source), self.bucket, key, ExtraArgs=self._extra_args(), Config=config)
            head = self.client.head_object(Bucket=self.bucket, Key=key)
            if head["ContentLength"] != source.stat().st_size:
                raise ArchiveError(f"{self.uri(dag_id, name)} has {head['ContentLength']} bytes, "
                                   f"expected {source.stat().st_size}")
            digest = hashlib.sha256()
            for chunk in self.client.get_object(Bucket=self.bucket, Key=key)["Body"].iter_chunks(CHUNK):
                digest.update(chunk)
        except ArchiveError:
            raise
        except Exception as exc:  # botocore's ClientError, EndpointConnectionError, S3UploadFailedError ...
            raise self._failure(f"Cannot upload the archive to {self.uri(dag_id, name)}", exc) from None
        if digest.hexdigest() != sha256_file(source):
            raise ArchiveError(f"{self.uri(dag_id, name)} does not read back as written.")
        return self.uri(dag_id, name)

    @staticmethod
    def _failure(what: str, exc: BaseException) -> ArchiveError:
        """``what`` failed because of ``exc``: :class:`ArchiveStoreUnavailable` for an outage, else ArchiveError.

        An upload's inner error may be wrapped (S3UploadFailedError), so the cause chain is searched.
        """
        cause: BaseException | None = exc
        for _ in range(8):  # a chain is short; the bound only guards against a cycle
            if cause is None:
                break
            if _s3_outage(cause):
                return ArchiveStoreUnavailable(f"{what}: {exc}")
            cause = cause.__cause__ or cause.__context__
        return ArchiveError(f"{what}: {exc}")

    def exists(self, dag_id: str, name: str) -> bool:
        try:
            answer = self.client.list_objects_v2(Bucket=self.bucket, Prefix=self._key(dag_id, name), MaxKeys=1)
        except Exception as exc:  # botocore's errors: turned into messages that say where and whether it is an outage
            raise self._failure(f"Cannot look for the archive {self.uri(dag_id, name)}", exc) from None
        return any(item["Key"] == self._key(dag_id, name) for item in answer.get("Contents", []))

    def _names(self, prefix: str, delimiter: str = "") -> list[dict[str, Any]]:
        paginator = self.client.get_paginator("list_objects_v2")
        kwargs = {"Bucket": self.bucket, "Prefix": prefix, **({"Delimiter": delimiter} if delimiter else {})}
        return list(paginator.paginate(**kwargs))

    def list(self, dag_id: str) -> list[StoredArchive]:
        folder = self._key(dag_id) + "/"
        found = []
        try:
            pages = self._names(folder, "/")
        except Exception as exc:  # botocore's errors, as in exists()
            raise self._failure(f"Cannot list the archives in s3://{self.bucket}/{folder}", exc) from None
        for page in pages:
            for item in page.get("Contents", []):
                name = item["Key"][len(folder):]
                if ARCHIVE_NAME.match(name):
                    found.append(StoredArchive(name, self.uri(dag_id, name), created_at(name)))
        return sorted(found, key=lambda a: a.name)

    def dags(self) -> list[str]:
        base = self._key("") + "/" if self.prefix else ""
        return sorted(common["Prefix"][len(base):].rstrip("/") for page in self._names(base, "/")
                      for common in page.get("CommonPrefixes", []))

    def delete(self, dag_id: str, archive: StoredArchive) -> None:
        # The sidecar first: an outage between the two leaves a zip that the next retention still lists and
        # deletes, never a sidecar that nothing lists.
        for name in (archive.manifest_name, archive.name):
            self.discard(dag_id, name)

    def discard(self, dag_id: str, name: str) -> None:
        try:
            self.client.delete_object(Bucket=self.bucket, Key=self._key(dag_id, name))
        except Exception as exc:  # botocore's errors, as in exists()
            raise self._failure(f"Cannot delete the old archive {self.uri(dag_id, name)}", exc) from None

    def fetch(self, dag_id: str, name: str, target: Path) -> Path:
        # Into a file created 0600: download_file would write a file of the umask's mode and rename it.
        with private_file(target).open("wb") as handle:
            try:
                self.client.download_fileobj(self.bucket, self._key(dag_id, name), handle)
            except Exception as exc:  # botocore's errors, as in exists()
                raise self._failure(f"Cannot read the archive {self.uri(dag_id, name)}", exc) from None
        return target


def parse_destination(destination: str) -> tuple[str, str, str]:
    """``s3://bucket/prefix`` -> ("s3", bucket, prefix); a path -> ("local", path, "")."""
    if destination.startswith("s3://"):
        bucket, _, prefix = destination[len("s3://"):].partition("/")
        if not bucket:
            raise ArchiveError(f"ARCHIVE_DESTINATION {destination!r} names no bucket (use s3://bucket/prefix)")
        return "s3", bucket, prefix
    return "local", destination, ""
