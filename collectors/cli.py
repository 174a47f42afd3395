"""``socbot collect`` and ``socbot parse``."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from core.config import Secrets, Settings
from core.process import stop_on_signals

SOURCES = ("secure", "cloudtrail", "door", "wifi")


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
    cloudtrail = sources.add_parser(
        "cloudtrail", help="read CloudTrail delivery files, or poll an SQS queue")
    where = cloudtrail.add_mutually_exclusive_group(required=False)
    where.add_argument("--path", nargs="+",
                       help="files or directories (.json, .json.gz, JSON Lines, arrays)")
    where.add_argument("--sqs", metavar="QUEUE_URL",
                       help="SQS queue fed by S3 notifications (raw or SNS), CloudTrail's SNS "
                            "topic or EventBridge (default: collectors.cloudtrail.sqs_queue_url)")
    cloudtrail.add_argument("--once", action="store_true",
                            help="with --sqs: stop when the queue is empty")

    parse = commands.add_parser("parse", help="print normalized events as JSON Lines (no Redis)")
    parse.set_defaults(handler=cmd_parse)
    parse.add_argument("--source", required=True, choices=SOURCES)
    parse.add_argument("paths", nargs="+", metavar="PATH")
    parse.add_argument("--summary", action="store_true",
                       help="print counts per action and outcome instead of events")
    parse.add_argument("--jobs", type=int, default=0, metavar="N",
                       help="secure: parse on N processes (default: one per CPU for files "
                            "over 16 MiB; output order is kept)")


def cmd_collect(args: argparse.Namespace, settings: Settings, secrets: Secrets) -> int:
    """``socbot collect secure|cloudtrail``."""
    from collectors.pipeline import collect_secure
    from core.redisconn import connect

    client = connect()
    if args.source == "secure":
        stats = collect_secure(client, Path(args.path), stop_on_signals(),
                               from_start=args.from_start, once=args.once)
    else:
        return _collect_cloudtrail(args, settings, client)
    print(f"socbot collect secure: {json.dumps(vars(stats))}", file=sys.stderr)
    return 0


def _collect_cloudtrail(args: argparse.Namespace, settings: Settings, client: Any) -> int:
    from collectors.pipeline import collect_cloudtrail

    config = settings.collectors.cloudtrail
    queue = args.sqs or (None if args.path else config.sqs_queue_url)
    if queue:
        import boto3

        from collectors.cloudtrail_sqs import collect_sqs

        stats = collect_sqs(client, boto3.client("sqs"), boto3.client("s3"), queue,
                            stop_on_signals(), once=args.once,
                            visibility_s=config.visibility_timeout_s,
                            dedup_ttl=config.dedup_window_s)
        print(f"socbot collect cloudtrail: {json.dumps(vars(stats))}", file=sys.stderr)
        return 0
    if not args.path:
        print("socbot collect cloudtrail: give --path FILE_OR_DIR... or --sqs QUEUE_URL (or set "
              "collectors.cloudtrail.sqs_queue_url in the configuration)", file=sys.stderr)
        return 2
    totals: dict[str, int] = {}
    for path in args.path:
        stats = collect_cloudtrail(client, Path(path), dedup_ttl=config.dedup_window_s)
        for name, value in vars(stats).items():
            totals[name] = totals.get(name, 0) + value
    print(f"socbot collect cloudtrail: {json.dumps(totals)}", file=sys.stderr)
    return 0


def cmd_parse(args: argparse.Namespace, settings: Settings, secrets: Secrets) -> int:
    """``socbot parse``: events as JSON Lines, or ``--summary`` counts; unparsed on stderr."""
    from collections import Counter

    from collectors.files import parse_secure_in_parallel, read_events
    from core.events import dumps

    paths = [Path(p) for p in args.paths]
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        print(f"socbot parse: no such file or directory: {', '.join(missing)}", file=sys.stderr)
        return 2
    counts: Counter[tuple[str, str]] = Counter()
    out = sys.stdout
    jobs = args.jobs or _default_jobs(args.source, paths)
    if jobs > 1 and args.source == "secure":
        totals = {"parsed": 0, "ignored": 0, "failed": 0}
        errors: Counter[str] = Counter()
        for chunk in parse_secure_in_parallel(paths, jobs, summary=args.summary):
            counts.update(chunk.summary)
            if chunk.lines:
                out.write("\n".join(chunk.lines) + "\n")
            totals["parsed"] += chunk.parsed
            totals["ignored"] += chunk.ignored
            totals["failed"] += chunk.failed
            errors.update(chunk.errors)
        report = (f"{totals['parsed']} events, {totals['ignored']} of no interest, "
                  f"{totals['failed']} unparsed")
        if errors:
            report += " (" + "; ".join(f"{n} x {e}" for e, n in errors.most_common(3)) + ")"
    else:
        result = read_events(args.source, paths)
        for event in result:
            if args.summary:
                counts[(event["event.action"], event["event.outcome"])] += 1
            else:
                out.write(dumps(event) + "\n")
        report = result.report()
    if args.summary:
        width = max((len(a) for a, _ in counts), default=6)
        out.write(f"{'action':<{width}}  {'outcome':<8}  count\n")
        for (action, outcome), count in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
            out.write(f"{action:<{width}}  {outcome:<8}  {count}\n")
    out.flush()
    print(report, file=sys.stderr)
    return 0


def _default_jobs(source: str, paths: list[Path]) -> int:
    if source != "secure":
        return 1
    size = sum(p.stat().st_size for p in paths if p.is_file())
    return (os.cpu_count() or 1) if size > 16 << 20 else 1
