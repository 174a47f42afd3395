"""``socbot replay`` and ``socbot rules list|test`` as a user runs them."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
import redis

from socbot.bot.cli import build_parser, main
from socbot.bot.cli.detection import case_events, run_cases
from socbot.detections.cloudtrail._common import ct
from socbot.detections.rule import Case, RawRecord, Rule, load_all


def _lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def test_replay_slack_prints_the_message_the_notifier_would_post(
        shared_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "socbot.yml"
    config.write_text("slack:\n  routing:\n    default: '#soc'\n"
                      "    by_severity:\n      high: '#soc-high'\n")
    folder = shared_data / "cloudtrail" / "invictus-ir-aws-dataset" / "CloudTrail"
    assert main(["--config", str(config), "replay", "--source", "cloudtrail", str(folder),
                 "--format", "slack"]) == 0
    captured = capsys.readouterr()
    messages = _lines(captured.out)
    assert messages and all({"channel", "text", "blocks"} <= set(m) for m in messages)
    world = [m for m in messages if "sg-04cfb7a4712d75b00" in m["text"]]
    assert world and world[0]["channel"] == "#soc-high"
    assert any(b["type"] == "actions" for b in world[0]["blocks"])
    assert "2900 events" in captured.err and f"{len(messages)} alerts" in captured.err


def test_replay_jsonl_groups_a_brute_force_per_address(
        shared_data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    log = shared_data / "authlog" / "wazuh" / "log-entries_sshd"
    assert main(["replay", "--source", "secure", str(log)]) == 0
    records = _lines(capsys.readouterr().out)
    alerts = [r for r in records if r["type"] == "alert"]
    assert {a["rule_id"] for a in alerts} == {"secure.ssh_brute_force"}
    assert {a["entity"]["value"] for a in alerts} == {"83.15.231.75", "200.94.18.3"}


def test_replay_rejects_a_missing_file_with_exit_2(tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["replay", "--source", "secure", str(tmp_path / "nope")]) == 2
    assert "no such file" in capsys.readouterr().err


def test_replay_sources_are_those_with_a_reader() -> None:
    parser = build_parser()
    for source in ("secure", "cloudtrail", "door", "wifi"):
        assert parser.parse_args(["replay", "--source", source, "x"]).source == source
    with pytest.raises(SystemExit):
        parser.parse_args(["replay", "--source", "nope", "x"])


def test_rules_list_names_every_rule_with_its_severity(
        capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["rules", "list", "--format", "jsonl"]) == 0
    rows = _lines(capsys.readouterr().out)
    assert {r["id"] for r in rows} == set(load_all())
    brute = next(r for r in rows if r["id"] == "secure.ssh_brute_force")
    assert brute["severity"] == "high" and brute["state"].startswith("Threshold(")


def test_rules_test_passes_for_the_pack(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["rules", "test"]) == 0
    assert " 0 failed" in capsys.readouterr().out


def test_rules_test_names_the_rule_and_case_that_fail(redis_client: redis.Redis) -> None:
    wrong = Rule(id="x.wrong", title="t", severity="low", datasets=("secure",),
                 function=lambda e: True, actions=None, tests=(
                     Case("should be quiet", fires=False, events=(
                         {"@timestamp": "2026-11-23T03:00:00Z", "event.id": "1",
                          "event.dataset": "secure", "event.action": "sudo",
                          "event.outcome": "success"},)),
                     Case("fires", fires=True, events=(
                         {"@timestamp": "2026-11-23T03:00:00Z", "event.id": "2",
                          "event.dataset": "secure", "event.action": "sudo",
                          "event.outcome": "success"},))))
    out = io.StringIO()
    failures = run_cases(redis_client, {"x.wrong": wrong}, out)
    assert failures == ["x.wrong: should be quiet: expected to stay quiet; fired on events [0]"]
    assert "FAIL x.wrong: should be quiet" in out.getvalue()


def test_rule_cases_hold_raw_records_that_the_runner_normalizes() -> None:
    raw = ct("StopLogging", {"name": "main"}, source="cloudtrail.amazonaws.com")
    assert isinstance(raw, RawRecord) and raw.record["eventName"] == "StopLogging"
    [event] = case_events(Case("raw", fires=True, events=(raw,)))
    assert event["event.dataset"] == "cloudtrail"
    assert event["event.action"] == "StopLogging"
    assert event["user.name"] == "alice"


def test_a_raw_record_of_a_source_without_normalizer_is_a_failing_case(
        redis_client: redis.Redis) -> None:
    odd = Rule(id="x.odd", title="t", severity="low", datasets=("door",),
               function=lambda e: True, actions=None, tests=(
                   Case("raw door", fires=True, events=(RawRecord("door", {"x": 1}),)),
                   Case("quiet", fires=False, events=(RawRecord("door", {"x": 2}),))))
    failures = run_cases(redis_client, {"x.odd": odd}, io.StringIO())
    assert failures[0].startswith("x.odd: raw door: raised ValueError: a raw 'door' record")
    assert "write the event normalized instead" in failures[0]


def test_replay_wifi_finds_a_corporate_ssid_from_a_stranger(
        shared_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "socbot.yml"
    config.write_text(
        "detection:\n  sites:\n    hq: {timezone: Europe/Berlin}\n  sensors: {vm: hq}\n"
        "  corporate_ssids: [orangefloss]\n"
        "  authorized_aps: [{ssid: orangefloss, bssid: '00:13:10:33:a6:57'}]\n")
    scan = shared_data / "wifi" / "airodump" / "airodump.csv"
    assert main(["--config", str(config), "replay", "--source", "wifi", str(scan)]) == 0
    alerts = [r for r in _lines(capsys.readouterr().out) if r["type"] == "alert"]
    twins = [a for a in alerts if a["rule_id"] == "wifi.evil_twin"]
    assert [a["entity"]["value"] for a in twins] == ["00:13:10:33:a6:56"]
    assert twins[0]["context"]["site"] == "hq"
    unknown = {a["entity"]["value"] for a in alerts if a["rule_id"] == "wifi.unknown_ap"}
    assert "00:13:10:33:a6:57" not in unknown and len(unknown) > 3
