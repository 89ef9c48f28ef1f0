"""The run report: one row per run with its badge, counts, failed records and files, from real Airflow runs.

The runs are made with ``dag.test()`` on the session's Airflow (SQLite) against the SP-API sandbox
and a sample Sage company; the sandbox's gift-set orders fail the import (their SKU is not in Sage).
Each run is given its own *run after* (a day no other test uses), so filters and charts can be
checked exactly even though the session's database holds other tests' runs.
"""

from __future__ import annotations

import io
import itertools
import tempfile
import zipfile
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from lxml import etree

PROJECT = Path(__file__).resolve().parents[1]
DAG_ID = "amazon_orders_to_sage"
_days = itertools.count()  # each test's runs go on days of their own (dag.test names a run by its run after)


@pytest.fixture
def orders_dag(product_env, airflow_db, monkeypatch, sandbox_server, company) -> Any:
    monkeypatch.setenv("AMAZON_SAGE_TASK_RETRIES", "0")
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(PROJECT / "dags")).dags[DAG_ID]


def _run(dag: Any, day: date, hour: int, window: tuple[str, str]) -> Any:
    return dag.test(run_after=datetime(day.year, day.month, day.day, hour, tzinfo=timezone.utc),
                    run_conf={"download_from": window[0], "download_to": window[1]})


@pytest.fixture
def three_runs(orders_dag) -> dict[str, Any]:
    """A run with failed gift-set orders and an empty run on one day, a failed run the next day.

    The failed run's window ends before it starts. ``DAY`` holds the two days, for the filters.
    """
    first = date(2026, 8, 1) + timedelta(days=3 * next(_days))
    global DAY
    DAY = {"from": first.isoformat(), "to": (first + timedelta(days=1)).isoformat()}
    return {
        "errors": _run(orders_dag, first, 10, ("2026-11-15T00:00:00Z", "2026-11-17T00:00:00Z")),
        "empty": _run(orders_dag, first, 11, ("2026-10-01T00:00:00Z", "2026-10-02T00:00:00Z")),
        "failed": _run(orders_dag, first + timedelta(days=1), 9, ("2026-11-17T00:00:00Z", "2026-11-15T00:00:00Z")),
    }


def logged_in_client(role: str | None = "viewer") -> Any:
    """A client logged in to the report as a user of Airflow's simple auth manager with ``role``.

    Viewer is the least role that may read DAGs and their task results; a user with no role may read nothing.
    """
    from airflow.api_fastapi.app import create_auth_manager
    from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser
    from airflow.api_fastapi.core_api.security import get_user
    from fastapi.testclient import TestClient

    from amazon_sage.ui.run_report import create_app

    create_auth_manager()  # as the API server does at start
    app = create_app()
    app.dependency_overrides[get_user] = lambda: SimpleAuthManagerUser(username="bookkeeper", role=role)
    return TestClient(app)


def runs_of(client: Any, **params: Any) -> list[dict[str, Any]]:
    answer = client.get("/api/runs", params={"dag_id": DAG_ID, "date_from": DAY["from"], "date_to": DAY["to"],
                                             **params})
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_badges_counts_failed_records_and_files(three_runs) -> None:
    client = logged_in_client()
    shown = {run["run_id"]: run for run in runs_of(client, show_empty=True)}
    errors, empty, failed = (shown[three_runs[key].run_id] for key in ("errors", "empty", "failed"))
    assert (errors["outcome"], empty["outcome"], failed["outcome"]) == ("errors", "ok", "failed")
    assert errors["outcome_label"] == "completed with errors" and errors["state"] == "success"

    # Counts in columns: downloaded (the download's out), imported, failed, skipped, as the phases pushed them.
    phases = {p["task_id"]: p["counts"] for p in errors["phases"]}
    totals = errors["totals"]
    assert totals["read"] == phases["download_orders"]["out"] > 0
    assert totals["done"] == phases["import_sales_orders"]["out"] > 0
    assert totals["failed"] == phases["import_sales_orders"]["failed"] > 0
    assert errors["columns"] == {"read": "Downloaded", "done": "Imported"}
    assert empty["empty"] and empty["totals"] == {"read": 0, "done": 0, "failed": 0, "skipped": 0, "duplicates": 0}

    # Failed records with their reasons, read from the fail file in the archive.
    [published] = errors["failed_records"]
    reasons = {f["id"]: f["reason"] for f in errors["failures"]}
    assert published["count"] == totals["failed"] == len(reasons) and set(published["ids"]) == set(reasons)
    assert all("GIFTSET-AFTERNOON-TEA" in reason for reason in reasons.values())

    # The archive is named, never shown by its path; the files to download come from its manifest.
    assert errors["archive"].endswith(".zip.enc") and "/" not in errors["archive"]
    roles = {f["role"]: f for f in errors["files"]}
    assert {"success", "fail", "skipped"} <= set(roles)
    assert failed["archive"] is None and "working folder" in failed["problem"]

    page = client.get("/", params={"dag_id": DAG_ID, "date_from": DAY["from"], "date_to": DAY["to"]}).text
    document = etree.HTML(page)
    [row] = document.xpath(f"//tr[@data-run-id='{errors['run_id']}']")
    assert row.xpath(".//span[contains(@class,'badge')]/text()") == ["completed with errors"]
    numbers = [cell.text for cell in row.xpath("./td[contains(concat(' ', @class, ' '), ' n ')]")]
    assert numbers[:3] == [str(totals["read"]), str(totals["done"]), str(totals["failed"])]
    [details] = row.xpath(".//details")
    noun = "order" if totals["failed"] == 1 else "orders"
    assert details.xpath("./summary/text()") == [f"{totals['failed']} {noun} failed"]
    listed = {li.xpath("./b/text()")[0]: "".join(li.itertext()) for li in details.xpath(".//li")}
    assert set(listed) == set(reasons) and all("GIFTSET-AFTERNOON-TEA" in text for text in listed.values())
    links = row.xpath(".//a/@href")
    run_url = f"/dags/{DAG_ID}/runs/{errors['run_id'].replace(':', '%3A').replace('+', '%2B')}"
    assert run_url in links and f"{run_url}/tasks/import_sales_orders" in links
    assert any("/download/archive?" in link for link in links)
    [failed_row] = document.xpath(f"//tr[@data-run-id='{failed['run_id']}']")
    assert failed_row.xpath(".//span[contains(@class,'badge')]/text()") == ["failed"]
    assert not document.xpath(f"//tr[@data-run-id='{empty['run_id']}']")  # empty runs are hidden by default


def test_downloads_decrypt_from_the_archive_and_refuse_other_names(three_runs) -> None:
    client = logged_in_client()
    [errors] = [run for run in runs_of(client) if run["run_id"] == three_runs["errors"].run_id]
    scratch_before = set(Path(tempfile.gettempdir()).glob("amazon-sage-download-*"))

    fail = next(f for f in errors["files"] if f["role"] == "fail")
    answer = client.get(fail["url"].removeprefix("/amazon-sage"))
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("application/xml")
    assert fail["name"] in answer.headers["content-disposition"]
    records = etree.fromstring(answer.content).xpath("//SalesOrder")
    assert {r.findtext("CustomerOrderNumber") for r in records} == {f["id"] for f in errors["failures"]}
    assert all(r.xpath("./Errors/Error/Description") for r in records)

    archive = client.get("/download/archive", params={"dag_id": DAG_ID, "run_id": errors["run_id"]})
    assert archive.status_code == 200 and archive.headers["content-type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(archive.content)) as opened:  # decrypted: a plain zip
        assert "manifest.json" in opened.namelist() and fail["name"] in opened.namelist()
        assert opened.read(fail["name"]) == answer.content
    # The decrypted copies are gone once streamed.
    assert set(Path(tempfile.gettempdir()).glob("amazon-sage-download-*")) == scratch_before

    for name in ("../../../etc/passwd", "/etc/passwd", f"../{fail['name']}", "manifest.json", "nope.xml"):
        refused = client.get("/download/file", params={"dag_id": DAG_ID, "run_id": errors["run_id"], "name": name})
        assert refused.status_code == 404 and "/tmp" not in refused.text, name
    assert client.get("/download/archive", params={"dag_id": "not_a_product_dag",
                                                   "run_id": errors["run_id"]}).status_code == 404
    assert client.get("/download/archive", params={"dag_id": DAG_ID,
                                                   "run_id": three_runs["failed"].run_id}).status_code == 404


def test_a_user_the_auth_manager_refuses_sees_no_runs_and_gets_no_files(three_runs) -> None:
    errors = three_runs["errors"].run_id
    allowed = logged_in_client("viewer")
    assert any(run["run_id"] == errors and run["files"] for run in runs_of(allowed))
    refused = logged_in_client(None)
    assert runs_of(refused) == []  # not one of the DAGs it may read
    page = refused.get("/", params={"dag_id": DAG_ID}).text
    assert errors not in page and "download/" not in page
    for path, extra in (("/download/archive", {}), ("/download/file", {"name": "zynk_orders_fail.xml"})):
        answer = refused.get(path, params={"dag_id": DAG_ID, "run_id": errors, **extra})
        assert answer.status_code == 403 and "may not read this DAG's task results" in answer.text


def test_filter_paging_empty_runs_and_chart(three_runs) -> None:
    client = logged_in_client()
    ids = {key: run.run_id for key, run in three_runs.items()}
    assert [r["run_id"] for r in runs_of(client)] == [ids["failed"], ids["errors"]]  # newest first, no empty run
    assert [r["run_id"] for r in runs_of(client, show_empty=True)] == [ids["failed"], ids["empty"], ids["errors"]]
    assert [r["run_id"] for r in runs_of(client, state="errors")] == [ids["errors"]]
    assert [r["run_id"] for r in runs_of(client, state="failed")] == [ids["failed"]]
    assert runs_of(client, state="ok") == []  # the only ok run is empty
    assert [r["run_id"] for r in runs_of(client, state="ok", show_empty=True)] == [ids["empty"]]
    assert [r["run_id"] for r in runs_of(client, date_to=DAY["from"])] == [ids["errors"]]
    assert client.get("/api/runs", params={"state": "bogus"}).status_code == 400

    # Paging counts what the filter shows: the hidden empty run takes no place on a page.
    first = client.get("/api/runs", params={"dag_id": DAG_ID, "date_from": DAY["from"], "date_to": DAY["to"],
                                            "per_page": 1})
    assert first.headers["X-Total-Count"] == "2" and first.headers["X-Pages"] == "2"
    assert [r["run_id"] for r in runs_of(client, per_page=1, page=2)] == [ids["errors"]]
    page = client.get("/", params={"dag_id": DAG_ID, "date_from": DAY["from"], "date_to": DAY["to"],
                                   "per_page": 1}).text
    document = etree.HTML(page)
    [following] = document.xpath("//a[@rel='next']/@href")
    assert all(part in following for part in (f"dag_id={DAG_ID}", f"date_from={DAY['from']}",
                                                 f"date_to={DAY['to']}", "per_page=1", "page=2"))
    second = etree.HTML(client.get("/" + following).text)
    assert [tr.get("data-run-id") for tr in second.xpath("//tr[@data-run-id]")] == [ids["errors"]]
    assert second.xpath("//a[@rel='prev']/@href") and not second.xpath("//a[@rel='next']")
    assert document.xpath("//input[@name='show_empty' and @type='checkbox']")

    # The chart: orders imported and failed on the errors run's day only.
    [errors] = runs_of(client, state="errors")
    bars = {(rect.get("data-day"), rect.get("data-series")): int(rect.get("data-value"))
            for rect in document.xpath("//svg[@aria-label='Orders per day']//rect[@data-day]")}
    assert bars == {(DAY["from"], "imported"): errors["totals"]["done"],
                    (DAY["from"], "failed"): errors["totals"]["failed"]}
    assert not document.xpath("//svg[@aria-label='Feeds per day']//rect[@data-day]")


def test_logged_out_page_redirects_to_login_and_the_api_answers_401(airflow_db) -> None:
    from urllib.parse import parse_qs, urlsplit

    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    from amazon_sage.ui.run_report import URL_PREFIX, create_app

    site = FastAPI()  # as Airflow's API server mounts it
    site.mount(URL_PREFIX, create_app())
    client = TestClient(site, follow_redirects=False)
    assert client.get(f"{URL_PREFIX}/api/runs").status_code == 401
    for path in (f"{URL_PREFIX}/?state=failed", f"{URL_PREFIX}/download/archive?dag_id={DAG_ID}&run_id=x"):
        answer = client.get(path)
        assert answer.status_code == 303, path
        location = answer.headers["location"]
        assert location.startswith("/api/v2/auth/login?next=")
        assert parse_qs(urlsplit(location).query)["next"] == [f"http://testserver{path}"]
    client.cookies.set("_token", "not-a-jwt")
    assert client.get(f"{URL_PREFIX}/").status_code == 303  # a bad or expired login goes to the login page too


def test_plugin_registers_the_app_and_views() -> None:
    import importlib

    plugin = importlib.import_module("amazon_sage_plugin").AmazonSagePlugin
    assert plugin.fastapi_apps[0]["url_prefix"] == "/amazon-sage"
    assert {view["destination"] for view in plugin.external_views} == {"nav", "dag_run"}


def test_reasons_are_read_record_by_record_from_a_long_fail_file(tmp_path: Path) -> None:
    """Each record's errors come before its id, so a file longer than the parser's buffer must still pair them."""
    from amazon_sage.core.zynk_results import RecordFiles
    from amazon_sage.ui.run_files import read_reasons

    fail = tmp_path / "zynk_orders_fail.xml"
    with RecordFiles({"fail": fail}, "SalesOrders") as files:
        for number in range(300):
            order = etree.Element("SalesOrder")
            etree.SubElement(order, "Id").text = f"202-{number:07d}-0000000"
            etree.SubElement(order, "CustomerOrderNumber").text = f"202-{number:07d}-0000000"
            etree.SubElement(order, "Notes1").text = "x" * 4000  # about 1.2 MB in all
            files.write("fail", order, errors=[f"reason {number}", "and another"])
    assert fail.stat().st_size > 1_000_000
    reasons = read_reasons(fail)
    assert reasons == [(f"202-{n:07d}-0000000", f"reason {n}; and another") for n in range(300)]


def test_downloads_stream_from_an_s3_archive(product_env, airflow_db, monkeypatch, moto_server, sandbox_server,
                                             company) -> None:
    """With ARCHIVE_DESTINATION on S3 (moto's server), the report reads the reasons and files from there."""
    import json

    import boto3

    credentials = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing", "region_name": "eu-west-2"}
    endpoint = f"http://127.0.0.1:{moto_server}"
    s3 = boto3.client("s3", endpoint_url=endpoint, **credentials)
    s3.create_bucket(
        Bucket="archive", CreateBucketConfiguration={"LocationConstraint": "eu-west-2"})
    monkeypatch.setenv("AMAZON_SAGE_ARCHIVE_DESTINATION", "s3://archive/report")
    monkeypatch.setenv("AIRFLOW_CONN_AWS_DEFAULT", json.dumps({
        "conn_type": "aws", "login": "testing", "password": "testing",
        "extra": {"endpoint_url": endpoint, "region_name": "eu-west-2"}}))
    monkeypatch.setenv("AMAZON_SAGE_TASK_RETRIES", "0")
    from airflow.dag_processing.dagbag import DagBag

    day = date(2026, 7, 1) + timedelta(days=next(_days))
    run = _run(DagBag(dag_folder=str(PROJECT / "dags")).dags[DAG_ID], day, 10,
               ("2026-11-15T00:00:00Z", "2026-11-17T00:00:00Z"))
    client = logged_in_client()
    [shown] = client.get("/api/runs", params={"dag_id": DAG_ID, "run_id": run.run_id}).json()
    assert shown["outcome"] == "errors" and shown["failures"] and not shown["problem"]
    assert "s3://" not in json.dumps(shown)  # the archive is named, not located
    stored = [item["Key"] for item in s3.list_objects_v2(Bucket="archive")["Contents"]]
    assert f"report/{DAG_ID}/{shown['archive']}" in stored
    fail = next(f for f in shown["files"] if f["role"] == "fail")
    answer = client.get(fail["url"].removeprefix("/amazon-sage"))
    assert answer.status_code == 200
    ids = {r.findtext("CustomerOrderNumber") for r in etree.fromstring(answer.content).xpath("//SalesOrder")}
    assert ids == {f["id"] for f in shown["failures"]}
