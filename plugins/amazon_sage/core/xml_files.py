"""Reading XML files safely: the one place that sets the parser's protections and names a broken file.

Every XML file the product reads (downloads, mappings, Zynk files, feed output) may come from
outside, so each is parsed with entity expansion, DTD loading and network access off. A file
that is missing or not well-formed raises :class:`XmlFileError`, whose message names the file,
the line and the cause, so the seller knows what to fix.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from lxml import etree

# Entities are left unexpanded, DTDs unread and the network untouched (no XXE, no billion laughs).
SAFE_OPTIONS: dict[str, Any] = {"resolve_entities": False, "load_dtd": False, "no_network": True,
                                "huge_tree": True}


READ_BLOCK = 1 << 20


class XmlFileError(Exception):
    """An XML file is missing or not well-formed; the message gives file, line and cause."""


def secure_parser() -> etree.XMLParser:
    """A tree parser with :data:`SAFE_OPTIONS`, keeping whitespace as written."""
    return etree.XMLParser(**SAFE_OPTIONS, dtd_validation=False, remove_blank_text=False)


def not_well_formed(path: Path | str, exc: etree.XMLSyntaxError, what: str = "Input file") -> XmlFileError:
    """The error for a file that lxml could not parse, naming ``what`` it is and where it broke."""
    return XmlFileError(f"{what} {path}:{exc.lineno or '?'} is not well-formed XML: {exc.msg}")


def require_file(path: Path, what: str = "Input file") -> None:
    if not path.is_file():
        raise XmlFileError(f"{what} {path} does not exist")


def parse_xml_file(path: Path, what: str = "Input file") -> etree._ElementTree:
    """The whole document at ``path``, parsed safely; :class:`XmlFileError` when missing or broken."""
    require_file(path, what)
    try:
        return etree.parse(str(path), secure_parser())
    except etree.XMLSyntaxError as exc:
        raise not_well_formed(path, exc, what) from None


class _NoTree:
    """A parser target that keeps nothing: libxml2 checks the document, and no Python runs per element."""

    def close(self) -> None:
        return None


def check_well_formed(path: Path, what: str = "Input file") -> None:
    """Raise :class:`XmlFileError` unless the whole of ``path`` is well-formed XML.

    One streaming pass that builds no tree (about 0.1 s for 20 MB here), so a phase can refuse a
    broken file before it writes anything, rather than half-way through.
    """
    require_file(path, what)
    parser = etree.XMLParser(target=_NoTree(), **SAFE_OPTIONS)
    try:
        with path.open("rb") as handle:
            while block := handle.read(READ_BLOCK):
                parser.feed(block)
        parser.close()
    except etree.XMLSyntaxError as exc:
        raise not_well_formed(path, exc, what) from None


def root_tag(path: Path, what: str = "Input file") -> str:
    """The name of the document element of ``path`` (read from the start of the file only)."""
    for _, element in iterparse_xml_file(path, what, events=("start",)):
        return element.tag
    raise XmlFileError(f"{what} {path} has no root element")


def iterparse_xml_file(path: Path, what: str = "Input file", **options: Any) -> Iterator[tuple[str, Any]]:
    """``lxml.etree.iterparse`` over ``path`` with :data:`SAFE_OPTIONS`; ``options`` add events, tags.

    A parse error, wherever it happens in the stream, raises :class:`XmlFileError`.
    """
    require_file(path, what)
    try:
        yield from etree.iterparse(str(path), **SAFE_OPTIONS, **options)
    except etree.XMLSyntaxError as exc:
        raise not_well_formed(path, exc, what) from None
