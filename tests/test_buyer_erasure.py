"""A buyer's erasure by e-mail (archives decrypted and read, run folders redacted in place), and the housekeeping of
failed runs' work folders through the real buyer-data DAG."""

from __future__ import annotations

import copy
import os
import time
from datetime import UTC, datetime
from pathlib import Path

from amazon_sage.core.archive.run_archive import archive_run, restore_archive
from amazon_sage.core.archive.stores import LocalArchiveStore
from amazon_sage.core.files import private_dir
from sandbox.order_generator import generate_orders
from tests.helpers import ORDERS_START, latest_versions, mapped_orders, parse_dags

DAG = "amazon_orders_to_sage"


def _contents(folder: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file())


def test_an_erasure_by_e_mail_finds_the_buyers_orders_in_archives_and_run_folders(tmp_path, monkeypatch,
                                                                                  capsys) -> None:
    from amazon_sage.cli.archives import main as archives_cli
    from amazon_sage.hooks.archive_destination import archive_keyring

    store = LocalArchiveStore(tmp_path / "archive")
    _, orders = mapped_orders(private_dir(tmp_path / "work" / DAG / "archived"), count=6)
    mapped_orders(private_dir(tmp_path / "work" / DAG / "other"), count=3)
    buyer = orders[4]  # not among the other run's three
    email = buyer["buyer"]["buyerEmail"]
    archived, _ = archive_run(tmp_path / "work" / DAG / "archived", store, keys=archive_keyring, dag_id=DAG,
                              run_id="archived", run_started=ORDERS_START)
    untouched, _ = archive_run(tmp_path / "work" / DAG / "other", store, keys=archive_keyring, dag_id=DAG,
                               run_id="other", run_started=ORDERS_START)
    before = Path(untouched).read_bytes()
    # The same buyer ordered again later; that run failed, and its folder waits for a retry.
    later = [copy.deepcopy(o) for o in latest_versions(generate_orders(5, ORDERS_START, seed=7)) if "buyer" in o]
    later[1]["buyer"]["buyerEmail"] = email
    failed = private_dir(tmp_path / "work" / DAG / "failed")
    mapped_orders(failed, versions=later)
    skipped = failed / "zynk_orders_skipped.xml"  # none of the buyer's records: left byte for byte
    skipped.write_text("<Company><SalesOrders/></Company>")
    broken = failed / "zynk_orders_fail.xml"  # cut short: the buyer's records cannot be found in it
    broken.write_text("<Company><SalesOrders><SalesOrder>")
    notes = failed / "operator_notes.txt"  # a file the product does not write, naming the buyer
    notes.write_text(f"rang {email} about the failed import")
    scratch = private_dir(tmp_path / "work" / DAG / ".archive-killed")  # a killed archive task's leftover
    monkeypatch.setenv("AMAZON_SAGE_WORK_ROOT", str(tmp_path / "work"))

    assert archives_cli(["--destination", str(store.root), "erase", email.upper()]) == 0
    said = capsys.readouterr().out.splitlines()
    assert said == [f"orders of {email}: {', '.join(sorted((buyer['orderId'], later[1]['orderId'])))}",
                    f"removed buyer data from archive {DAG}/{Path(archived).name}",
                    f"not changed: {scratch} is the scratch folder of a killed archive task and may hold a run's "
                    "files as a plain zip: delete it (no archive task of its DAG may be running)",
                    f"removed buyer data from {failed / 'amazon_orders.xml'}",
                    f"removed buyer data from {failed / 'zynk_orders.xml'}",
                    f"not changed: {broken} is not well-formed XML, so the buyer's records cannot be found in it: "
                    "delete it or the run's folder",
                    f"not changed: {notes} still holds a value removed from the buyer's records: delete it or the "
                    "run's folder"]
    notes.unlink()  # as the line says
    restored = _contents(restore_archive(store, DAG, Path(archived).name, tmp_path / "restored", archive_keyring))
    address = buyer["recipient"]["deliveryAddress"]
    for value in (email, buyer["buyer"]["buyerName"], address["addressLine1"], address["phone"]):
        assert value.encode() not in restored and value.encode() not in _contents(failed)
    assert buyer["orderId"].encode() in restored and later[1]["orderId"].encode() in _contents(failed)
    assert all(o["orderId"].encode() in restored for o in orders)  # the whole archive lost buyer data, not its orders
    assert all(o["buyer"]["buyerEmail"].encode() in _contents(failed) for o in later if o is not later[1])
    assert Path(untouched).read_bytes() == before and skipped.read_text() == "<Company><SalesOrders/></Company>"
    assert sorted(p.name for p in failed.iterdir()) == ["amazon_orders.xml", "zynk_orders.xml", "zynk_orders_fail.xml",
                                                         "zynk_orders_skipped.xml"]  # no partial file left
    assert broken.read_text() == "<Company><SalesOrders><SalesOrder>"

    assert archives_cli(["--destination", str(store.root), "erase", "nobody@marketplace.amazon.co.uk"]) == 0
    assert capsys.readouterr().out.splitlines() == ["orders of nobody@marketplace.amazon.co.uk: none found", said[2],
                                                    said[5]]


def _aged(folder: Path, days: float) -> Path:
    """Make ``folder`` and everything in it look last changed ``days`` ago."""
    when = time.time() - days * 86400
    for path in [*folder.rglob("*"), folder]:
        os.utime(path, (when, when))
    return folder


def _run_folder(work: Path, dag_id: str, run_id: str) -> Path:
    folder = private_dir(work / dag_id / run_id)
    (folder / "amazon_orders.xml").write_text("<Orders/>")
    return folder


def test_housekeeping_removes_expired_work_folders_but_not_those_of_a_dag_with_a_run_in_progress(
        product_env, airflow_db, monkeypatch) -> None:
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session
    from sqlalchemy import delete

    monkeypatch.setenv("AMAZON_SAGE_TASK_RETRIES", "0")
    work = Path(product_env["AMAZON_SAGE_WORK_ROOT"])
    expired = _aged(_run_folder(work, DAG, "manual__failed_long_ago"), 31)
    scratch = _aged(private_dir(work / DAG / ".archive-killed"), 31)
    retried = _aged(_run_folder(work, DAG, "manual__retried_today"), 31)
    (retried / "zynk_orders.xml").write_text("<Company/>")  # a retry wrote a file just now: the folder is in use
    recent = _aged(_run_folder(work, "sage_despatches_to_amazon", "manual__failed_yesterday"), 1)
    waiting = _aged(_run_folder(work, "sage_stock_to_amazon_prices", "manual__failed_long_ago"), 40)
    state = work / ".notices.json"
    state.write_text("{}")
    os.utime(state, (0, 0))  # product state, never a run's: kept however old
    with create_session() as session:  # the prices DAG has a run queued: its folders wait
        session.add(DagRun(dag_id="sage_stock_to_amazon_prices", run_id="queued_now", run_type="manual",
                           state="queued", run_after=datetime.now(UTC)))
    try:
        run = parse_dags()["amazon_sage_buyer_data"].test()
    finally:
        with create_session() as session:
            session.execute(delete(DagRun).where(DagRun.run_id == "queued_now"))
    assert run.state == "success"
    counts = run.get_task_instance("remove_expired_buyer_data").xcom_pull(task_ids="remove_expired_buyer_data",
                                                                          key="counts")
    assert (counts["work_folders_removed"], counts["work_folders_postponed"]) == (2, 1)
    assert not expired.exists() and not scratch.exists()
    assert retried.is_dir() and recent.is_dir() and waiting.is_dir() and state.is_file()
