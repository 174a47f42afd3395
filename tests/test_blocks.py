"""Block Kit messages: content, buttons, Slack's limits, and hostile text kept inert."""

from __future__ import annotations

import json
import re
import time
from typing import Any

from fake_slack import button_value, buttons, strings

from socbot.bot.blocks import alert_message, approval_message, mention, result_message, safe_runbook
from socbot.core.actions import Action
from socbot.core.alerts import Alert
from socbot.playbooks.registry import get

HOSTILE = "<!channel> <!subteam^S1> <https://evil.example|Approve> &lt; x\x00y"
TOKEN = re.compile(r"<([^>]*)>")


def make_alert(**overrides: Any) -> Alert:
    values: dict[str, Any] = {
        "id": "A1B2C3D4E5", "rule_id": "cloudtrail.sg_open_to_world",
        "title": "Security group open",
        "severity": "high", "dedup_key": "sg-0123456789abcdef0",
        "entity": {"type": "security_group", "value": "sg-0123456789abcdef0"},
        "dataset": "cloudtrail", "status": "open",
        "count": 3, "first_seen": 1700000000.0, "last_seen": 1700000600.0, "mitre": ["T1562.007"],
        "runbook": "https://wiki.example.com/runbooks/sg-open?x=1&y=2",
        "context": {"cloud.account.id": "123456789012", "cloud.region": "eu-west-1"},
        "playbooks": ["revoke-world-ingress"]}
    values.update(overrides)
    return Alert(**values)


def make_action(**overrides: Any) -> Action:
    values: dict[str, Any] = {
        "id": "R0011223344", "alert_id": "A1B2C3D4E5", "playbook": "revoke-world-ingress",
        "requested_by": "U0ALICE", "requested_at": time.time(), "expires_at": time.time() + 1800,
        "approvals_required": 1, "status": "requested", "token": "tok-1"}
    values.update(overrides)
    return Action(**values)


def tokens(message: dict[str, Any]) -> list[str]:
    """Every <...> Slack token in the message's text and blocks."""
    return [t for s in strings(message) for t in TOKEN.findall(s)]


def test_alert_message_has_header_facts_status_and_buttons() -> None:
    message = alert_message(make_alert(), [], lookup=get)
    assert message["unfurl_links"] is False and message["unfurl_media"] is False
    header = message["blocks"][0]
    assert header["type"] == "header" and "HIGH" in header["text"]["text"]
    body = json.dumps(message["blocks"])
    for fact in ("sg-0123456789abcdef0", "3 event(s)", "2023-11-14 22:13 UTC", "T1562.007",
                 "<https://wiki.example.com/runbooks/sg-open?x=1&amp;y=2|Runbook>",
                 "Open: nobody has acknowledged"):
        assert fact in body, fact
    assert "HIGH" in message["text"] and "Security group open" in message["text"]


def test_acknowledge_button_while_open_and_run_button_with_confirm() -> None:
    message = alert_message(make_alert(), [], lookup=get)
    assert button_value(message, "alert_ack") == "A1B2C3D4E5"
    run = next(b for b in buttons(message) if b["action_id"] == "playbook_request")
    assert run["value"] == "A1B2C3D4E5|revoke-world-ingress"
    assert run["text"]["text"] == "Revoke rule" and run["style"] == "danger"
    confirm = run["confirm"]
    assert {"title", "text", "confirm", "deny"} <= set(confirm)
    assert "another person must approve" in confirm["text"]["text"]
    assert "0.0.0.0/0" in confirm["text"]["text"]  # the playbook's own description


def test_acknowledged_alert_shows_who_and_no_acknowledge_button() -> None:
    alert = make_alert(status="acknowledged", status_by="U0ALICE", status_at=1700000000.0)
    message = alert_message(alert, [], lookup=get)
    assert "Acknowledged by <@U0ALICE> at 2023-11-14 22:13 UTC" in json.dumps(message)
    assert [b["action_id"] for b in buttons(message)] == [
        "alert_resolve", "alert_false_positive", "alert_mute_1", "alert_mute_24",
        "playbook_request"]


def test_no_run_button_while_a_request_is_pending_and_none_when_resolved() -> None:
    pending = alert_message(make_alert(), [make_action()], lookup=get)
    assert "playbook_request" not in [b["action_id"] for b in buttons(pending)]
    expired = alert_message(make_alert(), [make_action(expires_at=time.time() - 1)], lookup=get)
    assert "playbook_request" in [b["action_id"] for b in buttons(expired)]
    resolved = alert_message(make_alert(status="resolved", status_by="U0BOB"), [], lookup=get)
    assert buttons(resolved) == []


def test_playbook_names_that_are_not_kebab_case_get_no_button() -> None:
    message = alert_message(make_alert(playbooks=["x|y", "<!channel>", "Run"]), [], lookup=get)
    assert "playbook_request" not in [b["action_id"] for b in buttons(message)]


def test_mention_only_for_valid_user_ids() -> None:
    assert mention("U0123ABCD") == "<@U0123ABCD>" and mention("W0123") == "<@W0123>"
    assert mention("<!channel>") == "&lt;!channel&gt;"
    assert mention("U123|x") == "U123|x"
    assert mention("u0123") == "u0123"


def test_runbook_must_be_a_plain_https_url() -> None:
    assert safe_runbook("https://wiki.example.com/a") == "https://wiki.example.com/a"
    for bad in ("http://wiki.example.com/a", "https://x.example|Approve", "javascript:alert(1)",
                "https://x.example/a>b", "https://", ""):
        assert safe_runbook(bad) is None, bad
    message = alert_message(make_alert(runbook="https://evil.example|Approve"), [], lookup=get)
    assert "Runbook" not in json.dumps(message)


def test_hostile_strings_stay_text_in_alert_approval_and_result() -> None:
    alert = make_alert(title=HOSTILE, entity={"type": "user", "value": HOSTILE},
                       context={HOSTILE: HOSTILE, "ssid": b"\x00<!here>".decode()},
                       status="acknowledged", status_by=HOSTILE, status_reason=HOSTILE,
                       mitre=[HOSTILE])
    action = make_action(requested_by=HOSTILE, approvals=["U0BOB", HOSTILE], status="failed",
                         error=HOSTILE, result={"summary": HOSTILE, "undo": {"x": HOSTILE}})
    for message in (alert_message(alert, [action], lookup=get), approval_message(action, alert),
                    result_message(action, alert)):
        # Only the bot's own mentions and links may appear as Slack tokens.
        for token in tokens(message):
            assert re.fullmatch(r"@[UW][A-Z0-9]+|https://wiki\.example\.com/\S+\|Runbook",
                                token), token
        for text in strings(message):
            assert "\x00" not in text
        assert "&lt;!channel&gt;" in message["text"] + json.dumps(message["blocks"])
        assert "&amp;lt;" in json.dumps(message)


def test_huge_values_are_cut_to_slacks_limits() -> None:
    big = "<&>" * 5000
    alert = make_alert(title=big, entity={"type": "user", "value": big},
                       context={f"k{i}": big for i in range(30)})
    message = alert_message(alert, [], lookup=get)  # to_dict() raises past a limit
    header, section = message["blocks"][0], message["blocks"][1]
    assert len(header["text"]["text"]) <= 150
    assert len(section["text"]["text"]) <= 3000
    assert len(section["fields"]) == 10
    assert all(len(f["text"]) <= 2000 for f in section["fields"])


def test_approval_message_buttons_carry_id_and_current_token() -> None:
    action = make_action(approvals_required=2, approvals=["U0BOB"], token="tok-2")
    message = approval_message(action, make_alert())
    assert button_value(message, "approval_approve") == "R0011223344:tok-2"
    assert button_value(message, "approval_deny") == "R0011223344:tok-2"
    approve = buttons(message)[0]
    assert approve["style"] == "primary" and "confirm" in approve
    body = json.dumps(message["blocks"])
    assert "<@U0ALICE> requested *revoke-world-ingress*" in body
    assert "Approvals: 1 of 2 (<@U0BOB>)" in body and "Expires:" in body


def test_approval_message_final_states_have_no_buttons() -> None:
    alert = make_alert()
    cases = {
        "Approved by <@U0BOB>": make_action(status="approved", approvals=["U0BOB"]),
        "Denied by <@U0BOB>": make_action(status="denied", decided_by="U0BOB"),
        "Cancelled by <@U0ALICE>": make_action(status="denied", decided_by="U0ALICE"),
        "Expired at": make_action(expires_at=time.time() - 5),
        "Running": make_action(status="running", approvals=["U0BOB"]),
        "Succeeded: revoked 1 rule": make_action(status="succeeded",
                                                 result={"summary": "revoked 1 rule"}),
        "Failed: AccessDenied": make_action(status="failed", error="AccessDenied"),
    }
    for expected, action in cases.items():
        message = approval_message(action, alert)
        assert buttons(message) == [], expected
        assert expected in json.dumps(message["blocks"]), expected


def test_result_message_says_what_happened_and_who_approved() -> None:
    action = make_action(status="succeeded", approvals=["U0BOB"],
                         result={"summary": "revoked 2 rules", "changed": True,
                                 "undo": {"rules": 2}})
    message = result_message(action, make_alert())
    body = json.dumps(message["blocks"])
    assert "revoke-world-ingress* succeeded" in body and "revoked 2 rules" in body
    assert "<@U0BOB>" in body and "Undo data recorded" in body
    assert message["text"].startswith("revoke-world-ingress succeeded on alert A1B2C3D4E5")


def test_open_alert_offers_every_state_change_and_the_configured_mutes() -> None:
    message = alert_message(make_alert(), [], lookup=get, mute_hours=(1, 24))
    assert [(b["action_id"], b["text"]["text"]) for b in buttons(message)][:5] == [
        ("alert_ack", "Acknowledge"), ("alert_resolve", "Resolve"),
        ("alert_false_positive", "False positive"), ("alert_mute_1", "Mute 1 h"),
        ("alert_mute_24", "Mute 24 h")]
    assert button_value(message, "alert_mute_24") == "A1B2C3D4E5|24"


def test_a_muted_alert_says_until_when_and_by_whom_and_offers_no_mute() -> None:
    from socbot.core.mutes import Mute

    mute = Mute("cloudtrail.sg_open_to_world", "sg-0123456789abcdef0", 1700003600.0, "U0BOB")
    message = alert_message(make_alert(), [], lookup=get, mute=mute)
    assert "Muted until 2023-11-14 23:13 UTC by <@U0BOB>" in json.dumps(message["blocks"])
    assert not [b for b in buttons(message) if b["action_id"].startswith("alert_mute")]


def test_critical_alerts_mention_the_oncall_group_in_text_and_blocks() -> None:
    critical = alert_message(make_alert(severity="critical"), [], lookup=get, oncall="S0ONCALL")
    assert critical["text"].startswith("<!subteam^S0ONCALL> ")
    assert "<!subteam^S0ONCALL> critical alert" in json.dumps(critical["blocks"])
    high = alert_message(make_alert(), [], lookup=get, oncall="S0ONCALL")
    assert "subteam" not in json.dumps(high)
    forged = alert_message(make_alert(severity="critical"), [], lookup=get,
                           oncall="S1> <!channel")
    assert "subteam" not in json.dumps(forged) and "<!channel" not in json.dumps(forged)


def test_enrichment_context_is_shown_apart_and_escaped() -> None:
    alert = make_alert(context={"source.ip": "203.0.113.7",
                                "enrichment": {"geo": "FR, Paris", "asn": HOSTILE}})
    message = alert_message(alert, [], lookup=get)
    body = json.dumps(message["blocks"])
    assert "*geo*: FR, Paris" in body and "&lt;!channel&gt;" in body
    assert [t for t in tokens(message) if "evil" in t] == []
    fields = message["blocks"][1]["fields"]
    assert all("enrichment" not in f["text"] for f in fields)
