"""``socbot replay``: detection over files, for backtesting rules."""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

from core.config import Secrets, Settings

SOURCES = ("secure", "cloudtrail")


def register(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add the detection subcommands to the ``socbot`` parser."""
    replay = commands.add_parser("replay", help="run detection over files (backtesting)")
    replay.set_defaults(handler=cmd_replay)
    replay.add_argument("--source", required=True, choices=SOURCES)
    replay.add_argument("paths", nargs="+", metavar="PATH")
    replay.add_argument("--format", choices=("jsonl",), default="jsonl",
                        help="output format (default %(default)s)")


def cmd_replay(args: argparse.Namespace, settings: Settings, secrets: Secrets) -> int:
    """``socbot replay``: detection over files, signals and alerts as JSON Lines."""
    from bot.progress import Progress
    from collectors.files import read_events
    from core.alerts import AlertStore
    from core.redisconn import embedded
    from detections.engine import Engine
    from detections.rule import load_all

    out = sys.stdout
    with tempfile.TemporaryDirectory(prefix="socbot-replay-") as tmp:
        client = embedded(Path(tmp) / "redis.db")
        engine = Engine(client, load_all(), settings.rules)
        store = AlertStore(client)
        alert_ids: list[str] = []
        result = read_events(args.source, [Path(p) for p in args.paths])
        progress = Progress("replay", total_bytes=result.total_bytes)
        for event in result:
            for sig in engine.evaluate(event):
                alert_id, outcome = store.record(sig)
                if outcome == "new":
                    alert_ids.append(alert_id)
                out.write(json.dumps({"type": "signal", "alert_id": alert_id, **sig.to_dict()},
                                     default=str) + "\n")
            progress.update(result.bytes_read)
        progress.done()
        for alert_id in alert_ids:
            alert = store.get(alert_id)
            if alert is not None:
                out.write(json.dumps({"type": "alert", **alert.to_dict()}, default=str) + "\n")
        print(f"{result.report()}; {len(alert_ids)} alerts", file=sys.stderr)
        client.shutdown()
    return 0
