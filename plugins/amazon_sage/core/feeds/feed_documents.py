"""Build JSON_LISTINGS_FEED documents from a mapping's output, validated and split at 25,000 messages.

The mapping (XSLT) writes ``<Feed>`` holding ``<message>`` elements in the generic XML form
of :mod:`amazon_sage.core.feeds.xml_json`, and ``<rejected sku="...">reason</rejected>`` for records
it refuses (a price of zero, say). This module adds what is not a business rule: the header
(``sellerId`` from the connection, ``version`` 2.0), a unique ``messageId`` per message, the
split into documents of at most 25,000 messages, and validation of every document against
Amazon's ``listings-feed-schema-v2.json`` before anything is uploaded.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import fastjsonschema
import jsonschema

from amazon_sage.core.feeds.xml_json import JsonConversionError, dumps_default, to_json
from amazon_sage.core.files import atomic_output
from amazon_sage.core.mapping.xslt import MappingError
from amazon_sage.core.xml_files import iterparse_xml_file

# Amazon's schema ships inside the package (amazon_schemas/README.md names its source).
SCHEMAS = Path(__file__).resolve().parent / "amazon_schemas"
SCHEMA = SCHEMAS / "listings-feed-schema-v2.json"
MAX_MESSAGES = 25_000
CONTENT_TYPE = "application/json; charset=UTF-8"


class FeedValidationError(Exception):
    """A document breaks Amazon's schema; nothing was uploaded."""


@dataclass
class FeedBuild:
    documents: list[Path] = field(default_factory=list)
    messages: int = 0
    rejected: list[tuple[str, str]] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # not sent on purpose (FBA SKUs), with the reason


@cache
def _validator() -> jsonschema.Draft7Validator:
    return jsonschema.Draft7Validator(json.loads(SCHEMA.read_text()))


@dataclass(frozen=True)
class _FastChecks:
    """The schema compiled to Python by fastjsonschema: the quick yes; jsonschema explains a no.

    Amazon's message schema is a ``oneOf`` of branches told apart by a ``const`` operationType,
    so a message matches exactly one branch if and only if it matches the branch of its own
    operationType. Checking that branch alone is the same check as the ``oneOf``, without first
    trying (and failing, by exception) the other three for every message.
    """

    document: Any  # everything but the messages' own content
    message_by_operation: dict[str, Any]


@cache
def _fast_checks() -> _FastChecks:
    # use_default=False: fastjsonschema would otherwise write the schema's defaults into the document.
    schema = json.loads(SCHEMA.read_text())
    messages = schema["properties"]["messages"]
    message = messages["items"]
    branches = message.get("oneOf") or []
    operations = [branch.get("properties", {}).get("operationType", {}).get("const") for branch in branches]
    if not branches or None in operations:  # not told apart by operationType: check by the whole schema
        return _FastChecks(fastjsonschema.compile(schema, use_default=False), {})
    base = {key: value for key, value in message.items() if key != "oneOf"}
    by_operation = {operation: fastjsonschema.compile({**base, "allOf": [branch]}, use_default=False)
                    for operation, branch in zip(operations, branches, strict=True)}
    document = {**schema, "properties": {**schema["properties"], "messages": {**messages, "items": {}}}}
    return _FastChecks(fastjsonschema.compile(document, use_default=False), by_operation)


def _passes_fast_checks(document: dict[str, Any]) -> bool:
    checks = _fast_checks()
    try:
        checks.document(document)
        if checks.message_by_operation:
            for message in document["messages"]:
                checks.message_by_operation[message["operationType"]](message)
    except (fastjsonschema.JsonSchemaException, KeyError, TypeError):
        return False  # an unknown or missing operationType is a KeyError or TypeError here
    return True


def _most_telling(errors: list[jsonschema.ValidationError]) -> jsonschema.ValidationError | None:
    """The error a person can act on: a plain one first; inside a ``oneOf``, the branch for the
    message's own operationType (the one without a ``const`` mismatch)."""
    plain = [e for e in errors if e.validator != "oneOf"]
    if plain or not errors:
        return min(plain, key=lambda e: list(e.absolute_path), default=None)
    branches: dict[Any, list[jsonschema.ValidationError]] = {}
    for error in errors[0].context:
        branches.setdefault(error.relative_schema_path[0], []).append(error)
    chosen = min(branches.values(), key=lambda found: (any(e.validator == "const" for e in found), len(found)))
    return chosen[0]


def validate_document(document: dict[str, Any], name: str) -> None:
    """Raise :class:`FeedValidationError` with the most telling schema error, naming message and SKU."""
    if _passes_fast_checks(document):
        return
    error = _most_telling(list(_validator().iter_errors(document)))
    if error is None:
        return
    path = list(error.absolute_path)
    detail = ""
    if len(path) >= 2 and path[0] == "messages":
        message = document["messages"][path[1]]
        detail = f" (messageId {message.get('messageId')}, sku {message.get('sku')!r})"
    raise FeedValidationError(f"{name} breaks Amazon's JSON_LISTINGS_FEED schema at /{'/'.join(map(str, path))}"
                              f"{detail}: {error.message[:200]}. Fix the mapping; nothing was uploaded.")


def built_documents(out_dir: Path, stem: str) -> list[Path]:
    """The documents an earlier :func:`build_feed_documents` wrote into ``out_dir`` (``<stem>_NNN.json``), in order."""
    return sorted(out_dir.glob(f"{stem}_[0-9][0-9][0-9].json"))


def _iter_mapped(path: Path) -> Iterator[tuple[str, Any]]:
    for _, element in iterparse_xml_file(path, "Mapped file", events=("end",), tag=("message", "rejected",
                                                                                     "skipped")):
        if element.tag == "message":
            try:
                message = to_json(element)
            except JsonConversionError as exc:
                raise MappingError(f"Mapped file {path}: {exc}") from None
            yield "message", message
        else:
            yield element.tag, (element.get("sku") or "", (element.text or "").strip())
        element.clear()
        while element.getprevious() is not None:
            del element.getparent()[0]


def build_feed_documents(mapped: Path, *, seller_id: str, out_dir: Path, stem: str,
                         max_messages: int = MAX_MESSAGES) -> FeedBuild:
    """Write ``<stem>_001.json``... into ``out_dir``; every document is schema-valid or nothing is written."""
    build = FeedBuild()
    chunk: list[dict[str, Any]] = []

    def flush() -> None:
        path = out_dir / f"{stem}_{len(build.documents) + 1:03d}.json"
        document = {"header": {"sellerId": seller_id, "version": "2.0", "issueLocale": "en_GB"}, "messages": chunk}
        validate_document(document, path.name)
        with atomic_output(path) as tmp:
            tmp.write_text(json.dumps(document, ensure_ascii=False, default=dumps_default), encoding="utf-8")
        build.documents.append(path)
        chunk.clear()

    try:
        for kind, value in _iter_mapped(mapped):
            if kind == "rejected":
                build.rejected.append(value)
                continue
            if kind == "skipped":
                build.skipped.append(value)
                continue
            if not isinstance(value, dict):
                raise MappingError(f"Mapped file {mapped}: a <message> must hold elements, not text")
            build.messages += 1
            chunk.append({"messageId": build.messages, **value})
            if len(chunk) == max_messages:
                flush()
        if chunk:
            flush()
    except BaseException:
        for path in build.documents:  # all or nothing: no half set of documents is left to upload
            path.unlink(missing_ok=True)
        raise
    return build
