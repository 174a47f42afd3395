"""``socbot collect`` and ``socbot parse``."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from core.config import Secrets, Settings
from core.process import stop_on_signals

SOURCES = ("secure", "cloudtrail")


def register(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add the collector subcommands to the ``socbot`` parser."""
    collect = commands.add_parser("collect", help="forward a source's events to Redis")
    collect.set_defaults(handler=cmd_collect)
    sources = collect.add_subparsers(dest="source", metavar="SOURCE")
    sources.required = True
    secure = sources.add_parser("secure", help="tail /var/log/secure or auth.log")
    secure.add_argument("--path", required=True, help="the log file to follow")
    secure.add_argument("--from-start", action="store_true",
                        help="read a file never seen before from its start (default: its end)")
    secure.add_argument("--once", action="store_true", help="stop at the end of the file")
    cloudtrail = sources.add_parser("cloudtrail", help="read CloudTrail delivery files")
    cloudtrail.add_argument("--path", required=True, nargs="+",
                            help="files or directories (.json, .json.gz)")

    parse = commands.add_parser("parse", help="print normalized events as JSON Lines (no Redis)")
    parse.set_defaults(handler=cmd_parse)
    parse.add_argument("--source", required=True, choices=SOURCES)
    parse.add_argument("paths", nargs="+", metavar="PATH")
    parse.add_argument("--summary", action="store_true",
                       help="print counts per action and outcome instead of events")


def cmd_collect(args: argparse.Namespace, settings: Settings, secrets: Secrets) -> int:
    """``socbot collect secure|cloudtrail``."""
    from collectors.pipeline import collect_cloudtrail, collect_secure
    from core.redisconn import connect

    client = connect()
    if args.source == "secure":
        stats = collect_secure(client, Path(args.path), stop_on_signals(),
                               from_start=args.from_start, once=args.once)
    else:
        totals: dict[str, int] = {}
        for path in args.path:
            for name, value in vars(collect_cloudtrail(client, Path(path))).items():
                totals[name] = totals.get(name, 0) + value
        print(f"socbot collect cloudtrail: {json.dumps(totals)}", file=sys.stderr)
        return 0
    print(f"socbot collect secure: {json.dumps(vars(stats))}", file=sys.stderr)
    return 0


def cmd_parse(args: argparse.Namespace, settings: Settings, secrets: Secrets) -> int:
    """``socbot parse``."""
    from collectors.files import read_events
    from core.events import dumps

    counts: dict[tuple[str, str], int] = {}
    result = read_events(args.source, [Path(p) for p in args.paths])
    out = sys.stdout
    for event in result:
        if args.summary:
            key = (event["event.action"], event["event.outcome"])
            counts[key] = counts.get(key, 0) + 1
        else:
            out.write(dumps(event) + "\n")
    if args.summary:
        width = max((len(a) for a, _ in counts), default=6)
        out.write(f"{'action':<{width}}  {'outcome':<8}  count\n")
        for (action, outcome), count in sorted(counts.items(), key=lambda kv: -kv[1]):
            out.write(f"{action:<{width}}  {outcome:<8}  {count}\n")
    print(result.report(), file=sys.stderr)
    return 0
