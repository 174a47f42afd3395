"""Configuration: defaults, validation errors that say where and how to fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from socbot.core.config import ConfigError, Secrets, load


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "socbot.yml"
    path.write_text(text)
    return path


def test_no_file_gives_working_defaults() -> None:
    settings = load(path="")
    assert settings.approvals.expire_minutes == 30
    assert settings.slack.routing.channel(rule_id="r", dataset="secure",
                                          severity="high") == "#security-alerts"


def test_a_misspelt_key_names_file_key_and_fix(tmp_path: Path) -> None:
    path = write(tmp_path, "slack:\n  routng: {}\n")
    with pytest.raises(ConfigError) as caught:
        load(path)
    message = str(caught.value)
    assert str(path) in message and "slack.routng" in message and "spelling" in message


def test_approvers_must_be_user_ids_not_names(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"approvals\.approvers.*'alice'.*Copy member ID"):
        load(write(tmp_path, "approvals:\n  approvers: [alice]\n"))


def test_a_wrong_type_says_what_to_write(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"expire_minutes.*'soon'.*whole number"):
        load(write(tmp_path, "approvals:\n  expire_minutes: soon\n"))


def test_broken_yaml_gives_the_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"line 2"):
        load(write(tmp_path, "slack:\n\trouting: x\n"))


def test_a_missing_file_says_what_to_fix(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="SOCBOT_CONFIG"):
        load(tmp_path / "absent.yml")


def test_routing_prefers_rule_then_dataset_then_severity(tmp_path: Path) -> None:
    settings = load(write(tmp_path, """
slack:
  routing:
    default: "#sec"
    by_severity: {critical: "#sec-critical"}
    by_dataset: {cloudtrail: "#sec-aws"}
    by_rule: {cloudtrail.sg_open_to_world: "#sec-network"}
"""))
    route = settings.slack.routing.channel
    assert route(rule_id="cloudtrail.sg_open_to_world", dataset="cloudtrail",
                 severity="critical") == "#sec-network"
    assert route(rule_id="x", dataset="cloudtrail", severity="critical") == "#sec-aws"
    assert route(rule_id="x", dataset="secure", severity="critical") == "#sec-critical"
    assert route(rule_id="x", dataset="secure", severity="low") == "#sec"


def test_slack_credentials_must_be_complete() -> None:
    Secrets().check_slack()  # no Slack at all is fine: the terminal gets the alerts
    with pytest.raises(ConfigError, match="SLACK_APP_TOKEN .* or SLACK_SIGNING_SECRET"):
        Secrets(slack_bot_token="xoxb-1").check_slack()
    with pytest.raises(ConfigError, match="xoxb-"):
        Secrets(slack_bot_token="xapp-1", slack_app_token="xapp-2").check_slack()
