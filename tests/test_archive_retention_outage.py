"""An S3 outage during archive retention, on moto's server: the archive is stored, so the run does not fail.

S3 "goes down" in two real ways: moto's server is stopped, or a TCP relay in front of it stops
relaying and closes its port when it sees the request retention makes, so uploads before it
work and everything after it is refused, as in an outage that starts mid-task.
"""

from __future__ import annotations

import json
import socket
from datetime import timedelta
from pathlib import Path

import boto3
import pytest
from botocore.config import Config

from amazon_sage.core.archive.encryption import ArchiveKeyring, new_key_entry
from amazon_sage.core.archive.run_archive import RetentionPostponed, apply_retention, archive_run
from amazon_sage.core.archive.stores import ArchiveError, ArchiveStoreUnavailable, S3ArchiveStore
from amazon_sage.core.files import private_dir
from tests.helpers import parse_dags
from tests.s3_server import OutageRelay
from tests.s3_server import free_port as _free_port

DAG = "amazon_orders_to_sage"
CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing", "region_name": "eu-west-2"}
KEYS = ArchiveKeyring.parse(new_key_entry("outage"), "the test's keys")
FAST_FAILURE = Config(retries={"mode": "standard", "total_max_attempts": 2}, connect_timeout=2, read_timeout=5)


def _client(port: int):
    return boto3.client("s3", endpoint_url=f"http://127.0.0.1:{port}", config=FAST_FAILURE, **CREDENTIALS)


def _runs(tmp_path: Path, store: S3ArchiveStore, count: int) -> None:
    from datetime import datetime, timezone

    start = datetime(2026, 11, 26, 10, 15, tzinfo=timezone.utc)
    for n in range(count):
        folder = private_dir(tmp_path / "work" / DAG / f"scheduled__{n}")
        (folder / "amazon_orders.xml").write_text(f"<Orders><Order><orderId>202-000000{n}-0000001</orderId>"
                                                  "</Order></Orders>")
        archive_run(folder, store, keys=KEYS, dag_id=DAG, run_id=f"scheduled__{n}",
                    run_started=start + timedelta(hours=n))


def test_retention_during_an_outage_is_postponed_with_the_upload_outages_message(tmp_path: Path,
                                                                                 moto_server: int) -> None:
    client = _client(moto_server)
    client.create_bucket(Bucket="archive", CreateBucketConfiguration={"LocationConstraint": "eu-west-2"})
    store = S3ArchiveStore(client, "archive", "prefix")
    _runs(tmp_path, store, 3)

    # S3 at a port nobody listens on, as after moto's server (or S3's endpoint) has gone.
    down = S3ArchiveStore(_client(_free_port()), "archive", "prefix")
    with pytest.raises(RetentionPostponed) as postponed:
        apply_retention(down, DAG, "count", 1)
    message = str(postponed.value)
    assert message.startswith(f"Archive retention is postponed: Cannot list the archives in s3://archive/prefix/{DAG}/"
                              ": Could not connect to the endpoint URL")
    assert postponed.value.deleted == []
    # The same outage during an upload: the same kind of error, with the same shape of message.
    folder = private_dir(tmp_path / "work" / DAG / "manual__late")
    (folder / "amazon_orders.xml").write_text("<Orders/>")
    from datetime import datetime, timezone

    with pytest.raises(ArchiveStoreUnavailable, match=r"Cannot upload the archive to s3://archive/prefix/.*: Could "
                                                      r"not connect to the endpoint URL"):
        archive_run(folder, down, keys=KEYS, dag_id=DAG, run_id="manual__late", run_started=datetime.now(timezone.utc))
    assert (folder / "amazon_orders.xml").is_file()
    # When S3 is back, the postponed retention happens with the next run's.
    assert len(apply_retention(store, DAG, "count", 1)) == 2 and len(store.list(DAG)) == 1


def test_an_outage_between_a_sidecar_and_its_zip_leaves_nothing_unlisted(tmp_path: Path, moto_server: int) -> None:
    client = _client(moto_server)
    client.create_bucket(Bucket="archive", CreateBucketConfiguration={"LocationConstraint": "eu-west-2"})
    store = S3ArchiveStore(client, "archive", "")
    _runs(tmp_path, store, 2)
    relay = OutageRelay(moto_server, b"DELETE /", nth=2)  # the first delete gets through, then S3 is gone
    with pytest.raises(RetentionPostponed, match=r"Cannot delete the old archive s3://archive/"):
        apply_retention(S3ArchiveStore(_client(relay.port), "archive", ""), DAG, "count", 1)
    assert relay.down.is_set()
    with pytest.raises(ConnectionRefusedError):  # down means down: nothing listens any more
        socket.create_connection(("127.0.0.1", relay.port), timeout=2)
    assert len(apply_retention(store, DAG, "count", 1)) == 1  # next time, with S3 back
    keys = sorted(item["Key"] for item in client.list_objects_v2(Bucket="archive")["Contents"])
    assert len(keys) == 2 and keys[0].endswith(".manifest.json") and keys[1].endswith(".zip.enc")
    assert keys[0].removesuffix(".manifest.json") == keys[1].removesuffix(".zip.enc")  # no orphaned sidecar


def test_a_refusal_during_retention_is_not_mistaken_for_an_outage(moto_server: int) -> None:
    store = S3ArchiveStore(_client(moto_server), "no-such-bucket", "")
    with pytest.raises(ArchiveError, match=r"Cannot list the archives in s3://no-such-bucket/.*NoSuchBucket") as err:
        apply_retention(store, DAG, "count", 1)
    assert not isinstance(err.value, RetentionPostponed)


def test_an_s3_outage_during_retention_does_not_fail_the_run(product_env, airflow_db, company, sandbox_server,
                                                             moto_server: int, monkeypatch, capfd) -> None:
    """The stock DAG with nothing changed: export, skip, skip, archive to S3; S3 goes down as retention starts."""
    client = _client(moto_server)
    client.create_bucket(Bucket="outage-archive", CreateBucketConfiguration={"LocationConstraint": "eu-west-2"})
    relay = OutageRelay(moto_server, b"list-type=2")  # retention's ListObjectsV2: the first S3 call after the upload
    monkeypatch.setenv("AIRFLOW_CONN_AWS_DEFAULT", json.dumps({
        "conn_type": "aws", "login": "testing", "password": "testing",
        "extra": {"endpoint_url": f"http://127.0.0.1:{relay.port}", "region_name": "eu-west-2",
                  "config_kwargs": {"retries": {"mode": "standard", "total_max_attempts": 2}}}}))
    monkeypatch.setenv("AMAZON_SAGE_ARCHIVE_DESTINATION", "s3://outage-archive/amazon-sage")
    monkeypatch.setenv("AMAZON_SAGE_ARCHIVE_RETENTION", "count")
    monkeypatch.setenv("AMAZON_SAGE_ARCHIVE_RETENTION_NUMBER", "1")
    monkeypatch.setenv("AMAZON_SAGE_TASK_RETRIES", "0")
    dag_id = "sage_stock_to_amazon_inventory"
    run = parse_dags()[dag_id].test()
    states = {ti.task_id: ti.state for ti in run.get_task_instances()}
    assert relay.down.is_set(), "S3 never went down: the test did not test retention in an outage"
    assert run.state == "success", states
    assert states["archive_workflow_data"] == "success"
    archive = run.get_task_instance("archive_workflow_data")
    uri = archive.xcom_pull(task_ids="archive_workflow_data")
    key = uri.removeprefix("s3://outage-archive/")
    assert key.startswith(f"amazon-sage/{dag_id}/") and client.head_object(Bucket="outage-archive", Key=key)
    assert archive.xcom_pull(task_ids="archive_workflow_data", key="counts")["retention_postponed"] == 1
    output = capfd.readouterr()
    logged = output.out + output.err
    assert f"Archive retention is postponed: Cannot list the archives in s3://outage-archive/amazon-sage/{dag_id}/" \
           in logged
    assert f"The run's archive is stored at {uri}; retention runs again with the next run." in logged
