"""The console in a real browser: the loop from alert to an approved, finished playbook.

The bot runs for real (Redis, Bolt over signed HTTP, the respond stage on moto's server); the
console serves its Web API calls and the page sends every click as Slack would. A hostile user
name in a CloudTrail record must stay text on the page.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
import redis
from console_browser import browser  # noqa: F401
from moto_server import REGION, MotoServer
from playbook_env import interface_groups

from socbot.bot.console import demo

pytestmark = pytest.mark.e2e

HOSTILE = "<!channel> <https://evil.example|Approve> &amp; <@U0APPR>"
SHOTS = os.environ.get("SOCBOT_CONSOLE_SHOTS", "")  # a folder: save the README's screenshots


@pytest.fixture
def console(redis_client: redis.Redis, aws: MotoServer) -> Iterator[demo.Console]:
    running = demo.start(aws=True, redis_client=redis_client)
    assert running.aws is not None
    try:
        running.feed(demo.trail_records(running.aws, actor=HOSTILE), samples=False)
        yield running
    finally:
        running.close()


@pytest.fixture
def page(browser: Any, console: demo.Console) -> Iterator[Any]:  # noqa: F811
    context = browser.new_context(viewport={"width": 1180, "height": 800})
    tab = context.new_page()
    tab.set_default_timeout(20_000)
    tab.goto(console.url + "/")
    yield tab
    context.close()


def shot(page: Any, name: str) -> None:
    if SHOTS:
        page.screenshot(path=str(Path(SHOTS) / f"console-{name}.png"))


def press(page: Any, button: Any) -> None:
    """Click ``button`` and accept its confirm dialog when it has one (drawn on the click)."""
    button.click()
    if page.locator("[data-confirm=yes]").count():
        page.locator("[data-confirm=yes]").click()


def alert_message(page: Any, text: str) -> Any:
    """The alert whose header holds ``text`` (a correlated alert may quote it in its body)."""
    message = page.locator("#messages > article.msg").filter(
        has=page.locator(".header", has_text=text))
    message.wait_for()
    return message


def test_alert_to_approved_playbook_and_the_rule_is_gone(page: Any,
                                                          console: demo.Console) -> None:
    assert console.aws is not None
    group = console.aws.group
    alert = alert_message(page, f"Security group {group} opened to the world")

    # Acknowledge as the on-call person: the message is updated in place.
    alert.locator("[data-action-id=alert_ack]").click()
    page.wait_for_function(
        "g => [...document.querySelectorAll('#messages > article')].some(a => "
        "a.textContent.includes(g) && a.textContent.includes('Acknowledged by @Olive'))", arg=group)
    shot(page, "channel")

    # Request the revocation: the button's confirm dialog first, then the thread's request.
    alert.locator("[data-action-id=playbook_request]").first.click()
    page.locator("[data-confirm=yes]").click()
    approve = alert.locator(".thread [data-action-id=approval_approve]")
    approve.wait_for()

    # The requester cannot approve their own request; nothing runs.
    press(page, approve)
    page.locator("article.ephemeral", has_text="another approver").wait_for()
    assert _world_open(group)

    # A second person approves; the thread reports the revocation; moto agrees.
    page.select_option("#who", "approver")
    page.locator("article.ephemeral").first.wait_for(state="detached")  # only Olive saw it
    press(page, approve)
    alert.locator(".thread", has_text=re.compile("revoked", re.I)).wait_for(timeout=30_000)
    assert not _world_open(group)
    assert "10.42.0.0/16" in _ranges(group)  # only the world-open range went
    shot(page, "thread")


def test_modal_shows_the_bots_validation_error_then_closes(page: Any,
                                                          console: demo.Console) -> None:
    assert console.aws is not None
    alert = alert_message(page, f"Instance {console.aws.instance} launched from unapproved AMI")
    alert.locator("[data-action-id=alert_false_positive]").click()
    modal = page.locator(".dialog.modal")
    modal.wait_for()
    modal.locator("textarea").fill("x")
    modal.locator("[data-modal=submit]").click()
    modal.locator(".error", has_text="at least 3 characters").wait_for()
    assert modal.locator("textarea").input_value() == "x"  # what was typed stays
    shot(page, "modal")
    modal.locator("textarea").fill("a test instance of the platform team")
    modal.locator("[data-modal=submit]").click()
    modal.wait_for(state="detached")
    alert.filter(has_text="a test instance of the platform team").wait_for()


def test_hostile_name_stays_text(page: Any, console: demo.Console) -> None:
    assert console.aws is not None
    alert = alert_message(page, f"Access key created for {console.aws.user}")
    shown = alert.inner_text()
    assert "<!channel>" in shown and "<https://evil.example|Approve>" in shown
    assert "&amp;" in shown and "<@U0APPR>" in shown  # as written, nothing decoded twice
    # No mention, channel ping or link was made of it: the alert has no such element at all.
    assert alert.locator("[data-special], [data-mention], a").count() == 0
    assert page.locator("a[href*='evil.example']").count() == 0


def test_app_home_and_the_command_box(page: Any, console: demo.Console) -> None:
    assert console.aws is not None
    alert_message(page, console.aws.group)
    page.locator("#home-link").click()
    page.locator(".home .block").first.wait_for()
    assert "Playbooks" in page.locator(".home").inner_text()
    shot(page, "home")
    # A button on App Home is a click in a view (no channel, no message) and works too.
    item = page.locator(".home .block.actions").filter(
        has=page.locator("[data-action-id=alert_ack]")).first
    item.locator("[data-action-id=alert_ack]").click()
    page.locator("#channels a").first.click()
    page.locator("#messages > article.msg", has_text="Acknowledged by @Olive").first.wait_for()
    page.locator("#command").fill("/soc help")
    page.locator("#command").press("Enter")
    page.locator("article.ephemeral").first.wait_for()


def _ranges(group: str) -> list[str]:
    ec2 = boto3.client("ec2", region_name=REGION)
    permissions = ec2.describe_security_groups(GroupIds=[group])["SecurityGroups"][0][
        "IpPermissions"]
    return [r["CidrIp"] for p in permissions for r in p.get("IpRanges", [])]


def _world_open(group: str) -> bool:
    return "0.0.0.0/0" in _ranges(group)


def test_block_kit_rendering_follows_slack(page: Any, console: demo.Console) -> None:
    """A message with what the bot does not send today: real mentions and links are drawn,
    snake_case stays plain, an unsupported block is shown as such, an overflow choice reaches
    the bot signed (no listener there: Bolt answers 404, not 401)."""
    assert console.aws is not None
    alert_message(page, console.aws.group)  # the page has drawn: what follows is news
    channel = console.server.workspace.channel_id(demo.CHANNEL)
    console.server.workspace.call("chat.postMessage", {
        "channel": channel, "text": "rendering check &lt;!channel&gt; for <@U0APPR>",
        "blocks": [
            {"type": "section", "block_id": "r1", "text": {
                "type": "mrkdwn",
                "text": "*bold* for <@U0APPR>, see <https://example.org/x|the docs>,"
                        " keep rule_id_name and 1 &lt; 2 &amp;&amp; 3 &gt; 2"},
             "accessory": {"type": "overflow", "action_id": "console_probe", "options": [
                 {"text": {"type": "plain_text", "text": "Probe"}, "value": "probe"}]}},
            {"type": "rich_text", "elements": []},
        ]}, "xoxb-console")
    message = page.locator("#messages > article.msg", has_text="keep rule_id_name")
    message.wait_for()
    assert message.locator("b", has_text="bold").count() == 1
    assert message.locator("[data-mention=U0APPR]").inner_text() == "@Abel (approver)"
    link = message.locator("a", has_text="the docs")
    assert link.get_attribute("href") == "https://example.org/x"
    assert "rule_id_name" in message.inner_text() and message.locator("i").count() == 0
    assert "1 < 2 && 3 > 2" in message.inner_text()
    assert message.locator("[data-unsupported='block rich_text']").count() == 1
    message.locator("[data-overflow=console_probe]").click()
    message.locator("[data-option=probe]").click()
    page.locator("#notifications li", has_text="answered 404").wait_for()
    # The fallback text is the notification: plain text, the escaped ping stays text.
    notice = page.locator("#notifications li", has_text="rendering check")
    assert notice.inner_text() == "rendering check <!channel> for @Abel (approver)"
    assert page.locator("#notifications a, #notifications .mention").count() == 0


def test_parameters_modal_then_outsiders_refused_and_second_approver_runs(
        page: Any, console: demo.Console) -> None:
    """quarantine-instance asks for parameters (a modal, then the dry run's preview in its
    place); someone outside the approvers and a shared channel's member from another
    organisation are refused; the second approver's approval runs it on moto."""
    assert console.aws is not None
    instance = console.aws.instance
    alert = alert_message(page, f"Instance {instance} launched from unapproved AMI")
    press(page, alert.locator("[data-action-id=playbook_request]", has_text="quarantine-instance"))
    modal = page.locator(".dialog.modal")
    modal.locator("select").first.wait_for()
    shot(page, "parameters")
    modal.locator("[data-modal=submit]").click()
    # The preview replaces the modal, then the dry run's findings replace "reading…".
    modal.filter(has_text="Dry run now").wait_for()
    shot(page, "preview")
    modal.locator("[data-modal=submit]").click()
    modal.wait_for(state="detached")
    approve = alert.locator(".thread [data-action-id=approval_approve]")
    approve.wait_for()

    for who, refusal in (("outsider", "not an approver"), ("external", "outside this workspace")):
        page.select_option("#who", who)
        press(page, approve)
        page.locator("article.ephemeral", has_text=refusal).wait_for()
        assert _groups(instance) == [console.aws.group], f"{who} changed the instance"

    page.select_option("#who", "approver2")
    press(page, approve)
    alert.locator(".thread", has_text="Succeeded").wait_for(timeout=30_000)
    assert console.aws.group not in _groups(instance)


def _groups(instance: str) -> list[str]:
    """The groups of the instance's network interfaces (what isolation replaces)."""
    found = interface_groups(boto3.client("ec2", region_name=REGION), instance)
    return sorted({group for groups in found.values() for group in groups})


def test_disable_access_key_from_the_page(page: Any, console: demo.Console) -> None:
    """The third resource of the demo: the key made for another user is disabled in moto."""
    assert console.aws is not None
    alert = alert_message(page, f"Access key created for {console.aws.user}")
    press(page, alert.locator("[data-action-id=playbook_request]", has_text="disable-access-key"))
    # No parameters: the confirmed click asks for approval in the thread at once.
    approve = alert.locator(".thread [data-action-id=approval_approve]")
    approve.wait_for()
    page.select_option("#who", "approver")
    press(page, approve)
    alert.locator(".thread", has_text="Succeeded").wait_for(timeout=30_000)
    keys = boto3.client("iam", region_name=REGION).list_access_keys(
        UserName=console.aws.user)["AccessKeyMetadata"]
    assert [(k["AccessKeyId"], k["Status"]) for k in keys] == [
        (console.aws.access_key, "Inactive")]
