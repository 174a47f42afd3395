"""README, --help and the manifest stay in step with the code."""

from __future__ import annotations

import argparse
import re

import yaml
from conftest import PROJECT

from socbot.bot.cli import build_parser
from socbot.core.config import Settings
from socbot.detections.rule import load_all
from socbot.playbooks.registry import all_playbooks

README = (PROJECT / "README.md").read_text()


def _subcommands(parser: argparse.ArgumentParser) -> list[str]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return list(action.choices)
    return []


def test_every_command_is_in_the_readme() -> None:
    for command in _subcommands(build_parser()):
        assert f"socbot {command}" in README, f"README does not show `socbot {command}`"


def test_every_rule_is_in_the_readme() -> None:
    missing = [rule_id for rule_id in load_all() if f"`{rule_id}`" not in README]
    assert not missing, f"README's rule table lacks {missing}"


def test_runbooks_name_only_commands_that_exist() -> None:
    commands = set(_subcommands(build_parser()))
    soc = {"recent", "search", "alert", "mute", "unmute", "status", "playbooks", "help"}
    wrong = []
    for rule_id, rule in load_all().items():
        for command in re.findall(r"\bsocbot ([a-z-]+)", rule.runbook):
            if command not in commands:
                wrong.append(f"{rule_id}: socbot {command}")
        for command in re.findall(r"/soc ([a-z-]+)", rule.runbook):
            if command not in soc:
                wrong.append(f"{rule_id}: /soc {command}")
    assert not wrong, f"runbooks name commands that do not exist: {wrong}"


def test_every_playbook_is_in_the_readme() -> None:
    missing = [p.name for p in all_playbooks() if f"`{p.name}`" not in README]
    assert not missing, f"README's playbook table lacks {missing}"


def test_every_configuration_section_is_in_the_reference() -> None:
    for name, value in Settings().model_dump().items():
        keys = [name] if not isinstance(value, dict) or not value else [
            f"{name}.{key}" for key in value]
        for key in keys:
            assert f"`{key}" in README, f"the configuration reference lacks {key}"


def test_the_manifest_declares_the_command_and_home_the_code_serves() -> None:
    manifest = yaml.safe_load((PROJECT / "slack-app-manifest.yml").read_text())
    commands = [c["command"] for c in manifest["features"]["slash_commands"]]
    assert commands == ["/soc"]
    assert manifest["features"]["slash_commands"][0]["should_escape"] is True
    assert manifest["features"]["app_home"]["home_tab_enabled"] is True
    assert manifest["settings"]["socket_mode_enabled"] is True
    assert manifest["settings"]["interactivity"]["is_enabled"] is True
    assert "app_home_opened" in manifest["settings"]["event_subscriptions"]["bot_events"]
