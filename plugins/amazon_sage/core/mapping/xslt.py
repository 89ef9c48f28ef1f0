"""The Auto Mapper: apply an XSLT 1.0 mapping to an XML file, safely.

Any stylesheet may be used, so users can customise mappings. Both the input and the
stylesheet are parsed with entity resolution, DTD loading and network access off, and the
transform runs with every file and network access denied, so a hostile file cannot read
local files (XXE), call out, or write anywhere. Errors name the file and line.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from lxml import etree

from amazon_sage.core.files import atomic_output
from amazon_sage.core.xml_files import XmlFileError, iterparse_xml_file, parse_xml_file


class MappingError(XmlFileError):
    """The mapping is broken or failed on its input; the message gives file, line and cause."""


def describe_error_log(log: etree._ListErrorLog, fallback_file: Path) -> str:
    """``file:line: message; message`` from libxslt's error log, which spreads one error over entries."""
    entries = list(log)
    located = next((e for e in entries if e.line and e.filename and e.filename != "<string>"), None)
    where = f"{located.filename}:{located.line}" if located else str(fallback_file)
    messages = "; ".join(dict.fromkeys(e.message for e in entries)) or "unknown error"
    return f"{where}: {messages}"


def load_mapping(mapping: Path) -> etree.XSLT:
    """Compile an XSLT 1.0 stylesheet with all file and network access denied."""
    doc = parse_xml_file(mapping, "Mapping")
    try:
        return etree.XSLT(doc, access_control=etree.XSLTAccessControl.DENY_ALL)
    except etree.XSLTParseError as exc:
        raise MappingError(f"Mapping {describe_error_log(exc.error_log, mapping)}") from None


def string_parameters(parameters: Mapping[str, str] | None) -> dict[str, str]:
    """``parameters`` as XSLT string parameters (quoted, so any text is passed literally)."""
    return {name: etree.XSLT.strparam(str(value)) for name, value in (parameters or {}).items()}


def apply_mapping(input_file: Path, mapping: Path, output_file: Path,
                  parameters: Mapping[str, str] | None = None) -> Path:
    """Transform ``input_file`` with ``mapping`` into ``output_file`` and return its path.

    ``parameters`` are passed as XSLT string parameters (``<xsl:param name="TaxRate"/>``).
    """
    transform = load_mapping(mapping)
    source = parse_xml_file(input_file, "Input file")
    params = string_parameters(parameters)
    try:
        result = transform(source, **params)
    except etree.XSLTApplyError:
        raise MappingError(f"Mapping {mapping} failed on {input_file}: "
                           f"{describe_error_log(transform.error_log, mapping)}") from None
    if result.getroot() is None:
        raise MappingError(f"Mapping {mapping} produced no XML document from {input_file}")
    with atomic_output(output_file) as tmp:
        result.write_output(str(tmp))
    return output_file


def count_elements(path: Path, tags: str | tuple[str, ...], *, stop_at: int | None = None) -> int:
    """How many ``tags`` elements ``path`` holds (streaming; stops counting at ``stop_at``)."""
    count = 0
    for _, element in iterparse_xml_file(path, tag=tags):
        count += 1
        element.clear()
        if stop_at is not None and count >= stop_at:
            break
    return count


def has_element(path: Path, tag: str) -> bool:
    """Whether ``path`` holds at least one ``tag`` element (stops at the first)."""
    return count_elements(path, tag, stop_at=1) > 0
