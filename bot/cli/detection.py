"""``socbot replay`` (detection over files, for backtesting) and ``socbot rules list|test``."""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from socbot.collectors.files import SOURCES

if TYPE_CHECKING:
    from socbot.core.config import Secrets, Settings
    from socbot.core.events import Event
    from socbot.detections.rule import Case


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the detection subcommands to the ``socbot`` parser."""
    replay = commands.add_parser(
        "replay", help="run detection over files (backtesting)",
        description="Run every rule over files and print signals and alerts (jsonl), or the "
                    "Slack messages the alerts would become (slack). Uses a throw-away "
                    "embedded Redis; the configuration's rules and detection sections apply.")
    replay.set_defaults(handler=cmd_replay)
    replay.add_argument("--source", required=True, choices=SOURCES)
    replay.add_argument("paths", nargs="+", metavar="PATH")
    replay.add_argument("--sigma", action="append", metavar="PATH",
                        help="also run these Sigma rules (YAML files or folders; repeatable): "
                             "a backtest before import-sigma and promote")
    replay.add_argument("--format", choices=("jsonl", "slack"), default="jsonl",
                        help="jsonl: signals then alerts; slack: one chat.postMessage per "
                             "alert, one per storm rollup (default %(default)s)")
    rules = commands.add_parser(
        "rules", help="list the detection rules, run their tests, import Sigma rules",
        description="list: the rule pack (source, MITRE ids, state, origin); test: every "
                    "rule's own cases; import-sigma PATH...: Sigma rules (YAML files or "
                    "folders) compiled with pySigma and kept in Redis, staged (signals "
                    "counted, no alert) until promote ID.")
    rules.set_defaults(handler=cmd_rules)
    rules.add_argument("action", choices=("list", "test", "import-sigma", "promote"))
    rules.add_argument("targets", nargs="*", metavar="PATH_OR_ID",
                       help="import-sigma: Sigma YAML files or folders; promote: rule ids")
    rules.add_argument("--imported", action="store_true",
                       help="list: include the Sigma rules imported into Redis")
    rules.add_argument("--format", choices=("table", "jsonl", "markdown"), default="table",
                       help="for list: a table, one JSON object per rule, or the README's "
                            "Markdown table")


def cmd_replay(args: argparse.Namespace, settings: Settings, secrets: Secrets) -> int:
    """``socbot replay``: detection over files."""
    from socbot.collectors.files import read_events
    from socbot.core.alerts import AlertStore, Signal
    from socbot.core.grouping import AlertWriter, fold
    from socbot.core.process import tune_gc
    from socbot.core.progress import Progress
    from socbot.core.redisconn import discard, embedded
    from socbot.detections.engine import BATCH, Engine
    from socbot.detections.rule import load_all

    out = sys.stdout
    missing = [p for p in args.paths if not Path(p).exists()]
    if missing:
        print(f"socbot replay: {missing[0]}: no such file or directory", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="socbot-replay-") as tmp:
        client = embedded(Path(tmp) / "redis.db")
        try:
            engine = Engine(client, {**load_all(), **_sigma_rules(args.sigma)},
                            settings=settings)
        except ValueError as exc:
            print(f"socbot replay: {exc}", file=sys.stderr)
            discard(client)
            return 2
        store, writer = AlertStore(client), AlertWriter(client, announce=False, mutes=False)
        tune_gc()  # the rules are loaded: what follows makes and drops objects by the million
        alert_ids: list[str] = []
        result = read_events(args.source, [Path(p) for p in args.paths])
        progress = Progress("replay", total_bytes=result.total_bytes)
        signals = 0
        pending: list[Signal] = []

        def write() -> None:
            # The signals of a batch of events, folded per alert as the detect stage does.
            alert_of: dict[int, str] = {}
            for recorded in writer.write(fold(pending)):
                if recorded.outcome == "new":
                    alert_ids.append(recorded.alert_id)
                alert_of.update((id(sig), recorded.alert_id) for sig in recorded.group.signals)
            if args.format == "jsonl":
                for sig in pending:
                    out.write(json.dumps({"type": "signal", "alert_id": alert_of[id(sig)],
                                          **sig.to_dict()}, default=str) + "\n")
            pending.clear()

        for count, (_, found) in enumerate(engine.evaluate_all(result, batch=BATCH), 1):
            signals += len(found)
            pending += found
            if count % BATCH == 0:  # signals written a batch at a time, as detection does
                write()
                progress.update(result.bytes_read)
        write()
        progress.done()
        alerts = [a for a in map(store.get, alert_ids) if a is not None]
        if args.format == "slack":
            _slack_messages(alerts, settings, out)
        else:
            for alert in alerts:
                out.write(json.dumps({"type": "alert", **alert.to_dict()}, default=str) + "\n")
        errors = "".join(f"; rule {r} raised {n} times" for r, n in engine.errors.items())
        print(f"{result.report()}; {signals} signals, {len(alerts)} alerts{errors}",
              file=sys.stderr)
        discard(client)
    return 0


def _slack_messages(alerts: list[Any], settings: Settings, out: TextIO) -> None:
    """One ``chat.postMessage`` per alert, except storms: one rollup message each (as the
    notifier posts them with ``slack.rollup``)."""
    from socbot.bot.render import channel_for, post_arguments
    from socbot.bot.rollup import member, ranked, storms
    from socbot.bot.rollup_blocks import rollup_message

    config = settings.slack.rollup
    alone, rollups = (storms(alerts, lambda a: channel_for(settings, a),
                             threshold=config.alerts, window_s=config.window_seconds)
                      if config.enabled else (alerts, []))
    messages = [(a.first_seen, post_arguments(settings, a)) for a in alone]
    for rollup, members in rollups:
        message = rollup_message(rollup, ranked(map(member, members)),
                                 mute_hours=settings.slack.mute_hours)
        messages.append((rollup.created_at, {"channel": rollup.channel, **message}))
    for _, message in sorted(messages, key=lambda pair: pair[0]):
        out.write(json.dumps(message, default=str) + "\n")


def cmd_rules(args: argparse.Namespace, settings: Settings, secrets: Secrets) -> int:
    """``socbot rules list`` and ``socbot rules test``."""
    from socbot.detections.rule import load_all

    if args.action in ("import-sigma", "promote"):
        return _sigma_command(args)
    rules = dict(load_all())
    if args.action == "list":
        origins: dict[str, str] = {}
        if args.imported:
            from socbot.core.redisconn import connect
            from socbot.detections.sigma import store

            client = connect()
            rules.update(store.load(client))
            counted = store.staged_counts(client)
            origins = {rule_id: state + (f", {counted[rule_id]} signals counted"
                                         if state == "staged" and rule_id in counted else "")
                       for rule_id, state in store.origins(client).items()}
        list_rules(rules, settings, args.format, sys.stdout, origins)
        return 0
    return test_rules(rules, sys.stdout)


def _sigma_rules(paths: list[str] | None) -> dict[str, Any]:
    """``--sigma``: Sigma rules compiled for a replay (a backtest before promoting them);
    ValueError naming a file that cannot be used."""
    from socbot.detections.sigma.compile import SigmaRefused, compile_rule

    rules: dict[str, Any] = {}
    for path in _sigma_files(paths or []):
        try:
            rule = compile_rule(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, SigmaRefused) as exc:
            raise ValueError(f"--sigma {path}: {exc}") from None
        rules[rule.id] = rule
    return rules


def _sigma_files(targets: list[str]) -> list[Path]:
    files: list[Path] = []
    for target in map(Path, targets):
        files += sorted(p for p in target.rglob("*") if p.suffix in (".yml", ".yaml")) \
            if target.is_dir() else [target]
    return files


def _sigma_command(args: argparse.Namespace) -> int:
    """``socbot rules import-sigma PATH...`` and ``socbot rules promote ID...``."""
    from socbot.core.redisconn import connect
    from socbot.detections.sigma import store
    from socbot.detections.sigma.compile import SigmaRefused

    if not args.targets:
        print(f"socbot rules {args.action}: give "
              f"{'Sigma YAML files or folders' if args.action == 'import-sigma' else 'rule ids'}",
              file=sys.stderr)
        return 2
    client = connect()
    if args.action == "promote":
        for rule_id in args.targets:
            try:
                store.promote(client, rule_id)
            except ValueError as exc:
                print(f"socbot rules promote: {exc}", file=sys.stderr)
                return 1
            print(f"promoted {rule_id}: its signals raise alerts now (detect workers load a "
                  "newly imported rule when they start)")
        return 0
    imported = refused = 0
    for path in _sigma_files(args.targets):
        try:
            rule = store.save(client, path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, SigmaRefused) as exc:
            refused += 1
            print(f"refused {path}: {exc}")
            continue
        except ImportError:
            print("socbot rules import-sigma needs pySigma: pip install 'socbot[sigma]'",
                  file=sys.stderr)
            return 2
        imported += 1
        print(f"imported {rule.id} (staged): {rule.title}")
    print(f"{imported} imported (staged until 'socbot rules promote ID'), {refused} refused",
          file=sys.stderr)
    return 0 if imported or not refused else 1


def _state_text(rule: Any) -> str:
    return "-" if rule.state is None else str(rule.state.describe())


def list_rules(rules: dict[str, Any], settings: Settings, style: str, out: TextIO,
               states: dict[str, str] | None = None) -> None:
    """Print the rules: id, severity (after overrides), datasets, state, MITRE, playbooks and
    origin (``own``, or ``sigma:<id>`` with ``staged``/``promoted`` from ``states``)."""
    rows = []
    for rule_id in sorted(rules):
        rule = rules[rule_id]
        override = settings.rules.get(rule_id)
        enabled = override.enabled if override else True
        severity = (override.severity if override and override.severity else rule.severity)
        rows.append({"id": rule_id, "severity": severity, "enabled": enabled,
                     "datasets": list(rule.datasets), "state": _state_text(rule),
                     "mitre": list(rule.mitre), "playbooks": list(rule.playbooks),
                     "title": rule.title, "description": rule.description.split("\n")[0],
                     "origin": rule.origin + (f" ({states[rule_id]})" if states and rule_id
                                              in states else "")})
    if style == "jsonl":
        for row in rows:
            out.write(json.dumps(row) + "\n")
        return
    if style == "markdown":
        out.write("| id | severity | fires on | state | MITRE ATT&CK |\n|---|---|---|---|---|\n")
        for row in rows:
            state = row["state"].split("(")[0].strip("-")
            fires_on = " ".join(rules[row["id"]].description.split("\n\n")[0].split())
            out.write(f"| `{row['id']}` | {row['severity']} | {fires_on} | {state} | "
                      f"{', '.join(row['mitre'])} |\n")
        return
    width = max(len(r["id"]) for r in rows)
    out.write(f"{'id':<{width}}  {'severity':<8}  {'source':<10}  {'MITRE':<20}  "
              f"{'origin':<8}  state\n")
    for row in rows:
        off = "" if row["enabled"] else "  (disabled)"
        out.write(f"{row['id']:<{width}}  {row['severity']:<8}  "
                  f"{','.join(row['datasets']):<10}  {','.join(row['mitre']):<20}  "
                  f"{row['origin']:<8}  {row['state']}{off}\n")
    out.write(f"{len(rows)} rules\n")


def test_rules(rules: dict[str, Any], out: TextIO) -> int:
    """Run every rule's own cases on a throw-away Redis; 1 if any case fails."""
    from socbot.core.redisconn import discard, embedded

    with tempfile.TemporaryDirectory(prefix="socbot-rules-") as tmp:
        client = embedded(Path(tmp) / "redis.db")
        try:
            failures = run_cases(client, rules, out)
        finally:
            discard(client)
    return 1 if failures else 0


def case_events(case: Case) -> list[Event]:
    """A case's events as the engine sees them: raw records normalized by their collector."""
    from socbot.collectors.cloudtrail import normalize as cloudtrail
    from socbot.collectors.findings import normalize as finding
    from socbot.detections.rule import RawRecord

    normalizers: dict[str, Callable[[dict[str, Any]], Event]] = {"cloudtrail": cloudtrail,
                                                                 "finding": finding}
    events: list[Event] = []
    for item in case.events:
        if isinstance(item, RawRecord):
            if item.dataset not in normalizers:
                raise ValueError(f"a raw {item.dataset!r} record: the test runner normalizes "
                                 f"only {', '.join(sorted(normalizers))} records; write the "
                                 "event normalized instead")
            events.append(normalizers[item.dataset](dict(item.record)))
        else:
            events.append(dict(item))
    return events


def run_cases(client: Any, rules: dict[str, Any], out: TextIO) -> list[str]:
    """Every case of every rule through a fresh engine; the failures, each described."""
    from socbot.core.config import Settings
    from socbot.detections.engine import Engine

    failures: list[str] = []
    cases = 0
    for rule_id in sorted(rules):
        rule = rules[rule_id]
        for case in rule.tests:
            cases += 1
            client.flushdb()
            try:
                engine = Engine(client, {rule_id: rule},
                                settings=Settings.model_validate(dict(case.config)))
                fired = [any(s.rule_id == rule_id for s in engine.evaluate(e))
                         for e in case_events(case)]
            except Exception as exc:  # a broken case is a failure to report, not a crash
                failures.append(f"{rule_id}: {case.name}: raised {type(exc).__name__}: {exc}")
                continue
            if engine.errors:
                failures.append(f"{rule_id}: {case.name}: the rule raised (see the log)")
            elif fired[-1] is not case.fires or any(fired[:-1]):
                expected = "fire on the last event only" if case.fires else "stay quiet"
                failures.append(f"{rule_id}: {case.name}: expected to {expected}; fired on "
                                f"events {[i for i, f in enumerate(fired) if f]}")
        if {c.fires for c in rule.tests} != {True, False}:
            failures.append(f"{rule_id}: needs at least one firing and one quiet case")
    for failure in failures:
        out.write(f"FAIL {failure}\n")
    out.write(f"{len(rules)} rules, {cases} cases, {len(failures)} failed\n")
    return failures
