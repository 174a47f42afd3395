"""The Slack app manifest is in step with what the bot registers and calls."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from socbot.bot.app import build_app
from socbot.core.config import Secrets, Settings

ROOT = Path(__file__).resolve().parents[1]
MANIFEST = ROOT / "slack-app-manifest.yml"


# The bot scope each Web API method socbot calls needs (Slack's method reference); methods that
# need none (auth.test, views.open, views.update, views.publish) are listed with an empty set.
METHOD_SCOPES = {
    "chat_postMessage": {"chat:write"}, "chat_update": {"chat:write"},
    "chat_postEphemeral": {"chat:write"}, "usergroups_users_list": {"usergroups:read"},
    "users_lookupByEmail": {"users:read", "users:read.email"},
    "conversations_history": {"channels:history", "groups:history"},
    "auth_test": set(), "views_open": set(), "views_update": set(), "views_publish": set(),
}
CALL = re.compile(r"\.((?:chat|views|users|usergroups|conversations|reactions|files|team|"
                  r"apps|auth|im|mpim|pins|bookmarks)_[A-Za-z_]+)\(")


def called_methods() -> set[str]:
    """Every Slack Web API method the package calls."""
    found: set[str] = set()
    for folder in ("bot", "core", "enrichment", "collectors", "playbooks", "detections"):
        for path in (ROOT / folder).rglob("*.py"):
            found |= set(CALL.findall(path.read_text()))
    return found


def needed_scopes() -> set[str]:
    """The scopes the calls need, plus ``commands`` for /soc."""
    unknown = called_methods() - set(METHOD_SCOPES)
    assert not unknown, f"add the scope of {unknown} to METHOD_SCOPES (and the manifest)"
    return {"commands"}.union(*(METHOD_SCOPES[m] for m in called_methods()))


def test_the_readme_names_each_scope_with_the_call_that_needs_it() -> None:
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("### Slack scopes"):]
    section = section[:section.index("\n## ")]
    for scope in needed_scopes():
        assert f"`{scope}`" in section, scope
    for method, scopes in METHOD_SCOPES.items():
        if scopes and method in called_methods():
            assert method.replace("_", ".") in section, method
    assert "im:write" not in readme


def test_manifest_declares_what_the_bot_uses(redis_client: object) -> None:
    manifest = yaml.safe_load(MANIFEST.read_text())
    scopes = set(manifest["oauth_config"]["scopes"]["bot"])
    assert scopes == needed_scopes()
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
                 "soc", "home_opened", "request_undo", "params_submitted",
                 "preview_submitted", "create_ticket"):
        assert name in names, name
