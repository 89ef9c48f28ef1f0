"""Sage tax codes come as ``'T1'`` (ODBC) or ``1`` (Zynk XML, SDO); convert in one place."""

from __future__ import annotations


def tax_code_id(code: str | int) -> int:
    """``'T1'``, ``'t1'``, ``'1'`` or ``1`` -> ``1``; raise ValueError outside 0..99."""
    text = str(code).strip().upper()
    number = int(text[1:] if text.startswith("T") else text)
    if not 0 <= number <= 99:
        raise ValueError(f"tax code {code!r} is outside T0..T99")
    return number


def tax_code_name(code: str | int) -> str:
    """``1`` or ``'T1'`` -> ``'T1'``."""
    return f"T{tax_code_id(code)}"
