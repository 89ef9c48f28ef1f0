"""Could a feed that getFeeds lists have been made from this document? Judged from its processing report.

Amazon's Feed object (feeds_2021-06-30.json) names its type, marketplaces, times and status,
not its input document. What ties a feed to a document is its processing report
(listings-feed-processing-report-schema-v2.json): the ``summary`` counts the messages
processed, and each issue names a ``messageId`` and its ``sku``. A feed matches a document
when its report

* counts exactly the document's messages (``summary.messagesProcessed``),
* is for the document's seller (``header.sellerId``, when given), and
* never names, for a messageId the document has, another SKU than the document's.

An issue for a messageId the document lacks proves nothing (Amazon's reports can name such
ids), so it is not held against a feed. What cannot be judged is said so, never guessed:
a feed still IN_QUEUE or IN_PROGRESS is *pending*; a CANCELLED feed (no report), a DONE feed
without a report, and a FATAL one whose report counts other than the document (FATAL reports
may count nothing) are *unconfirmable*.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import Any

PROCESSING = {"IN_QUEUE", "IN_PROGRESS"}


class Verdict(Enum):
    MATCH = "matches the document"
    OTHER = "is another document's"
    PENDING = "is still being processed"
    UNCONFIRMABLE = "cannot be told from the document's"


@dataclass(frozen=True)
class Judgement:
    feed_id: str
    status: str
    verdict: Verdict
    reason: str

    def describe(self) -> str:
        return f"{self.feed_id} ({self.status}: {self.reason})"


def report_disagrees(document: dict[str, Any], report: dict[str, Any]) -> str | None:
    """Why ``report`` cannot be the report of ``document``, or None when it can."""
    messages = document.get("messages") or []
    processed = (report.get("summary") or {}).get("messagesProcessed")
    if processed != len(messages):
        return f"its report counts {processed} messages processed, the document has {len(messages)}"
    seller = (report.get("header") or {}).get("sellerId")
    if seller and seller != (document.get("header") or {}).get("sellerId"):
        return f"its report is for seller {seller}"
    skus = {message.get("messageId"): message.get("sku") for message in messages}
    for issue in report.get("issues") or []:
        message_id, sku = issue.get("messageId"), issue.get("sku")
        if message_id in skus and sku is not None and sku != skus[message_id]:
            return f"its report names SKU {sku!r} for message {message_id}, the document {skus[message_id]!r}"
    return None


def judge(feed: dict[str, Any], document: dict[str, Any], read_report: Callable[[str], bytes]) -> Judgement:
    """Judge one listed ``feed`` against ``document``; ``read_report`` downloads a result document by id."""
    feed_id, status = str(feed.get("feedId")), str(feed.get("processingStatus"))
    if status in PROCESSING:
        return Judgement(feed_id, status, Verdict.PENDING, "not processed yet")
    result_id = feed.get("resultFeedDocumentId")
    if status == "CANCELLED" or not result_id:
        return Judgement(feed_id, status, Verdict.UNCONFIRMABLE, "no processing report to compare")
    try:
        report = json.loads(read_report(result_id))
    except ValueError:
        return Judgement(feed_id, status, Verdict.UNCONFIRMABLE, "its processing report is unreadable")
    if not isinstance(report, dict):
        return Judgement(feed_id, status, Verdict.UNCONFIRMABLE, "its processing report is unreadable")
    why_not = report_disagrees(document, report)
    if why_not is None:
        count = len(document.get("messages") or [])
        return Judgement(feed_id, status, Verdict.MATCH, f"its report agrees: {count} messages, same SKUs")
    if status == "FATAL" and why_not.startswith("its report counts"):
        return Judgement(feed_id, status, Verdict.UNCONFIRMABLE, f"{why_not}, as FATAL reports may")
    return Judgement(feed_id, status, Verdict.OTHER, why_not)
