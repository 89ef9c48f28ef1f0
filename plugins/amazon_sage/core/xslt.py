"""The Auto Mapper: apply an XSLT 1.0 mapping to an XML file, safely.

Any stylesheet may be used, so users can customise mappings. Both the input and the
stylesheet are parsed with entity resolution, DTD loading and network access off, and the
transform runs with every file and network access denied, so a hostile file cannot read
local files (XXE), call out, or write anywhere. Errors name the file and line.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from lxml import etree

from amazon_sage.core.files import atomic_output


class MappingError(Exception):
    """The input or the mapping is broken; the message gives file, line and cause."""


def secure_parser() -> etree.XMLParser:
    """An XML parser that never expands entities, loads DTDs or touches the network."""
    return etree.XMLParser(resolve_entities=False, load_dtd=False, no_network=True, dtd_validation=False,
                           huge_tree=True, remove_blank_text=False)


def _describe(log: etree._ListErrorLog, fallback_file: Path) -> str:
    """``file:line: message; message`` from libxslt's error log, which spreads one error over entries."""
    entries = list(log)
    located = next((e for e in entries if e.line and e.filename and e.filename != "<string>"), None)
    where = f"{located.filename}:{located.line}" if located else str(fallback_file)
    messages = "; ".join(dict.fromkeys(e.message for e in entries)) or "unknown error"
    return f"{where}: {messages}"


def parse_file(path: Path, what: str) -> etree._ElementTree:
    """Parse ``path`` securely; raise :class:`MappingError` naming the file and line."""
    if not path.is_file():
        raise MappingError(f"{what} {path} does not exist")
    try:
        return etree.parse(str(path), secure_parser())
    except etree.XMLSyntaxError as exc:
        line = exc.lineno if exc.lineno else "?"
        raise MappingError(f"{what} {path}:{line} is not well-formed XML: {exc.msg}") from None


def load_mapping(mapping: Path) -> etree.XSLT:
    """Compile an XSLT 1.0 stylesheet with all file and network access denied."""
    doc = parse_file(mapping, "Mapping")
    try:
        return etree.XSLT(doc, access_control=etree.XSLTAccessControl.DENY_ALL)
    except etree.XSLTParseError as exc:
        raise MappingError(f"Mapping {_describe(exc.error_log, mapping)}") from None


def apply_mapping(input_file: Path, mapping: Path, output_file: Path,
                  parameters: Mapping[str, str] | None = None) -> Path:
    """Transform ``input_file`` with ``mapping`` into ``output_file`` and return its path.

    ``parameters`` are passed as XSLT string parameters (``<xsl:param name="TaxRate"/>``).
    """
    transform = load_mapping(mapping)
    source = parse_file(input_file, "Input file")
    params = {name: etree.XSLT.strparam(str(value)) for name, value in (parameters or {}).items()}
    try:
        result = transform(source, **params)
    except etree.XSLTApplyError:
        raise MappingError(f"Mapping {mapping} failed on {input_file}: "
                           f"{_describe(transform.error_log, mapping)}") from None
    if result.getroot() is None:
        raise MappingError(f"Mapping {mapping} produced no XML document from {input_file}")
    with atomic_output(output_file) as tmp:
        result.write_output(str(tmp))
    return output_file


def _open_container(xf: Any, stack: ExitStack, record: etree._Element) -> None:
    """Open, in ``xf``, the ancestors of ``record`` (outermost first), with their attributes."""
    for ancestor in reversed(list(record.iterancestors())):
        stack.enter_context(xf.element(ancestor.tag, dict(ancestor.attrib), nsmap=ancestor.nsmap or None))


def apply_mapping_in_chunks(input_file: Path, mapping: Path, output_file: Path,
                            parameters: Mapping[str, str] | None = None, *, record: str,
                            output_records: str | tuple[str, ...], chunk_size: int = 1000) -> Path:
    """Apply a record-wise mapping ``chunk_size`` input records at a time, streaming the output.

    For mappings where each output record (``output_records``) depends only on its own input
    record (``record``) and the attributes of its ancestors, as the product's mappings do.
    Memory then stays flat whatever the file's size. The output keeps the
    container elements of the first chunk's result and every chunk's records, in order.
    A mapping that aggregates across records must use :func:`apply_mapping` instead.
    """
    transform = load_mapping(mapping)
    params = {name: etree.XSLT.strparam(str(value)) for name, value in (parameters or {}).items()}
    wanted = (output_records,) if isinstance(output_records, str) else tuple(output_records)
    if not input_file.is_file():
        raise MappingError(f"Input file {input_file} does not exist")
    path: list[tuple[str, dict[str, str]]] = []  # the records' ancestors, root first
    chunk: list[etree._Element] = []
    with atomic_output(output_file) as tmp, etree.xmlfile(str(tmp), encoding="utf-8") as xf, ExitStack() as stack:
        opened = False

        def flush() -> None:
            nonlocal opened
            source = container = etree.Element(*(path[0] if path else ("root", {})))
            for tag, attrib in path[1:]:
                container = etree.SubElement(container, tag, attrib)
            container.extend(chunk)
            try:
                result = transform(etree.ElementTree(source), **params)
            except etree.XSLTApplyError:
                raise MappingError(f"Mapping {mapping} failed on {input_file}: "
                                   f"{_describe(transform.error_log, mapping)}") from None
            records = [e for e in result.getroot().iter(*wanted)] if result.getroot() is not None else []
            if not opened and (records or not chunk):
                if not records:  # no records at all: the mapping's own answer to an empty input
                    xf.write(result.getroot())
                    opened = True
                    return
                xf.write_declaration()
                _open_container(xf, stack, records[0])
                opened = True
            for element in records:
                xf.write(element)
            chunk.clear()

        try:
            for _, first in etree.iterparse(str(input_file), events=("start",), resolve_entities=False,
                                            no_network=True, load_dtd=False, huge_tree=True):
                path = [(first.tag, dict(first.attrib))]  # the root, in case there are no records
                break
            tags: list[str] | None = None
            for _, element in etree.iterparse(str(input_file), events=("end",), tag=record, resolve_entities=False,
                                              no_network=True, load_dtd=False, huge_tree=True):
                ancestors = list(element.iterancestors())[::-1]
                if tags is None:
                    tags = [a.tag for a in ancestors]
                    path = [(a.tag, dict(a.attrib)) for a in ancestors]
                elif [a.tag for a in ancestors] != tags:
                    continue  # a same-named element elsewhere in the tree is not a record
                element.getparent().remove(element)  # a finished record leaves the parse tree
                chunk.append(element)
                if len(chunk) >= chunk_size:
                    flush()
        except etree.XMLSyntaxError as exc:
            raise MappingError(f"Input file {input_file}:{exc.lineno} is not well-formed XML: {exc.msg}") from None
        if chunk or not opened:
            flush()
    return output_file


def count_elements(path: Path, tags: str | tuple[str, ...], *, stop_at: int | None = None) -> int:
    """How many ``tags`` elements ``path`` holds (streaming; stops counting at ``stop_at``)."""
    count = 0
    try:
        for _, element in etree.iterparse(str(path), tag=tags, resolve_entities=False, no_network=True,
                                          load_dtd=False, huge_tree=True):
            count += 1
            element.clear()
            if stop_at is not None and count >= stop_at:
                break
    except etree.XMLSyntaxError as exc:
        raise MappingError(f"Input file {path}:{exc.lineno} is not well-formed XML: {exc.msg}") from None
    return count


def has_element(path: Path, tag: str) -> bool:
    """Whether ``path`` holds at least one ``tag`` element (stops at the first)."""
    return count_elements(path, tag, stop_at=1) > 0
