"""Submit each feed document to Amazon once, across kills, crashes and lost createFeed answers.

createFeed makes a new feed on every call, and Amazon's Feed object does not name its input
document, so a retry cannot simply ask again. The contract, per document of a run:

1. **Intent first.** After the upload (createFeedDocument + PUT, safe to repeat) and before
   createFeed, the run's journal (``amazon_<name>_feed_submissions.json``, written
   atomically, 0600) records the uploaded ``feedDocumentId``, the time, the feed type, the
   marketplaces and the message count.
2. **Feed id next.** createFeed's feed id goes into the product-wide :class:`FeedRegistry`,
   then into the journal. A journal entry with a feed id is done: a retry waits on that feed.
3. **An intent without a feed id** (a kill after step 1, or createFeed's answer lost: 5xx,
   timeout, dropped connection) is resolved by looking before creating:

   * the registry, for a feed recorded from this ``feedDocumentId`` (a kill between the two
     writes of step 2);
   * getFeeds with the feed type, the marketplaces and ``createdSince`` the intent's time (less
     an allowance for clock skew), every page; feeds in the registry (any run's) or in this
     journal are left out; each remaining candidate is judged by its processing report
     (:mod:`feed_matching`). Candidates still being processed are polled with getFeed, up to
     ``RecoveryPolicy.wait_seconds``.
   * exactly one match and nothing unconfirmable: that is the feed (recorded as in step 2);
   * several matches, or any unconfirmable candidate: :class:`SubmissionAmbiguous`, listing
     the candidates and how to proceed (``python -m amazon_sage.cli.feed_submissions``);
   * candidates still processing after the wait: :class:`SubmissionStillProcessing`;
   * nothing that could be it, ``settle_seconds`` after the last createFeed call (so that a feed
     Amazon has not listed yet is not missed): no feed was made; createFeed is called again,
     with the same uploaded document, the time of the call recorded first.

Nothing is ever submitted again while it is ambiguous whether a feed was made.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from amazon_sage.core.feeds.feed_matching import Judgement, Verdict, judge
from amazon_sage.core.feeds.feed_registry import FeedRegistry
from amazon_sage.core.files import atomic_output
from amazon_sage.core.sp_api.rate_limited_calls import SpApiOutcomeUnknown

log = logging.getLogger(__name__)

CLI = "python -m amazon_sage.cli.feed_submissions"
# createFeed calls in one try whose answers may be lost before the try gives up (each is looked for first).
MAX_CREATE_CALLS = 3


class FeedsApi(Protocol):
    """What submission needs of the SP-API (``SellingPartnerHook`` provides it)."""

    def upload_feed_document(self, document: bytes) -> str: ...

    def create_feed(self, feed_type: str, document_id: str, marketplace_ids: list[str]) -> str: ...

    def get_feeds(self, *, feed_types: list[str], marketplace_ids: list[str] | None = None,
                  created_since: str | None = None) -> Iterator[dict[str, Any]]: ...

    def get_feed(self, feed_id: str) -> dict[str, Any]: ...

    def download_feed_result(self, document_id: str) -> bytes: ...


@dataclass(frozen=True)
class RecoveryPolicy:
    """How long to look for a feed whose createFeed answer was lost."""

    poll_seconds: float = 30.0  # between getFeed polls of candidates still being processed
    wait_seconds: float = 900.0  # longest wait for such candidates in one try
    settle_seconds: float = 60.0  # how long after createFeed an empty getFeeds is believed (listing may lag)
    clock_skew: timedelta = timedelta(minutes=5)  # Amazon's clock may be behind this machine's


class SubmissionUndetermined(Exception):
    """It cannot be told whether a feed was made from the document; nothing was sent again."""

    def __init__(self, message: str, candidates: list[str]):
        super().__init__(message)
        self.candidates = candidates


class SubmissionAmbiguous(SubmissionUndetermined):
    """Several feeds, or one that cannot be confirmed, could be the document's."""


class SubmissionStillProcessing(SubmissionUndetermined):
    """Feeds that could be the document's are still being processed, so cannot be confirmed yet."""


class SubmissionFailed(Exception):
    """createFeed made no feed (Amazon lists none), after :data:`MAX_CREATE_CALLS` lost answers in this try."""


@dataclass(frozen=True)
class Intent:
    """One document's journal entry: what was (to be) sent to createFeed, and the feed id once known."""

    document: str
    owner: str  # <dag_id>/<run_id>
    feed_type: str
    marketplace_ids: list[str]
    messages: int
    feed_document_id: str
    intent_time: str  # ISO UTC, before the first createFeed call: where the search for the feed starts
    create_called_at: str  # ISO UTC, before the latest createFeed call: from when an empty listing is believed
    sha256: str = ""  # of the document's bytes as uploaded: the report is judged against exactly those
    feed_id: str | None = None


class SubmissionJournal:
    """The run's ``amazon_<name>_feed_submissions.json``: ``{document name: Intent fields}``.

    An entry of an older version (``{document name: feed id}``) reads as a submitted document.
    """

    def __init__(self, path: Path):
        self.path = path

    def _raw(self) -> dict[str, Any]:
        return json.loads(self.path.read_text()) if self.path.exists() else {}

    def get(self, document: str) -> Intent | None:
        entry = self._raw().get(document)
        if entry is None:
            return None
        if isinstance(entry, str):  # written before intents were recorded: the feed id alone
            return Intent(document, "", "", [], 0, "", "", "", feed_id=entry)
        return Intent(**entry)

    def save(self, intent: Intent) -> None:
        entries = self._raw()
        entries[intent.document] = asdict(intent)
        with atomic_output(self.path) as tmp:
            tmp.write_text(json.dumps(entries, indent=2))

    def remove(self, document: str) -> None:
        entries = self._raw()
        entries.pop(document, None)
        with atomic_output(self.path) as tmp:
            tmp.write_text(json.dumps(entries, indent=2))

    def documents(self) -> list[str]:
        """The names of the documents with an entry, submitted or not."""
        return list(self._raw())

    def started(self) -> bool:
        """True once any document of the run has an intent: its documents are then the ones to finish."""
        return bool(self._raw())

    def feed_ids(self) -> dict[str, str]:
        """Document name -> feed id, for every document submitted (in submission order)."""
        return {name: (entry if isinstance(entry, str) else entry["feed_id"])
                for name, entry in self._raw().items()
                if isinstance(entry, str) or entry.get("feed_id")}


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _amazon_time(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class FeedSubmitter:
    """Submits a run's documents through ``api``, keeping ``journal`` and ``registry`` (the contract above)."""

    api: FeedsApi
    journal: SubmissionJournal
    registry: FeedRegistry
    owner: str
    policy: RecoveryPolicy = field(default_factory=RecoveryPolicy)
    clock: Callable[[], datetime] = _utc_now
    sleep: Callable[[float], None] = time.sleep
    monotonic: Callable[[], float] = time.monotonic

    def submit(self, path: Path, *, feed_type: str, marketplace_ids: list[str]) -> str:
        """Return the feed id of the document at ``path``, creating the feed only if none was made.

        Raises :class:`SubmissionUndetermined` (nothing sent again) or :class:`SubmissionFailed`.
        """
        data = path.read_bytes()
        document = json.loads(data.decode("utf-8"))
        digest = hashlib.sha256(data).hexdigest()
        intent = self.journal.get(path.name)
        if intent is not None and intent.feed_id:
            return intent.feed_id
        look_first = intent is not None
        if intent is None:
            document_id = self.api.upload_feed_document(data)
            now = self.clock().isoformat()
            intent = Intent(path.name, self.owner, feed_type, list(marketplace_ids), len(document["messages"]),
                            document_id, intent_time=now, create_called_at=now, sha256=digest)
            self.journal.save(intent)
        elif intent.sha256 != digest:
            raise SubmissionFailed(f"{path} is not the document an earlier try uploaded as {intent.feed_document_id} "
                                   f"and sent to createFeed (sha256 {intent.sha256[:12]}…, now {digest[:12]}…): it "
                                   "was changed since. Nothing was sent. Restore it, or resolve the earlier "
                                   f"submission with `{CLI}` (adopt or release), then clear the task.")
        else:
            log.warning("%s was being submitted by an earlier try (createFeed called at %s) and no feed id was "
                        "recorded: looking for the feed before sending anything", path.name, intent.create_called_at)
        for call in range(1, MAX_CREATE_CALLS + 1):
            if look_first:
                found = self._find(intent, document)
                if found:
                    return self._record(intent, found)
                log.warning("Amazon lists no feed made from %s: createFeed did not make one; calling it again",
                            path.name)
                intent = replace(intent, create_called_at=self.clock().isoformat())
                self.journal.save(intent)
            try:
                feed_id = self.api.create_feed(intent.feed_type, intent.feed_document_id, intent.marketplace_ids)
            except SpApiOutcomeUnknown as exc:
                log.warning("createFeed for %s (call %d of at most %d in this try): %s. Looking for the feed before "
                            "sending anything again", path.name, call, MAX_CREATE_CALLS, exc)
                look_first = True
                continue
            return self._record(intent, feed_id)
        found = self._find(intent, document)
        if found:
            return self._record(intent, found)
        raise SubmissionFailed(f"createFeed's answer for {path.name} was lost {MAX_CREATE_CALLS} times and Amazon "
                               "lists no feed made from it: no feed was made. The task will retry.")

    # -- recording --------------------------------------------------------------------------------

    def _record(self, intent: Intent, feed_id: str) -> str:
        # Registry first: a kill before the journal write leaves the feed findable by its feedDocumentId.
        self.registry.record(feed_id, owner=intent.owner, document=intent.document,
                             feed_document_id=intent.feed_document_id)
        self.journal.save(replace(intent, feed_id=feed_id))
        return feed_id

    # -- looking for a feed ------------------------------------------------------------------------

    def _listed(self, intent: Intent) -> dict[str, dict[str, Any]]:
        since = datetime.fromisoformat(intent.intent_time) - self.policy.clock_skew
        feeds = self.api.get_feeds(feed_types=[intent.feed_type], marketplace_ids=intent.marketplace_ids,
                                   created_since=_amazon_time(since))
        return {str(feed["feedId"]): feed for feed in feeds}

    def _find(self, intent: Intent, document: dict[str, Any]) -> str | None:
        """The feed made from ``document``, or None when Amazon certainly made none.

        Raises :class:`SubmissionAmbiguous` or :class:`SubmissionStillProcessing` when that cannot be told.
        """
        deadline = self.monotonic() + self.policy.wait_seconds
        listed: dict[str, dict[str, Any]] | None = None
        terminal: dict[str, Judgement] = {}  # judged once: reading a report costs a getFeedDocument call
        while True:
            mine = self.registry.feed_for_document(intent.feed_document_id)
            if mine:
                log.info("%s was recorded as feed %s before the earlier try ended", intent.document, mine)
                return mine
            if listed is None:
                listed = self._listed(intent)
            taken = self.registry.recorded_ids() | set(self.journal.feed_ids().values())
            judgements = []
            for feed_id, feed in listed.items():
                if feed_id in taken:
                    continue
                if feed_id not in terminal:
                    judgement = judge(feed, document, self.api.download_feed_result)
                    if judgement.verdict is Verdict.PENDING:
                        judgements.append(judgement)
                        continue
                    terminal[feed_id] = judgement
                    log.info("Candidate feed %s %s", judgement.describe(), judgement.verdict.value)
                judgements.append(terminal[feed_id])
            pending = [j for j in judgements if j.verdict is Verdict.PENDING]
            matches = [j for j in judgements if j.verdict is Verdict.MATCH]
            unconfirmable = [j for j in judgements if j.verdict is Verdict.UNCONFIRMABLE]
            if pending:
                if self.monotonic() >= deadline:
                    raise self._still_processing(intent, pending + matches + unconfirmable)
                log.info("Waiting for candidate feed(s) %s, still being processed, to tell whether one is %s",
                         ", ".join(j.feed_id for j in pending), intent.document)
                self.sleep(self.policy.poll_seconds)
                for judgement in pending:
                    listed[judgement.feed_id] = self.api.get_feed(judgement.feed_id)
                continue
            if len(matches) == 1 and not unconfirmable:
                log.info("%s was made into feed %s (%s)", intent.document, matches[0].feed_id, matches[0].reason)
                return matches[0].feed_id
            if matches or unconfirmable:
                raise self._ambiguous(intent, matches + unconfirmable)
            called = datetime.fromisoformat(intent.create_called_at)
            settle_left = (called + timedelta(seconds=self.policy.settle_seconds) - self.clock()).total_seconds()
            if settle_left <= 0:
                return None
            log.info("Amazon lists no feed from %s yet; looking again in %.0f s (a new feed may be listed late)",
                     intent.document, settle_left)
            self.sleep(settle_left)
            listed = None

    # -- telling a person what to do -------------------------------------------------------------

    def _situation(self, intent: Intent) -> str:
        return (f"{intent.document} ({intent.messages} messages, uploaded as {intent.feed_document_id}): it was sent "
                f"to createFeed as {intent.feed_type} for {', '.join(intent.marketplace_ids)} at "
                f"{intent.create_called_at} and no feed id came back (the answer was lost, or the worker stopped)")

    def _how_to_proceed(self, intent: Intent, candidates: list[Judgement]) -> str:
        ids = ",".join(j.feed_id for j in candidates)
        return (f"Check each candidate with getFeed and its processing report, or find it by its id in Seller "
                f"Central's upload status. If one of them is this document's feed, run "
                f"`{CLI} adopt {self.journal.path} {intent.document} <feed id>`; if none is, run "
                f"`{CLI} release {self.journal.path} {intent.document} --not-ours {ids}`, and the next try sends the "
                "document. Run it with the same environment as Airflow, then clear the task.")

    def _ambiguous(self, intent: Intent, candidates: list[Judgement]) -> SubmissionAmbiguous:
        listed = "; ".join(j.describe() for j in candidates)
        return SubmissionAmbiguous(
            f"Cannot tell which Amazon feed, if any, was made from {self._situation(intent)}. These candidate feeds, "
            f"created since then and not recorded by this product, could be it: {listed}. Nothing was sent again. "
            f"{self._how_to_proceed(intent, candidates)}",
            [j.feed_id for j in candidates])

    def _still_processing(self, intent: Intent, candidates: list[Judgement]) -> SubmissionStillProcessing:
        listed = "; ".join(j.describe() for j in candidates)
        minutes = self.policy.wait_seconds / 60
        return SubmissionStillProcessing(
            f"Cannot confirm yet which Amazon feed was made from {self._situation(intent)}. These candidate feeds "
            f"could be it, and Amazon was still processing some after {minutes:.1f} minutes: {listed}. Nothing was "
            f"sent again; the task's next try looks again. To decide sooner: "
            f"{self._how_to_proceed(intent, candidates)}",
            [j.feed_id for j in candidates])


# -- what a person does about an ambiguous submission (cli/feed_submissions.py) -------------------------


class ResolutionError(Exception):
    """The journal does not allow that resolution; nothing was changed."""


def adopt(journal: SubmissionJournal, registry: FeedRegistry, document: str, feed_id: str) -> None:
    """Declare ``feed_id`` the feed made from ``document``: a retry then waits on it instead of submitting."""
    intent = journal.get(document)
    if intent is None:
        raise ResolutionError(f"{journal.path} has no entry for {document}.")
    if intent.feed_id and intent.feed_id != feed_id:
        raise ResolutionError(f"{document} is already recorded as feed {intent.feed_id}.")
    owner = registry.entries().get(feed_id, {}).get("owner")
    if owner and owner != intent.owner:
        raise ResolutionError(f"Feed {feed_id} is recorded for {owner}, not this run.")
    registry.record(feed_id, owner=intent.owner, document=document, feed_document_id=intent.feed_document_id)
    journal.save(replace(intent, feed_id=feed_id))


def release(journal: SubmissionJournal, registry: FeedRegistry, document: str, not_ours: list[str]) -> None:
    """Declare that none of ``not_ours`` was made from ``document``: the next try submits it afresh.

    The feeds are recorded as not this product's, so no run takes them for its own later.
    """
    intent = journal.get(document)
    if intent is None:
        raise ResolutionError(f"{journal.path} has no entry for {document}.")
    if intent.feed_id:
        raise ResolutionError(f"{document} was submitted as feed {intent.feed_id}; there is nothing to release.")
    registry.mark_not_ours(not_ours, note=f"released by a person for {intent.owner} {document}")
    journal.remove(document)
