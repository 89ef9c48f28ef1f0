"""core/feeds/submissions.py, feed_registry.py and feed_matching.py: each document becomes one feed.

Against the sandbox over real HTTP, through the real SellingPartnerHook; only the waits are short.
"""

from __future__ import annotations

import json
import multiprocessing
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from amazon_sage.core.feeds.feed_matching import Verdict, judge
from amazon_sage.core.feeds.feed_registry import FeedRegistry, FeedRegistryError, registry_path
from amazon_sage.core.feeds.submissions import (
    FeedSubmitter,
    RecoveryPolicy,
    SubmissionAmbiguous,
    SubmissionFailed,
    SubmissionJournal,
    SubmissionStillProcessing,
    adopt,
    release,
)
from amazon_sage.hooks.selling_partner import LISTINGS_FEED, SellingPartnerHook

QUICK = RecoveryPolicy(poll_seconds=0.05, wait_seconds=10, settle_seconds=0.5)
SKUS = ["MUG-RED-01", "TRAY-OAK-LARGE", "TEA-EARLGREY-250"]  # the tray has no listing: an ERROR issue


def _document(folder: Path, name: str = "amazon_inventory_feed_001.json", quantity: int = 5,
              skus: list[str] = SKUS) -> Path:
    messages = [{"messageId": n, "sku": sku, "operationType": "PATCH", "productType": "PRODUCT",
                 "patches": [{"op": "merge", "path": "/attributes/fulfillment_availability",
                              "value": [{"fulfillment_channel_code": "DEFAULT", "quantity": quantity}]}]}
                for n, sku in enumerate(skus, start=1)]
    path = folder / name
    path.write_text(json.dumps({"header": {"sellerId": "A1EXAMPLESELLER", "version": "2.0"}, "messages": messages}))
    return path


@pytest.fixture
def feeds(sandbox_server, product_env):
    """The sandbox with feeds processed in 0.2 s and createFeed limits a test can afford."""
    sandbox_server.sandbox.configure({"rate_limits": {"createFeed": [50, 15], "JSON_LISTINGS_FEED": [50, 15]}})
    return sandbox_server.sandbox


def _submitter(folder: Path, work_root: Path, owner: str = "dag/run", policy: RecoveryPolicy = QUICK,
               hook: SellingPartnerHook | None = None) -> FeedSubmitter:
    hook = hook or SellingPartnerHook()
    hook.bucket("createFeed").rate = hook.bucket(LISTINGS_FEED).rate = 50.0  # the test's plan, not 2 minutes
    return FeedSubmitter(api=hook, journal=SubmissionJournal(folder / "amazon_inventory_feed_submissions.json"),
                         registry=FeedRegistry(registry_path(work_root)), owner=owner, policy=policy)


def _submit(submitter: FeedSubmitter, document: Path) -> str:
    return submitter.submit(document, feed_type=LISTINGS_FEED, marketplace_ids=["A1F83G8C2ARO7P"])


def test_a_plain_submission_records_intent_then_feed_privately(feeds, tmp_path) -> None:
    submitter = _submitter(tmp_path, tmp_path / "work")
    feed_id = _submit(submitter, _document(tmp_path))
    intent = submitter.journal.get("amazon_inventory_feed_001.json")
    assert intent.feed_id == feed_id and intent.messages == 3 and intent.marketplace_ids == ["A1F83G8C2ARO7P"]
    assert intent.feed_document_id == feeds.feeds_state.feeds[feed_id].document_id
    assert submitter.registry.entries()[feed_id]["owner"] == "dag/run"
    for path in (submitter.journal.path, submitter.registry.path):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert _submit(submitter, _document(tmp_path)) == feed_id  # done is done
    assert feeds.state.calls["createFeed"] == 1 and "getFeeds" not in feeds.state.calls


def test_a_503_that_made_no_feed_is_looked_for_then_sent_once(feeds, tmp_path) -> None:
    feeds.configure({"faults": [{"operation": "createFeed", "kind": "status", "status": 503}]})
    feed_id = _submit(_submitter(tmp_path, tmp_path / "work"), _document(tmp_path))
    assert list(feeds.feeds_state.feeds) == [feed_id]
    assert feeds.state.calls["createFeed"] == 2 and feeds.state.calls["getFeeds"] >= 1


def test_a_feed_recorded_by_another_run_is_never_taken_for_this_one(feeds, tmp_path) -> None:
    work = tmp_path / "work"
    (tmp_path / "a").mkdir(), (tmp_path / "b").mkdir()
    other_run = _submit(_submitter(tmp_path / "a", work, owner="dag/a"), _document(tmp_path / "a"))
    feeds.configure({"faults": [{"operation": "createFeed", "kind": "status_after_processing", "status": 500}]})
    ours = _submit(_submitter(tmp_path / "b", work, owner="dag/b"), _document(tmp_path / "b"))
    # Both documents are alike (same count, same SKUs); the registry tells them apart.
    assert ours != other_run and set(feeds.feeds_state.feeds) == {other_run, ours}
    assert feeds.state.calls["createFeed"] == 2


def test_a_candidate_still_processing_is_waited_for_within_bounds(feeds, tmp_path) -> None:
    feeds.configure({"processing_delay": 30,
                     "faults": [{"operation": "createFeed", "kind": "drop_after_processing"}]})
    submitter = _submitter(tmp_path, tmp_path / "work",
                           policy=RecoveryPolicy(poll_seconds=0.1, wait_seconds=0.5, settle_seconds=0.5))
    with pytest.raises(SubmissionStillProcessing) as caught:
        _submit(submitter, _document(tmp_path))
    (feed_id,) = feeds.feeds_state.feeds
    assert caught.value.candidates == [feed_id] and feed_id in str(caught.value)
    assert "IN_QUEUE" in str(caught.value) or "IN_PROGRESS" in str(caught.value)
    assert feeds.state.calls["createFeed"] == 1 and feeds.state.calls["getFeed"] >= 2
    # Later (a retry), the feed is processed: it is confirmed and recorded, and nothing is sent.
    feeds.feeds_state.feeds[feed_id].processing_delay = 0
    assert _submit(submitter, _document(tmp_path)) == feed_id
    assert feeds.state.calls["createFeed"] == 1


def test_a_kill_between_the_registry_and_the_journal_finds_the_feed_without_asking(feeds, tmp_path) -> None:
    submitter = _submitter(tmp_path, tmp_path / "work")
    feed_id = _submit(submitter, _document(tmp_path))
    # What a kill right after the registry write leaves: the journal's intent has no feed id yet.
    entries = json.loads(submitter.journal.path.read_text())
    entries["amazon_inventory_feed_001.json"]["feed_id"] = None
    submitter.journal.path.write_text(json.dumps(entries))
    assert _submit(submitter, _document(tmp_path)) == feed_id
    assert feeds.state.calls["createFeed"] == 1 and "getFeeds" not in feeds.state.calls


def test_an_other_document_s_feed_is_not_this_one(feeds, tmp_path) -> None:
    """Unrecorded feeds in the window whose reports disagree are left alone; the run's own is found."""
    hook = SellingPartnerHook()
    hook.bucket("createFeed").rate = hook.bucket(LISTINGS_FEED).rate = 50.0
    (tmp_path / "x").mkdir()
    two_skus = hook.submit_listings_feed(_document(tmp_path / "x", skus=SKUS[:2]).read_bytes())
    rotated = SKUS[1:] + SKUS[:1]
    reordered = hook.submit_listings_feed(_document(tmp_path / "x", name="r.json", skus=rotated).read_bytes())
    feeds.configure({"faults": [{"operation": "createFeed", "kind": "status_after_processing", "status": 500}]})
    ours = _submit(_submitter(tmp_path, tmp_path / "work", hook=hook), _document(tmp_path))
    assert ours not in {two_skus, reordered} and len(feeds.feeds_state.feeds) == 3
    # The reordered one has the same count; only its report tells it apart: its issue for the unlisted tray
    # names messageId 1, which is MUG-RED-01 in this document.
    assert feeds.state.calls["createFeed"] == 3


def test_a_changed_document_is_not_sent_as_if_it_were_the_uploaded_one(feeds, tmp_path) -> None:
    feeds.configure({"faults": [{"operation": "createFeed", "kind": "drop"}],
                     "rate_limits": {"createFeed": [50, 15]}})
    submitter = _submitter(tmp_path, tmp_path / "work")
    submitter.sleep = lambda seconds: (_ for _ in ()).throw(KeyboardInterrupt)  # stop the try at its first wait
    with pytest.raises(KeyboardInterrupt):
        _submit(submitter, _document(tmp_path))
    with pytest.raises(SubmissionFailed, match=r"was changed since\. Nothing was sent"):
        _submit(_submitter(tmp_path, tmp_path / "work"), _document(tmp_path, quantity=6))
    assert feeds.feeds_state.feeds == {}


def test_adopt_and_release_resolve_an_ambiguous_submission(feeds, tmp_path) -> None:
    hook = SellingPartnerHook()
    hook.bucket("createFeed").rate = hook.bucket(LISTINGS_FEED).rate = 50.0
    (tmp_path / "x").mkdir()
    twin = hook.submit_listings_feed(_document(tmp_path / "x").read_bytes())  # the same document, sent by hand
    feeds.configure({"faults": [{"operation": "createFeed", "kind": "status_after_processing", "status": 500}]})
    submitter = _submitter(tmp_path, tmp_path / "work", hook=hook)
    with pytest.raises(SubmissionAmbiguous) as caught:
        _submit(submitter, _document(tmp_path))
    (ours,) = set(feeds.feeds_state.feeds) - {twin}
    assert sorted(caught.value.candidates) == sorted([twin, ours])
    assert feeds.state.calls["createFeed"] == 2
    # A person decides "none of them is this run's" (the CLI's release): both are recorded as not this
    # product's, and the next try sends the document afresh.
    release(submitter.journal, submitter.registry, "amazon_inventory_feed_001.json", [twin, ours])
    assert submitter.journal.get("amazon_inventory_feed_001.json") is None
    resent = _submit(submitter, _document(tmp_path))
    assert resent not in {twin, ours} and feeds.state.calls["createFeed"] == 3
    assert {submitter.registry.entries()[f]["owner"] for f in (twin, ours)} == {"(not this product's)"}
    with pytest.raises(Exception, match="already recorded as feed"):
        adopt(submitter.journal, submitter.registry, "amazon_inventory_feed_001.json", ours)


def test_an_older_journal_entry_is_a_submitted_feed(tmp_path) -> None:
    journal = SubmissionJournal(tmp_path / "amazon_inventory_feed_submissions.json")
    journal.path.write_text(json.dumps({"amazon_inventory_feed_001.json": "50001019000"}))
    assert journal.get("amazon_inventory_feed_001.json").feed_id == "50001019000"
    assert journal.feed_ids() == {"amazon_inventory_feed_001.json": "50001019000"}


def _record_many(path: str, owner: str) -> None:
    registry = FeedRegistry(Path(path))
    for n in range(40):
        registry.record(f"{owner}-{n}", owner=owner, document="d.json", feed_document_id=f"{owner}-doc-{n}")


def test_the_registry_loses_no_entry_to_writers_at_once_and_forgets_after_90_days(tmp_path) -> None:
    path = registry_path(tmp_path)
    context = multiprocessing.get_context("spawn")
    writers = [context.Process(target=_record_many, args=(str(path), f"w{n}")) for n in range(3)]
    for writer in writers:
        writer.start()
    for writer in writers:
        writer.join(60)
    assert all(writer.exitcode == 0 for writer in writers)
    registry = FeedRegistry(path)
    assert len(registry.recorded_ids()) == 120 and registry.feed_for_document("w1-doc-7") == "w1-7"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    later = FeedRegistry(path, clock=lambda: datetime.now(UTC) + timedelta(days=91))
    later.record("new", owner="o", document="d", feed_document_id="x")
    assert later.recorded_ids() == {"new"}


def test_an_unreadable_registry_is_an_error_not_an_empty_one(tmp_path) -> None:
    path = registry_path(tmp_path)
    path.write_text("{not json")
    with pytest.raises(FeedRegistryError, match="unreadable"):
        FeedRegistry(path).recorded_ids()


def _report(processed: int, issues: list[dict] | None = None, seller: str = "S") -> bytes:
    return json.dumps({"header": {"sellerId": seller, "version": "2.0", "feedId": "1"}, "issues": issues or [],
                       "summary": {"errors": 0, "warnings": 0, "messagesProcessed": processed,
                                   "messagesAccepted": processed, "messagesInvalid": 0}}).encode()


@pytest.mark.parametrize("status, report, verdict", [
    ("DONE", _report(2), Verdict.MATCH),
    ("DONE", _report(3), Verdict.OTHER),
    ("DONE", _report(2, seller="T"), Verdict.OTHER),
    ("DONE", _report(2, [{"messageId": 2, "sku": "A", "code": "1", "severity": "ERROR", "message": "x"}]),
     Verdict.OTHER),
    ("DONE", _report(2, [{"messageId": 9, "sku": "Z", "code": "1", "severity": "WARNING", "message": "x"}]),
     Verdict.MATCH),
    ("FATAL", _report(0), Verdict.UNCONFIRMABLE),
    ("FATAL", _report(2), Verdict.MATCH),
    ("DONE", b"not json", Verdict.UNCONFIRMABLE),
    ("IN_PROGRESS", None, Verdict.PENDING),
    ("CANCELLED", None, Verdict.UNCONFIRMABLE),
])
def test_a_feed_is_judged_by_its_report(status, report, verdict) -> None:
    document = {"header": {"sellerId": "S", "version": "2.0"},
                "messages": [{"messageId": 1, "sku": "A"}, {"messageId": 2, "sku": "B"}]}
    feed = {"feedId": "1", "processingStatus": status, **({"resultFeedDocumentId": "r"} if report else {})}
    assert judge(feed, document, lambda _: report).verdict is verdict


def test_the_hook_follows_get_feeds_pages_with_the_token_alone(feeds, tmp_path) -> None:
    hook = SellingPartnerHook()
    hook.bucket("createFeed").rate = hook.bucket(LISTINGS_FEED).rate = 50.0
    made = [hook.submit_listings_feed(_document(tmp_path).read_bytes()) for _ in range(12)]
    since = (datetime.now(UTC) - timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%SZ")
    listed = [feed["feedId"] for feed in hook.get_feeds(feed_types=[LISTINGS_FEED], marketplace_ids=["A1F83G8C2ARO7P"],
                                                         created_since=since, page_size=5)]
    assert listed == made[::-1] and feeds.state.calls["getFeeds"] == 3  # 5 + 5 + 2
    assert list(hook.get_feeds(feed_types=[LISTINGS_FEED], marketplace_ids=["A1PA6795UKMFR9"])) == []
