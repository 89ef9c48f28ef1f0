"""Read a JSON_LISTINGS_FEED processing report back onto the SKUs that were sent.

A message fails when any issue with severity ERROR names its ``messageId``; warnings stay
with the SKU in the success file. An issue without a ``messageId`` is about the whole feed,
so every SKU of that feed fails with it. An issue naming a ``messageId`` the feed never had
is reported as such and changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class SkuResult:
    sku: str
    message_id: int
    feed_id: str
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


@dataclass
class FeedOutcome:
    results: list[SkuResult]
    unknown_issues: list[str]
    summary: dict[str, Any]

    @property
    def failed(self) -> list[SkuResult]:
        return [r for r in self.results if r.errors]

    @property
    def succeeded(self) -> list[SkuResult]:
        return [r for r in self.results if not r.errors]


def _describe(issue: dict[str, Any]) -> str:
    attribute = f" [{issue['attributeName']}]" if issue.get("attributeName") else ""
    return f"{issue.get('code', '?')}: {issue.get('message', '')}{attribute}"


def apply_report(feed_id: str, document: dict[str, Any], report: dict[str, Any]) -> FeedOutcome:
    """Per-SKU results of ``document`` (the feed as sent) from Amazon's ``report``."""
    by_id = {m["messageId"]: SkuResult(m["sku"], m["messageId"], feed_id) for m in document["messages"]}
    unknown: list[str] = []
    for issue in report.get("issues", []):
        severity = issue.get("severity", "ERROR")
        message_id = issue.get("messageId")
        if message_id is None:
            targets = list(by_id.values()) if severity == "ERROR" else []
            if severity != "ERROR":
                unknown.append(f"feed {feed_id}: {_describe(issue)}")
        elif message_id in by_id:
            targets = [by_id[message_id]]
        else:
            unknown.append(f"feed {feed_id}: issue for messageId {message_id} (sku {issue.get('sku', '?')}), "
                           f"which the feed did not have: {_describe(issue)}")
            targets = []
        for target in targets:
            (target.errors if severity == "ERROR" else target.warnings).append(_describe(issue))
    return FeedOutcome(results=list(by_id.values()), unknown_issues=unknown, summary=report.get("summary", {}))
