"""The Slack app manifest is in step with what the bot registers and calls."""

from __future__ import annotations

from pathlib import Path

import yaml

from socbot.bot.app import build_app
from socbot.core.config import Secrets, Settings

MANIFEST = Path(__file__).resolve().parents[1] / "slack-app-manifest.yml"


def test_manifest_declares_what_the_bot_uses(redis_client: object) -> None:
    manifest = yaml.safe_load(MANIFEST.read_text())
    scopes = set(manifest["oauth_config"]["scopes"]["bot"])
    assert {"chat:write", "commands", "usergroups:read", "users:read", "users:read.email",
            "im:write"} <= scopes
    [command] = manifest["features"]["slash_commands"]
    assert command["command"] == "/soc" and command["should_escape"] is True
    assert manifest["features"]["app_home"]["home_tab_enabled"] is True
    assert manifest["features"]["app_home"]["messages_tab_enabled"] is True
    settings = manifest["settings"]
    assert settings["socket_mode_enabled"] is True and settings["interactivity"]["is_enabled"]
    assert settings["event_subscriptions"]["bot_events"] == ["app_home_opened"]


def test_every_button_command_and_event_has_a_listener(redis_client: object) -> None:
    from slack_sdk import WebClient

    app = build_app(Settings(), Secrets(slack_signing_secret="s"),
                    WebClient(token="xoxb-x", base_url="http://127.0.0.1:9/api/"),
                    redis_client)  # type: ignore[arg-type]
    names = [listener.ack_function.__name__ for listener in app._listeners]
    for name in ("acknowledge", "resolve", "false_positive", "false_positive_submitted",
                 "mute", "request_playbook", "approve", "deny", "verify_yes", "verify_no",
                 "soc", "home_opened"):
        assert name in names, name
