"""``socbot collect`` and ``socbot parse``."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from socbot.core.config import Secrets, Settings
from socbot.collectors.files import SOURCES
from socbot.core.process import stop_on_signals


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
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
    journald = sources.add_parser(
        "journald", help="follow the systemd journal (journalctl -o json --follow)")
    journald.add_argument("--match", action="append", metavar="FIELD=VALUE",
                          help="journal matches, repeatable (default: SYSLOG_FACILITY=4 and "
                               "SYSLOG_FACILITY=10, the auth facilities)")
    journald.add_argument("--name", default="journal",
                          help="the name the saved cursor is kept under (default: journal)")
    journald.add_argument("--from-start", action="store_true",
                          help="without a saved cursor, read the journal from its start "
                               "(default: its end)")
    journald.add_argument("--once", action="store_true", help="stop at the end of the journal")
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
    findings = sources.add_parser(
        "findings", help="read GuardDuty, Security Hub (ASFF), Access Analyzer and Macie "
                         "findings from files, or poll an SQS queue fed by EventBridge")
    found_where = findings.add_mutually_exclusive_group(required=True)
    found_where.add_argument("--path", nargs="+",
                             help="files or directories (.json, .jsonl): EventBridge events, "
                                  "GetFindings responses, arrays or bare findings")
    found_where.add_argument("--sqs", metavar="QUEUE_URL",
                             help="SQS queue an EventBridge rule sends findings to (it may "
                                  "carry CloudTrail events too)")
    findings.add_argument("--once", action="store_true",
                          help="with --sqs: stop when the queue is empty")
    door = sources.add_parser(
        "door", help="receive signed door webhooks (UniFi Access, Verkada, Kisi), or import "
                     "CSV / JSON Lines exports")
    door_where = door.add_mutually_exclusive_group()
    door_where.add_argument("--listen", metavar="HOST:PORT",
                            help="serve POST /door/{unifi,verkada,kisi} (default: "
                                 "collectors.door.listen); the secret is SOCBOT_DOOR_SECRET")
    door_where.add_argument("--path", nargs="+",
                            help="export files to import (.csv, .jsonl) or saved webhook "
                                 "bodies (.json), through collectors.door.export.columns")
    wifi = sources.add_parser(
        "wifi", help="report access-point sightings: scan with iw or nmcli on a schedule, or "
                     "read iw / nmcli / airodump-ng CSV / Kismet alert files")
    wifi.add_argument("--path", nargs="+", help="files to read instead of scanning")
    wifi.add_argument("--format", choices=("auto", "iw", "nmcli", "airodump", "kismet"),
                      default="auto", help="the format of --path files (default: by content)")
    wifi.add_argument("--tool", choices=("iw", "nmcli"),
                      help="scan command (default: collectors.wifi.tool)")
    wifi.add_argument("--interface", help="interface for iw (default: collectors.wifi.interface)")
    wifi.add_argument("--interval", type=float,
                      help="seconds between scans (default: collectors.wifi.interval_s)")
    wifi.add_argument("--once", action="store_true", help="scan once and stop")

    listen = sources.add_parser(
        "listen", help="receive events from agents: syslog (TCP, TLS, UDP), fluentd Forward, "
                       "JSON over HTTP")
    for name, what in (("syslog-tcp", "syslog over TCP, e.g. 0.0.0.0:601"),
                       ("syslog-tls", "syslog over TLS, e.g. 0.0.0.0:6514"),
                       ("syslog-udp", "syslog over UDP, e.g. 0.0.0.0:514"),
                       ("forward", "fluentd Forward protocol, e.g. 0.0.0.0:24224"),
                       ("http", "JSON over HTTP, e.g. 0.0.0.0:9880 (token: SOCBOT_LISTEN_TOKEN)")):
        listen.add_argument(f"--{name}", metavar="HOST:PORT",
                            help=f"{what} (default: collectors.listen.{name.replace('-', '_')})")

    parse = commands.add_parser("parse", help="print normalized events as JSON Lines (no Redis)")
    # Reading a syslog file needs no configuration: parse loads it only for the sources whose
    # readers take settings (door column maps, the Wi-Fi sensor's name), so a large log's
    # parse does not pay for the config models at start-up.
    parse.set_defaults(handler=cmd_parse, needs_config=False)
    parse.add_argument("--source", required=True, choices=SOURCES)
    parse.add_argument("paths", nargs="+", metavar="PATH")
    parse.add_argument("--summary", action="store_true",
                       help="print counts per action and outcome instead of events")
    parse.add_argument("--jobs", type=int, default=0, metavar="N",
                       help="secure: parse on N processes (default: one per CPU for more "
                            "than 16 MiB of logs, else 1; output order is kept)")


def cmd_collect(args: argparse.Namespace, settings: Settings, secrets: Secrets) -> int:
    """``socbot collect secure|journald|cloudtrail|findings|door|wifi``."""
    from socbot.core.health import HealthServer, listen_address
    from socbot.core.process import tune_gc

    handlers = {"secure": _collect_secure, "journald": _collect_journald,
                "cloudtrail": _collect_cloudtrail,
                "findings": _collect_findings,
                "door": _collect_door, "wifi": _collect_wifi, "listen": _collect_listen}
    client = _client()
    # /metrics and /healthz when SOCBOT_METRICS_LISTEN is set (the container image sets it).
    listen = listen_address()
    health = HealthServer(client, *listen).start() if listen else None
    tune_gc()
    try:
        return handlers[args.source](args, settings, client)
    finally:
        if health is not None:
            health.close()


def _client() -> Any:
    """Redis from REDIS_URL (or the embedded one), checked now: a wrong URL fails at start-up
    with what to fix. Outages after that are what the spool is for."""
    from socbot.core.redisconn import connect

    return connect()


def _spool(settings: Settings, name: str) -> Any:
    """The spool directory of the collector ``name`` (a file name fragment)."""
    from socbot.collectors.spool import Spool
    from socbot.core.redisconn import state_dir

    config = settings.collectors.spool
    base = Path(config.dir) if config.dir else state_dir() / "spool"
    return Spool(base / name, max_bytes=config.max_bytes)


def _collect_secure(args: argparse.Namespace, settings: Settings, client: Any) -> int:
    from socbot.collectors.pipeline import collect_secure
    from socbot.core.events import stable_id

    path = Path(args.path)
    spool = _spool(settings, f"secure-{stable_id(str(path.resolve()))[:12]}")
    stats = collect_secure(client, path, stop_on_signals(), from_start=args.from_start,
                           once=args.once, spool=spool)
    print(f"socbot collect secure: {json.dumps(vars(stats))}", file=sys.stderr)
    return 0


def _collect_journald(args: argparse.Namespace, settings: Settings, client: Any) -> int:
    from socbot.collectors.journald import DEFAULT_MATCHES, collect_journald

    try:
        stats = collect_journald(client, stop_on_signals(), name=args.name,
                                 from_start=args.from_start, once=args.once,
                                 matches=args.match or DEFAULT_MATCHES,
                                 spool=_spool(settings, f"journald-{args.name}"))
    except ValueError as exc:
        print(f"socbot collect journald: {exc}", file=sys.stderr)
        return 2
    except FileNotFoundError:
        print("socbot collect journald: journalctl is not on PATH; on a host without the "
              "journal use socbot collect secure --path FILE", file=sys.stderr)
        return 2
    except RuntimeError as exc:
        print(f"socbot collect journald: {exc}", file=sys.stderr)
        return 1
    print(f"socbot collect journald: {json.dumps(vars(stats))}", file=sys.stderr)
    return 0


def _collect_door(args: argparse.Namespace, settings: Settings, client: Any) -> int:
    import threading

    from socbot.collectors.sink import EventSink

    config = settings.collectors.door
    stop = stop_on_signals()
    if args.path:
        from socbot.collectors.door.files import read_path
        from socbot.collectors.pipeline import send_items

        sink = EventSink(client, "door-import", _spool(settings, "door-import"))
        stats = send_items(sink, "door", (item for path in args.path
                                          for item in read_path(Path(path), settings)),
                           stop)
        sink.close()
        print(f"socbot collect door: {json.dumps(vars(stats))}", file=sys.stderr)
        return 0
    from socbot.collectors.door.webhook import make_server

    listen = args.listen or config.listen
    host, _, port = listen.rpartition(":")
    if not host or not port.isdigit():
        print(f"socbot collect door: --listen {listen!r}: write HOST:PORT, such as "
              "0.0.0.0:8088", file=sys.stderr)
        return 2
    secret = os.environ.get("SOCBOT_DOOR_SECRET", "").encode()
    sink = EventSink(client, "door", _spool(settings, "door"))
    try:
        server = make_server((host.strip("[]"), int(port)), sink, secret=secret, settings=config)
    except (ValueError, OSError) as exc:
        print(f"socbot collect door: {exc}", file=sys.stderr)
        return 2
    thread = threading.Thread(target=server.serve_forever, name="door-webhook", daemon=True)
    thread.start()
    print(f"socbot collect door: listening on {listen}", file=sys.stderr)
    stop.wait()
    server.shutdown()
    server.server_close()
    left = not sink.close()
    print(f"socbot collect door: {server.received} events, refused {server.refused}"
          + ("; events left in the spool for the next start" if left else ""), file=sys.stderr)
    return 0


def _collect_listen(args: argparse.Namespace, settings: Settings, client: Any) -> int:
    from socbot.collectors.listen.intake import Intake, Router
    from socbot.collectors.listen.server import PROTOCOLS, Listener
    from socbot.collectors.sink import EventSink
    from socbot.core.config import ConfigError

    given = {name: getattr(args, name) for name in PROTOCOLS if getattr(args, name)}
    config = settings.collectors.listen.model_copy(update=given)
    stop = stop_on_signals()
    sink = EventSink(client, "listen", _spool(settings, "listen"))
    intake = Intake(Router(config.routes), peer_names=config.peer_names)
    try:
        listener = Listener(sink, intake, config, stop=stop,
                            shared_key=os.environ.get("SOCBOT_FORWARD_SHARED_KEY", ""),
                            http_token=os.environ.get("SOCBOT_LISTEN_TOKEN", ""))
        bound = listener.start()
    except (ValueError, OSError, ConfigError) as exc:
        print(f"socbot collect listen: {exc}", file=sys.stderr)
        return 2
    where = ", ".join(f"{name} on {host}:{port}" for name, (host, port) in bound.items())
    print(f"socbot collect listen: {where}", file=sys.stderr)
    stop.wait()
    listener.close()
    left = not sink.close()
    print(f"socbot collect listen: {json.dumps(dict(listener.stats))}"
          + ("; events left in the spool for the next start" if left else ""), file=sys.stderr)
    return 0


def _collect_wifi(args: argparse.Namespace, settings: Settings, client: Any) -> int:
    from socbot.collectors.wifi.collect import run_wifi

    return run_wifi(args, settings, client, _spool(settings, "wifi"), stop_on_signals())


def _collect_cloudtrail(args: argparse.Namespace, settings: Settings, client: Any) -> int:
    from socbot.collectors.pipeline import CollectStats, add_stats, collect_cloudtrail

    config = settings.collectors.cloudtrail
    queue = args.sqs or (None if args.path else config.sqs_queue_url)
    if queue:
        import boto3

        from socbot.collectors.cloudtrail_sqs import collect_sqs

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
    totals = CollectStats()
    for path in args.path:
        add_stats(totals, collect_cloudtrail(client, Path(path), dedup_ttl=config.dedup_window_s))
    print(f"socbot collect cloudtrail: {json.dumps(vars(totals))}", file=sys.stderr)
    return 0


def _collect_findings(args: argparse.Namespace, settings: Settings, client: Any) -> int:
    from socbot.collectors.pipeline import CollectStats, add_stats, collect_cloudtrail

    config = settings.collectors.cloudtrail
    if args.sqs:
        import boto3

        from socbot.collectors.cloudtrail_sqs import collect_sqs

        stats = collect_sqs(client, boto3.client("sqs"), boto3.client("s3"), args.sqs,
                            stop_on_signals(), once=args.once,
                            visibility_s=config.visibility_timeout_s,
                            dedup_ttl=config.dedup_window_s)
        print(f"socbot collect findings: {json.dumps(vars(stats))}", file=sys.stderr)
        return 0
    totals = CollectStats()
    for path in args.path:
        add_stats(totals, collect_cloudtrail(client, Path(path), dedup_ttl=config.dedup_window_s,
                                             source="findings"))
    print(f"socbot collect findings: {json.dumps(vars(totals))}", file=sys.stderr)
    return 0


def cmd_parse(args: argparse.Namespace, settings: Settings | None,
              secrets: Secrets | None) -> int:
    """``socbot parse``: events as JSON Lines, or ``--summary`` counts; unparsed on stderr."""
    from collections import Counter

    from socbot.collectors.base import encode_event
    from socbot.collectors.files import parse_secure_in_parallel, read_events, report

    paths = [Path(p) for p in args.paths]
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        print(f"socbot parse: no such file or directory: {', '.join(missing)}", file=sys.stderr)
        return 2
    counts: Counter[tuple[str, str]] = Counter()
    out = sys.stdout
    jobs = args.jobs or _default_jobs(args.source, paths)
    if args.source == "secure":
        parsed = ignored = failed = ambiguous = 0
        errors: Counter[str] = Counter()
        for chunk in parse_secure_in_parallel(paths, jobs, summary=args.summary):
            counts.update(chunk.summary)
            if chunk.lines:
                out.write("\n".join(chunk.lines) + "\n")
            parsed += chunk.parsed
            ignored += chunk.ignored
            failed += chunk.failed
            ambiguous += chunk.ambiguous
            errors.update(chunk.errors)
        summary_line = report(parsed, ignored, failed, errors, ambiguous)
    else:
        from socbot.core.config import load

        result = read_events(args.source, paths, settings or load(args.config))
        for event in result:
            if args.summary:
                counts[(event["event.action"], event["event.outcome"])] += 1
            else:
                out.write(encode_event(event) + "\n")
        summary_line = result.report()
    if args.summary:
        width = max((len(a) for a, _ in counts), default=6)
        out.write(f"{'action':<{width}}  {'outcome':<8}  count\n")
        for (action, outcome), count in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
            out.write(f"{action:<{width}}  {outcome:<8}  {count}\n")
    out.flush()
    print(summary_line, file=sys.stderr)
    return 0


def _default_jobs(source: str, paths: list[Path]) -> int:
    if source != "secure":
        return 1
    size = sum(p.stat().st_size for p in paths if p.is_file())
    return (os.cpu_count() or 1) if size > 16 << 20 else 1
