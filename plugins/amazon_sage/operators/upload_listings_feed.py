"""Upload Inventory / Price Feed: JSON_LISTINGS_FEED to Amazon, waited on in the triggerer."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowException, AirflowSkipException

from amazon_sage import settings
from amazon_sage.core.counts import PhaseCounts
from amazon_sage.operators.run_context import push_counts, push_failed_records, run_folder_of

if TYPE_CHECKING:
    from lxml import etree

    from amazon_sage.core.feeds.processing_report import FeedOutcome, SkuResult

SKIPPED = "skipped"  # marks a not-sent record that is skipped on purpose rather than failed
MAX_LISTED = 50


def _record(sku: str, message_id: int | None = None, feed_id: str | None = None) -> etree._Element:
    from lxml import etree

    product = etree.Element("Product")
    etree.SubElement(product, "Sku").text = sku
    if message_id is not None:
        etree.SubElement(product, "MessageId").text = str(message_id)
    if feed_id is not None:
        etree.SubElement(product, "FeedId").text = feed_id
    return product


class AmazonUploadListingsFeedOperator(BaseOperator):
    """Send a mapped file as JSON_LISTINGS_FEED and split Amazon's report into per-SKU files.

    ``feed_name`` (``inventory`` or ``prices``) names the files: ``amazon_<name>_feed_NNN.json``,
    ``amazon_<name>_success.xml`` and ``amazon_<name>_fail.xml``. Each document is validated
    before upload; the wait is deferred to :class:`ListingsFeedTrigger`. Submission goes
    through :mod:`amazon_sage.core.feeds.submissions`: the intent is recorded before createFeed
    and the feed id after it, so a retry resumes waiting on the same feeds, and after a kill or
    a lost createFeed answer it finds the feed Amazon made instead of sending another. Once a
    try has begun submitting, later tries send the documents it built. FATAL or CANCELLED fail
    the task with Amazon's reason. Every file is written privately (0600).
    """

    template_fields: Sequence[str] = ("input_file",)
    ui_color = "#ff9900"

    def __init__(self, *, input_file: str, feed_name: str, sp_api_conn_id: str | None = None,
                 poll_interval: float | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.input_file = input_file
        self.feed_name = feed_name
        self.sp_api_conn_id = sp_api_conn_id
        self.poll_interval = poll_interval

    def _paths(self, context: Any) -> dict[str, Path]:
        folder = run_folder_of(context)
        stem = f"amazon_{self.feed_name}"
        return {"folder": folder, "submissions": folder / f"{stem}_feed_submissions.json",
                "success": folder / f"{stem}_success.xml", "fail": folder / f"{stem}_fail.xml",
                "rejected": folder / f"{stem}_rejected.json", "skipped": folder / f"{stem}_skipped.xml"}

    def execute(self, context: Any) -> Any:
        from amazon_sage.core.feeds.feed_documents import FeedValidationError, build_feed_documents, built_documents
        from amazon_sage.core.feeds.feed_registry import FeedRegistry, FeedRegistryError, registry_path
        from amazon_sage.core.feeds.submissions import (
            FeedSubmitter,
            RecoveryPolicy,
            SubmissionFailed,
            SubmissionJournal,
            SubmissionUndetermined,
        )
        from amazon_sage.core.files import atomic_output
        from amazon_sage.core.xml_files import XmlFileError
        from amazon_sage.hooks.selling_partner import LISTINGS_FEED, SellingPartnerHook
        from amazon_sage.triggers.listings_feed import ListingsFeedTrigger

        paths = self._paths(context)
        hook = SellingPartnerHook(self.sp_api_conn_id)
        journal = SubmissionJournal(paths["submissions"])
        stem = f"amazon_{self.feed_name}_feed"
        if journal.started():  # an earlier try began submitting: finish the documents it built and uploaded
            documents = built_documents(paths["folder"], stem)
            missing = sorted(set(journal.documents()) - {document.name for document in documents})
            if missing or not paths["rejected"].exists():
                raise AirflowException(f"An earlier try began submitting, but its files are gone from "
                                       f"{paths['folder']} ({', '.join(missing) or paths['rejected'].name}): "
                                       f"restore them (the run's journal {paths['submissions'].name} names what "
                                       "was sent) before clearing the task.")
            rejected = json.loads(paths["rejected"].read_text())
            self.log.info("An earlier try began submitting: resuming with its %d documents", len(documents))
        else:
            try:
                build = build_feed_documents(Path(self.input_file), seller_id=hook.seller_id,
                                             out_dir=paths["folder"], stem=stem)
            except (FeedValidationError, XmlFileError) as exc:
                raise AirflowException(str(exc)) from None
            # Skipped records ride with the rejected ones, marked, so that a resumed try has both.
            documents, rejected = build.documents, build.rejected + [(*item, SKIPPED) for item in build.skipped]
            with atomic_output(paths["rejected"]) as tmp:
                tmp.write_text(json.dumps(rejected))
        if not documents:
            if not rejected:
                self.log.info("Upload %s feed summary: 0 in, nothing to send (skipped)", self.feed_name)
                raise AirflowSkipException("Nothing to send: the mapping produced no messages.")
            return self._finish(context, [], [tuple(item) for item in rejected])
        poll = self.poll_interval if self.poll_interval is not None else float(settings.get("FEED_POLL_SECONDS"))
        submitter = FeedSubmitter(
            api=hook, journal=journal, registry=FeedRegistry(registry_path(settings.work_root())),
            owner=f"{context['dag'].dag_id}/{context['run_id']}",
            policy=RecoveryPolicy(poll_seconds=poll, wait_seconds=settings.get_int("FEED_RECOVERY_WAIT_MINUTES") * 60))
        feed_ids = []
        for document in documents:
            try:
                feed_ids.append(submitter.submit(document, feed_type=LISTINGS_FEED,
                                                 marketplace_ids=hook.listings_marketplace_ids))
            except (SubmissionUndetermined, SubmissionFailed, FeedRegistryError) as exc:
                raise AirflowException(str(exc)) from None
            self.log.info("%s is feed %s", document.name, feed_ids[-1])
        timeout = settings.get_int("FEED_TIMEOUT_MINUTES") * 60 or None
        self.defer(trigger=ListingsFeedTrigger(feed_ids, hook.sp_api_conn_id, poll_interval=poll, timeout=timeout),
                   method_name="execute_complete",
                   timeout=timedelta(seconds=timeout) if timeout else None)

    def execute_complete(self, context: Any, event: dict[str, Any]) -> str:
        from amazon_sage.core.feeds.processing_report import apply_report
        from amazon_sage.core.feeds.submissions import SubmissionJournal
        from amazon_sage.core.files import atomic_output
        from amazon_sage.hooks.selling_partner import SellingPartnerHook

        paths = self._paths(context)
        if event["status"] != "done":
            raise AirflowException(f"Waiting for Amazon's feed processing failed: {event.get('message', event)}. "
                                   "Clear the task to wait again on the same feeds.")
        hook = SellingPartnerHook(self.sp_api_conn_id)
        submissions = SubmissionJournal(paths["submissions"]).feed_ids()
        outcomes: list[FeedOutcome] = []
        problems: list[str] = []
        for document_name, feed_id in submissions.items():
            feed = event["feeds"][feed_id]
            status = feed["processingStatus"]
            report = (json.loads(hook.download_feed_result(feed["resultFeedDocumentId"]))
                      if feed.get("resultFeedDocumentId") else {})
            with atomic_output(paths["folder"] / f"amazon_{self.feed_name}_report_{feed_id}.json") as tmp:
                tmp.write_text(json.dumps(report, indent=2))
            if status != "DONE":
                reasons = "; ".join(issue.get("message", "") for issue in report.get("issues", [])[:5])
                problems.append(f"feed {feed_id} ({document_name}) ended {status}"
                                + (f": {reasons}" if reasons else ""))
                continue
            document = json.loads((paths["folder"] / document_name).read_text())
            outcomes.append(apply_report(feed_id, document, report))
        if problems:
            raise AirflowException("Amazon did not apply the feed: " + " | ".join(problems) +
                                   ". FATAL means some, none or all messages may have been applied: fix the cause "
                                   "and rerun the run (the feed is safe to send again).")
        results = [result for outcome in outcomes for result in outcome.results]
        for outcome in outcomes:
            for note in outcome.unknown_issues:
                self.log.warning("Report issue not tied to a sent message: %s", note)
        rejected = [tuple(item) for item in json.loads(paths["rejected"].read_text())]
        return self._finish(context, results, rejected)

    def _finish(self, context: Any, results: list[SkuResult], not_sent: list[tuple[str, ...]]) -> str:
        from amazon_sage.core.zynk_results import RecordFiles
        from amazon_sage.notifiers.seller_alert import notify_failed_records

        paths = self._paths(context)
        rejected = [(item[0], item[1]) for item in not_sent if item[2:] != (SKIPPED,)]
        skipped = [(item[0], item[1]) for item in not_sent if item[2:] == (SKIPPED,)]
        files_wanted = {"success": paths["success"], "fail": paths["fail"], "skipped": paths["skipped"]}
        with RecordFiles(files_wanted, "Products") as files:
            for result in results:
                record = _record(result.sku, result.message_id, result.feed_id)
                if result.errors:
                    files.write("fail", record, errors=result.errors, stage="Amazon feed processing")
                else:
                    files.write("success", record, warnings=result.warnings, stage="Amazon feed processing")
            for sku, reason in rejected:
                files.write("fail", _record(sku), errors=[reason], stage="Pre-validation")
            for sku, reason in skipped:
                files.write("skipped", _record(sku), warnings=[reason], stage="Pre-validation")
        failed = [r for r in results if r.errors]
        counts = PhaseCounts(len(results) + len(rejected) + len(skipped), len(results) - len(failed),
                             failed=len(failed) + len(rejected), skipped=len(skipped))
        push_counts(context, counts)
        push_failed_records(context, "SKUs", [(r.sku, "") for r in failed] + rejected)  # the run's note
        for result in failed[:MAX_LISTED]:
            self.log.warning("Amazon rejected SKU %s: %s", result.sku, "; ".join(result.errors))
        for sku, reason in rejected[:MAX_LISTED]:
            self.log.warning("Not sent, SKU %s: %s", sku, reason)
        notify_failed_records(context, "SKUs", [(r.sku, "; ".join(r.errors)) for r in failed] + rejected, counts)
        self.log.info("Upload %s feed summary: %d in, %d accepted, %d failed, %d skipped", self.feed_name,
                      counts.records_in, counts.records_out, counts.failed, counts.skipped)
        return str(paths["success"])
