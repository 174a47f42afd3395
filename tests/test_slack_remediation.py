"""Remediation from the message, end to end over signed HTTP and over Socket Mode: a request is
approved in Slack, the playbook runner acts on moto's AWS, the result goes to the thread; its
Undo button makes a new request, approved like the run, that reverses it on AWS."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
import redis
from fake_slack import FakeSlack, button_value, buttons
from moto_server import ACCOUNT, REGION, MotoServer
from playbook_env import instance
from slack_harness import APPROVER, MALLORY, ONCALL, RESPONDER, Harness, eventually, harness

from socbot.core.actions import Action
from socbot.core.config import Settings
from socbot.core.streams import ACTIONS, ALERTS
from socbot.playbooks.runner import ActionRunner
from socbot.playbooks.session import SessionFactory

PLAYBOOK = "disable-access-key"
CONTAIN = "contain-unapproved-ami"
SECOND_APPROVER = "U0APPR2"
APPROVED_AMI = "ami-0aaaaaaaaaaaaaaaa"
SETTINGS = Settings.model_validate({
    "slack": {"oncall_usergroup": ONCALL},
    "approvals": {"approvers": [APPROVER, SECOND_APPROVER]},
    "approved_amis": [APPROVED_AMI]})


@pytest.fixture
def bot(slack: FakeSlack, redis_client: redis.Redis, transport: str,
        aws: MotoServer) -> Iterator[Harness]:
    with harness(slack, redis_client, SETTINGS, transport=transport,
                 playbooks=("revoke-world-ingress", PLAYBOOK, CONTAIN, "block-ip-nacl"),
                 sessions=SessionFactory(None, None)) as running:
        yield running


@pytest.fixture
def iam(aws: MotoServer) -> Any:
    return boto3.client("iam")


def key_status(iam: Any, key: str) -> str:
    keys = iam.list_access_keys(UserName="alice")["AccessKeyMetadata"]
    return str(next(k["Status"] for k in keys if k["AccessKeyId"] == key))


def key_alert(bot: Harness, iam: Any) -> tuple[str, str]:
    """An alert naming alice's active access key, offering disable-access-key."""
    iam.create_user(UserName="alice")
    key = str(iam.create_access_key(UserName="alice")["AccessKey"]["AccessKeyId"])
    alert_id = bot.alert(rule_id="cloudtrail.access_key_leak", dataset="cloudtrail",
                         playbooks=[PLAYBOOK], context={
                             "cloud.account.id": ACCOUNT, "cloud.region": REGION,
                             "access_key_id": key, "iam_user": "alice"})
    return alert_id, key


def run_pending(bot: Harness) -> None:
    """What the respond and notify stages do with what is queued: run approved requests on
    AWS, then post their results in the thread."""
    runner = ActionRunner(bot.redis, bot.actions, bot.alerts, SessionFactory(None, None),
                          settings=SETTINGS)
    for entry_id, fields in _entries(bot, ACTIONS, "runner"):
        runner.handle(entry_id, fields)
    for entry_id, fields in _entries(bot, ALERTS, "notifier"):
        bot.notifier.handle(entry_id, fields)
    bot.notifier.flush()


def _entries(bot: Harness, stream: str, reader: str) -> list[tuple[str, dict[str, str]]]:
    seen_key = f"test:seen:{reader}"
    last = (bot.redis.get(seen_key) or b"0-0").decode()
    raw: Any = bot.redis.xrange(stream, min=f"({last}")
    entries = [(i.decode(), {k.decode(): v.decode() for k, v in f.items()}) for i, f in raw]
    if entries:
        bot.redis.set(seen_key, entries[-1][0])
    return entries


def approve_latest(bot: Harness, alert_id: str, approver: str = APPROVER, *,
                   approvals: int = 0) -> Action:
    """Wait for the newest request's approval message and approve it; wait until it is
    approved, or until it has ``approvals`` approvals when given."""
    eventually(lambda: bot.actions.for_alert(alert_id)
               and bot.actions.for_alert(alert_id)[-1].slack_ts)
    request = bot.actions.for_alert(alert_id)[-1]
    message = bot.slack.messages[(request.slack_channel, request.slack_ts)]
    bot.click(approver, "approval_approve", button_value(message, "approval_approve"))

    def done() -> bool:
        now = bot.actions.get(request.id)
        assert now is not None
        return len(now.approvals) == approvals if approvals else now.status == "approved"

    eventually(done)
    return bot.actions.get(request.id)  # type: ignore[return-value]


def result_message(bot: Harness, prefix: str) -> dict[str, Any]:
    """The newest thread message whose fallback text starts with ``prefix``."""
    found = [c.params for c in bot.slack.calls("chat.postMessage")
             if str(c.params.get("text", "")).startswith(prefix)]
    assert found, f"no message starting {prefix!r}"
    return found[-1]


def test_a_run_approved_in_slack_disables_the_key_and_its_undo_reactivates_it(
        bot: Harness, iam: Any) -> None:
    alert_id, key = key_alert(bot, iam)
    bot.click(RESPONDER, "playbook_request", f"{alert_id}|{PLAYBOOK}")
    run = approve_latest(bot, alert_id)
    run_pending(bot)
    assert key_status(iam, key) == "Inactive"
    assert bot.actions.get(run.id).status == "succeeded"  # type: ignore[union-attr]

    result = result_message(bot, f"{PLAYBOOK} succeeded on alert {alert_id}")
    assert button_value(result, "playbook_undo") == run.id
    bot.click(RESPONDER, "playbook_undo", run.id)
    undo = approve_latest(bot, alert_id)
    assert undo.undo_of == run.id and undo.id != run.id
    assert key_status(iam, key) == "Inactive"  # nothing before the undo runs

    run_pending(bot)
    assert key_status(iam, key) == "Active"
    done = bot.actions.get(undo.id)
    assert done is not None and done.status == "succeeded"
    assert "reactivated" in done.result["summary"]
    undone = result_message(bot, f"undo of {PLAYBOOK} (run {run.id}) succeeded")
    assert [b["action_id"] for b in buttons(undone)] == []  # an undo is not undone again


def test_an_undo_is_approved_like_the_run_never_by_its_requester(
        bot: Harness, iam: Any) -> None:
    alert_id, key = key_alert(bot, iam)
    bot.click(RESPONDER, "playbook_request", f"{alert_id}|{PLAYBOOK}")
    run = approve_latest(bot, alert_id)
    run_pending(bot)
    bot.click(APPROVER, "playbook_undo", run.id)  # the approver of the run asks to undo it
    eventually(lambda: len(bot.actions.for_alert(alert_id)) == 2
               and bot.actions.for_alert(alert_id)[-1].slack_ts)
    undo = bot.actions.for_alert(alert_id)[-1]
    message = bot.slack.messages[(undo.slack_channel, undo.slack_ts)]

    bot.click(APPROVER, "approval_approve", button_value(message, "approval_approve"))

    assert bot.wait_ephemeral(APPROVER).startswith("You requested this")
    assert bot.redis.xlen(ACTIONS) == 1 and key_status(iam, key) == "Inactive"


def test_simultaneous_undo_clicks_open_one_undo_request(bot: Harness, iam: Any) -> None:
    alert_id, _key = key_alert(bot, iam)
    bot.click(RESPONDER, "playbook_request", f"{alert_id}|{PLAYBOOK}")
    run = approve_latest(bot, alert_id)
    run_pending(bot)
    clicks = [threading.Thread(target=bot.click, args=(user, "playbook_undo", run.id))
              for user in (RESPONDER, MALLORY, "U0THIRD")]
    for click in clicks:
        click.start()
    for click in clicks:
        click.join()

    eventually(lambda: len(bot.slack.calls("chat.postEphemeral")) == 2)
    assert len([a for a in bot.actions.for_alert(alert_id) if a.undo_of == run.id]) == 1


def test_a_second_undo_request_of_the_same_run_is_refused(bot: Harness, iam: Any) -> None:
    alert_id, _key = key_alert(bot, iam)
    bot.click(RESPONDER, "playbook_request", f"{alert_id}|{PLAYBOOK}")
    run = approve_latest(bot, alert_id)
    run_pending(bot)
    bot.click(RESPONDER, "playbook_undo", run.id)
    eventually(lambda: len(bot.actions.for_alert(alert_id)) == 2)

    bot.click(MALLORY, "playbook_undo", run.id)

    assert bot.wait_ephemeral(MALLORY).startswith(f"Undo of {run.id} was already requested")
    assert len(bot.actions.for_alert(alert_id)) == 2


# --- parameters from the message -------------------------------------------------------------

def test_a_parameterised_run_is_chosen_previewed_approved_twice_and_run_on_aws(
        bot: Harness) -> None:
    ec2 = boto3.client("ec2")
    made = instance(ec2)
    alert_id = bot.alert(rule_id="cloudtrail.unapproved_ami", dataset="cloudtrail",
                         playbooks=[CONTAIN], context={
                             "cloud.account.id": ACCOUNT, "cloud.region": REGION,
                             "instance_id": made["instance_id"]})
    run_button = next(b for b in buttons(bot.message(alert_id))
                      if b["action_id"] == "playbook_request")
    assert "confirm" not in run_button  # the modal and its preview take the confirm's place

    bot.click(RESPONDER, "playbook_request", f"{alert_id}|{CONTAIN}")
    modal = bot.slack.wait_for("views.open")[0].params["view"]
    [mode] = [b for b in modal["blocks"] if b.get("block_id") == "param:mode"]
    assert [o["value"] for o in mode["element"]["options"]] == ["stop", "terminate"]
    assert mode["element"]["initial_option"]["value"] == "stop"
    assert "mode=terminate: 2" in str(modal["blocks"])

    reply = bot.submit(RESPONDER, "playbook_params", {"param:mode": {"value": {
        "type": "static_select", "selected_option": {"value": "terminate"}}}},
        modal["private_metadata"])
    answer = json.loads(reply.body)
    assert answer["response_action"] == "update"
    preview = answer["view"]
    text = preview["blocks"][0]["text"]["text"]
    assert f"Request *{CONTAIN}* (mode=terminate)" in text and "needs 2 approval(s)" in text
    assert "Destructive" in text and "reading the current state in AWS" in text
    # Then the dry run's finding replaces the placeholder, read-only.
    updated = bot.slack.wait_for("views.update")[0].params
    assert updated["view_id"] == "V0001"
    found = updated["view"]["blocks"][0]["text"]["text"]
    assert f"*Dry run now* (read-only): {made['instance_id']} runs unapproved" in found
    assert "TERMINATE it (irreversible)" in found
    assert instance_state(ec2, made["instance_id"]) == "running"
    assert bot.actions.for_alert(alert_id) == []  # nothing requested by the preview

    bot.submit(RESPONDER, "playbook_preview", {}, preview["private_metadata"])
    request = approve_latest(bot, alert_id, APPROVER, approvals=1)
    assert request.params == {"mode": "terminate"} and request.approvals_required == 2
    approve_latest(bot, alert_id, SECOND_APPROVER)
    run_pending(bot)

    assert instance_state(ec2, made["instance_id"]) in ("shutting-down", "terminated")
    done = bot.actions.get(request.id)
    assert done is not None and done.status == "succeeded"
    result = result_message(bot, f"{CONTAIN} (mode=terminate) succeeded")
    assert [b["action_id"] for b in buttons(result)] == []  # terminate cannot be undone


def instance_state(ec2: Any, instance_id: str) -> str:
    return str(ec2.describe_instances(InstanceIds=[instance_id])[
        "Reservations"][0]["Instances"][0]["State"]["Name"])


def test_a_wrong_parameter_is_shown_under_its_field_and_requests_nothing(
        bot: Harness) -> None:
    alert_id = bot.alert(playbooks=["block-ip-nacl"])
    bot.click(RESPONDER, "playbook_request", f"{alert_id}|block-ip-nacl")
    modal = bot.slack.wait_for("views.open")[0].params["view"]

    reply = bot.submit(RESPONDER, "playbook_params", {"param:prefix": {"value": {
        "type": "number_input", "value": "24; drop"}}}, modal["private_metadata"])

    assert json.loads(reply.body) == {"response_action": "errors",
                                      "errors": {"param:prefix": "prefix is a whole number"}}
    assert bot.actions.for_alert(alert_id) == []
