"""Resolve a feed submission the upload could not resolve alone (it says when, and prints these commands).

    python -m amazon_sage.cli.feed_submissions show <journal>
    python -m amazon_sage.cli.feed_submissions adopt <journal> <document> <feed id>
    python -m amazon_sage.cli.feed_submissions release <journal> <document> [--not-ours ID,ID]

``<journal>`` is the run's ``amazon_<name>_feed_submissions.json``. ``adopt`` declares that
Amazon's feed ``<feed id>`` was made from ``<document>``: the next try waits on it. ``release``
declares that no feed was made from it (the listed feeds are someone else's and are recorded
so that no run takes them): the next try sends the document. Then clear the upload task.

Run it with the same environment as Airflow (``PYTHONPATH=plugins`` and the settings), so it
finds the same WORK_ROOT and its feed registry.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from pathlib import Path

from amazon_sage import settings
from amazon_sage.core.feeds.feed_registry import FeedRegistry, registry_path
from amazon_sage.core.feeds.submissions import ResolutionError, SubmissionJournal, adopt, release


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m amazon_sage.cli.feed_submissions",
                                     description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    showing = commands.add_parser("show", help="print the journal's entries")
    showing.add_argument("journal", type=Path)
    adopting = commands.add_parser("adopt", help="this feed was made from the document")
    adopting.add_argument("journal", type=Path)
    adopting.add_argument("document")
    adopting.add_argument("feed_id")
    releasing = commands.add_parser("release", help="no feed was made from the document: send it again")
    releasing.add_argument("journal", type=Path)
    releasing.add_argument("document")
    releasing.add_argument("--not-ours", default="", help="comma-separated feed ids that are not this product's")
    args = parser.parse_args(argv)

    if not args.journal.is_file():
        print(f"No journal at {args.journal}", file=sys.stderr)
        return 1
    journal = SubmissionJournal(args.journal)
    registry = FeedRegistry(registry_path(settings.work_root()))
    try:
        if args.command == "show":
            for name in json.loads(args.journal.read_text()):
                print(json.dumps(asdict(journal.get(name))))
        elif args.command == "adopt":
            adopt(journal, registry, args.document, args.feed_id)
            print(f"{args.document} is feed {args.feed_id}: clear the upload task to wait on it.")
        else:
            not_ours = [part.strip() for part in args.not_ours.split(",") if part.strip()]
            release(journal, registry, args.document, not_ours)
            print(f"{args.document} released: clear the upload task to send it.")
    except ResolutionError as exc:
        print(exc, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
