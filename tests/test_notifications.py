"""Failure and failed-record notices, by webhook and by email, to real local servers."""

from __future__ import annotations

import json
import socketserver
import sqlite3
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from amazon_sage.core.alerts import NoticeRateLimit, SmtpSettings, send_email

PROJECT = Path(__file__).resolve().parents[1]


@pytest.fixture
def webhook():
    received: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            return

        def do_POST(self):
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(204)
            self.end_headers()

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook", received
    server.shutdown()


class SmtpSink(socketserver.StreamRequestHandler):
    """Just enough SMTP to accept one message and keep it in ``server.messages``."""

    def handle(self):
        self.wfile.write(b"220 sink\r\n")
        data = False
        lines: list[str] = []
        while line := self.rfile.readline():
            text = line.decode().rstrip("\r\n")
            if data:
                if text == ".":
                    data = False
                    self.server.messages.append("\n".join(lines))
                    self.wfile.write(b"250 ok\r\n")
                else:
                    lines.append(text)
                continue
            verb = text.split(" ")[0].upper()
            if verb == "EHLO":
                self.wfile.write(b"250 sink\r\n")
            elif verb == "DATA":
                data = True
                self.wfile.write(b"354 go\r\n")
            elif verb == "QUIT":
                self.wfile.write(b"221 bye\r\n")
                return
            else:
                self.wfile.write(b"250 ok\r\n")


def test_email_goes_through_smtp() -> None:
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), SmtpSink)
    server.messages = []
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        send_email(SmtpSettings("127.0.0.1", server.server_address[1], None, None, "airflow@shop.example"),
                   ["owner@shop.example"], "[Amazon-Sage] run failed", "dag_id: amazon_orders_to_sage\n")
    finally:
        server.shutdown()
    assert "Subject: [Amazon-Sage] run failed" in server.messages[0]
    assert "dag_id: amazon_orders_to_sage" in server.messages[0]


def test_rate_limit_lets_one_notice_through_per_period(tmp_path: Path) -> None:
    now = [1000.0]
    limit = NoticeRateLimit(tmp_path / "n.json", 3600, clock=lambda: now[0])
    assert limit.allow("records:a") and not limit.allow("records:a") and limit.allow("records:b")
    now[0] += 3601
    assert limit.allow("records:a")


@pytest.fixture
def orders_dag(product_env, airflow_db, monkeypatch, webhook):
    url, _ = webhook
    monkeypatch.setenv("AMAZON_SAGE_TASK_RETRIES", "0")
    monkeypatch.setenv("AMAZON_SAGE_NOTIFY_CHANNEL", "webhook")
    monkeypatch.setenv("AIRFLOW_CONN_AMAZON_SAGE_WEBHOOK", json.dumps({"conn_type": "http", "host": url}))
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(PROJECT / "dags")).dags["amazon_orders_to_sage"]


def test_failed_orders_raise_one_notice_per_period(orders_dag, webhook, sandbox_server, company) -> None:
    _, received = webhook
    conf = {"download_from": "2026-11-15T00:00:00Z", "download_to": "2026-11-20T00:00:00Z"}
    assert orders_dag.test(run_conf=conf).state == "success"
    notices = [n for n in received if n["event"] == "failed orders"]
    assert len(notices) == 1 and notices[0]["counts"]["failed"] == 1
    assert "is not in Sage's stock list" in notices[0]["records"][0]
    assert orders_dag.test(run_conf=conf).state == "success"  # fails the same order again: no second notice
    assert len([n for n in received if n["event"] == "failed orders"]) == 1


def test_a_failed_run_sends_the_failure_notice(orders_dag, webhook, sandbox_server, company, product_env,
                                                monkeypatch) -> None:
    _, received = webhook
    monkeypatch.setenv("AIRFLOW_CONN_SAGE50_DEFAULT",
                       product_env["AIRFLOW_CONN_SAGE50_DEFAULT"].replace('"Timeout": "5000"', '"Timeout": "200"'))
    locker = sqlite3.connect(company)
    locker.execute("BEGIN EXCLUSIVE")
    try:
        run = orders_dag.test(run_conf={"download_from": "2026-11-15T00:00:00Z",
                                        "download_to": "2026-11-17T00:00:00Z"})
    finally:
        locker.rollback()
        locker.close()
    assert run.state == "failed"
    failures = [n for n in received if n["event"] == "run failed"]
    assert len(failures) == 1 and failures[0]["dag_id"] == "amazon_orders_to_sage"
    assert failures[0]["run_id"] == run.run_id


def test_an_order_cancelled_after_despatch_sends_its_own_notice(orders_dag, webhook, sandbox_server,
                                                                company) -> None:
    _, received = webhook
    conf = {"download_from": "2026-11-15T00:00:00Z", "download_to": "2026-11-20T00:00:00Z"}
    assert orders_dag.test(run_conf=conf).state == "success"  # imports the window (and fails one unknown SKU)
    sandbox = sandbox_server.sandbox
    imported = sqlite3.connect(company).execute(
        "SELECT CUST_ORDER_NUMBER, ORDER_NUMBER FROM SALES_ORDER ORDER BY ORDER_NUMBER LIMIT 1").fetchone()
    with sqlite3.connect(company) as db:  # despatched in Sage
        db.execute("UPDATE SOP_ITEM SET QTY_DELIVERED = QTY_ORDER WHERE ORDER_NUMBER = ?", (imported[1],))
    latest = sandbox.state.versions[imported[0]][-1]
    sandbox.add_versions([{**latest, "lastUpdatedTime": "2026-11-21T10:00:00Z",
                           "fulfillment": {**latest["fulfillment"], "fulfillmentStatus": "CANCELLED"}}])
    assert orders_dag.test(run_conf={"download_from": "2026-11-21T00:00:00Z",
                                     "download_to": "2026-11-22T00:00:00Z"}).state == "success"
    notices = [n for n in received if n["event"] == "failed orders cancelled on Amazon after despatch"]
    assert len(notices) == 1
    [record] = notices[0]["records"]
    assert record.startswith(f"{imported[0]}: Cancelled on Amazon after despatch: refund or recover. Sage order "
                             f"{imported[1]} shows despatch status Not Despatched, ")
    assert " delivered, 0 on a despatch; it has not been changed." in record
