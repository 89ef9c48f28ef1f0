"""Run the four DAGs end to end on the embedded default and say where the results are.

It prepares ``var/`` in the project: an Airflow home on SQLite, the sample Sage company and
the archive folder and, the first time, a local archive key (``var/archive-key``, 0600: the
archives are encrypted with it); starts the SP-API sandbox with generated orders from the last few days;
runs ``airflow dags test --use-executor`` (beside an API server and a triggerer it starts and
stops, so that every task's log is in the UI: :mod:`sandbox.logged_runs`) for
``amazon_orders_to_sage`` over that window; despatches a few of the imported orders in the
sample company as a seller would in Sage (one in full, one in part, one with a courier the
courier table does not know) and runs ``sage_despatches_to_amazon`` over that moment; then
``sage_stock_to_amazon_inventory`` and ``sage_stock_to_amazon_prices`` (export mode All). It
prints each run's archive, its success and fail files (decrypted out of the archive), what landed
in Sage, what was confirmed to Amazon and what the sandbox's Amazon listings now hold. With
``AMAZON_SAGE_SAGE_POSTING=audit_trail`` it also prints the audit-trail import file and imports it
into the sample company, as the bookkeeper would with Sage's File > Import.

    python -m sandbox.run_default [--orders 60] [--port 0]
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyodbc

from sandbox import PROJECT

sys.path.insert(0, str(PROJECT / "plugins"))  # the product's helpers, as Airflow finds them (run as python -m)

from amazon_sage import settings
from amazon_sage.core.archive.encryption import ArchiveKeyring, new_key_entry
from amazon_sage.core.archive.run_archive import restore_archive
from amazon_sage.core.archive.stores import LocalArchiveStore
from amazon_sage.core.files import append_private, atomic_output, private_dir
from amazon_sage.core.marketplaces import BY_ID
from sandbox.airflow_env import airflow_environment, sp_api_connection
from sandbox.logged_runs import airflow_services, run_logged
from sandbox.order_generator import generate_orders
from sandbox.sage_audit_import import ImportRefused, import_audit_trail
from sandbox.sample_company import create_company, despatch_order, odbc_connection_string
from sandbox.sp_api_server import Sandbox, SandboxServer

VAR = Path(os.environ.get("AMAZON_SAGE_VAR", PROJECT / "var"))
MARKETPLACES = ("UK", "DE", "FR")
# The sample company's accounts and OSS tax codes for the EU marketplaces (see sandbox.sample_company).
EUROPE_SETTINGS = {"AMAZON_SAGE_MARKETPLACE_ACCOUNTS": "EUR=AMAZONEU",
                   "AMAZON_SAGE_MARKETPLACE_TAX": "DE=T20:19,FR=T21:20"}
DAGS = {"amazon_orders_to_sage": ("zynk_orders_success.xml", "zynk_orders_fail.xml"),
        "sage_despatches_to_amazon": ("amazon_shipments_success.xml", "amazon_shipments_fail.xml"),
        "sage_stock_to_amazon_inventory": ("amazon_inventory_success.xml", "amazon_inventory_fail.xml"),
        "sage_stock_to_amazon_prices": ("amazon_prices_success.xml", "amazon_prices_fail.xml")}


def airflow(env: dict[str, str], *args: str, log: Path) -> None:
    """Run an ``airflow`` CLI command; on failure show the end of its output and stop."""
    command = [str(Path(sys.executable).with_name("airflow")), *args]
    with append_private(log) as handle:  # 0600 like every file the set-up writes
        handle.write(f"\n$ {shlex.join(command)}\n")
        handle.flush()
        done = subprocess.run(command, env={**os.environ, **env}, stdout=handle, stderr=subprocess.STDOUT)
    if done.returncode:
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-40:])
        raise SystemExit(f"`airflow {' '.join(args[:2])}` failed (exit {done.returncode}). End of {log}:\n{tail}")


def _sage(company: Path, sql: str) -> list[tuple]:
    connection = pyodbc.connect(odbc_connection_string(company))
    try:
        return [tuple(row) for row in connection.execute(sql).fetchall()]
    finally:
        connection.close()


def sage_summary(company: Path) -> str:
    [(orders, gross)] = _sage(company, "SELECT COUNT(*), SUM(INVOICE_GROSS) FROM SALES_ORDER")
    [(lines,)] = _sage(company, "SELECT COUNT(*) FROM SOP_ITEM")
    [(invoices, invoiced)] = _sage(company, "SELECT COUNT(*), SUM(GROSS_AMOUNT) FROM AUDIT_HEADER WHERE TYPE = 'SI'")
    text = (f"{orders} sales orders, {lines} lines, gross £{float(gross or 0):.2f}; "
            f"{invoices} audit-trail sales invoices, gross £{float(invoiced or 0):.2f}")
    for table, gross_column in (("SALES_ORDER", "INVOICE_GROSS"), ("AUDIT_HEADER", "GROSS_AMOUNT")):
        for account, code, count, foreign, base in _sage(
                company, f"SELECT d.ACCOUNT_REF, c.CODE, COUNT(*), SUM(d.FOREIGN_{gross_column}), "
                         f"SUM(d.{gross_column}) FROM {table} d JOIN CURRENCY c ON c.NUMBER = d.CURRENCY "
                         "GROUP BY d.ACCOUNT_REF, c.CODE ORDER BY d.ACCOUNT_REF"):
            text += f"\n  {account:<9} {code}: {count:>3} {table.lower()} rows, {code} {float(foreign or 0):.2f}" + (
                f" (£{float(base or 0):.2f} at Sage's rate)" if code != "GBP" else "")
    return text


def import_audit_trail_files(company: Path, folder: Path, drop_folder: Path) -> None:
    """Import the run's audit-trail files into the sample company, as the bookkeeper would in Sage."""
    for path in sorted(folder.glob("amazon_orders_*.csv")):
        print(f"  audit-trail import file (Sage: File > Import > Audit trail transactions): {drop_folder / path.name}")
        try:
            transactions, lines = import_audit_trail(company, path)
        except ImportRefused as exc:
            raise SystemExit(f"The sample company's import step refused {path.name}: {exc}") from None
        print(f"  imported into the sample company as the bookkeeper would: {transactions} sales invoices, "
              f"{lines} lines")


def stock_in_sage(company: Path) -> dict[str, tuple[float, float, float]]:
    """``sku -> (QTY_IN_STOCK, QTY_ALLOCATED, SALES_PRICE)`` as Sage holds them (doubles)."""
    rows = _sage(company, "SELECT STOCK_CODE, QTY_IN_STOCK, QTY_ALLOCATED, SALES_PRICE FROM STOCK")
    return {code: (in_stock or 0.0, allocated or 0.0, price or 0.0) for code, in_stock, allocated, price in rows}


def listings_report(listings: dict[str, tuple[int, object]], stock: dict[str, tuple[float, float, float]]) -> str:
    """One line per Amazon listing: what Amazon shows now beside the Sage values it came from."""
    lines = ["Amazon listings in the sandbox now, beside Sage's stock record (doubles as Sage holds them):"]
    for sku, (quantity, price) in sorted(listings.items()):
        line = f"  {sku:<22} quantity {quantity:>3}, £{price:.2f}"
        if sku in stock:
            in_stock, allocated, net = stock[sku]
            line += f"   (Sage: {in_stock!r} in stock - {allocated!r} allocated, net £{net!r} + VAT)"
        else:
            line += "   (not in Sage: unchanged)"
        lines.append(line)
    return "\n".join(lines)


# What the demo despatches in Sage: (units of the first line, or None for everything; courier; consignment).
DEMO_DESPATCHES = ((None, "Royal Mail Tracked 24", "RM123456785GB"), ({"first": 1}, "DPD Next Day", "15501234567890"),
                   (None, "Fastway Local", "FW-0042"))


def despatch_some_orders(company: Path, sandbox: Sandbox, when: datetime) -> list[str]:
    """Despatch a few Sage orders not despatched yet that Amazon shows as unshipped, as a seller would in Sage."""
    imported = [row[0] for row in _sage(company, "SELECT CUST_ORDER_NUMBER FROM SALES_ORDER WHERE DESPATCH_STATUS = "
                                                 "'Not Despatched' ORDER BY ORDER_NUMBER")]
    unshipped = [order_id for order_id in imported
                 if sandbox.state.versions[order_id][-1]["fulfillment"]["fulfillmentStatus"] == "UNSHIPPED"]
    for order_id, (part, courier, consignment) in zip(unshipped, DEMO_DESPATCHES, strict=False):
        first = sandbox.state.versions[order_id][-1]["orderItems"][0]["product"]["sellerSku"]
        despatch_order(company, order_id, {first: part["first"]} if part else None, courier=courier,
                       consignment=consignment, when=when.replace(tzinfo=None))
    return unshipped[:len(DEMO_DESPATCHES)]


def confirmations_report(confirmations: list[dict]) -> str:
    """One line per package the sandbox's Amazon accepted: order, carrier, tracking number and units."""
    lines = ["Shipments confirmed to Amazon (confirmShipment):"]
    for c in confirmations:
        carrier = c["carrierCode"] + (f" ({c['carrierName']})" if c.get("carrierName") else "")
        units = sum(c["items"].values())
        lines.append(f"  {c['orderId']} package {c['packageReferenceId']}: {carrier}, tracking {c['trackingNumber']}, "
                     f"{units} unit(s) of {len(c['items'])} item(s)")
    return "\n".join(lines if confirmations else [*lines, "  (none)"])


def write_shell_env(path: Path, env: dict[str, str]) -> None:
    """Write ``env`` as a file a shell can ``source`` (with the venv first on PATH), created 0600.

    It holds the sandbox's LWA client secret and refresh token inside the connection URIs, so it
    is as private as the working files; rewriting it (a second set-up) keeps it 0600 too.
    """
    with atomic_output(path) as partial:  # a 0600 file moved into place, whatever the umask
        partial.write_text("".join(f"export {k}={shlex.quote(v)}\n" for k, v in env.items())
                           + f"export PATH={shlex.quote(str(Path(sys.executable).parent))}:\"$PATH\"\n")


def local_archive_key(path: Path) -> str:
    """The embedded default's archive key entry (``id:base64``), made the first time and kept in ``path`` (0600).

    It stays for every later run, so the archives already written keep decrypting; it is never in
    the repository (``var/`` is not tracked). Deleting it makes the local archives unreadable.
    """
    if path.is_file():
        return path.read_text().strip()
    entry = new_key_entry(f"local-{datetime.now(UTC):%Y%m%d}")
    with atomic_output(path) as partial:  # 0600 whatever the umask
        partial.write_text(entry + "\n")
    return entry


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=60, help="orders the sandbox generates")
    parser.add_argument("--port", type=int, default=0, help="sandbox port (0 = any free port)")
    parser.add_argument("--fresh-company", action="store_true", help="recreate the sample Sage company first")
    args = parser.parse_args()

    home, results = VAR / "airflow", VAR / "results"
    for folder in (home, results, VAR / "sage"):
        private_dir(folder)  # 0700, VAR too when this makes it
    company = VAR / "sage" / "company.db"
    if args.fresh_company or not company.exists():
        create_company(company)
    log = VAR / "run-embedded-default.log"
    start = (datetime.now(UTC) - timedelta(days=3)).replace(minute=0, second=0, microsecond=0)
    sandbox = Sandbox(generate_orders(args.orders, start, days=2.5, marketplaces=MARKETPLACES))

    with SandboxServer(sandbox, args.port) as server:
        archive_key = local_archive_key(VAR / "archive-key")
        env = airflow_environment(home, sandbox_url=server.url, company=company, archive_key=archive_key)
        env["AIRFLOW_CONN_AMAZON_SP_API_DEFAULT"] = sp_api_connection(server.url, marketplace=",".join(MARKETPLACES))
        for name, value in EUROPE_SETTINGS.items():  # the seller's own values win
            env[name] = os.environ.get(name, value)
        write_shell_env(VAR / "embedded.env", env)
        print(f"SP-API sandbox: {server.url} ({args.orders} orders since {start:%Y-%m-%d %H:%M} UTC)")
        print(f"Airflow home:   {home} (log: {log})")
        airflow(env, "db", "migrate", log=log)
        subprocess.run([sys.executable, "-m", "amazon_sage.cli.pools"], env={**os.environ, **env}, check=True,
                       stdout=subprocess.DEVNULL)
        despatched_at = datetime.now(UTC).replace(microsecond=0)
        conf = {"amazon_orders_to_sage": {"download_from": (start - timedelta(hours=1)).isoformat()},
                "sage_despatches_to_amazon": {"despatched_from": (despatched_at - timedelta(minutes=1)).isoformat(),
                                              "despatched_to": (despatched_at + timedelta(minutes=1)).isoformat()},
                "sage_stock_to_amazon_inventory": {"export_mode": "All"},
                "sage_stock_to_amazon_prices": {"export_mode": "All"}}
        with airflow_services(env, home) as services:  # each task's log in the UI, feed waits in a triggerer
            for dag_id in DAGS:
                if dag_id == "sage_despatches_to_amazon":
                    despatched = despatch_some_orders(company, sandbox, despatched_at)
                    print(f"Despatched in Sage: {', '.join(despatched)} (in full, in part, unknown courier)")
                print(f"Running DAG {dag_id} ...", flush=True)
                run_logged(airflow, services, dag_id, json.dumps(conf[dag_id]), log)
        calls = dict(sandbox.state.calls)
        confirmations = list(sandbox.confirmations)
        listings = {sku: (listing.quantity, listing.price) for sku, listing in sandbox.feeds_state.listings.items()}
        offers = {sku: dict(listing.prices) for sku, listing in sandbox.feeds_state.listings.items()}

    print(f"\nDone. SP-API calls: {calls}")
    archive_root = Path(env["AMAZON_SAGE_ARCHIVE_DESTINATION"])
    store, keyring = LocalArchiveStore(archive_root), ArchiveKeyring.parse(archive_key, str(VAR / "archive-key"))
    for dag_id, (success, fail) in DAGS.items():
        archive = max((archive_root / dag_id).glob("*.zip.enc"), key=lambda p: p.stat().st_mtime)
        target = restore_archive(store, dag_id, archive.name, results / archive.name.removesuffix(".zip.enc"),
                                 keyring)
        print(f"\n{dag_id}")
        print(f"  archive:      {archive}")
        print(f"  success file: {target / success}")
        print(f"  fail file:    {target / fail}")
        if dag_id == "amazon_orders_to_sage":
            os.environ.update(env)  # the product's settings resolve the drop folder as the run did
            import_audit_trail_files(company, target, settings.audit_trail_drop_folder())
    print(f"\nSage company: {company}: {sage_summary(company)}")
    print(confirmations_report(confirmations))
    print(listings_report(listings, stock_in_sage(company)))
    print("Prices per marketplace (one offer each in the price feed):")
    for sku, prices in sorted(offers.items()):
        if prices:
            shown = [f"{BY_ID[m].code if m in BY_ID else m} {currency} {price:.2f}"
                     for m, (currency, price) in prices.items()]
            print(f"  {sku:<22} " + ", ".join(shown))
    print(f"Open the UI on the same home: source {VAR / 'embedded.env'} && airflow standalone")


if __name__ == "__main__":
    main()
