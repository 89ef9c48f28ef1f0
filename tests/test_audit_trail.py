"""The audit-trail route to a plain Sage 50: export, Sage's import (the sandbox step), reruns, crashes.

Every test goes round the whole loop with real parts: orders generated and mapped with the real
mapping, the export reading the sample company over pyodbc, the file imported by
``sandbox.sage_audit_import`` (the wizard's checks, written independently), and Sage's
``AUDIT_HEADER``/``AUDIT_SPLIT`` read back.
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections import Counter
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from lxml import etree

from amazon_sage.core.sage.audit_trail.csv_format import COLUMNS, ENCODING, read_lines
from amazon_sage.core.sage.audit_trail.export import AuditTrailResult, ExportSettings, export_audit_trail
from amazon_sage.core.sage.order_import import import_sales_orders
from amazon_sage.hooks.sage50 import Sage50Hook
from sandbox.order_generator import cancel_items
from sandbox.sage_audit_import import ImportRefused, import_audit_trail
from sandbox.sample_company import create_company, odbc_connection_string
from tests.helpers import IMPORTED, mapped_orders, money, sage_rows


@pytest.fixture
def audit(tmp_path: Path, product_env, company):
    """Run the export for a run id into its own folder, with this test's drop folder and ledger."""
    drop = tmp_path / "drop"

    def run(zynk: Path, run_id: str, *, now: datetime | None = None, **overrides) -> AuditTrailResult:
        folder = tmp_path / "work" / run_id
        folder.mkdir(parents=True, exist_ok=True)
        options = {"drop_folder": drop, "ledger_path": tmp_path / "state" / "ledger.sqlite",
                   "import_statuses": IMPORTED, "department": 0, "user_name": "Amazon", "header_row": True,
                   "overdue_after": timedelta(hours=48), **overrides}
        return export_audit_trail(zynk, folder, Sage50Hook().connect, ExportSettings(**options), run_id=run_id,
                                  now=now)

    run.drop = drop
    return run


def _headers(company: Path) -> list[dict]:
    return sage_rows(company, "SELECT * FROM AUDIT_HEADER ORDER BY HEADER_NUMBER")


def _importable(orders: list[dict]) -> list[dict]:
    return [o for o in orders if o["fulfillment"]["fulfillmentStatus"] in IMPORTED]


def _record_ids(path: Path) -> list[str]:
    return etree.parse(str(path)).getroot().xpath("//SalesOrder/Id/text()")


def test_every_importable_order_posts_once_with_the_sales_order_routes_vat_split(tmp_path, audit, company) -> None:
    zynk, orders = mapped_orders(tmp_path / "in", count=60)
    result = audit(zynk, "manual__1")
    expected = _importable(orders)
    assert result.exported == len(expected) and result.failed == 0
    assert result.import_file == audit.drop / "amazon_orders_manual-1.csv"
    assert (tmp_path / "work" / "manual__1" / result.import_file.name).read_bytes() == result.import_file.read_bytes()
    assert result.import_file.stat().st_mode & 0o777 == 0o600

    rows = read_lines(result.import_file)
    assert tuple(rows[0]) == COLUMNS and all(len(row) == len(COLUMNS) for row in rows)
    assert {row[0] for row in rows[1:]} == {"SI"}
    transactions, lines = import_audit_trail(company, result.import_file)  # Sage's checks accept every line
    assert (transactions, lines) == (len(expected), len(rows) - 1)

    # The same orders through the sales-order route, into a company of their own, for the VAT split.
    other = create_company(tmp_path / "other" / "company.db")
    import pyodbc

    (tmp_path / "so").mkdir()
    import_sales_orders(zynk, tmp_path / "so", lambda: pyodbc.connect(odbc_connection_string(other)),
                        import_statuses=IMPORTED, unknown_sku_action="special")
    by_order = {r["CUST_ORDER_NUMBER"]: r for r in sage_rows(other, "SELECT * FROM SALES_ORDER")}

    headers = _headers(company)
    assert Counter(h["INV_REF"] for h in headers) == Counter(o["orderId"] for o in expected)  # each once
    for order in expected:
        header = next(h for h in headers if h["INV_REF"] == order["orderId"])
        splits = sage_rows(company, "SELECT * FROM AUDIT_SPLIT WHERE HEADER_NUMBER = ? ORDER BY SPLIT_NUMBER",
                           header["HEADER_NUMBER"])
        charged = Decimal(order["proceeds"]["grandTotal"]["amount"])
        assert money(header["NET_AMOUNT"]) + money(header["TAX_AMOUNT"]) == charged == money(header["GROSS_AMOUNT"])
        assert sum(money(s["NET_AMOUNT"]) + money(s["TAX_AMOUNT"]) for s in splits) == charged
        assert len({(s["NOMINAL_CODE"], s["TAX_CODE"]) for s in splits}) == len(splits)  # grouped
        sales_order = by_order[order["orderId"]]
        assert money(header["NET_AMOUNT"]) == money(sales_order["INVOICE_NET"])
        assert money(header["TAX_AMOUNT"]) == money(sales_order["INVOICE_TAX"])
        assert header["ACCOUNT_REF"] == "AMAZON" and header["TYPE"] == "SI"
        assert header["DATE"] == sales_order["ORDER_DATE"]
        carriage = [s for s in splits if s["NOMINAL_CODE"] == "4905"]
        assert sum(money(s["NET_AMOUNT"]) for s in carriage) == money(sales_order["CARR_NET"])


def test_export_only_reads_sage(tmp_path, audit, company) -> None:
    zynk, _ = mapped_orders(tmp_path / "in", count=20)
    files = [company, company.with_name(company.name + "-wal")]
    before = [hashlib.sha256(p.read_bytes()).hexdigest() if p.exists() else None for p in files]
    assert audit(zynk, "r1").exported > 0
    assert [hashlib.sha256(p.read_bytes()).hexdigest() if p.exists() else None for p in files] == before


def test_rerun_after_the_import_doubles_nothing(tmp_path, audit, company) -> None:
    zynk, _ = mapped_orders(tmp_path / "in", count=30)
    first = audit(zynk, "r1")
    import_audit_trail(company, first.import_file)
    second = audit(zynk, "r2")
    assert second.exported == 0 and second.import_file is None
    assert second.duplicates == first.exported and second.confirmed == first.exported
    assert not list(audit.drop.glob("*_r2*.csv")) and len(_headers(company)) == first.exported
    warnings = etree.parse(str(second.skipped_file)).getroot().xpath("//Warning/Description/text()")
    assert sum("Already in Sage as audit-trail transaction" in w for w in warnings) == first.exported


def test_rerun_before_the_import_then_the_import_doubles_nothing(tmp_path, audit, company) -> None:
    zynk, orders = mapped_orders(tmp_path / "in", count=30)
    first = audit(zynk, "r1")
    second = audit(zynk, "r2")  # the bookkeeper has not imported r1's file yet
    assert second.exported == 0 and second.import_file is None and second.duplicates == first.exported
    assert second.awaiting_import == first.exported and not second.overdue
    warnings = etree.parse(str(second.skipped_file)).getroot().xpath("//Warning/Description/text()")
    assert all("which Sage has not imported yet; not exported again" in w for w in warnings
               if "Status" not in w)
    import_audit_trail(company, first.import_file)
    third = audit(zynk, "r3")
    assert third.exported == 0 and third.confirmed == first.exported and third.awaiting_import == 0
    assert Counter(h["INV_REF"] for h in _headers(company)) == Counter(o["orderId"] for o in _importable(orders))


def test_a_retry_of_the_same_run_reports_its_orders_and_writes_no_second_file(tmp_path, audit) -> None:
    zynk, _ = mapped_orders(tmp_path / "in", count=20)
    first = audit(zynk, "r1")
    again = audit(zynk, "r1")
    assert again.exported == first.exported and again.import_file is None and again.duplicates == 0
    assert _record_ids(again.success_file) == _record_ids(first.success_file)
    assert [p.name for p in audit.drop.iterdir()] == [first.import_file.name]


def test_fixed_orders_of_a_retried_run_go_in_a_second_file(tmp_path, audit, company, monkeypatch) -> None:
    zynk, orders = mapped_orders(tmp_path / "in", count=20)
    with sqlite3.connect(company) as db:  # the seller has not created the carriage nominal yet
        db.execute("DELETE FROM NOMINAL_LEDGER WHERE ACCOUNT_REF = '4905'")
    first = audit(zynk, "r1")
    assert first.failed > 0
    reasons = etree.parse(str(first.fail_file)).getroot().xpath("//Error/Description/text()")
    assert all("nominal code '4905' does not exist in Sage's nominal ledger" in r for r in reasons)
    with sqlite3.connect(company) as db:  # fixed in Sage; the task is cleared
        db.execute("INSERT INTO NOMINAL_LEDGER (ACCOUNT_REF, NAME, RECORD_DELETED) VALUES ('4905', 'Carriage', 0)")
    retry = audit(zynk, "r1")
    assert retry.exported == first.exported + first.failed and retry.failed == 0
    assert retry.import_file.name == "amazon_orders_r1_2.csv"
    for path in (first.import_file, retry.import_file):
        import_audit_trail(company, path)
    assert Counter(h["INV_REF"] for h in _headers(company)) == Counter(o["orderId"] for o in _importable(orders))


def test_a_crash_before_the_file_reaches_the_drop_folder_loses_nothing(tmp_path, audit, company) -> None:
    zynk, orders = mapped_orders(tmp_path / "in", count=20)
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("")  # the drop folder cannot be made: the move into it fails after the ledger reserved
    with pytest.raises(OSError):
        audit(zynk, "r1", drop_folder=blocked)
    with sqlite3.connect(tmp_path / "state" / "ledger.sqlite") as db:
        assert db.execute("SELECT COUNT(*) FROM exports WHERE state = 'pending'").fetchone()[0] > 0
    blocked.unlink()
    blocked.mkdir()
    result = audit(zynk, "r2", drop_folder=blocked)
    assert result.exported == len(_importable(orders))
    import_audit_trail(company, result.import_file)
    assert Counter(h["INV_REF"] for h in _headers(company)) == Counter(o["orderId"] for o in _importable(orders))


def test_a_crash_after_the_file_reached_the_drop_folder_exports_nothing_again(tmp_path, audit, company) -> None:
    zynk, orders = mapped_orders(tmp_path / "in", count=20)
    first = audit(zynk, "r1")
    with sqlite3.connect(tmp_path / "state" / "ledger.sqlite") as db:  # as if it died before recording the move
        db.execute("UPDATE exports SET state = 'pending'")
    second = audit(zynk, "r2")
    assert second.recovered == [first.import_file.name] and second.exported == 0
    assert second.duplicates == first.exported
    import_audit_trail(company, first.import_file)
    assert len(_headers(company)) == first.exported == len(_importable(orders))


def test_files_waiting_too_long_are_listed_for_attention(tmp_path, audit) -> None:
    zynk, _ = mapped_orders(tmp_path / "in", count=20)
    other, _ = mapped_orders(tmp_path / "in2", count=5, seed=7)
    first = audit(zynk, "r1")
    later = audit(other, "r2", now=datetime.now(UTC) + timedelta(hours=49))
    assert len(later.overdue) == first.exported and later.counts().details["overdue"] == first.exported
    listed = (tmp_path / "work" / "r2" / "audit_trail_overdue.csv").read_text().splitlines()
    assert len(listed) == first.exported + 1 and all(first.import_file.name in line for line in listed[1:])


def test_an_order_cancelled_after_export_needs_attention(tmp_path, audit) -> None:
    zynk, orders = mapped_orders(tmp_path / "in", count=20)
    first = audit(zynk, "r1")
    exported = _record_ids(first.success_file)[0]
    cancelled = [dict(o, fulfillment={"fulfillmentStatus": "CANCELLED"}) if o["orderId"] == exported else o
                 for o in orders]
    zynk2, _ = mapped_orders(tmp_path / "in2", versions=cancelled)
    second = audit(zynk2, "r2")
    assert second.attention == 1 and second.attention_orders[0][0] == exported
    assert f"Delete its lines (Reference {exported}) from that file" in second.attention_orders[0][1]


def test_items_cancelled_after_export_need_a_credit_and_before_export_stay_off_the_invoice(tmp_path, audit) -> None:
    zynk, orders = mapped_orders(tmp_path / "in", count=40)
    first = audit(zynk, "r1")
    exported = set(_record_ids(first.success_file))
    late, early = [o for o in orders if o["orderId"] in exported and len(o["orderItems"]) >= 2][:2]
    when = datetime(2026, 11, 30, tzinfo=UTC)
    sku = late["orderItems"][1]["product"]["sellerSku"]
    zynk2, _ = mapped_orders(tmp_path / "in2", versions=[cancel_items(late, {sku}, when)])
    second = audit(zynk2, "r2")
    assert second.attention == 1 and second.attention_orders[0][0] == late["orderId"]
    [message] = etree.parse(str(second.skipped_file)).getroot().xpath("//Warning/Description/text()")
    proceeds = late["orderItems"][1]["proceeds"]["proceedsTotal"]["amount"]
    assert f"Items cancelled on Amazon after the order was exported in {first.import_file.name}: {sku} x" in message
    assert f"raise a credit note (SC) for {Decimal(proceeds):.2f} in Sage" in message
    third = audit(zynk2, "r3")  # still flagged while the credit is owed; nothing exported twice
    assert third.attention == 1 and third.exported == 0
    # An order whose item was cancelled before it was ever exported: off the invoice, and no credit owed after.
    fresh = dict(cancel_items(early, {early["orderItems"][0]["product"]["sellerSku"]}, when),
                 orderId="203" + early["orderId"][3:])
    zynk3, _ = mapped_orders(tmp_path / "in3", versions=[fresh])
    fourth = audit(zynk3, "r4")
    assert fourth.exported == 1
    gross = sum(Decimal(row[7]) + Decimal(row[9]) for row in read_lines(fourth.import_file)
                if row[5] == fresh["orderId"])
    assert gross == Decimal(fresh["proceeds"]["grandTotal"]["amount"])
    assert audit(zynk3, "r5").attention == 0


def test_orders_sage_would_refuse_fail_and_never_reach_the_file(tmp_path, audit, company) -> None:
    zynk, _ = mapped_orders(tmp_path / "in", count=10)
    tree = etree.parse(str(zynk))
    records = tree.getroot().xpath("//SalesOrder")
    long_ref = records[0]
    long_ref.find("CustomerOrderNumber").text = "X" * 31
    records[1].find("AccountReference").text = "NOBODY"
    tree.write(str(zynk))
    result = audit(zynk, "r1")
    reasons = dict(zip(_record_ids(result.fail_file),
                       etree.parse(str(result.fail_file)).getroot().xpath("//SalesOrder/Errors"), strict=True))
    assert "longer than Sage's 30 characters" in "".join(reasons[records[0].findtext("Id")].itertext())
    assert "account 'NOBODY' does not exist in Sage's SALES_LEDGER" in "".join(
        reasons[records[1].findtext("Id")].itertext())
    text = result.import_file.read_text(encoding=ENCODING)
    assert "X" * 31 not in text and "NOBODY" not in text
    import_audit_trail(company, result.import_file)


def test_the_import_step_refuses_a_malformed_file_whole(tmp_path, company) -> None:
    path = tmp_path / "bad.csv"
    good = "SI,AMAZON,4000,0,01/12/2026,202-1,Amazon,10.00,T1,2.00,1,,Amazon"
    path.write_text("\r\n".join([",".join(COLUMNS), good,
                                 "SR,AMAZON,1200,0,01/12/2026,202-2,Receipt,12.00,T9,0.00,1,,Amazon",
                                 "SI,AMAZON,9999,0,31/02/2026,202-3,Amazon,10.001,T1,2.00,1,,Amazon",
                                 "SI,AMAZON,4000,0,01/12/2026," + "R" * 31 + ",Amazon,123456789.00,T100,0,1,,"]),
                    encoding=ENCODING)
    with pytest.raises(ImportRefused) as refused:
        import_audit_trail(company, path)
    errors = "\n".join(refused.value.errors)
    for expected in ("line 2: Type SR can't be imported", "line 3: Nominal Code '9999' does not exist",
                     "line 3: Date '31/02/2026' is not DD/MM/YYYY", "line 3: Net '10.001' is not 8 digits",
                     "line 4: Reference is longer than 30", "line 4: Net '123456789.00' is not 8 digits",
                     "line 4: T/C 'T100'"):
        assert expected in errors
    assert _headers(company) == []


def test_the_orders_dag_posts_through_the_audit_trail(tmp_path, product_env, airflow_db, sandbox_server, company,
                                                      monkeypatch) -> None:
    from tests.helpers import archived_zip, latest_versions, parse_dags

    for name, value in {"SAGE_POSTING": "audit_trail", "AUDIT_TRAIL_DROP_FOLDER": str(tmp_path / "drop"),
                        "AUDIT_TRAIL_LEDGER": str(tmp_path / "ledger.sqlite"), "TASK_RETRIES": "0"}.items():
        monkeypatch.setenv(f"AMAZON_SAGE_{name}", value)
    dag = parse_dags()["amazon_orders_to_sage"]
    assert "export_audit_trail" in dag.task_ids and "import_sales_orders" not in dag.task_ids
    window = {"download_from": "2026-11-15T00:00:00Z", "download_to": "2026-11-19T12:00:00Z"}
    run = dag.test(run_conf=window)
    states = {ti.task_id: ti.state for ti in run.get_task_instances()}
    assert run.state == "success", states
    files = list((tmp_path / "drop").glob("*.csv"))
    assert len(files) == 1
    archives = list(Path(product_env["AMAZON_SAGE_ARCHIVE_DESTINATION"], "amazon_orders_to_sage").glob("*.zip.enc"))
    with archived_zip(archives[0]) as archive:
        assert files[0].name in archive.namelist()
        assert archive.read(files[0].name) == files[0].read_bytes()
    from amazon_sage.ui.report_query import RunFilter, report_page
    from amazon_sage.ui.run_report import run_files

    [row] = report_page(RunFilter(dag_id="amazon_orders_to_sage", run_id=run.run_id)).rows
    assert row.import_file == files[0].name and row.counts["export_audit_trail"]["out"] > 0
    assert ("audit trail", files[0].name) in run_files(row).files  # the report offers the file for download
    import_audit_trail(company, files[0])
    versions = [v for history in sandbox_server.sandbox.state.versions.values() for v in history]
    expected = [o for o in latest_versions(versions) if o["fulfillment"]["fulfillmentStatus"] in IMPORTED
                and window["download_from"] <= o["lastUpdatedTime"] <= window["download_to"]]
    assert Counter(h["INV_REF"] for h in _headers(company)) == Counter(o["orderId"] for o in expected)

    again = dag.test(run_conf=window)
    assert again.state == "success"
    assert list((tmp_path / "drop").glob("*.csv")) == files  # nothing new to post


def test_a_read_only_login_on_postgresql_is_all_the_export_needs(tmp_path, product_env) -> None:
    """A second ODBC target whose login can only SELECT, as Sage's own driver: the export works, a write is refused."""
    import uuid

    import pyodbc

    from tests.postgres_company import postgres_company, postgres_connection_string

    zynk, orders = mapped_orders(tmp_path / "in", count=20)
    role = f"sage_reader_{uuid.uuid4().hex[:10]}"
    admin = pyodbc.connect(postgres_connection_string("postgres"), autocommit=True)
    admin.execute(f"CREATE ROLE {role} LOGIN")
    try:
        with postgres_company(tmp_path / "pg") as owner_login:
            owner = pyodbc.connect(owner_login, autocommit=True)
            try:
                owner.execute(f"GRANT SELECT ON ALL TABLES IN SCHEMA public TO {role}")
                held = _importable(orders)[0]["orderId"]  # posted in Sage already, by hand
                owner.execute("INSERT INTO AUDIT_HEADER (HEADER_NUMBER, TRAN_NUMBER, TYPE, ACCOUNT_REF, INV_REF, "
                              "DELETED_FLAG) VALUES (1, 1, 'SI', 'AMAZON', ?, 0)", held)
            finally:
                owner.close()
            reader_login = owner_login.replace("UID=postgres;", f"UID={role};")
            reader = pyodbc.connect(reader_login)
            with pytest.raises(pyodbc.Error, match="permission denied"):
                reader.execute("UPDATE TAX_CODE SET DESCRIPTION = DESCRIPTION WHERE TAX_CODE_ID = 0")
            reader.close()
            settings = ExportSettings(drop_folder=tmp_path / "drop", ledger_path=tmp_path / "ledger.sqlite",
                                      import_statuses=IMPORTED, department=0, user_name="Amazon", header_row=True,
                                      overdue_after=timedelta(hours=48))
            (tmp_path / "run").mkdir()
            result = export_audit_trail(zynk, tmp_path / "run", lambda: pyodbc.connect(reader_login), settings,
                                        run_id="pg")
    finally:
        admin.execute(f"DROP ROLE IF EXISTS {role}")
        admin.close()
    assert result.exported == len(_importable(orders)) - 1 and result.duplicates == 1
    assert held not in result.import_file.read_text(encoding=ENCODING)
