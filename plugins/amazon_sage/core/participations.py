"""Check a connection's marketplaces against the seller's real participations (Sellers API).

Plain Python over ``getMarketplaceParticipations``' payload, so the set-up command and its
tests share one judgement of what is wrong and what to do about it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from amazon_sage.core.marketplaces import BY_ID, Marketplace


@dataclass(frozen=True)
class ParticipationCheck:
    rows: list[tuple[str, str, str, str]]  # (code, marketplace id, currency, state) for every listed marketplace
    problems: list[str]  # configured marketplaces the seller does not sell in: fix the connection
    warnings: list[str]  # worth knowing, not blocking


def check_participations(configured: list[Marketplace], payload: list[dict[str, Any]]) -> ParticipationCheck:
    """Every configured marketplace must be one the seller participates in; suspended listings are said too."""
    rows, problems, warnings, seen = [], [], [], {}
    for entry in payload:
        market, participation = entry.get("marketplace") or {}, entry.get("participation") or {}
        known = BY_ID.get(market.get("id", ""))
        code = known.code if known else market.get("countryCode", "?")
        state = "participating" if participation.get("isParticipating") else "not participating"
        if participation.get("hasSuspendedListings"):
            state += ", has suspended listings"
        rows.append((code, market.get("id", ""), market.get("defaultCurrencyCode", ""), state))
        seen[market.get("id", "")] = participation
    for marketplace in configured:
        participation = seen.get(marketplace.marketplace_id)
        if participation is None:
            problems.append(f"{marketplace.code} ({marketplace.marketplace_id}) is not among the seller's "
                            "marketplaces: remove it from the connection's marketplace list")
        elif not participation.get("isParticipating"):
            problems.append(f"{marketplace.code}: the seller does not sell there (isParticipating is false): "
                            "remove it from the connection's marketplace list or register in Seller Central")
        elif participation.get("hasSuspendedListings"):
            warnings.append(f"{marketplace.code}: the seller has suspended listings there; orders still download")
    return ParticipationCheck(rows, problems, warnings)
