"""Create ticket, over signed HTTP and over Socket Mode, against a fake Jira Cloud over HTTP
that checks the request shapes Jira documents: one issue per alert, linked in its thread."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from fake_jira import EMAIL, PROJECT, TOKEN, FakeJira
from fake_slack import FakeSlack, buttons
from slack_harness import MALLORY, ONCALL, RESPONDER, Harness, eventually, harness

from socbot.core.config import Settings
from socbot.core.streams import AUDIT


@pytest.fixture
def jira() -> Iterator[FakeJira]:
    with FakeJira() as fake:
        yield fake


@pytest.fixture
def bot(slack: FakeSlack, redis_client: redis.Redis, transport: str, jira: FakeJira,
        monkeypatch: pytest.MonkeyPatch) -> Iterator[Harness]:
    monkeypatch.setenv("JIRA_API_TOKEN", TOKEN)
    settings = Settings.model_validate({
        "slack": {"oncall_usergroup": ONCALL},
        "tickets": {"jira": {"url": jira.url, "project_key": PROJECT, "email": EMAIL}}})
    with harness(slack, redis_client, settings, transport=transport) as running:
        yield running


def audit_results(bot: Harness) -> list[str]:
    entries: Any = bot.redis.xrange(AUDIT)
    return [f[b"result"].decode() for _id, f in entries if f[b"what"] == b"ticket"]


def test_create_ticket_files_one_jira_issue_and_links_it_in_the_thread(
        bot: Harness, jira: FakeJira) -> None:
    alert_id = bot.alert()
    assert "alert_ticket" in [b["action_id"] for b in buttons(bot.message(alert_id))]

    bot.click(RESPONDER, "alert_ticket", alert_id)

    eventually(lambda: bot.thread(alert_id))
    [issue] = jira.issues
    assert issue["summary"] == "[HIGH] SSH brute force from 203.0.113.7"
    assert issue["labels"] == ["socbot", f"socbot-{alert_id}"]
    paragraphs = [p["content"][0]["text"] for p in issue["description"]["content"]]
    assert paragraphs[0].startswith(f"socbot alert {alert_id}: SSH brute force")
    assert "source.ip: 203.0.113.7" in paragraphs
    assert bot.thread(alert_id) == [
        f":ticket: Jira <{jira.url}/browse/{PROJECT}-1|{PROJECT}-1> filed by <@{RESPONDER}>"]
    assert audit_results(bot) == [f"{PROJECT}-1"]


def test_a_double_click_files_one_ticket(bot: Harness, jira: FakeJira) -> None:
    alert_id = bot.alert()
    clicks = [threading.Thread(target=bot.click, args=(RESPONDER, "alert_ticket", alert_id))
              for _ in range(2)]
    for click in clicks:
        click.start()
    for click in clicks:
        click.join()
    eventually(lambda: bot.thread(alert_id) and bot.ephemerals(RESPONDER))
    bot.click(RESPONDER, "alert_ticket", alert_id)  # later, once more

    bot.wait_ephemeral(RESPONDER, 2)
    assert len(jira.issues) == 1
    assert bot.ephemerals(RESPONDER)[-1] == (
        f"This alert already has ticket {PROJECT}-1; see the alert's thread. Nothing was "
        "filed.")


def test_a_jira_refusal_is_explained_and_a_later_click_can_file(
        bot: Harness, jira: FakeJira) -> None:
    alert_id = bot.alert()
    jira.fail_with = 401
    bot.click(RESPONDER, "alert_ticket", alert_id)

    assert bot.wait_ephemeral(RESPONDER).startswith(
        "Could not file the ticket: Jira answered 401; Jira is having a bad day; check "
        "tickets.jira.email and the API token.")
    assert jira.issues == []
    bot.click(RESPONDER, "alert_ticket", alert_id)
    eventually(lambda: len(jira.issues) == 1)


def test_the_home_tab_offers_create_ticket_and_a_click_there_files_it(
        bot: Harness, jira: FakeJira) -> None:
    alert_id = bot.alert()
    bot.event({"type": "app_home_opened", "user": RESPONDER, "channel": "D0HOME",
               "tab": "home", "event_ts": "1.2"})
    home = bot.slack.wait_for("views.publish")[0].params["view"]
    assert "alert_ticket" in [b["action_id"] for b in buttons(home)]

    bot.click(RESPONDER, "alert_ticket", alert_id, home=True)

    eventually(lambda: bot.thread(alert_id))
    assert len(jira.issues) == 1


def test_only_responders_file_tickets(bot: Harness, jira: FakeJira) -> None:
    alert_id = bot.alert()
    bot.click(MALLORY, "alert_ticket", alert_id)
    assert bot.wait_ephemeral(MALLORY).startswith("Only the on-call group")
    assert jira.requests == []


def test_without_jira_settings_there_is_no_ticket_button(
        slack: FakeSlack, redis_client: redis.Redis) -> None:
    with harness(slack, redis_client) as bot:
        alert_id = bot.alert()
        assert "alert_ticket" not in [b["action_id"] for b in buttons(bot.message(alert_id))]
