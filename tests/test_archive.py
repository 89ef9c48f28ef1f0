"""Archive Workflow Data: verified, encrypted zips in a folder or S3 (moto), retention, finding a run again."""

from __future__ import annotations

import json
import os
import socket
import stat
from datetime import datetime, timedelta, timezone
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from amazon_sage.cli.archives import main as archives_cli
from amazon_sage.core.archive.encryption import MAGIC, ArchiveKeyring, new_key_entry
from amazon_sage.core.archive.run_archive import apply_retention, archive_run, find_archives
from amazon_sage.core.archive.stores import ArchiveError, LocalArchiveStore, S3ArchiveStore
from amazon_sage.core.files import private_dir
from sandbox.airflow_env import archive_key_connection
from tests.helpers import archived_zip

DAG = "amazon_orders_to_sage"
T0 = datetime(2026, 11, 26, 10, 15, tzinfo=timezone.utc)
KEY_ENTRY = new_key_entry("k1")
KEYS = ArchiveKeyring.parse(KEY_ENTRY, "the test's keys")


def make_run(root: Path, run_id: str, order_ids: tuple[str, ...] = ("202-0000001-0000001",), size: int = 0) -> Path:
    folder = private_dir(root / "work" / DAG / run_id)
    orders = "".join(f"<Order><orderId>{order_id}</orderId></Order>" for order_id in order_ids)
    (folder / "amazon_orders.xml").write_text(f"<Orders>{orders}</Orders>")
    (folder / "zynk_orders_success.xml").write_text("<Company><SalesOrders/></Company>")
    if size:
        (folder / "bulk.bin").write_bytes(os.urandom(size))
    return folder


def test_local_archive_is_verified_private_and_replaces_the_folder(tmp_path: Path) -> None:
    folder = make_run(tmp_path, "manual__1")
    store = LocalArchiveStore(tmp_path / "archive")
    uri, manifest = archive_run(folder, store, keys=KEYS, dag_id=DAG, run_id="manual__1", run_started=T0,
                                counts={"import_sales_orders": {"in": 1, "out": 1}})
    archive = Path(uri)
    assert archive.name == "20261126T101500Z_amazon_orders_to_sage_manual__1.zip.enc"
    assert not folder.exists()
    assert stat.S_IMODE(archive.stat().st_mode) == 0o600
    assert stat.S_IMODE(archive.parent.stat().st_mode) == 0o700
    assert archive.read_bytes().startswith(MAGIC) and b"202-0000001-0000001" not in archive.read_bytes()
    with archived_zip(archive, KEYS) as opened:
        inside = json.loads(opened.read("manifest.json"))
        assert sorted(opened.namelist()) == ["amazon_orders.xml", "manifest.json", "zynk_orders_success.xml"]
    assert {**inside, "key_id": "k1"} == manifest  # the key id is only beside the archive, in the sidecar
    assert inside["counts"] == {"import_sales_orders": {"in": 1, "out": 1}}
    assert inside["records"] == ["202-0000001-0000001"]
    assert {f["name"]: f["size"] for f in inside["files"]}["zynk_orders_success.xml"] == 33
    sidecar = archive.parent / "20261126T101500Z_amazon_orders_to_sage_manual__1.manifest.json"
    assert json.loads(sidecar.read_text()) == manifest  # readable without the key


def test_retry_rewrites_its_own_archive_and_never_another_runs(tmp_path: Path) -> None:
    store = LocalArchiveStore(tmp_path / "archive")
    other, _ = archive_run(make_run(tmp_path, "manual__other"), store, keys=KEYS, dag_id=DAG,
                           run_id="manual__other", run_started=T0)
    before = Path(other).read_bytes()
    first, _ = archive_run(make_run(tmp_path, "manual__2"), store, keys=KEYS, dag_id=DAG, run_id="manual__2",
                           run_started=T0)
    again, _ = archive_run(make_run(tmp_path, "manual__2"), store, keys=KEYS, dag_id=DAG, run_id="manual__2",
                           run_started=T0)
    assert first == again
    assert archive_run(tmp_path / "work" / DAG / "manual__2", store, keys=KEYS, dag_id=DAG, run_id="manual__2",
                       run_started=T0) == (first, {})  # folder already gone: the archive stands
    assert [a.name for a in store.list(DAG)] == sorted(Path(p).name for p in (other, first))
    assert Path(other).read_bytes() == before


def test_unwritable_destination_fails_clearly_and_keeps_the_files(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where a folder should be")
    folder = make_run(tmp_path, "manual__3")
    with pytest.raises(ArchiveError, match=r"Cannot use archive folder .*not-a-folder"):
        archive_run(folder, LocalArchiveStore(blocker / "archive"), keys=KEYS, dag_id=DAG, run_id="manual__3",
                    run_started=T0)
    assert (folder / "amazon_orders.xml").is_file()


def _many_runs(tmp_path: Path, store, count: int) -> None:
    for n in range(count):
        archive_run(make_run(tmp_path, f"scheduled__{n:03d}"), store, keys=KEYS, dag_id=DAG,
                    run_id=f"scheduled__{n:03d}", run_started=T0 - timedelta(days=count - 1 - n))


def test_retention_by_count_and_by_age_touches_only_our_archives(tmp_path: Path) -> None:
    root = tmp_path / "archive"
    store = LocalArchiveStore(root)
    _many_runs(tmp_path, store, 30)
    foreign = [root / DAG / "notes.txt", root / DAG / "20200101T000000Z_someone_else.zip.bak", root / "readme.md"]
    for path in foreign:
        path.write_text("not ours")
    other_dag = archive_run(make_run(tmp_path, "x"), store, keys=KEYS, dag_id="another_dag", run_id="x",
                            run_started=T0 - timedelta(days=400))[0]
    assert apply_retention(store, DAG, "none", 1) == []
    deleted = apply_retention(store, DAG, "count", 10)
    assert len(deleted) == 20 and [a.name for a in store.list(DAG)] == sorted(a.name for a in store.list(DAG))[-10:]
    assert min(a.created for a in store.list(DAG)) == T0 - timedelta(days=9)
    deleted = apply_retention(store, DAG, "days", 5, now=T0 + timedelta(hours=1))
    assert {a.created for a in store.list(DAG)} == {T0 - timedelta(days=d) for d in range(5)}
    assert len(deleted) == 5
    assert not any(p.name.endswith(".manifest.json") and p.name[:16] < "20261121" for p in (root / DAG).iterdir())
    assert all(path.read_text() == "not ours" for path in foreign)
    assert Path(other_dag).is_file()


def test_find_and_restore_a_run_by_order_id(tmp_path: Path, monkeypatch, capsys) -> None:
    root = tmp_path / "archive"
    store = LocalArchiveStore(root)
    archive_run(make_run(tmp_path, "manual__a", ("202-1111111-1111111",)), store, keys=KEYS, dag_id=DAG,
                run_id="manual__a", run_started=T0)
    archive_run(make_run(tmp_path, "manual__b", ("202-2222222-2222222",)), store, keys=KEYS, dag_id=DAG,
                run_id="manual__b", run_started=T0 + timedelta(minutes=15))
    found = find_archives(store, record="202-2222222-2222222")  # from the manifests: no key needed
    assert [Path(f["archive"]).name for f in found] == ["20261126T103000Z_amazon_orders_to_sage_manual__b.zip.enc"]
    assert archives_cli(["--destination", str(root), "find", "202-1111111-1111111"]) == 0
    listed = json.loads(capsys.readouterr().out.strip())
    assert listed["archive"].endswith("manual__a.zip.enc")
    monkeypatch.setenv("AIRFLOW_CONN_AMAZON_SAGE_ARCHIVE_KEY", archive_key_connection(KEY_ENTRY))  # restore decrypts
    assert archives_cli(["--destination", str(root), "find", "202-9999999-9999999"]) == 1
    target = tmp_path / "restored"
    assert archives_cli(["--destination", str(root), "restore", DAG, Path(listed["archive"]).name, str(target)]) == 0
    assert "202-1111111-1111111" in (target / "amazon_orders.xml").read_text()


@pytest.fixture
def s3():
    with mock_aws():
        client = boto3.client("s3", region_name="eu-west-2")
        client.create_bucket(Bucket="archive", CreateBucketConfiguration={"LocationConstraint": "eu-west-2"})
        yield client


@pytest.mark.parametrize("sse, kms", [("", ""), ("AES256", ""), ("aws:kms", "alias/amazon-sage")])
def test_s3_archive_with_encryption(tmp_path: Path, s3, sse: str, kms: str) -> None:
    store = S3ArchiveStore(s3, "archive", "prod/runs", sse=sse, kms_key_id=kms)
    folder = make_run(tmp_path, "manual__s3")
    uri, _ = archive_run(folder, store, keys=KEYS, dag_id=DAG, run_id="manual__s3", run_started=T0)
    key = f"prod/runs/{DAG}/20261126T101500Z_amazon_orders_to_sage_manual__s3.zip.enc"
    assert uri == f"s3://archive/{key}" and not folder.exists()
    head = s3.head_object(Bucket="archive", Key=key)
    assert head.get("ServerSideEncryption") == (sse or head.get("ServerSideEncryption"))
    if kms:
        assert head["SSEKMSKeyId"].endswith("alias/amazon-sage")
    sealed = tmp_path / "fetched.zip.enc"
    sealed.write_bytes(s3.get_object(Bucket="archive", Key=key)["Body"].read())
    assert "manifest.json" in archived_zip(sealed, KEYS).namelist()


def test_large_archives_upload_in_parts(tmp_path: Path, s3) -> None:
    store = S3ArchiveStore(s3, "archive", "", multipart_threshold=5 * 1024 * 1024)
    archive_run(make_run(tmp_path, "big", size=12 * 1024 * 1024), store, keys=KEYS, dag_id=DAG, run_id="big",
                run_started=T0)
    etag = s3.head_object(Bucket="archive", Key=f"{DAG}/20261126T101500Z_amazon_orders_to_sage_big.zip.enc")["ETag"]
    assert "-" in etag  # a multipart ETag


def test_s3_failure_mid_upload_keeps_files_and_the_retry_succeeds(tmp_path: Path, s3) -> None:
    store = S3ArchiveStore(s3, "archive", "", multipart_threshold=5 * 1024 * 1024)
    folder = make_run(tmp_path, "flaky", size=12 * 1024 * 1024)
    parts = {"n": 0}

    def fail_second_part(**kwargs):
        parts["n"] += 1
        if parts["n"] == 2:
            raise ConnectionResetError("connection reset by peer during UploadPart")

    s3.meta.events.register("before-send.s3.UploadPart", fail_second_part)
    with pytest.raises(ArchiveError, match="Cannot upload the archive"):
        archive_run(folder, store, keys=KEYS, dag_id=DAG, run_id="flaky", run_started=T0)
    assert (folder / "bulk.bin").stat().st_size == 12 * 1024 * 1024
    assert store.list(DAG) == []
    s3.meta.events.unregister("before-send.s3.UploadPart", fail_second_part)
    uri, _ = archive_run(folder, store, keys=KEYS, dag_id=DAG, run_id="flaky", run_started=T0)
    assert [a.uri for a in store.list(DAG)] == [uri] and not folder.exists()


def test_s3_retention_leaves_other_keys_alone(tmp_path: Path, s3) -> None:
    store = S3ArchiveStore(s3, "archive", "prefix")
    _many_runs(tmp_path, store, 6)
    s3.put_object(Bucket="archive", Key=f"prefix/{DAG}/keep-me.txt", Body=b"x")
    s3.put_object(Bucket="archive", Key="elsewhere/20200101T000000Z_x.zip", Body=b"x")
    deleted = apply_retention(store, DAG, "count", 2)
    assert len(deleted) == 4
    keys = {item["Key"] for item in s3.list_objects_v2(Bucket="archive")["Contents"]}
    assert f"prefix/{DAG}/keep-me.txt" in keys and "elsewhere/20200101T000000Z_x.zip" in keys
    assert len([k for k in keys if k.endswith(".zip.enc") and k.startswith("prefix/")]) == 2
    assert len([k for k in keys if k.endswith(".manifest.json")]) == 2


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
