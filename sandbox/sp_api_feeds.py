"""The Feeds API 2021-06-30 part of the SP-API sandbox, with ``JSON_LISTINGS_FEED`` processing.

* ``createFeedDocument`` returns an upload URL served by the sandbox itself; the PUT must carry
  exactly the content type that was declared (Amazon's URL is signed with it), else 403 with
  an S3-style XML error.
* ``createFeed`` checks the body against the model, and ``JSON_LISTINGS_FEED`` has its own
  bucket (5 submissions per 5 minutes per region by default) besides createFeed's.
* A feed is ``IN_QUEUE``, then ``IN_PROGRESS``, and ``processing_delay`` seconds (as set when it
  was created) after its creation it is processed: a document that is not JSON or breaks
  ``listings-feed-schema-v2.json`` is ``FATAL``; otherwise each message is checked against the
  sandbox's listings (unknown SKU, negative quantity, price not above zero, wrong marketplace ->
  an ERROR issue) and the accepted patches are applied. The processing report follows Amazon's report schema and
  is served gzip-compressed.
* ``getFeeds`` lists feeds as the model says: ``feedTypes`` (required unless ``nextToken``),
  ``marketplaceIds``, ``pageSize`` (1-100, default 10), ``processingStatuses``, ``createdSince``
  (default 90 days ago), ``createdUntil`` (default now), newest first; ``nextToken`` must come
  back as the only parameter. Every parameter is checked against the model's declaration and
  every answer against its ``GetFeedsResponse`` schema.
* Switches: ``feed_outcomes`` (e.g. ``["FATAL", "CANCELLED"]`` for the next feeds),
  ``report_unknown_message_id`` (the report names a messageId the feed never had).
"""

from __future__ import annotations

import base64
import gzip
import json
import secrets
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import jsonschema

from sandbox import PROJECT
from sandbox.catalogue import CATALOGUE

FEEDS = "/feeds/2021-06-30"
FEED_LIMITS = {"createFeedDocument": (0.5, 15), "createFeed": (0.0083, 15), "getFeed": (2.0, 15),
               "getFeeds": (0.0222, 10), "getFeedDocument": (0.0222, 10), "JSON_LISTINGS_FEED": (5 / 300, 5)}
# Query keys python-amazon-sp-api adds to GETs that carry no marketplace; Amazon ignores them, so must we.
LIBRARY_QUERY_KEYS = {"MarketplaceId", "MarketplaceIds", "marketplace_ids"}
FEED_RETENTION = timedelta(days=90)  # getFeeds' default createdSince: "Feeds are retained for a maximum of 90 days"
REMOVED_FEED_TYPES = {"POST_PRODUCT_DATA", "POST_INVENTORY_AVAILABILITY_DATA", "POST_PRODUCT_PRICING_DATA",
                      "POST_FLAT_FILE_INVLOADER_DATA", "POST_FLAT_FILE_PRICEANDQUANTITYONLY_UPDATE_DATA"}


UK_MARKETPLACE_ID = "A1F83G8C2ARO7P"
# The currency each EU marketplace's offers must be in (Amazon refuses an offer in another).
MARKETPLACE_CURRENCIES = {UK_MARKETPLACE_ID: "GBP", "A1PA6795UKMFR9": "EUR", "A13V1IB3VIYZZH": "EUR",
                          "APJ6JRA9NG5V4": "EUR", "A1RKKUPIHCS9HS": "EUR", "A1805IZSGTT6HS": "EUR",
                          "AMEN7PMS3EDWL": "EUR", "A28R8C7NBKEWEA": "EUR", "A2NODRKZP88ZB9": "SEK",
                          "A1C3SOZRARQ6R3": "PLN"}


class FeedError(Exception):
    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


@dataclass
class Listing:
    quantity: int | None = None
    price: Decimal | None = None  # on the UK marketplace (the sandbox's home)
    prices: dict[str, tuple[str, Decimal]] = field(default_factory=dict)  # marketplace id -> (currency, price)


@dataclass
class Feed:
    feed_id: str
    document_id: str
    marketplace_ids: list[str]
    created: float
    created_iso: str
    feed_type: str = "JSON_LISTINGS_FEED"
    processing_delay: float = 0.2  # the sandbox's processing_delay when the feed was created
    outcome: str | None = None
    status: str = "IN_QUEUE"
    result_document_id: str | None = None
    processed_iso: str | None = None


@dataclass
class FeedsState:
    listings: dict[str, Listing] = field(default_factory=lambda: {
        p.sku: Listing(quantity=p.free_stock, price=p.price) for p in CATALOGUE if p.on_amazon})
    documents: dict[str, dict[str, Any]] = field(default_factory=dict)
    results: dict[str, bytes] = field(default_factory=dict)
    feeds: dict[str, Feed] = field(default_factory=dict)
    processing_delay: float = 0.2
    feed_outcomes: list[str] = field(default_factory=list)
    report_unknown_message_id: bool = False


def _iso_now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def _iso(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# Amazon's listings feed schemas, which the product itself ships in its package.
FEED_SCHEMAS = PROJECT / "plugins" / "amazon_sage" / "core" / "feeds" / "amazon_schemas"


def _parse_time(value: str, name: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise FeedError(400, "InvalidInput", f"Invalid date format for {name}: {value!r}. Use ISO 8601.") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


class FeedsModel:
    def __init__(self, directory: Path):
        model = json.loads((directory / "feeds_2021-06-30.json").read_text())
        self.feed_validator = jsonschema.Draft4Validator({"$ref": "#/definitions/Feed",
                                                          "definitions": model["definitions"]})
        self.get_feeds_validator = jsonschema.Draft4Validator({"$ref": "#/definitions/GetFeedsResponse",
                                                               "definitions": model["definitions"]})
        self.get_feeds_parameters = {p["name"]: p for p in model["paths"][f"{FEEDS}/feeds"]["get"]["parameters"]}
        self.feed_schema = jsonschema.Draft7Validator(
            json.loads((FEED_SCHEMAS / "listings-feed-schema-v2.json").read_text()))
        self.report_schema = jsonschema.Draft7Validator(
            json.loads((FEED_SCHEMAS / "listings-feed-processing-report-schema-v2.json").read_text()))


class FeedsSandbox:
    """Feeds behaviour; mixed into the Sandbox, which provides ``state.lock`` and ``now()``."""

    feeds_state: FeedsState
    feeds_model: FeedsModel

    def init_feeds(self, directory: Path) -> None:
        self.feeds_state = FeedsState()
        self.feeds_model = FeedsModel(directory)

    def configure_feeds(self, config: dict[str, Any]) -> None:
        for key in ("processing_delay", "feed_outcomes", "report_unknown_message_id"):
            if key in config:
                setattr(self.feeds_state, key, config[key])

    # -- operations --------------------------------------------------------------------------

    def create_feed_document(self, body: dict[str, Any], base_url: str) -> dict[str, Any]:
        content_type = body.get("contentType")
        if not isinstance(content_type, str) or not content_type:
            raise FeedError(400, "InvalidInput", "contentType is required.")
        document_id = f"amzn1.tortuga.4.eu.{secrets.token_hex(8)}"
        self.feeds_state.documents[document_id] = {"content_type": content_type, "data": None}
        return {"feedDocumentId": document_id, "url": f"{base_url}/_uploads/{document_id}"}

    def upload(self, document_id: str, content_type: str | None, data: bytes) -> None:
        document = self.feeds_state.documents.get(document_id)
        if document is None:
            raise FeedError(404, "NoSuchKey", "The specified key does not exist.")
        if content_type != document["content_type"]:
            raise FeedError(403, "SignatureDoesNotMatch", "The request signature we calculated does not match "
                                                          "the signature you provided (Content-Type).")
        document["data"] = data

    def create_feed(self, body: dict[str, Any]) -> dict[str, Any]:
        feed_type = body.get("feedType")
        marketplaces = body.get("marketplaceIds")
        document_id = body.get("inputFeedDocumentId")
        if not isinstance(marketplaces, list) or not 1 <= len(marketplaces) <= 25:
            raise FeedError(400, "InvalidInput", "marketplaceIds must list 1 to 25 marketplaces.")
        if feed_type not in {"JSON_LISTINGS_FEED"} | REMOVED_FEED_TYPES:
            raise FeedError(400, "InvalidInput", f"Invalid feedType {feed_type!r}.")
        document = self.feeds_state.documents.get(document_id or "")
        if document is None or document["data"] is None:
            raise FeedError(400, "InvalidInput", "inputFeedDocumentId does not refer to an uploaded document.")
        outcome = self.feeds_state.feed_outcomes.pop(0) if self.feeds_state.feed_outcomes else None
        if feed_type in REMOVED_FEED_TYPES:
            outcome = "FATAL"
        feed = Feed(feed_id=str(50001019000 + len(self.feeds_state.feeds)), document_id=document_id,
                    marketplace_ids=marketplaces, created=time.monotonic(), created_iso=_iso_now(), outcome=outcome,
                    feed_type=feed_type, processing_delay=self.feeds_state.processing_delay)
        self.feeds_state.feeds[feed.feed_id] = feed
        return {"feedId": feed.feed_id}

    def _advance(self, feed: Feed) -> None:
        """Move ``feed`` along IN_QUEUE -> IN_PROGRESS -> processed, by the time since it was created."""
        elapsed = time.monotonic() - feed.created
        if feed.status in {"IN_QUEUE", "IN_PROGRESS"}:
            if elapsed >= feed.processing_delay:
                self._process(feed)
            elif elapsed >= feed.processing_delay / 2:
                feed.status = "IN_PROGRESS"

    def _feed_answer(self, feed: Feed) -> dict[str, Any]:
        answer: dict[str, Any] = {"feedId": feed.feed_id, "feedType": feed.feed_type,
                                  "marketplaceIds": feed.marketplace_ids, "createdTime": feed.created_iso,
                                  "processingStatus": feed.status}
        if feed.status != "IN_QUEUE":
            answer["processingStartTime"] = feed.created_iso
        if feed.processed_iso:
            answer["processingEndTime"] = feed.processed_iso
        if feed.result_document_id:
            answer["resultFeedDocumentId"] = feed.result_document_id
        return answer

    def get_feed(self, feed_id: str) -> dict[str, Any]:
        feed = self.feeds_state.feeds.get(feed_id)
        if feed is None:
            raise FeedError(404, "NotFound", f"Feed {feed_id} not found.")
        self._advance(feed)
        answer = self._feed_answer(feed)
        errors = list(self.feeds_model.feed_validator.iter_errors(answer))
        if errors:
            raise FeedError(500, "InternalFailure", f"Sandbox answer breaks the model: {errors[0].message}")
        return answer

    # -- getFeeds ----------------------------------------------------------------------------

    def _feeds_query(self, query: dict[str, list[str]]) -> dict[str, Any]:
        """The getFeeds filters of ``query``, each checked against the model's declaration of it."""
        declared = self.feeds_model.get_feeds_parameters
        given = {key: values for key, values in query.items() if key not in LIBRARY_QUERY_KEYS}
        unknown = set(given) - set(declared)
        if unknown:
            raise FeedError(400, "InvalidInput", f"Unknown parameter(s): {', '.join(sorted(unknown))}")
        if "nextToken" in given and len(given) > 1:
            raise FeedError(400, "InvalidInput", "nextToken must be the only parameter: specifying nextToken with "
                                                 "any other parameters is not allowed.")
        if "nextToken" not in given and "feedTypes" not in given:
            raise FeedError(400, "InvalidInput", "Either feedTypes or nextToken is required.")
        filters: dict[str, Any] = {}
        for name, values in given.items():
            spec = declared[name]
            if spec["type"] == "array":
                items = [part for raw in values for part in raw.split(",") if part]
                if not spec.get("minItems", 0) <= len(items) <= spec.get("maxItems", len(items)):
                    raise FeedError(400, "InvalidInput", f"{name} must list {spec.get('minItems', 0)} to "
                                                         f"{spec.get('maxItems', 'any number of')} values.")
                allowed = spec["items"].get("enum")
                bad = [item for item in items if allowed and item not in allowed]
                if bad:
                    raise FeedError(400, "InvalidInput", f"Invalid value(s) for {name}: {', '.join(bad)}. "
                                                         f"Allowed: {', '.join(allowed)}.")
                filters[name] = items
            elif spec["type"] == "integer":
                raw = values[-1]
                if not raw.isdigit() or not spec.get("minimum", 0) <= int(raw) <= spec.get("maximum", int(raw)):
                    raise FeedError(400, "InvalidInput", f"{name} must be an integer between {spec.get('minimum')} "
                                                         f"and {spec.get('maximum')}.")
                filters[name] = int(raw)
            elif spec.get("format") == "date-time":
                filters[name] = _iso(_parse_time(values[-1], name))
            else:
                filters[name] = values[-1]
        return filters

    def get_feeds(self, query: dict[str, list[str]]) -> dict[str, Any]:
        """getFeeds: the feeds matching the filters, newest first, ``pageSize`` at a time."""
        filters = self._feeds_query(query)
        after: int | None = None
        if "nextToken" in filters:
            try:
                token = json.loads(base64.urlsafe_b64decode(filters["nextToken"].encode()))
                filters, after = token["filters"], int(token["after"])
            except (ValueError, KeyError, TypeError):
                raise FeedError(400, "InvalidInput", "Invalid nextToken.") from None
        else:
            # The defaults are fixed on the first page, so every later page answers the same question.
            now = datetime.now(UTC)
            filters.setdefault("createdSince", _iso(now - FEED_RETENTION))
            filters.setdefault("createdUntil", _iso(now))
            filters.setdefault("pageSize", self.feeds_model.get_feeds_parameters["pageSize"]["default"])
        since, until = _parse_time(filters["createdSince"], "createdSince"), _parse_time(filters["createdUntil"],
                                                                                         "createdUntil")
        for feed in self.feeds_state.feeds.values():
            self._advance(feed)
        matches = [feed for feed in sorted(self.feeds_state.feeds.values(), key=lambda f: -int(f.feed_id))
                   if (after is None or int(feed.feed_id) < after)
                   and feed.feed_type in filters["feedTypes"]
                   and ("marketplaceIds" not in filters or set(feed.marketplace_ids) & set(filters["marketplaceIds"]))
                   and ("processingStatuses" not in filters or feed.status in filters["processingStatuses"])
                   and since <= _parse_time(feed.created_iso, "createdTime") <= until]
        page = matches[:filters["pageSize"]]
        answer: dict[str, Any] = {"feeds": [self._feed_answer(feed) for feed in page]}
        if len(matches) > len(page):
            token = {"filters": filters, "after": int(page[-1].feed_id)}
            answer["nextToken"] = base64.urlsafe_b64encode(json.dumps(token).encode()).decode()
        errors = list(self.feeds_model.get_feeds_validator.iter_errors(answer))
        if errors:
            raise FeedError(500, "InternalFailure", f"Sandbox answer breaks the model: {errors[0].message}")
        return answer

    def get_feed_document(self, document_id: str, base_url: str) -> dict[str, Any]:
        if document_id not in self.feeds_state.results and document_id not in self.feeds_state.documents:
            raise FeedError(404, "NotFound", f"Feed document {document_id} not found.")
        answer = {"feedDocumentId": document_id, "url": f"{base_url}/_downloads/{document_id}"}
        if document_id in self.feeds_state.results:
            answer["compressionAlgorithm"] = "GZIP"
        return answer

    def download(self, document_id: str) -> bytes:
        if document_id in self.feeds_state.results:
            return self.feeds_state.results[document_id]
        raise FeedError(404, "NoSuchKey", "The specified key does not exist.")

    # -- processing --------------------------------------------------------------------------

    def _finish(self, feed: Feed, status: str, report: dict[str, Any] | None) -> None:
        feed.status, feed.processed_iso = status, _iso_now()
        if report is not None:
            errors = list(self.feeds_model.report_schema.iter_errors(report))
            if errors:
                raise FeedError(500, "InternalFailure", f"Sandbox report breaks the schema: {errors[0].message}")
            feed.result_document_id = f"amzn1.tortuga.4.eu.report.{feed.feed_id}"
            self.feeds_state.results[feed.result_document_id] = gzip.compress(json.dumps(report).encode("utf-8"))

    def _report(self, feed: Feed, seller: str, issues: list[dict[str, Any]], processed: int,
                invalid: int) -> dict[str, Any]:
        errors = sum(1 for issue in issues if issue["severity"] == "ERROR")
        return {"header": {"sellerId": seller, "version": "2.0", "feedId": feed.feed_id},
                "issues": issues,
                "summary": {"errors": errors, "warnings": sum(1 for i in issues if i["severity"] == "WARNING"),
                            "messagesProcessed": processed, "messagesAccepted": processed - invalid,
                            "messagesInvalid": invalid}}

    def _process(self, feed: Feed) -> None:
        if feed.outcome == "CANCELLED":
            self._finish(feed, "CANCELLED", None)
            return
        raw = self.feeds_state.documents[feed.document_id]["data"]
        try:
            document = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            issue = {"code": "4000001", "severity": "ERROR", "message": f"The feed is not valid JSON: {exc}"}
            self._finish(feed, "FATAL", self._report(feed, "UNKNOWN", [issue], 0, 0))
            return
        seller = str(document.get("header", {}).get("sellerId", "UNKNOWN")) if isinstance(document, dict) else "?"
        schema_errors = sorted(self.feeds_model.feed_schema.iter_errors(document), key=lambda e: list(e.path))
        if schema_errors or feed.outcome == "FATAL":
            message = (f"The feed does not follow the JSON_LISTINGS_FEED schema: {schema_errors[0].message} at "
                       f"{'/'.join(map(str, schema_errors[0].path))}" if schema_errors
                       else "Feed processing failed due to an internal error.")
            self._finish(feed, "FATAL", self._report(feed, seller, [{"code": "4000002", "severity": "ERROR",
                                                                      "message": message}], 0, 0))
            return
        issues: list[dict[str, Any]] = []
        invalid = 0
        for message in document["messages"]:
            problems = self._check(message, feed.marketplace_ids)
            if problems:
                invalid += 1
                issues += [{"messageId": message["messageId"], "sku": message["sku"], "code": code,
                            "severity": "ERROR", "message": text, **({"attributeName": attribute} if attribute else {})}
                           for code, text, attribute in problems]
            else:
                self._apply(message)
        if self.feeds_state.report_unknown_message_id:
            issues.append({"messageId": len(document["messages"]) + 1000, "sku": "NOT-IN-FEED", "code": "90000",
                           "severity": "WARNING", "message": "Issue for a message that was not in the feed."})
        self._finish(feed, "DONE", self._report(feed, seller, issues, len(document["messages"]), invalid))

    def _check(self, message: dict[str, Any], marketplaces: list[str]) -> list[tuple[str, str, str]]:
        if message["sku"] not in self.feeds_state.listings:
            return [("99001", f"SKU {message['sku']} not found for this seller in the marketplace.", "")]
        problems: list[tuple[str, str, str]] = []
        for patch in message.get("patches", []):
            attribute = patch["path"].rsplit("/", 1)[-1]
            for value in patch.get("value") or []:
                if attribute == "fulfillment_availability":
                    quantity = value.get("quantity")
                    if not isinstance(quantity, int) or isinstance(quantity, bool) or quantity < 0:
                        problems.append(("90244", f"The quantity {quantity!r} is not a whole number of 0 or more.",
                                         attribute))
                elif attribute == "purchasable_offer":
                    if value.get("marketplace_id") not in marketplaces:
                        problems.append(("90220", f"marketplace_id {value.get('marketplace_id')!r} is not one of "
                                                  "the feed's marketplaces.", attribute))
                    expected = MARKETPLACE_CURRENCIES.get(value.get("marketplace_id"))
                    if expected and value.get("currency") != expected:
                        problems.append(("90223", f"currency {value.get('currency')!r} is not the currency of "
                                                  f"marketplace {value.get('marketplace_id')} ({expected}).",
                                         attribute))
                    try:
                        price = Decimal(str(value["our_price"][0]["schedule"][0]["value_with_tax"]))
                    except (KeyError, IndexError, TypeError, ArithmeticError):
                        problems.append(("90221", "our_price needs schedule[0].value_with_tax.", attribute))
                        continue
                    if price <= 0:
                        problems.append(("90222", f"The price {price} must be greater than 0.", attribute))
                    if price != price.quantize(Decimal(1) if expected == "JPY" else Decimal("0.01")):
                        problems.append(("90224", f"The price {price} has more decimals than {expected or 'its'} "
                                                  "currency's minor unit.", attribute))
        return problems

    def _apply(self, message: dict[str, Any]) -> None:
        listing = self.feeds_state.listings[message["sku"]]
        for patch in message.get("patches", []):
            attribute = patch["path"].rsplit("/", 1)[-1]
            for value in patch.get("value") or []:
                if attribute == "fulfillment_availability":
                    listing.quantity = value["quantity"]
                elif attribute == "purchasable_offer":
                    price = Decimal(str(value["our_price"][0]["schedule"][0]["value_with_tax"]))
                    listing.prices[value["marketplace_id"]] = (value.get("currency", ""), price)
                    if value["marketplace_id"] == UK_MARKETPLACE_ID:
                        listing.price = price
