"""``keel feedback export``: reviewer decisions as comparison JSONL on stdout, each item once."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any

SettingsLoader = Callable[[str | None], Any]  # returns gateway Settings (uses .review and .home)


def add_commands(commands: Any, load_settings: SettingsLoader) -> None:
    """Register ``keel feedback ...`` on the ``keel`` subparsers."""
    feedback = commands.add_parser("feedback", help="reviewer feedback for training",
                                   description="Turn review-queue decisions into training data.")
    actions = feedback.add_subparsers(title="feedback commands", metavar="ACTION")
    export = actions.add_parser(
        "export", help="write comparisons (JSONL) for `keel align --stage reward --extra-data FILE`",
        description="Write decided review items as comparison records to stdout. Each item is exported once; "
                    "--all writes the already exported ones again.",
    )
    export.add_argument("--since", help="only items decided at or after this time (ISO 8601 or UNIX seconds)")
    export.add_argument("--all", action="store_true", help="include items exported before")
    export.add_argument("--tenant", help="only this tenant's items (default: every tenant)")
    export.add_argument("--config", help="YAML settings file")
    export.set_defaults(handler=lambda a: _export(a, load_settings(a.config)))


def _export(args: argparse.Namespace, settings: Any) -> int:
    from gateway.review.export import export, parse_since
    from gateway.review.store import ReviewStore

    since = parse_since(args.since) if args.since else None
    store = ReviewStore(settings.review.url(settings.home))
    try:
        store.migrate()
        items, records = export(store, sys.stdout, since, include_exported=args.all, tenant=args.tenant)
    finally:
        store.close()
    print(f"exported {records} comparisons from {items} decided items", file=sys.stderr)
    return 0
