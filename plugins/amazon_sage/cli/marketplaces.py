"""Show the seller's marketplaces and check the connection's list against them.

    python -m amazon_sage.cli.marketplaces [--conn-id amazon_sp_api_default]

Prints every marketplace Amazon's Sellers API lists for the seller, with its currency and
whether the seller participates, then checks the connection's ``marketplace`` list against it.
Exits 1 when a configured marketplace is not one the seller sells in.
"""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    from amazon_sage import settings
    from amazon_sage.core.participations import check_participations
    from amazon_sage.hooks.selling_partner import SellingPartnerHook

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--conn-id", default=settings.get("SP_API_CONN_ID"))
    args = parser.parse_args(argv)
    hook = SellingPartnerHook(args.conn_id)
    check = check_participations(hook.marketplaces, hook.marketplace_participations())
    configured = {m.marketplace_id for m in hook.marketplaces}
    print(f"Marketplaces of the seller (connection {args.conn_id}; * = in its marketplace list):")
    for code, marketplace_id, currency, state in check.rows:
        print(f"  {'*' if marketplace_id in configured else ' '} {code:<3} {marketplace_id:<15} {currency:<4} {state}")
    for problem in check.problems:
        print(f"PROBLEM: {problem}")
    for warning in check.warnings:
        print(f"NOTE: {warning}")
    if not check.problems:
        print(f"OK: {', '.join(m.code for m in hook.marketplaces)}: the seller sells in each.")
    return 1 if check.problems else 0


if __name__ == "__main__":
    sys.exit(main())
