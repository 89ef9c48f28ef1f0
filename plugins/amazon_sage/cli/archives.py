"""List, search and restore run archives (what Zynk users needed the "Zip Search" add-on for), and make keys.

    python -m amazon_sage.cli.archives list [--dag amazon_orders_to_sage]
    python -m amazon_sage.cli.archives find 202-1234567-7654321     # an Amazon order id or a SKU
    python -m amazon_sage.cli.archives restore amazon_orders_to_sage <archive name> <folder>
    python -m amazon_sage.cli.archives new-key 2026-12              # a new archive key entry, id:base64
    python -m amazon_sage.cli.archives erase 202-1234567-7654321    # a buyer's erasure request: see below
    python -m amazon_sage.cli.archives erase 0a1b2c3d4@marketplace.amazon.co.uk   # the same, by buyer e-mail

Run it with the same environment as Airflow (``PYTHONPATH=plugins`` and the settings and
connections), so it reads the same ARCHIVE_DESTINATION, local or S3, and the same archive key
connection. ``list`` and ``find`` read the manifests stored beside the archives and need no key;
``restore`` decrypts. A missing or wrong key, or a damaged archive, ends with a message saying
which (exit status 2) and unpacks nothing.

``erase`` removes one buyer's data now, whatever PII_RETENTION_DAYS says, named by an Amazon order id or
by the buyer's e-mail (Amazon's relay address, any case; every archive still holding buyer data is
decrypted and read to find that buyer's orders): from every archive that names one of the orders (the
whole archive, as retention would: verified, atomic, the books kept) and from the buyer's records in the
run folders of the work root (a failed run's files, kept for a retry). It prints a line per change, and
per file it could not change with what to do about it (:mod:`amazon_sage.core.erasure`). Sage's own
copy of the name and address is the seller's to change in Sage.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from amazon_sage import settings
from amazon_sage.core.archive.encryption import ArchiveKeyError, new_key_entry
from amazon_sage.core.archive.run_archive import ArchiveError, find_archives, restore_archive
from amazon_sage.core.archive.stores import ArchiveStore
from amazon_sage.core.erasure import erase_buyer
from amazon_sage.hooks.archive_destination import archive_keyring, open_archive_store


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m amazon_sage.cli.archives", description=__doc__.splitlines()[0])
    parser.add_argument("--destination", help="override ARCHIVE_DESTINATION")
    commands = parser.add_subparsers(dest="command", required=True)
    listing = commands.add_parser("list", help="list archives, newest last")
    listing.add_argument("--dag")
    listing.add_argument("--run", help="a run id")
    finding = commands.add_parser("find", help="archives whose files mention an order id or SKU")
    finding.add_argument("record")
    finding.add_argument("--dag")
    restoring = commands.add_parser("restore", help="decrypt and unpack one archive into a folder")
    restoring.add_argument("dag")
    restoring.add_argument("archive", help="archive file name, as listed")
    restoring.add_argument("target", type=Path)
    new_key = commands.add_parser("new-key", help="print a new random archive key as id:base64, for the key "
                                                  "connection's password (put it first; keep the old keys after it)")
    new_key.add_argument("id", help="the key's id, e.g. the month it starts: 2026-12")
    erasing = commands.add_parser("erase", help="remove one buyer's data now from every archive and work folder")
    erasing.add_argument("buyer", help="an Amazon order id, or the buyer's e-mail")
    args = parser.parse_args(argv)

    try:
        if args.command == "new-key":
            print(new_key_entry(args.id))
            return 0
        store = open_archive_store(args.destination)
        if args.command == "erase":
            return _erase(store, args.buyer)
        if args.command == "restore":
            print(restore_archive(store, args.dag, Path(args.archive).name, args.target, archive_keyring))
            return 0
        found = find_archives(store, dag_id=args.dag, run_id=getattr(args, "run", None),
                              record=getattr(args, "record", None), keys=archive_keyring)
    except (ArchiveError, ArchiveKeyError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for entry in found:
        print(json.dumps(entry))
    return 0 if found or args.command == "list" else 1


def _erase(store: ArchiveStore, buyer: str) -> int:
    """Erase the buyer named by an order id or (anything with an ``@``) an e-mail; print each change."""
    by_email = "@" in buyer
    lines = erase_buyer(store, settings.work_root(), archive_keyring, order_id="" if by_email else buyer,
                        email=buyer if by_email else "")
    for line in lines or [f"nothing to change: no archive or run folder holds buyer data of {buyer}"]:
        print(line)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
