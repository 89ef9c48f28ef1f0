"""What a seller sees: the window a run downloads, and the notes a run with failed records carries (plain Python)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from amazon_sage.core.orders.download_window import download_window, to_iso
from amazon_sage.core.orders.last_window import advanced
from amazon_sage.core.run_notes import failed_records, is_product_note, phase_note, run_note

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
CAP = NOW - timedelta(minutes=2, seconds=10)
START, END = datetime(2026, 12, 1, 11, 45, tzinfo=UTC), datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def test_a_scheduled_run_takes_its_interval_started_early_and_capped_at_now_minus_two_minutes() -> None:
    window = download_window(interval_start=START, interval_end=END, overlap=timedelta(minutes=5), now=NOW)
    assert (window.after, window.before) == (START - timedelta(minutes=5), CAP)


def test_a_manual_run_without_a_window_rolls_on_from_the_last_successful_window_to_now() -> None:
    last = datetime(2026, 11, 30, 18, 3, 20, tzinfo=UTC)
    window = download_window(interval_start=START, interval_end=END, overlap=timedelta(minutes=5), now=NOW,
                             manual=True, last_window_end=last, first_from=datetime(2026, 1, 1, tzinfo=UTC))
    assert (window.after, window.before) == (last, CAP)
    assert window.basis == "the end of the last successful window"


def test_the_first_manual_run_starts_at_download_from() -> None:
    first = datetime(2026, 11, 1, tzinfo=UTC)
    window = download_window(interval_start=None, interval_end=None, now=NOW, manual=True, first_from=first)
    assert (window.after, window.before) == (first, CAP)


def test_an_empty_download_to_means_now_minus_two_minutes_on_a_manual_run() -> None:
    given = datetime(2026, 11, 20, tzinfo=UTC)
    window = download_window(interval_start=START, interval_end=END, download_from=given, now=NOW, manual=True)
    assert (window.after, window.before) == (given, CAP)
    window = download_window(interval_start=START, interval_end=END, download_from=given,
                             download_to=datetime(2026, 11, 21, tzinfo=UTC), now=NOW, manual=True)
    assert window.before == datetime(2026, 11, 21, tzinfo=UTC)


def test_a_window_that_ends_before_it_starts_is_refused_in_plain_words() -> None:
    with pytest.raises(ValueError, match=r"^'Download to' \(2026-11-20T00:00:00Z\) must be later than 'Download "
                                         r"from' \(2026-11-21T00:00:00Z\)"):
        download_window(interval_start=None, interval_end=None, download_from=datetime(2026, 11, 21, tzinfo=UTC),
                        download_to=datetime(2026, 11, 20, tzinfo=UTC), now=NOW, manual=True)


def test_the_rolling_download_from_only_moves_forward() -> None:
    window = {"lastUpdatedAfter": "2026-11-30T00:00:00Z", "lastUpdatedBefore": to_iso(CAP)}
    assert advanced(None, window) == "2026-12-01T11:57:50Z"
    assert advanced("2026-11-30T00:00:00Z", window) == "2026-12-01T11:57:50Z"
    assert advanced("2026-12-01T11:57:50Z", window) is None  # the same window again
    assert advanced("2026-12-02T00:00:00Z", window) is None  # a backfill of older days leaves it alone
    assert advanced("not a date", window) == "2026-12-01T11:57:50Z"
    assert advanced("2026-11-30T00:00:00Z", None) is None
    # A run of some marketplaces only leaves the others' orders of its window still to download.
    assert advanced("2026-11-30T00:00:00Z", {**window, "allMarketplaces": False}) is None
    assert advanced("2026-11-30T00:00:00Z", {**window, "allMarketplaces": True}) == "2026-12-01T11:57:50Z"


def test_notes_name_the_failed_records_and_how_many() -> None:
    ids = [f"202-000000{n}-1234567" for n in range(7)]
    orders = failed_records("orders", ids)
    assert phase_note(orders) == ("7 orders failed: 202-0000000-1234567, 202-0000001-1234567, 202-0000002-1234567, "
                                  "202-0000003-1234567, 202-0000004-1234567 and 2 more")
    assert phase_note(failed_records("orders", ids[:1])) == "1 order failed: 202-0000000-1234567"
    assert phase_note(failed_records("orders", [])) is None
    note = run_note([("Import Sales Orders", failed_records("orders", ids[:2]))])
    assert note.startswith("Completed with errors: 2 orders failed: 202-0000000-1234567, 202-0000001-1234567 "
                           "(Import Sales Orders). ")
    assert run_note([("Import Sales Orders", failed_records("orders", []))]) is None


def test_the_product_rewrites_only_its_own_notes() -> None:
    assert is_product_note(None) and is_product_note("")
    assert is_product_note(run_note([("Upload Price Feed", failed_records("SKUs", ["MUG-RED-01"]))]))
    assert is_product_note(phase_note(failed_records("SKUs", ["MUG-RED-01"])))
    assert not is_product_note("Checked by Sam: the 2 failed orders are test orders")


def test_the_trigger_form_speaks_the_seller_s_words(airflow_db) -> None:
    from tests.helpers import parse_dags

    dag = parse_dags()["amazon_orders_to_sage"]
    params = {name: dag.params.get_param(name) for name in ("download_from", "download_to", "order_statuses")}
    assert [p.schema["title"] for p in params.values()] == ["Download from", "Download to", "Order statuses to import"]
    assert "rolling Download From" in params["download_from"].description
    assert "now − 2 minutes" in params["download_to"].description
    statuses = params["order_statuses"].schema
    # The UI draws a multi-select for an array with examples; values_display gives Seller Central's names.
    assert statuses["type"] == ["null", "array"] and statuses["examples"] == statuses["items"]["enum"]
    assert set(statuses["examples"]) >= {"UNSHIPPED", "PARTIALLY_SHIPPED", "SHIPPED", "PENDING", "CANCELLED"}
    assert statuses["values_display"]["PARTIALLY_SHIPPED"] == "Partially shipped"
    marketplaces = dag.params.get_param("marketplaces")
    assert marketplaces.value is None and "every marketplace of the Amazon connection" in marketplaces.description
    assert marketplaces.schema["type"] == ["null", "array"]  # optional in the UI, which sends null for none chosen
    for param in (marketplaces, params["order_statuses"]):  # every choice cleared: valid, and the settings decide
        assert param.resolve(None) is None
    assert marketplaces.schema["examples"] == marketplaces.schema["items"]["enum"]
    assert {"UK", "DE", "FR", "SE", "PL"} <= set(marketplaces.schema["examples"])
    assert marketplaces.schema["values_display"]["DE"] == "Amazon.de (DE, EUR)"
