"""The ``socbot`` command line.

Every subcommand is a thin layer over the library; ``socbot --help`` and README.md list them.
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import tempfile
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from core.config import ConfigError, Secrets, Settings, load

log = logging.getLogger("socbot")

SAMPLES = Path(__file__).resolve().parent / "samples"
SOURCES = ("secure", "cloudtrail")

EPILOG = """\
environment:
  SOCBOT_CONFIG         YAML configuration file (see README: Configuration reference)
  REDIS_URL             Redis server; unset: an embedded Redis under the state directory
  SLACK_BOT_TOKEN       xoxb-... bot token; unset: alerts are written to the terminal
  SLACK_APP_TOKEN       xapp-... app-level token: Socket Mode (no public URL needed)
  SLACK_SIGNING_SECRET  HTTP mode: verifies that requests come from Slack
  SOCBOT_AWS_EXTERNAL_ID  ExternalId for the remediation role (aws.role_name)

first run:  socbot run --demo
"""


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (also used to render the README's command list)."""
    parser = argparse.ArgumentParser(
        prog="socbot", formatter_class=argparse.RawDescriptionHelpFormatter, epilog=EPILOG,
        description="Security operations bot: collect events, detect, alert in Slack, "
                    "remediate on AWS with approval.")
    parser.add_argument("-v", "--verbose", action="count", default=0,
                        help="more log output (-vv for debug)")
    parser.add_argument("--config", metavar="FILE",
                        help="configuration file (default: $SOCBOT_CONFIG; none: defaults)")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.required = True

    run = commands.add_parser("run", help="run the bot (all stages, or one with --role)",
                              description="Run the bot's stages in this process.")
    run.add_argument("--role", action="append", choices=("detect", "notify", "respond", "slack"),
                     help="run only this stage (repeatable); default: all")
    run.add_argument("--listen", default="0.0.0.0:3000", metavar="HOST:PORT",
                     help="HTTP mode address for Slack requests (default %(default)s)")
    run.add_argument("--demo", action="store_true",
                     help="feed the bundled sample log and CloudTrail file through a fresh "
                          "embedded Redis, print the alerts, and exit")

    collect = commands.add_parser("collect", help="forward a source's events to Redis")
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
    parse.add_argument("--source", required=True, choices=SOURCES)
    parse.add_argument("paths", nargs="+", metavar="PATH")
    parse.add_argument("--summary", action="store_true",
                       help="print counts per action and outcome instead of events")

    replay = commands.add_parser("replay", help="run detection over files (backtesting)")
    replay.add_argument("--source", required=True, choices=SOURCES)
    replay.add_argument("paths", nargs="+", metavar="PATH")
    replay.add_argument("--format", choices=("jsonl",), default="jsonl",
                        help="output format (default %(default)s)")

    playbooks = commands.add_parser("playbooks", help="list the remediation playbooks")
    playbooks.add_argument("action", choices=("list",))

    config = commands.add_parser("config", help="validate the configuration file")
    config.add_argument("action", choices=("check",))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``socbot`` console script."""
    args = build_parser().parse_args(argv)
    level = (logging.WARNING, logging.INFO, logging.DEBUG)[min(args.verbose, 2)]
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        settings = load(args.config)
        secrets = Secrets.from_env()
        secrets.check_slack()
        handler = globals()[f"cmd_{args.command}"]
        return int(handler(args, settings, secrets) or 0)
    except ConfigError as exc:
        print(f"socbot: configuration error:\n{exc}", file=sys.stderr)
        return 2
    except ConnectionError as exc:
        print(f"socbot: {exc}", file=sys.stderr)
        return 3
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0


def _stop_on_signals() -> threading.Event:
    stop = threading.Event()

    def handle(signum: int, frame: Any) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, handle)
    signal.signal(signal.SIGINT, handle)
    return stop


def cmd_run(args: argparse.Namespace, settings: Settings, secrets: Secrets) -> int:
    """``socbot run``."""
    from bot.runtime import ROLES, Runtime
    from core.redisconn import connect

    roles = tuple(args.role) if args.role else ROLES
    host, _, port = args.listen.rpartition(":")
    if args.demo:
        return _demo(settings, secrets if secrets.slack_enabled else Secrets())
    client = connect()
    runtime = Runtime(client, settings, secrets, roles=roles, listen=(host, int(port)))
    runtime.stop = _stop_on_signals()
    runtime.build().start()
    where = "Slack" if secrets.slack_enabled else "this terminal"
    print(f"socbot: running {', '.join(roles)}; alerts go to {where}. Ctrl-C stops.",
          file=sys.stderr)
    runtime.stop.wait()
    runtime.close()
    return 0


def _demo(settings: Settings, secrets: Secrets) -> int:
    from bot.runtime import Runtime
    from collectors.pipeline import collect_cloudtrail, collect_secure
    from core.alerts import AlertStore
    from core.redisconn import embedded

    with tempfile.TemporaryDirectory(prefix="socbot-demo-") as tmp:
        client = embedded(Path(tmp) / "redis.db")
        # The demo talks to a person: everything on stdout, in order.
        print("socbot demo: a fresh embedded Redis; the bundled samples "
              f"{SAMPLES / 'secure.log'} and {SAMPLES / 'cloudtrail.json'} go through the "
              "collectors, the detection rules and the terminal notifier.\n", flush=True)
        runtime = Runtime(client, settings, secrets, roles=("detect", "notify", "respond"))
        runtime.build().start()
        secure = collect_secure(client, SAMPLES / "secure.log", threading.Event(),
                                from_start=True, once=True)
        trail = collect_cloudtrail(client, SAMPLES / "cloudtrail.json")
        runtime.wait_idle(timeout=30)
        runtime.close()
        alerts = len(AlertStore(client).open_alerts())
        print(f"socbot demo: {secure.sent + trail.sent} events collected ({secure.sent} log "
              f"lines, {trail.sent} CloudTrail records), {alerts} alerts. With SLACK_BOT_TOKEN "
              "and SLACK_APP_TOKEN set, alerts go to Slack with buttons; see README.md.",
              flush=True)
        client.shutdown()
    return 0


def cmd_collect(args: argparse.Namespace, settings: Settings, secrets: Secrets) -> int:
    """``socbot collect secure|cloudtrail``."""
    from collectors.pipeline import collect_cloudtrail, collect_secure
    from core.redisconn import connect

    client = connect()
    if args.source == "secure":
        stats = collect_secure(client, Path(args.path), _stop_on_signals(),
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
    from bot.sources import read_events
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


def cmd_replay(args: argparse.Namespace, settings: Settings, secrets: Secrets) -> int:
    """``socbot replay``: detection over files, signals and alerts as JSON Lines."""
    from bot.progress import Progress
    from bot.sources import read_events
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


def cmd_playbooks(args: argparse.Namespace, settings: Settings, secrets: Secrets) -> int:
    """``socbot playbooks list``."""
    from playbooks.registry import all_playbooks

    for playbook in all_playbooks():
        approvals = f"{playbook.approvals_required} approval(s)"
        kind = "destructive" if playbook.destructive else "reversible"
        print(f"{playbook.name:<28} {kind:<12} {approvals:<14} {playbook.description}")
    return 0


def cmd_config(args: argparse.Namespace, settings: Settings, secrets: Secrets) -> int:
    """``socbot config check``: validate the file and the rule ids it names; print the result."""
    from detections.rule import load_all

    rules = load_all()
    unknown = sorted(set(settings.rules) - set(rules))
    if unknown:
        raise ConfigError(f"rules.{unknown[0]}: not a rule id; known: {', '.join(sorted(rules))}")
    print(json.dumps(settings.model_dump(), indent=2))
    if secrets.slack_app_token:
        slack = "Socket Mode"
    elif secrets.slack_enabled:
        slack = "HTTP mode"
    else:
        slack = "off (alerts go to the terminal)"
    print(f"slack: {slack}", file=sys.stderr)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
