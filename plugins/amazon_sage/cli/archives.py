"""List, search and restore run archives (what Zynk users needed the "Zip Search" add-on for).

    python -m amazon_sage.cli.archives list [--dag amazon_orders_to_sage]
    python -m amazon_sage.cli.archives find 202-1234567-7654321     # an Amazon order id or a SKU
    python -m amazon_sage.cli.archives restore amazon_orders_to_sage <archive name> <folder>

Run it with the same environment as Airflow (``PYTHONPATH=plugins`` and the settings and
connections), so it reads the same ARCHIVE_DESTINATION, local or S3.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from amazon_sage.core.archive.run_archive import find_archives, restore_archive
from amazon_sage.hooks.archive_destination import open_archive_store


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
    restoring = commands.add_parser("restore", help="unpack one archive into a folder")
    restoring.add_argument("dag")
    restoring.add_argument("archive", help="archive file name, as listed")
    restoring.add_argument("target", type=Path)
    args = parser.parse_args(argv)

    store = open_archive_store(args.destination)
    if args.command == "restore":
        print(restore_archive(store, args.dag, Path(args.archive).name, args.target))
        return 0
    found = find_archives(store, dag_id=args.dag, run_id=getattr(args, "run", None),
                          record=getattr(args, "record", None))
    for entry in found:
        print(json.dumps(entry))
    return 0 if found or args.command == "list" else 1


if __name__ == "__main__":
    raise SystemExit(main())
