"""Lay a Zynk Contact out as Sage 50 stores an address: five lines of 60 characters.

Sage's lines are Address 1, Address 2, Address 3 + Town, County, Postcode (Zynk's Contact
maps to them in that order). Text is moved deliberately rather than cut by Sage: an over-long line
spills, at a word boundary, into the next empty line, and Address 3 gives way to Town.
Only what still does not fit is cut, and the caller is told, so it can warn.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

from amazon_sage.core.sage.order_reader import Contact

LINE = 60
CONTACT_NAME = 30
TELEPHONE = 30


@dataclass
class SageAddress:
    name: str
    lines: list[str]
    contact_name: str
    telephone: str
    cut: list[str] = field(default_factory=list)


@lru_cache(maxsize=4096)  # the same names, codes and towns recur across a run's orders
def fit(text: str, width: int) -> str:
    """Cut ``text`` to ``width`` characters, at a word boundary when one is near."""
    text = " ".join(text.split())
    if len(text) <= width:
        return text
    head = text[:width]
    space = head.rfind(" ")
    return head[:space].rstrip(" ,") if space > width // 2 else head


def _split(text: str, width: int) -> tuple[str, str]:
    head = fit(text, width)
    return head, " ".join(text.split())[len(head):].strip(" ,")


def person_name(contact: Contact) -> str:
    return " ".join(part for part in (contact.forename, contact.surname) if part)


def layout(contact: Contact) -> SageAddress:
    """Return Sage's name, five address lines, contact name and telephone for ``contact``."""
    cut: list[str] = []
    street = [contact.address1, contact.address2, contact.address3]
    town = " ".join(contact.town.split())
    flowed: list[str] = []
    carry = ""
    for text in street:
        text = " ".join(f"{carry} {text}".split()) if carry else " ".join(text.split())
        head, carry = _split(text, LINE)
        flowed.append(head)
    # Address 3 shares its line with Town: Town stays whole, Address 3 gets what is left.
    room = LINE - len(town) - (2 if town else 0)
    line3_text = " ".join(f"{flowed[2]} {carry}".split())
    if not flowed[1] and line3_text:
        head, line3_text = _split(line3_text, LINE)
        flowed[1] = head
    line3_head, rest = _split(line3_text, max(room, 0)) if line3_text else ("", "")
    if rest:
        cut.append("address")
    line3 = ", ".join(part for part in (line3_head, town) if part)
    if len(line3) > LINE:
        cut.append("town")
        line3 = fit(line3, LINE)
    name = contact.company or person_name(contact)
    if len(" ".join(name.split())) > LINE:
        cut.append("name")
    contact_name = person_name(contact) or contact.company
    return SageAddress(
        name=fit(name, LINE),
        lines=[flowed[0], flowed[1], line3, fit(contact.county, LINE), fit(contact.postcode, LINE)],
        contact_name=fit(contact_name, CONTACT_NAME),
        telephone=fit(contact.telephone, TELEPHONE),
        cut=cut,
    )
