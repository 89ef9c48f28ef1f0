"""Retention of buyer PII, not of records: archives past PII_RETENTION_DAYS are rewritten without it, verified.

A restored archive still has every order id, SKU and amount and no PII; a housekeeping run killed
half-way (S3 holding its upload, then SIGKILL) leaves the old archive or the new one, both decryptable.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import zipfile
from datetime import datetime, timedelta, timezone
from pathlib import Path
from xml.sax.saxutils import escape

import boto3
import pytest

from amazon_sage.core.archive.bookkeeping import bookkeeping
from amazon_sage.core.archive.encryption import ArchiveKeyring, new_key_entry, sealed_key_id
from amazon_sage.core.archive.pii_retention import buyer_data_due, remove_expired_buyer_data
from amazon_sage.core.archive.redaction import postcode_area
from amazon_sage.core.archive.run_archive import archive_run, record_ids, restore_archive
from amazon_sage.core.archive.stores import LocalArchiveStore, S3ArchiveStore, StoredArchive
from amazon_sage.core.files import private_dir
from amazon_sage.hooks.archive_destination import archive_keyring
from tests.helpers import mapped_orders, parse_dags
from tests.s3_server import OutageRelay

DAG = "amazon_orders_to_sage"
OLD, NEW = new_key_entry("2026-01"), new_key_entry("2026-12")
KEYS = ArchiveKeyring.parse(f"{NEW},{OLD}", "the test's keys")
CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing", "region_name": "eu-west-2"}
PROJECT = Path(__file__).resolve().parents[1]


def _orders_run(root: Path, run_id: str, count: int = 30) -> tuple[Path, list[dict]]:
    """A run folder as the orders DAG leaves it: the download, the mapped orders, and all of them imported."""
    zynk, orders = mapped_orders(private_dir(root / "work" / DAG / run_id), count=count)
    (zynk.parent / "zynk_orders_success.xml").write_bytes(zynk.read_bytes())
    return zynk.parent, orders


def _buyer_values(orders: list[dict]) -> set[str]:
    """Every name, e-mail, phone, address line, town and full postcode of the orders, as the files write them."""
    values = set()
    for order in orders:
        buyer = order.get("buyer") or {}
        values.update(escape(buyer[k]) for k in ("buyerName", "buyerEmail", "buyerCompanyName") if k in buyer)
        address = (order.get("recipient") or {}).get("deliveryAddress") or {}
        values.update(escape(address[k]) for k in ("name", "phone", "addressLine1", "addressLine2", "addressLine3",
                                                   "city", "stateOrRegion", "postalCode") if k in address)
    return values


def _unpacked(store, name: str, target: Path, keys: ArchiveKeyring = KEYS) -> bytes:
    folder = restore_archive(store, DAG, name, target, keys)
    return b"".join(p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file())


def _latest(orders: list[dict]) -> datetime:
    return max(datetime.fromisoformat(o["createdTime"].replace("Z", "+00:00")) for o in orders)


def test_after_retention_a_restored_archive_has_every_record_and_no_pii(tmp_path: Path) -> None:
    folder, orders = _orders_run(tmp_path, "manual__1")
    before = {"records": record_ids(sorted(folder.iterdir())), **bookkeeping(folder)}
    store = LocalArchiveStore(tmp_path / "archive")
    uri, _ = archive_run(folder, store, keys=ArchiveKeyring.parse(OLD, "old"), dag_id=DAG, run_id="manual__1",
                         run_started=_latest(orders))
    name = Path(uri).name
    values = _buyer_values(orders)
    assert len(values) > 100 and all(v.encode() in _unpacked(store, name, tmp_path / "before") for v in values)

    not_yet = remove_expired_buyer_data(store, DAG, KEYS, 30, now=_latest(orders) + timedelta(days=29))
    assert (not_yet.removed, not_yet.not_due) == ([], 1)
    done = remove_expired_buyer_data(store, DAG, KEYS, 30, now=_latest(orders) + timedelta(days=30, minutes=1))
    assert done.removed == [name] and done.failed == []

    restored = restore_archive(store, DAG, name, tmp_path / "after", KEYS)
    everything = b"".join(p.read_bytes() for p in restored.rglob("*") if p.is_file())
    assert [v for v in values if v.encode() in everything] == []  # no name, e-mail, phone, address or postcode
    inside = json.loads((restored / "manifest.json").read_text())
    assert inside["records"] == before["records"]  # every order id and SKU
    assert inside["orders"] == before["orders"] and inside["order_dates"] == before["order_dates"]
    assert bookkeeping(restored) == {"orders": before["orders"], "order_dates": before["order_dates"]}
    for order in orders:  # amounts and what VAT evidence needs, in the files themselves
        assert order["orderId"].encode() in everything
        for item in order["orderItems"]:
            assert item["product"]["sellerSku"].encode() in everything
        if order.get("proceeds"):
            assert f"<PaymentAmount>{order['proceeds']['grandTotal']['amount']}<".encode() in everything
            postcode = order["recipient"]["deliveryAddress"]["postalCode"]
            assert f"<postalCode>{postcode_area(postcode)}</postalCode>".encode() in everything
            assert b"<countryCode>GB</countryCode>" in everything
    sidecar = json.loads(Path(uri.removesuffix(".zip.enc") + ".manifest.json").read_text())
    assert sidecar["pii_removed_at"] and sidecar["key_id"] == "2026-12"  # re-keyed with the current key
    assert sealed_key_id(Path(uri)) == "2026-12"
    again = remove_expired_buyer_data(store, DAG, KEYS, 30, now=_latest(orders) + timedelta(days=60))
    assert (again.removed, again.encrypted, again.not_due) == ([], [], 0)  # done once, never again


def test_retention_counts_from_the_ship_date_where_known() -> None:
    archive = StoredArchive("20261126T101500Z_x_y.zip.enc", "", datetime(2026, 11, 26, 10, 15, tzinfo=timezone.utc))
    manifest = {"order_dates": {"a": {"purchased": "2026-11-01T00:00:00Z", "shipped": "2026-11-20T08:00:00Z"},
                                "b": {"purchased": "2026-11-10T00:00:00Z", "shipped": None}}}
    assert buyer_data_due(manifest, archive, 30) == datetime(2026, 12, 20, 8, tzinfo=timezone.utc)
    manifest["order_dates"]["a"]["shipped"] = None
    assert buyer_data_due(manifest, archive, 30) == datetime(2026, 12, 10, tzinfo=timezone.utc)
    assert buyer_data_due({}, archive, 30) == archive.created + timedelta(days=30)  # a stock run: its start


def test_the_ship_date_is_read_from_the_download(tmp_path: Path) -> None:
    folder = private_dir(tmp_path / "run")
    (folder / "amazon_orders.xml").write_text(
        "<Orders><Order><orderId>202-1</orderId><createdTime>2026-11-01T00:00:00Z</createdTime>"
        "<packages><shipTime>2026-11-03T09:00:00Z</shipTime></packages>"
        "<packages><shipTime>2026-11-05T09:00:00Z</shipTime></packages></Order></Orders>")
    assert bookkeeping(folder)["order_dates"] == {"202-1": {"purchased": "2026-11-01T00:00:00Z",
                                                            "shipped": "2026-11-05T09:00:00Z"}}


def test_archives_from_before_encryption_are_encrypted_and_then_cleaned(tmp_path: Path) -> None:
    folder, orders = _orders_run(tmp_path, "legacy", count=8)
    root = tmp_path / "archive"
    created = _latest(orders).replace(microsecond=0)
    legacy = private_dir(root / DAG) / f"{created:%Y%m%dT%H%M%SZ}_{DAG}_legacy.zip"
    with zipfile.ZipFile(legacy, "w") as zipped:
        for path in folder.iterdir():
            zipped.write(path, path.name)
    store = LocalArchiveStore(root)
    first = remove_expired_buyer_data(store, DAG, KEYS, 30, now=created + timedelta(days=1))
    assert first.encrypted == [legacy.name + ".enc"] and not legacy.exists()
    assert all(v.encode() in _unpacked(store, legacy.name + ".enc", tmp_path / "a") for v in _buyer_values(orders))
    later = remove_expired_buyer_data(store, DAG, KEYS, 30, now=created + timedelta(days=31))
    assert later.removed == [legacy.name + ".enc"]
    assert not any(v.encode() in _unpacked(store, legacy.name + ".enc", tmp_path / "b") for v in _buyer_values(orders))


def test_a_record_with_buyer_data_in_an_unknown_field_is_left_as_it_was(tmp_path: Path) -> None:
    folder, orders = _orders_run(tmp_path, "odd", count=5)
    zynk = folder / "zynk_orders_success.xml"
    name = orders[0]["buyer"]["buyerName"]  # the first record's buyer, copied into a field of its own record
    zynk.write_text(zynk.read_text().replace("<Notes1>", f"<Notes3>{escape(name)}</Notes3><Notes1>", 1))
    store = LocalArchiveStore(tmp_path / "archive")
    uri, _ = archive_run(folder, store, keys=KEYS, dag_id=DAG, run_id="odd", run_started=_latest(orders))
    before = Path(uri).read_bytes()
    outcome = remove_expired_buyer_data(store, DAG, KEYS, 30, now=_latest(orders) + timedelta(days=40))
    assert outcome.removed == [] and len(outcome.failed) == 1
    assert "still holds buyer data in <Notes3>" in outcome.failed[0] and name not in outcome.failed[0]
    assert Path(uri).read_bytes() == before


@pytest.mark.parametrize("killed_at, expect_new", [(1, False), (2, True)])
def test_a_housekeeping_run_killed_half_way_leaves_a_whole_archive(tmp_path: Path, moto_server: int,
                                                                   killed_at: int, expect_new: bool) -> None:
    """Killed while S3 holds its upload of the rewritten archive (1st PUT) or of its manifest (2nd PUT)."""
    client = boto3.client("s3", endpoint_url=f"http://127.0.0.1:{moto_server}", **CREDENTIALS)
    client.create_bucket(Bucket="archive", CreateBucketConfiguration={"LocationConstraint": "eu-west-2"})
    store = S3ArchiveStore(client, "archive", "p")
    folder, orders = _orders_run(tmp_path, "killed", count=12)
    uri, _ = archive_run(folder, store, keys=ArchiveKeyring.parse(OLD, "old"), dag_id=DAG, run_id="killed",
                         run_started=_latest(orders))
    name, values = uri.rsplit("/", 1)[1], _buyer_values(orders)
    relay = OutageRelay(moto_server, b"PUT /", nth=killed_at, hold=True)
    child = subprocess.Popen(
        [sys.executable, "-c", KILLED_RUN, str(relay.port), (_latest(orders) + timedelta(days=31)).isoformat()],
        env={**os.environ, "PYTHONPATH": os.pathsep.join([str(PROJECT / "plugins"), str(PROJECT)]),
             "TEST_ARCHIVE_KEYS": f"{NEW},{OLD}"})
    try:
        assert relay.down.wait(60), "the housekeeping never reached its upload"
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(30)
    unpacked = _unpacked(store, name, tmp_path / "after-kill")  # whole and decryptable, either way
    assert any(v.encode() in unpacked for v in values) is not expect_new
    assert sealed_key_id(Path(_fetch(client, name, tmp_path))) == ("2026-12" if expect_new else "2026-01")
    finished = remove_expired_buyer_data(store, DAG, KEYS, 30, now=_latest(orders) + timedelta(days=31))
    assert finished.removed == [name]
    assert not any(v.encode() in _unpacked(store, name, tmp_path / "finished") for v in values)
    assert [a.name for a in store.list(DAG)] == [name]


KILLED_RUN = """
import os, sys
from datetime import datetime
import boto3
from botocore.config import Config
from amazon_sage.core.archive.encryption import ArchiveKeyring
from amazon_sage.core.archive.pii_retention import remove_expired_buyer_data
from amazon_sage.core.archive.stores import S3ArchiveStore
client = boto3.client("s3", endpoint_url=f"http://127.0.0.1:{sys.argv[1]}", aws_access_key_id="testing",
                      aws_secret_access_key="testing", region_name="eu-west-2",
                      config=Config(read_timeout=120, retries={"total_max_attempts": 1}))
keys = ArchiveKeyring.parse(os.environ["TEST_ARCHIVE_KEYS"], "keys")
remove_expired_buyer_data(S3ArchiveStore(client, "archive", "p"), "amazon_orders_to_sage", keys, 30,
                          now=datetime.fromisoformat(sys.argv[2]))
"""


def _fetch(client, name: str, tmp_path: Path) -> str:
    target = tmp_path / f"fetched-{name}"
    target.write_bytes(client.get_object(Bucket="archive", Key=f"p/{DAG}/{name}")["Body"].read())
    return str(target)


def test_the_housekeeping_dag_cleans_every_dags_archives(product_env, airflow_db, company, sandbox_server,
                                                         monkeypatch, tmp_path: Path) -> None:
    """The orders DAG archives a window; the housekeeping DAG, run as if 31 days later, removes its buyer data."""
    monkeypatch.setenv("AMAZON_SAGE_TASK_RETRIES", "0")
    dags = parse_dags()
    run = dags["amazon_orders_to_sage"].test(run_conf={"download_from": "2026-11-15T00:00:00Z",
                                                       "download_to": "2026-11-17T00:00:00Z"})
    assert run.state == "success"
    archive = next(Path(product_env["AMAZON_SAGE_ARCHIVE_DESTINATION"], DAG).glob("*.zip.enc"))
    store, orders = LocalArchiveStore(archive.parent.parent), sandbox_server.sandbox.state.versions
    values = _buyer_values([v for history in orders.values() for v in history])
    keys = archive_keyring()  # the session's key, which the DAGs read
    assert any(v.encode() in _unpacked(store, archive.name, tmp_path / "before", keys) for v in values)
    monkeypatch.setenv("AMAZON_SAGE_PII_RETENTION_DAYS", "1")  # the sandbox's orders are from November 2026
    housekeeping = parse_dags()["amazon_sage_buyer_data"]
    cleaned = housekeeping.test()
    assert cleaned.state == "success"
    counts = cleaned.get_task_instance("remove_expired_buyer_data").xcom_pull(
        task_ids="remove_expired_buyer_data", key="counts")
    assert counts["out"] == 1 and counts["failed"] == 0
    assert not any(v.encode() in _unpacked(store, archive.name, tmp_path / "after", keys) for v in values)


def test_an_erasure_request_cleans_every_archive_naming_the_order_now(tmp_path: Path, monkeypatch, capsys) -> None:
    from amazon_sage.cli.archives import main as archives_cli
    from sandbox.airflow_env import archive_key_connection

    root = tmp_path / "archive"
    store = LocalArchiveStore(root)
    named, orders = _orders_run(tmp_path, "named", count=6)
    other, other_orders = _orders_run(tmp_path / "b", "other", count=3)
    order_id = orders[-1]["orderId"]  # the same generator: the other run has only the first three
    assert order_id not in {o["orderId"] for o in other_orders}
    uri, _ = archive_run(named, store, keys=KEYS, dag_id=DAG, run_id="named", run_started=_latest(orders))
    untouched, _ = archive_run(other, store, keys=KEYS, dag_id=DAG, run_id="other",
                               run_started=_latest(orders) + timedelta(minutes=1))
    before = Path(untouched).read_bytes()
    waiting, waiting_orders = _orders_run(tmp_path, "failed_run", count=6)  # a failed run's files, not archived yet
    monkeypatch.setenv("AMAZON_SAGE_WORK_ROOT", str(tmp_path / "work"))
    monkeypatch.setenv("AIRFLOW_CONN_AMAZON_SAGE_ARCHIVE_KEY", archive_key_connection(f"{NEW},{OLD}"))
    assert archives_cli(["--destination", str(root), "erase", order_id]) == 0  # however young the archive
    said = capsys.readouterr().out.splitlines()
    assert said == [f"removed buyer data from archive {DAG}/{Path(uri).name}",
                    *(f"removed buyer data from {waiting / name}" for name in ("amazon_orders.xml", "zynk_orders.xml",
                                                                              "zynk_orders_success.xml"))]
    assert not any(v.encode() in _unpacked(store, Path(uri).name, tmp_path / "erased") for v in _buyer_values(orders))
    assert Path(untouched).read_bytes() == before
    # In the run folder only that buyer's records lost their data; the other buyers' stay for a retry.
    left = b"".join(p.read_bytes() for p in sorted(waiting.iterdir()))
    erased = waiting_orders[-1]
    assert not any(erased["buyer"][k].encode() in left for k in ("buyerName", "buyerEmail"))
    assert erased["orderId"].encode() in left
    assert all(o["buyer"]["buyerEmail"].encode() in left for o in waiting_orders[:-1] if "buyer" in o)
    assert archives_cli(["--destination", str(root), "erase", order_id]) == 0  # once is enough
    assert capsys.readouterr().out.splitlines() == [  # nothing was left to change
        f"nothing to change: no archive or run folder holds buyer data of {order_id}"]
