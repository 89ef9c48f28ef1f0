"""The one generic step from a mapping's XML output to JSON, so feed rules stay in the XSLT.

Rules (namespace ``urn:amazon-sage:json``, prefix ``json`` by convention):

* an element with child elements becomes an object of its children;
* an element without children becomes a string, or the type named by ``json:type``:
  ``integer``, ``number`` (a JSON number, exact decimal digits kept), ``boolean``, ``null``;
* ``json:array="true"`` on a child makes its name an array: every such child is one entry
  (so one entry still gives a one-item array);
* several children of the same name also make an array.

Example: ``<patches json:array="true"><op>merge</op></patches>`` -> ``{"patches": [{"op": "merge"}]}``.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from lxml import etree

JSON_NS = "urn:amazon-sage:json"
TYPE = f"{{{JSON_NS}}}type"
ARRAY = f"{{{JSON_NS}}}array"


class JsonConversionError(Exception):
    pass


def dumps_default(value: Any) -> Any:
    """``json.dumps(default=...)``: write ``json:type="number"`` Decimals as JSON numbers."""
    if isinstance(value, Decimal):
        return float(value) if value != value.to_integral_value() else int(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _leaf(element: etree._Element) -> Any:
    text = element.text or ""
    kind = element.get(TYPE, "string")
    try:
        if kind == "string":
            return text
        if kind == "integer":
            return int(text.strip())
        if kind == "number":
            return Decimal(text.strip())
        if kind == "boolean":
            if text.strip() not in {"true", "false"}:
                raise ValueError(text)
            return text.strip() == "true"
        if kind == "null":
            return None
    except (ValueError, InvalidOperation):
        raise JsonConversionError(f"<{element.tag}> line {element.sourceline}: {text!r} is not a valid {kind}") \
            from None
    raise JsonConversionError(f"<{element.tag}> line {element.sourceline}: unknown json:type {kind!r}")


def to_json(element: etree._Element) -> Any:
    """Convert ``element`` by the rules above."""
    children = list(element.iterchildren(etree.Element))  # elements only: no comments or PIs
    if not children:
        return _leaf(element)
    result: dict[str, Any] = {}
    for child in children:
        name = child.tag.rpartition("}")[2]  # the local name
        value = to_json(child)
        if child.get(ARRAY) == "true" or (name in result and isinstance(result[name], list)):
            result.setdefault(name, []).append(value)
        elif name in result:
            result[name] = [result[name], value]
        else:
            result[name] = value
    return result
