"""Open the archive destination named by the settings: a local folder, or S3 through ``aws_default``.

S3 clients come from the Amazon provider's :class:`S3Hook`, so the connection is read exactly
as the rest of Airflow reads it (keys, roles, ``endpoint_url`` for S3-compatible stores).
"""

from __future__ import annotations

from pathlib import Path

from amazon_sage import settings
from amazon_sage.core.archive.stores import ArchiveStore, LocalArchiveStore, S3ArchiveStore, parse_destination


def open_archive_store(destination: str | None = None) -> ArchiveStore:
    kind, location, prefix = parse_destination(destination or settings.archive_destination())
    if kind == "local":
        return LocalArchiveStore(Path(location))
    from airflow.providers.amazon.aws.hooks.s3 import S3Hook

    client = S3Hook(aws_conn_id=settings.get("AWS_CONN_ID")).get_conn()
    return S3ArchiveStore(client, location, prefix, sse=settings.get("ARCHIVE_S3_SSE"),
                          kms_key_id=settings.get("ARCHIVE_S3_KMS_KEY_ID"),
                          multipart_threshold=settings.get_int("ARCHIVE_MULTIPART_THRESHOLD_MB") * 1024 * 1024)
