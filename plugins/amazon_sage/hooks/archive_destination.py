"""Open the archive destination named by the settings (a local folder, or S3 through ``aws_default``) and its keys.

S3 clients come from the Amazon provider's :class:`S3Hook`, so the connection is read exactly
as the rest of Airflow reads it (keys, roles, ``endpoint_url`` for S3-compatible stores).

The archive keys come from the Airflow connection ``ARCHIVE_KEY_CONN_ID`` (``amazon_sage_archive_key``),
read through Airflow's own connection lookup: a secrets backend, ``AIRFLOW_CONN_*`` variables or
the metadata database, in Airflow's order. They are never read from the settings or the repository.
"""

from __future__ import annotations

from pathlib import Path

from amazon_sage import settings
from amazon_sage.core.archive.encryption import ArchiveKeyError, ArchiveKeyring
from amazon_sage.core.archive.stores import (
    ArchiveError,
    ArchiveStore,
    LocalArchiveStore,
    S3ArchiveStore,
    parse_destination,
)

S3_SSE = {"aws:kms": "aws:kms", "AES256": "AES256", "none": "", "": ""}


def open_archive_store(destination: str | None = None) -> ArchiveStore:
    kind, location, prefix = parse_destination(destination or settings.archive_destination())
    if kind == "local":
        return LocalArchiveStore(Path(location))
    from airflow.providers.amazon.aws.hooks.s3 import S3Hook

    sse = settings.get("ARCHIVE_S3_SSE")
    if sse not in S3_SSE:
        raise ArchiveError(f"AMAZON_SAGE_ARCHIVE_S3_SSE={sse!r}: use aws:kms, AES256 or none.")
    client = S3Hook(aws_conn_id=settings.get("AWS_CONN_ID")).get_conn()
    return S3ArchiveStore(client, location, prefix, sse=S3_SSE[sse], kms_key_id=settings.get("ARCHIVE_S3_KMS_KEY_ID"),
                          multipart_threshold=settings.get_int("ARCHIVE_MULTIPART_THRESHOLD_MB") * 1024 * 1024)


def archive_keyring() -> ArchiveKeyring:
    """The archive keys from connection ``ARCHIVE_KEY_CONN_ID``; :class:`ArchiveKeyError` saying what to set."""
    from airflow.sdk import BaseHook
    from airflow.sdk.exceptions import AirflowNotFoundException

    conn_id = settings.get("ARCHIVE_KEY_CONN_ID")
    try:
        connection = BaseHook.get_connection(conn_id)
    except AirflowNotFoundException:
        raise ArchiveKeyError(
            f"The archive key connection {conn_id!r} is not set, and archives are encrypted with it. Create it "
            "(Admin -> Connections, type generic, or AIRFLOW_CONN_" + conn_id.upper() + " or a secrets backend) "
            "with the password 'id:base64-key'; python -m amazon_sage.cli.archives new-key <id> makes one. "
            "Keep a copy of the key somewhere safe: archives cannot be read without it.") from None
    return ArchiveKeyring.parse(connection.password, f"connection {conn_id!r}")
