"""Sigma rules imported with pySigma: the 96 rules in ../shared/data/sigma import or are refused
with a reason; each imported CloudTrail rule matches an event written from its own detection
and not an unrelated one; imported rules stay staged (counted, no alert) until promoted."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import redis
import yaml

from socbot.bot.cli import main
from socbot.collectors.cloudtrail import normalize
from socbot.core.config import Settings
from socbot.core.events import Event
from socbot.detections.engine import Engine
from socbot.detections.rule import Rule
from socbot.detections.sigma import store
from socbot.detections.sigma.compile import SigmaRefused, compile_rule
from socbot.detections.worker import DetectionWorker

FIELDS = ("title", "id", "status", "level", "description", "logsource", "detection",
          "falsepositives", "tags", "references", "author", "date", "modified")


def sigma_rules(shared_data: Path) -> list[dict[str, Any]]:
    rows = []
    for name in ("sigma_cloudtrail_rules.jsonl", "sigma_linux_auth_rules.jsonl"):
        rows += [json.loads(line) for line in (shared_data / "sigma" / name).read_text()
                 .splitlines() if line.strip()]
    return rows


def as_yaml(row: dict[str, Any]) -> str:
    """A row of the catalogue written back as the Sigma YAML it came from."""
    return yaml.safe_dump({k: row[k] for k in FIELDS if row.get(k) is not None},
                          sort_keys=False)


@pytest.fixture
def sigma_dir(shared_data: Path, tmp_path: Path) -> Path:
    folder = tmp_path / "sigma"
    folder.mkdir()
    for row in sigma_rules(shared_data):
        (folder / Path(row["rule_file"]).name).write_text(as_yaml(row))
    return folder


# --- events written from a rule's detection ---------------------------------------------------
def _example(value: Any) -> Any:
    from sigma import types

    if isinstance(value, types.SigmaString):
        return "".join(p if isinstance(p, str) else "x" for p in value.s)
    if isinstance(value, types.SigmaBool):
        return value.boolean
    if isinstance(value, types.SigmaNumber):
        return value.number
    if isinstance(value, types.SigmaNull):
        return None
    if isinstance(value, types.SigmaCIDRExpression):
        return str(next(value.network.hosts()))
    raise LookupError(type(value).__name__)


def _solve(node: Any) -> dict[str, Any] | None:
    """Field values that satisfy ``node`` (negations are left for the check to catch)."""
    from sigma import conditions as c

    if isinstance(node, c.ConditionAND):
        merged: dict[str, Any] = {}
        for arg in node.args:
            part = _solve(arg)
            if part is None or any(k in merged and merged[k] != v for k, v in part.items()):
                return None
            merged.update(part)
        return merged
    if isinstance(node, c.ConditionOR):
        return next((p for p in map(_solve, node.args) if p is not None), None)
    if isinstance(node, c.ConditionNOT):
        return {}
    if isinstance(node, c.ConditionFieldEqualsValueExpression):
        return {node.field: _example(node.value)}
    if isinstance(node, c.ConditionValueExpression):
        return {"@keyword": _example(node.value)}
    return None


def _record(fields: dict[str, Any]) -> Event:
    record: dict[str, Any] = {
        "eventVersion": "1.08", "eventID": "sigma-sample", "eventTime": "2026-11-23T03:00:00Z",
        "eventName": "SigmaSample", "eventSource": "sample.amazonaws.com",
        "awsRegion": "us-east-1", "sourceIPAddress": "198.51.100.7", "userAgent": "sample",
        "recipientAccountId": "111122223333",
        "userIdentity": {"type": "IAMUser", "userName": "alice", "accountId": "111122223333",
                         "arn": "arn:aws:iam::111122223333:user/alice"}}
    for dotted, value in fields.items():
        if dotted == "src_ip":
            record["sourceIPAddress"] = value
            continue
        *parents, last = dotted.split(".")
        node = record
        for part in parents:
            node = node.setdefault(part, {}) if isinstance(node.get(part), dict) or \
                part not in node else node.setdefault(part + "_", {})
        node[last] = value
    return normalize(record)


def test_every_sigma_rule_imports_or_is_refused_with_a_reason(
        sigma_dir: Path, redis_url: str, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str], redis_client: redis.Redis) -> None:
    monkeypatch.setenv("REDIS_URL", redis_url)
    assert main(["rules", "import-sigma", str(sigma_dir)]) == 0
    lines = capsys.readouterr().out.splitlines()
    imported = [line for line in lines if line.startswith("imported sigma.")]
    refused = [line for line in lines if line.startswith("refused ")]
    assert len(imported) + len(refused) == 96
    assert all(": " in line.split(".yml", 1)[1] for line in refused)  # each says why
    assert any("placeholders" in line for line in refused)
    assert len(store.origins(redis_client)) == len(imported)
    assert set(store.origins(redis_client).values()) == {"staged"}


def test_each_imported_cloudtrail_rule_matches_its_own_detection(shared_data: Path) -> None:
    checked, unsampled = 0, []
    for row in sigma_rules(shared_data):
        if row["logsource"].get("service") != "cloudtrail":
            continue
        try:
            rule = compile_rule(as_yaml(row))
        except SigmaRefused:
            continue
        from sigma.rule import SigmaRule

        tree = SigmaRule.from_yaml(as_yaml(row)).detection.parsed_condition[0].parse()
        try:
            fields = _solve(tree)
        except LookupError:
            fields = None
        if fields is None:
            unsampled.append(row["title"])
            continue
        matching, other = _record(fields), _record({"eventName": "NoSuchCall"})
        assert rule.function(matching), f"{row['title']}: its own sample does not match"
        assert not rule.function(other), f"{row['title']}: matches an unrelated call"
        checked += 1
    print(f"{checked} imported CloudTrail rules checked, no sample for {unsampled}")
    assert checked >= 50 and len(unsampled) <= 5, unsampled


def test_linux_auth_keywords_are_searched_in_the_line() -> None:
    rule = compile_rule(yaml.safe_dump({
        "title": "Suspicious OpenSSH Daemon Error", "id": "e76b413a-83d0-4b94-8e4c-85db4a5b8bdc",
        "logsource": {"product": "linux", "service": "sshd"}, "level": "medium",
        "detection": {"keywords": ["*unexpected internal error*", "*bad client public DH value*"],
                      "condition": "keywords"}}))
    line = "Nov 23 03:00:00 bastion sshd[812]: fatal: unexpected internal error"
    assert rule.datasets == ("secure",)
    assert rule.function({"message": line})
    assert not rule.function({"message": "Accepted publickey for ann from 192.0.2.9"})


def test_imported_rules_are_staged_until_promoted(redis_client: redis.Redis) -> None:
    text = yaml.safe_dump({
        "title": "AWS CloudTrail Stopped", "id": "4db60cc0-36fb-42b7-9b58-a5b53019fb74",
        "author": "Some One", "references": ["https://example.org/cloudtrail-stop"],
        "logsource": {"product": "aws", "service": "cloudtrail"}, "level": "high",
        "tags": ["attack.defense-evasion", "attack.t1562.008"],
        "detection": {"selection": {"eventSource": "cloudtrail.amazonaws.com",
                                    "eventName": "StopLogging"}, "condition": "selection"}})
    rule = store.save(redis_client, text)
    rules: dict[str, Rule] = store.load(redis_client)
    worker = DetectionWorker(redis_client, Engine(redis_client, rules, settings=Settings()))
    event = _record({"eventSource": "cloudtrail.amazonaws.com", "eventName": "StopLogging"})
    [signal] = worker.engine.evaluate(event)
    assert (signal.mitre, signal.severity) == (["T1562.008"], "high")
    assert signal.context["sigma.author"] == "Some One"
    assert signal.context["sigma.licence"] == "DRL-1.1"
    assert "example.org" in signal.context["sigma.references"]
    assert worker.record([signal]) == []
    assert store.staged_counts(redis_client) == {rule.id: 1}
    store.promote(redis_client, rule.id)
    [recorded] = worker.record([signal])
    assert recorded.outcome == "new"


def test_a_staged_rule_counts_every_signal_of_a_batch(redis_client: redis.Redis) -> None:
    """The detect stage merges a batch's like signals (one user stopping logging again and
    again is one signal with merged events): a staged rule still counts each."""
    text = yaml.safe_dump({
        "title": "AWS CloudTrail Stopped", "id": "4db60cc0-36fb-42b7-9b58-a5b53019fb74",
        "logsource": {"product": "aws", "service": "cloudtrail"}, "level": "high",
        "detection": {"selection": {"eventSource": "cloudtrail.amazonaws.com",
                                    "eventName": "StopLogging"}, "condition": "selection"}})
    rule = store.save(redis_client, text)
    worker = DetectionWorker(redis_client, Engine(redis_client, store.load(redis_client),
                                                  settings=Settings()))
    entries = []
    for n in range(5):
        event = _record({"eventSource": "cloudtrail.amazonaws.com", "eventName": "StopLogging"})
        event["event.id"] = f"stop-{n}"
        entries.append((f"1-{n}", {"e": json.dumps(event)}))
    assert worker.handle_batch(entries) == {}
    assert store.staged_counts(redis_client) == {rule.id: 5}
    [signal] = [s for found in worker.engine.evaluate_events(
        [json.loads(e["e"]) for _, e in entries], merge=True) for s in found]
    assert len(signal.merged) == 4  # what the batch was: one signal, four events merged


def test_promote_names_what_was_imported(redis_url: str, monkeypatch: pytest.MonkeyPatch,
                                         capsys: pytest.CaptureFixture[str],
                                         redis_client: redis.Redis) -> None:
    monkeypatch.setenv("REDIS_URL", redis_url)
    assert main(["rules", "promote", "sigma.no-such-rule"]) == 1
    assert "no imported Sigma rule 'sigma.no-such-rule'" in capsys.readouterr().err


def test_rules_list_shows_the_origin(sigma_dir: Path, redis_url: str,
                                     monkeypatch: pytest.MonkeyPatch,
                                     capsys: pytest.CaptureFixture[str],
                                     redis_client: redis.Redis) -> None:
    monkeypatch.setenv("REDIS_URL", redis_url)
    main(["rules", "import-sigma", str(sigma_dir / "aws_cloudtrail_disable_logging.yml")])
    capsys.readouterr()
    store.count_staged(redis_client, "sigma.4db60cc0-36fb-42b7-9b58-a5b53019fb74")
    assert main(["rules", "list", "--imported"]) == 0
    out = capsys.readouterr().out
    assert "sigma:4db60cc0-36fb-42b7-9b58-a5b53019fb74 (staged, 1 signals counted)" in out
    assert "cloudtrail.trail_changed" in out and " own " in out


def test_replay_backtests_sigma_rules_on_a_recording(
        sigma_dir: Path, shared_data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    trail = shared_data / "cloudtrail" / "stratus-red-team" / "detonation-logs" / \
        "aws.defense-evasion.cloudtrail-stop.json"
    assert main(["replay", "--source", "cloudtrail", str(trail), "--sigma",
                 str(sigma_dir / "aws_cloudtrail_disable_logging.yml")]) == 0
    out = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert any(o["type"] == "alert" and o["rule_id"] == "sigma.4db60cc0-36fb-42b7-9b58-"
               "a5b53019fb74" for o in out)


def test_replay_refuses_a_sigma_rule_it_cannot_run(
        sigma_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.yml"
    bad.write_text("title: no id\nlogsource: {product: aws, service: cloudtrail}\n"
                   "detection: {s: {eventName: X}, condition: s}\n")
    assert main(["replay", "--source", "cloudtrail", str(tmp_path), "--sigma", str(bad)]) == 2
    assert "--sigma" in capsys.readouterr().err
