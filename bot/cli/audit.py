"""``socbot audit tail`` and ``socbot audit export``: read the audit stream.

Stream ids are the times entries were written (ms), so a time range is an id range. Output is
JSON Lines (one entry per line, with its ``id`` and an ISO ``@timestamp``) or CSV.

Example::

    socbot audit tail -n 50 --follow
    socbot audit export --since 7d --format csv --output audit.csv
"""

from __future__ import annotations

import argparse
import csv
import json
import re
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TextIO

# Imported by `socbot --help`: Redis and the audit module load when a command runs.
if TYPE_CHECKING:
    import redis

    from socbot.core.streams import Fields

COLUMNS = ("id", "@timestamp", "who", "what", "alert_id", "action_id", "result")
_RELATIVE = re.compile(r"(\d+)([smhd])")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_time(text: str, now: float | None = None) -> float:
    """Epoch seconds from ``2026-11-23T10:00:00Z``, ``2026-11-23``, ``1763892000`` or an age
    such as ``90m``, ``24h``, ``7d``."""
    text = text.strip()
    now = time.time() if now is None else now
    relative = _RELATIVE.fullmatch(text)
    if relative:
        return now - int(relative.group(1)) * _UNITS[relative.group(2)]
    try:
        return float(text)
    except ValueError:
        pass
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"{text!r} is not a time: write 2026-11-23T10:00:00Z, 2026-11-23, "
                         "epoch seconds, or an age such as 24h or 7d") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()


def entry(entry_id: str, fields: Fields) -> dict[str, str]:
    """One stream entry as a flat dict with its id and ``@timestamp``."""
    from socbot.core.audit import iso

    at = float(fields.get("at") or int(entry_id.split("-")[0]) / 1000)
    return {"id": entry_id, "@timestamp": iso(at), **fields}


def read(client: redis.Redis, since: float | None = None, until: float | None = None,
         page: int = 1000) -> Iterator[dict[str, str]]:
    """Entries written between ``since`` and ``until`` (epoch s), oldest first."""
    from socbot.core.streams import AUDIT, entries

    low = f"{int(since * 1000)}-0" if since is not None else "-"
    high = f"{int(until * 1000)}-18446744073709551615" if until is not None else "+"
    while True:
        rows = entries(client.xrange(AUDIT, min=low, max=high, count=page))
        for entry_id, fields in rows:
            yield entry(entry_id, fields)
        if len(rows) < page:
            return
        low = "(" + rows[-1][0]


def last(client: redis.Redis, count: int) -> list[dict[str, str]]:
    """The newest ``count`` entries, oldest first."""
    from socbot.core.streams import AUDIT, entries

    if count <= 0:
        return []
    rows = entries(client.xrevrange(AUDIT, count=count))
    return [entry(i, f) for i, f in reversed(rows)]


def tail(client: redis.Redis, out: TextIO, *, count: int = 20, follow: bool = False,
         stop: threading.Event | None = None, block_ms: int = 1000) -> int:
    """Print the newest ``count`` entries; with ``follow``, keep printing new ones until
    ``stop`` is set. Returns how many were printed."""
    from socbot.core.streams import AUDIT, entries, read_reply

    printed = 0
    newest = "$"
    for item in last(client, count):
        _jsonl(out, item)
        newest = item["id"]
        printed += 1
    if newest == "$":
        latest = entries(client.xrevrange(AUDIT, count=1))
        newest = latest[0][0] if latest else "0-0"
    stop = stop or threading.Event()
    while follow and not stop.is_set():
        reply = client.xread({AUDIT: newest}, block=block_ms, count=100)
        for _stream, rows in read_reply(reply):
            for entry_id, fields in rows:
                _jsonl(out, entry(entry_id, fields))
                newest = entry_id
                printed += 1
    return printed


def export(client: redis.Redis, out: TextIO, *, since: float | None = None,
           until: float | None = None, fmt: str = "jsonl") -> int:
    """Write entries between ``since`` and ``until`` as JSON Lines or CSV; return how many."""
    count = 0
    if fmt == "csv":
        writer = csv.DictWriter(out, fieldnames=COLUMNS, extrasaction="ignore")
        writer.writeheader()
        for item in read(client, since, until):
            writer.writerow({k: _cell(item.get(k, "")) for k in COLUMNS})
            count += 1
    else:
        for item in read(client, since, until):
            _jsonl(out, item)
            count += 1
    return count


def _cell(value: str) -> str:
    # A cell starting with = + - @ is a formula to spreadsheet programs; audit text can hold
    # a user's words, so it is neutralised (OWASP "CSV injection").
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def _jsonl(out: TextIO, item: dict[str, str]) -> None:
    out.write(json.dumps(item, ensure_ascii=False) + "\n")
    out.flush()


# --- command line --------------------------------------------------------------------------


def register(commands: Any) -> None:
    """Add ``audit tail`` and ``audit export`` to the ``socbot`` subcommands."""
    audit = commands.add_parser("audit", help="read the audit trail (tail, export)",
                                description="Read the audit stream ({soc}:audit).")
    sub = audit.add_subparsers(dest="audit_command", metavar="ACTION")
    sub.required = True
    tail_cmd = sub.add_parser("tail", help="the newest entries; --follow for new ones")
    tail_cmd.add_argument("-n", "--lines", type=int, default=20, help="how many (default 20)")
    tail_cmd.add_argument("-f", "--follow", action="store_true", help="keep printing new entries")
    tail_cmd.set_defaults(handler=cmd_tail)
    export_cmd = sub.add_parser("export", help="entries in a time range, as JSON Lines or CSV")
    export_cmd.add_argument("--since", help="start: ISO time, epoch seconds or an age (7d)")
    export_cmd.add_argument("--until", help="end: ISO time, epoch seconds or an age")
    export_cmd.add_argument("--format", choices=("jsonl", "csv"), default="jsonl")
    export_cmd.add_argument("--output", metavar="FILE", help="write here instead of stdout")
    export_cmd.set_defaults(handler=cmd_export)


def cmd_tail(args: argparse.Namespace, settings: Any, secrets: Any) -> int:
    """``socbot audit tail``."""
    from socbot.core.process import stop_on_signals
    from socbot.core.redisconn import connect

    stop = stop_on_signals() if args.follow else None
    tail(connect(), sys.stdout, count=max(args.lines, 0), follow=args.follow, stop=stop)
    return 0


def cmd_export(args: argparse.Namespace, settings: Any, secrets: Any) -> int:
    """``socbot audit export``."""
    from socbot.core.redisconn import connect

    try:
        since = parse_time(args.since) if args.since else None
        until = parse_time(args.until) if args.until else None
    except ValueError as exc:
        print(f"socbot audit export: {exc}", file=sys.stderr)
        return 2
    client = connect()
    if args.output:
        with open(args.output, "w", encoding="utf-8", newline="") as out:
            count = export(client, out, since=since, until=until, fmt=args.format)
    else:
        count = export(client, sys.stdout, since=since, until=until, fmt=args.format)
    print(f"socbot audit export: {count} entries", file=sys.stderr)
    return 0
