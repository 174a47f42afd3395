"""socbot doctor: each check against the real thing, and what it says to fix."""

from __future__ import annotations

import argparse
import socket
from pathlib import Path

import boto3
import pytest
from fake_slack import FakeSlack
from moto_server import ACCOUNT, MotoServer

from socbot.bot import doctor
from socbot.core.config import Secrets, Settings


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_redis_reachable(redis_url: str) -> None:
    found = doctor.check_redis({"REDIS_URL": redis_url})
    assert found.status in (doctor.OK, doctor.WARN)  # WARN: a server without AOF
    assert "Redis " in found.detail
    if found.status == doctor.WARN:
        assert "appendonly yes" in found.fix


def test_redis_unreachable_says_what_to_fix() -> None:
    found = doctor.check_redis({"REDIS_URL": f"redis://:secret@127.0.0.1:{free_port()}/0"})
    assert found.status == doctor.FAIL
    assert "secret" not in found.detail  # the password is never printed
    assert "fix REDIS_URL" in found.fix


def test_redis_not_configured() -> None:
    assert doctor.check_redis({}).status == doctor.OFF


def test_slack_auth_test_against_the_web_api(slack: FakeSlack) -> None:
    secrets = Secrets(slack_bot_token="xoxb-1", slack_app_token="xapp-1",
                      slack_api_url=slack.url)
    found = doctor.check_slack(secrets)
    assert found.status == doctor.OK
    assert "UBOT0001" in found.detail and "Socket Mode" in found.detail
    assert "(team T0001)" in found.detail  # what slack.workspace.team_ids takes
    assert len(slack.calls("auth.test")) == 1


def test_slack_failure_is_reported(slack: FakeSlack) -> None:
    slack.fail_next("auth.test", count=5, status=500)
    found = doctor.check_slack(Secrets(slack_bot_token="xoxb-1", slack_app_token="xapp-1",
                                       slack_api_url=slack.url))
    assert found.status == doctor.FAIL
    assert found.detail == "auth.test: internal_error"


def test_slack_incomplete_credentials_say_what_to_set() -> None:
    found = doctor.check_slack(Secrets(slack_bot_token="xoxb-1"))
    assert found.status == doctor.FAIL
    assert "SLACK_APP_TOKEN" in found.fix


def test_slack_not_configured() -> None:
    assert doctor.check_slack(Secrets()).status == doctor.OFF


def test_aws_credentials_and_role_assumption(aws: MotoServer) -> None:
    boto3.client("iam").create_role(RoleName="socbot-remediation",
                                    AssumeRolePolicyDocument="{}")
    settings = Settings.model_validate({"aws": {"role_name": "socbot-remediation"}})
    found = doctor.check_aws(settings, {"SOCBOT_AWS_EXTERNAL_ID": "ext-123"})
    assert [f.status for f in found] == [doctor.OK, doctor.OK]
    assert f"account {ACCOUNT}" in found[0].detail
    assert found[1].detail == (f"AssumeRole arn:aws:iam::{ACCOUNT}:role/socbot-remediation "
                               "with ExternalId")


def test_aws_without_credentials_is_not_configured(monkeypatch: pytest.MonkeyPatch,
                                                   tmp_path: Path) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
                 "AWS_PROFILE", "AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE",
                 "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
                 "AWS_CONTAINER_CREDENTIALS_FULL_URI"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    [found] = doctor.check_aws(Settings(), {})
    assert found.status == doctor.OFF
    assert "instance or task role" in found.fix


def test_aws_with_unreachable_sts_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{free_port()}")
    [found] = doctor.check_aws(Settings(), {})
    assert found.status == doctor.FAIL
    assert found.detail.startswith("sts:GetCallerIdentity")


def test_fluentd_checks() -> None:
    assert doctor.check_fluentd({}).status == doctor.OFF
    closed = doctor.check_fluentd({"FLUENTD_HOST": "127.0.0.1", "FLUENTD_PORT": str(free_port())})
    assert closed.status == doctor.FAIL and "deploy/fluentd" in closed.fix
    # A port the bot would refuse is a failure here too, not a connection to port % 65536.
    for bad in ("x", "70000", "0"):
        wrong = doctor.check_fluentd({"FLUENTD_HOST": "127.0.0.1", "FLUENTD_PORT": bad})
        assert wrong.status == doctor.FAIL and wrong.detail == f"FLUENTD_PORT={bad!r} is not a port"
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        found = doctor.check_fluentd({"FLUENTD_HOST": "127.0.0.1", "FLUENTD_PORT": str(port)})
    assert found.status == doctor.OK


def test_enrichment_database_paths() -> None:
    assert doctor.check_enrichment(Settings()).status == doctor.OK
    missing = Settings.model_validate({"enrichment": {"maxmind_city_db": "/nonexistent.mmdb"}})
    found = doctor.check_enrichment(missing)
    assert found.status == doctor.FAIL and "/nonexistent.mmdb" in found.detail


def test_config_names_unknown_rules() -> None:
    bad = Settings.model_validate({"rules": {"secure.no_such_rule": {"enabled": False}}})
    assert doctor.check_config(bad, "x.yml").status == doctor.FAIL
    assert doctor.check_config(Settings(), None).status == doctor.OK


def test_the_command_reports_and_fails_only_on_failures(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
        redis_url: str) -> None:
    for name in ("FLUENTD_HOST", "AWS_ACCESS_KEY_ID", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
    monkeypatch.setenv("REDIS_URL", redis_url)
    args = argparse.Namespace(json=False, config=None)
    assert doctor.cmd_doctor(args, Settings(), Secrets()) == 0
    out = capsys.readouterr().out
    assert "not configured  slack" in out and "fix: set SLACK_BOT_TOKEN" in out
    monkeypatch.setenv("REDIS_URL", f"redis://127.0.0.1:{free_port()}/0")
    assert doctor.cmd_doctor(args, Settings(), Secrets()) == 1
    assert "FAIL            redis" in capsys.readouterr().out
