"""``socbot playbooks``: list, show, policy and run (approval rule kept outside Slack)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import boto3
import pytest
import redis
from moto_server import ACCOUNT, REGION, MotoServer

from socbot.bot.cli import main
from socbot.core.actions import ActionStore
from socbot.core.alerts import AlertStore, Signal
from socbot.core.streams import ALERTS, AUDIT
from socbot.playbooks.policy import render_policy

WORLD_SSH = {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22,
             "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}


@pytest.fixture
def env(redis_client: redis.Redis, redis_url: str, aws: MotoServer,
        monkeypatch: pytest.MonkeyPatch) -> redis.Redis:
    """The CLI's Redis is the test database; AWS is moto; no configuration file."""
    monkeypatch.setenv("REDIS_URL", redis_url)
    monkeypatch.delenv("SOCBOT_CONFIG", raising=False)
    return redis_client


def open_group() -> str:
    """A security group open to the world on 22."""
    ec2 = boto3.client("ec2", region_name=REGION)
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    group: str = ec2.create_security_group(GroupName="web", Description="web",
                                           VpcId=vpc)["GroupId"]
    ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=[WORLD_SSH])
    return group


def world_open(group: str) -> bool:
    """Whether the group still admits 0.0.0.0/0."""
    ec2 = boto3.client("ec2", region_name=REGION)
    perms = ec2.describe_security_groups(GroupIds=[group])["SecurityGroups"][0]["IpPermissions"]
    return any(r["CidrIp"] == "0.0.0.0/0" for p in perms for r in p.get("IpRanges", []))


def alert_on(client: redis.Redis, group: str) -> str:
    """An alert about the group offering revoke-world-ingress; return its id."""
    signal = Signal(rule_id="cloudtrail.sg_open_to_world", title="SG open", severity="high",
                    dedup_key=group, entity={"type": "security_group", "value": group},
                    event_ids=["e1"], timestamp=time.time(), dataset="cloudtrail",
                    context={"group_id": group, "cloud.region": REGION,
                             "cloud.account.id": ACCOUNT},
                    playbooks=["revoke-world-ingress", "contain-unapproved-ami"])
    alert_id, _ = AlertStore(client).record(signal)
    return alert_id


def audit_trail(client: redis.Redis) -> list[dict[str, str]]:
    """The audit entries."""
    return [{k.decode(): v.decode() for k, v in fields.items()}
            for _id, fields in client.xrange(AUDIT)]


def test_list_shows_every_playbook_with_its_approvals(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["playbooks", "list"]) == 0
    out = capsys.readouterr().out
    for name in ("revoke-world-ingress", "quarantine-instance", "contain-unapproved-ami",
                 "disable-access-key", "disable-console-login", "restart-cloudtrail-logging",
                 "block-ip-nacl", "restore-s3-object", "ssm-triage"):
        assert name in out
    assert "mode=terminate: 2" in out


def test_show_describes_fields_approvals_and_permissions(
        capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["playbooks", "show", "quarantine-instance"]) == 0
    out = capsys.readouterr().out
    assert "alert fields:     instance_id" in out and "ec2:ModifyNetworkInterfaceAttribute" in out
    assert "stop (boolean)" in out and "undo:             the Undo button" in out
    assert main(["playbooks", "show", "no-such-thing"]) == 2
    assert "valid: block-ip-nacl" in capsys.readouterr().err


def test_policy_prints_the_generated_policy(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["playbooks", "policy"]) == 0
    captured = capsys.readouterr()
    assert captured.out == render_policy()
    document = json.loads(captured.out)
    assert all("*" not in a for s in document["Statement"] for a in s["Action"])
    assert "no wildcard action" in captured.err


def test_dry_run_previews_without_approval_and_changes_nothing(
        env: redis.Redis, capsys: pytest.CaptureFixture[str]) -> None:
    group = open_group()
    alert_id = alert_on(env, group)
    assert main(["playbooks", "run", "revoke-world-ingress", "--alert", alert_id,
                 "--dry-run"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["dry_run"] and result["summary"].startswith("dry run: ")
    assert world_open(group)
    assert [e["what"] for e in audit_trail(env)] == ["dry-run:revoke-world-ingress"]


def test_run_without_an_approved_request_is_refused(
        env: redis.Redis, capsys: pytest.CaptureFixture[str]) -> None:
    group = open_group()
    alert_id = alert_on(env, group)
    ActionStore(env).create(alert_id, "revoke-world-ingress", "U1")  # requested, not approved
    assert main(["playbooks", "run", "revoke-world-ingress", "--alert", alert_id]) == 2
    assert "no approved revoke-world-ingress request" in capsys.readouterr().err
    assert world_open(group)


def test_run_executes_an_approved_request_and_announces_it(
        env: redis.Redis, capsys: pytest.CaptureFixture[str]) -> None:
    group = open_group()
    alert_id = alert_on(env, group)
    store = ActionStore(env)
    action = store.create(alert_id, "revoke-world-ingress", "U1")
    store.decide(action.id, "U2", action.token, "approve")
    assert main(["playbooks", "run", "revoke-world-ingress", "--alert", alert_id]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["status"] == "succeeded" and printed["token"] == "(hidden)"
    assert not world_open(group)
    stored = store.get(action.id)
    assert stored is not None and stored.result["undo"]["IpPermissions"] == [WORLD_SSH]
    announced = [{k.decode(): v.decode() for k, v in f.items()} for _, f in env.xrange(ALERTS)]
    assert {"alert_id": alert_id, "kind": "action_result", "action_id": action.id} in announced
    # Run again: the request is done; nothing runs twice.
    assert main(["playbooks", "run", "revoke-world-ingress", "--alert", alert_id,
                 "--action", action.id]) == 2
    assert "succeeded, not approved" in capsys.readouterr().err


def test_break_glass_is_off_by_default_and_the_refusal_is_audited(
        env: redis.Redis, capsys: pytest.CaptureFixture[str]) -> None:
    group = open_group()
    alert_id = alert_on(env, group)
    assert main(["playbooks", "run", "revoke-world-ingress", "--alert", alert_id,
                 "--break-glass", "Slack is down"]) == 2
    assert "allow_break_glass" in capsys.readouterr().err
    assert world_open(group)
    (entry,) = audit_trail(env)
    assert entry["what"] == "break-glass:revoke-world-ingress"
    assert entry["result"].startswith("refused") and entry["who"].startswith("cli:")


def config(tmp_path: Path, text: str) -> str:
    """A configuration file."""
    path = tmp_path / "socbot.yml"
    path.write_text(text)
    return str(path)


def test_break_glass_when_allowed_runs_and_audits_who_and_why(
        env: redis.Redis, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    group = open_group()
    alert_id = alert_on(env, group)
    path = config(tmp_path, "playbooks:\n  allow_break_glass: true\n")
    assert main(["--config", path, "playbooks", "run", "revoke-world-ingress", "--alert",
                 alert_id, "--break-glass", "Slack is down, attacker active"]) == 0
    assert not world_open(group)
    whats = [(e["what"], e["result"].split(":")[0]) for e in audit_trail(env)]
    assert whats == [("break-glass:revoke-world-ingress", "reason"),
                     ("run:revoke-world-ingress", "running"),
                     ("run:revoke-world-ingress", "succeeded")]
    assert "Slack is down, attacker active" in audit_trail(env)[0]["result"]
    assert json.loads(capsys.readouterr().out)["requested_by"].startswith("cli:")


def test_break_glass_never_runs_a_destructive_mode(
        env: redis.Redis, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    group = open_group()
    alert_id = alert_on(env, group)
    path = config(tmp_path, "playbooks:\n  allow_break_glass: true\n"
                            "approved_amis: [ami-0aaaaaaaaaaaaaaaa]\n")
    assert main(["--config", path, "playbooks", "run", "contain-unapproved-ami", "--alert",
                 alert_id, "--break-glass", "now", "--param", "mode=terminate"]) == 2
    assert "destructive" in capsys.readouterr().err
    assert ActionStore(env).for_alert(alert_id) == []


def test_run_refuses_bad_input(env: redis.Redis, capsys: pytest.CaptureFixture[str]) -> None:
    group = open_group()
    alert_id = alert_on(env, group)
    assert main(["playbooks", "run", "revoke-world-ingress", "--alert", "ANOPE",
                 "--dry-run"]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["playbooks", "run", "revoke-world-ingress", "--alert", alert_id,
                 "--param", "force=true"]) == 2
    assert "--param goes with --dry-run" in capsys.readouterr().err
    assert main(["playbooks", "run", "revoke-world-ingress", "--alert", alert_id, "--dry-run",
                 "--param", "force=true"]) == 2
    assert "unknown parameter" in capsys.readouterr().err


