"""``socbot intel refresh``: read the threat-intelligence feeds into Redis, once or on a
schedule (``--loop``, every ``detection.intel_refresh_s``). Detect workers pick the new table
up at their next batch.

Example::

    socbot intel refresh            # from cron
    socbot intel refresh --loop     # as a service
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # `socbot --help` imports this module: no pydantic or Redis at start-up
    from socbot.core.config import Secrets, Settings


def register(commands: Any) -> None:
    """Add ``intel refresh`` to the ``socbot`` subcommands."""
    intel = commands.add_parser(
        "intel", help="threat-intelligence feeds of known-bad addresses",
        description="Read detection.intel_feeds (plain lists, STIX 2 bundles from TAXII, MISP "
                    "CSV; files or https URLs) into Redis for the rule "
                    "correlation.threat_intel_address.")
    sub = intel.add_subparsers(dest="intel_command", metavar="ACTION")
    sub.required = True
    refresh = sub.add_parser("refresh", help="read every feed now (or every "
                                             "detection.intel_refresh_s with --loop)")
    refresh.add_argument("--loop", action="store_true",
                         help="keep refreshing until stopped (SIGTERM, Ctrl-C)")
    refresh.set_defaults(handler=cmd_refresh)


def cmd_refresh(args: argparse.Namespace, settings: Settings, secrets: Secrets) -> int:
    """``socbot intel refresh [--loop]``."""
    from socbot.core.process import stop_on_signals
    from socbot.core.redisconn import connect
    from socbot.enrichment.intel import refresh

    feeds = settings.detection.intel_feeds
    if not feeds:
        print("socbot intel refresh: no feeds; add detection.intel_feeds to the configuration "
              "(name, path or https url, format list|stix|misp)", file=sys.stderr)
        return 2
    client = connect()
    stop = stop_on_signals()
    while True:
        report = refresh(client, feeds)
        print(f"socbot intel refresh: {json.dumps(vars(report))}", file=sys.stderr)
        if not args.loop or stop.wait(settings.detection.intel_refresh_s):
            return 1 if report.failed and not report.entries else 0
