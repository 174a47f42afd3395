"""Block Kit messages for alerts, approval requests and playbook results.

Each builder returns the keyword arguments for ``chat.postMessage`` / ``chat.update`` (``text``,
``blocks``, ``unfurl_links``, ``unfurl_media``); the caller adds ``channel`` (and ``ts`` or
``thread_ts``). Blocks are built with ``slack_sdk.models.blocks`` so Slack's size limits are
checked by ``to_dict()`` before anything is sent.

Rules that hold in every message:

* every string that came from an event, a record or a user goes through :func:`escape`, in
  the blocks and in the fallback ``text``;
* a user is mentioned only when the id matches ``^[UW][A-Z0-9]+$`` (ids come from Slack's
  ``user.id``, never from a name);
* a runbook becomes a link only if it is a plain ``https://`` URL;
* mrkdwn is sent with ``verbatim: true`` so Slack does not turn bare names into mentions.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ConfirmObject,
    ContextBlock,
    HeaderBlock,
    MarkdownTextObject,
    PlainTextObject,
    SectionBlock,
)

from socbot.bot.escape import escape, escape_truncate, truncate
from socbot.core.actions import Action
from socbot.core.alerts import Alert
from socbot.core.mutes import Mute

ACK = "alert_ack"
RESOLVE = "alert_resolve"
FALSE_POSITIVE = "alert_false_positive"
MUTE = "alert_mute"
REQUEST = "playbook_request"
APPROVE = "approval_approve"
DENY = "approval_deny"
UNDO = "playbook_undo"
TICKET = "alert_ticket"

USER_ID = re.compile(r"[UW][A-Z0-9]+", re.ASCII)
USERGROUP_ID = re.compile(r"S[A-Z0-9]+", re.ASCII)
PLAYBOOK_NAME = re.compile(r"[a-z][a-z0-9]*(-[a-z0-9]+)*", re.ASCII)
SEVERITY_EMOJI = {"critical": ":red_circle:", "high": ":large_orange_circle:",
                  "medium": ":large_yellow_circle:", "low": ":large_blue_circle:",
                  "info": ":white_circle:"}
LABELS = {"revoke-world-ingress": "Revoke rule"}
ENRICHMENT = "enrichment"  # alert.context key holding enrichment (a mapping), shown apart
# Requests that still block a second request for the same playbook on the same alert.
ACTIVE = ("requested", "approved", "running")
HEADER_MAX, SECTION_MAX, FIELD_MAX, FIELDS_MAX = 150, 3000, 2000, 10
BUTTON_TEXT_MAX, CONFIRM_TITLE_MAX, CONFIRM_TEXT_MAX = 75, 100, 300

Message = dict[str, Any]
PlaybookLookup = Callable[[str], Any]


def mention(user_id: str) -> str:
    """``<@U…>`` for a valid Slack user id; anything else is shown as escaped text."""
    if USER_ID.fullmatch(user_id or ""):
        return f"<@{user_id}>"
    return escape(user_id) or "someone"


def group_mention(group_id: str) -> str:
    """``<!subteam^S…>`` for a valid user group id; empty for anything else."""
    return f"<!subteam^{group_id}>" if USERGROUP_ID.fullmatch(group_id or "") else ""


def utc(ts: float) -> str:
    """A Unix time as ``2024-05-01 03:12 UTC``."""
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M UTC")


def playbook_label(name: str) -> str:
    """The button text for a playbook."""
    return LABELS.get(name, f"Run {name}")


def safe_runbook(url: str) -> str | None:
    """The runbook URL if it is a plain https URL that cannot break Slack's link syntax."""
    if not url or any(c in url for c in "<>| \t\r\n") or not url.isprintable():
        return None
    parts = urlsplit(url)
    return url if parts.scheme == "https" and parts.netloc else None


def is_active(action: Action, now: float | None = None) -> bool:
    """True while a request blocks a second one for the same playbook on the same alert.

    A request past its expiry still reads "requested" in the store until someone clicks it,
    so expiry is checked here too.
    """
    now = time.time() if now is None else now
    return action.status in ACTIVE and not (action.status == "requested"
                                            and now > action.expires_at)


def entity_text(alert: Alert) -> str:
    """The alert's entity, escaped: ``ip 203.0.113.7``, ``security group sg-0abc``."""
    return escape(plain_entity(alert)) or "no entity"


def plain_entity(alert: Alert) -> str:
    """The entity as unescaped text (``type value``), for the caller to escape."""
    kind = str(alert.entity.get("type", "")).replace("_", " ")
    value = str(alert.entity.get("value", ""))
    return f"{kind} {value}".strip()


def _mrkdwn(text: str, limit: int = SECTION_MAX) -> MarkdownTextObject:
    return MarkdownTextObject(text=truncate(text, limit), verbatim=True)


def _value(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, default=str,
                                                           separators=(",", ":"))


def _message(text: str, blocks: Iterable[Block]) -> Message:
    return {"text": truncate(text, 3000), "blocks": [b.to_dict() for b in blocks],
            "unfurl_links": False, "unfurl_media": False}


def registry_lookup(name: str) -> Any:
    """The default :data:`PlaybookLookup`: the playbook registry (imported on first use,
    since reading it imports every playbook module)."""
    from socbot.playbooks.registry import get

    return get(name)


def _lookup(lookup: PlaybookLookup | None, name: str) -> Any | None:
    try:
        return (lookup or registry_lookup)(name)
    except KeyError:  # an unknown playbook: the confirm text stays generic
        return None


# --- alert ---------------------------------------------------------------------------------

def alert_message(alert: Alert, actions: list[Action], *,
                  lookup: PlaybookLookup | None = None, oncall: str = "",
                  mute: Mute | None = None, mute_hours: Sequence[int] = (1, 24),
                  tickets: bool = False) -> Message:
    """The alert as posted in its channel, with its buttons.

    ``actions`` are the remediation requests made on the alert; their state is listed, and a
    playbook with a pending, approved or running request gets no second Run button.
    ``lookup`` finds a playbook class by name (default: the playbook registry). ``oncall`` is
    the on-call user group id, mentioned when the alert is critical; ``mute`` the mute in force
    on the alert's rule and entity; ``mute_hours`` the Mute buttons offered; ``tickets`` adds
    Create ticket (when a ticket system is configured).
    """
    severity = alert.severity.upper()
    emoji = SEVERITY_EMOJI.get(alert.severity, ":white_circle:")
    header = HeaderBlock(text=PlainTextObject(
        text=truncate(f"{emoji} {escape(severity)}: {escape(alert.title)}", HEADER_MAX)))

    what = (f"*{entity_text(alert)}*: {alert.count} {escape(alert.dataset) or 'event'} "
            f"event(s) matched `{escape(alert.rule_id)}`")
    lines = [what, f"{alert.count} event(s) · first seen {utc(alert.first_seen)} · "
                   f"last seen {utc(alert.last_seen)}"]
    refs = []
    if alert.mitre:
        refs.append("MITRE ATT&amp;CK " + ", ".join(escape(m) for m in alert.mitre))
    runbook = safe_runbook(alert.runbook)
    if runbook:
        refs.append(f"<{escape(runbook)}|Runbook>")
    if refs:
        lines.append(" · ".join(refs))
    pairs = [(k, v) for k, v in alert.context.items() if k != ENRICHMENT][:FIELDS_MAX]
    fields = [_mrkdwn(f"*{escape(k)}*\n{escape(_value(v))}", FIELD_MAX) for k, v in pairs]
    section = SectionBlock(text=_mrkdwn("\n".join(lines)), fields=fields or None)

    blocks: list[Block] = [header]
    page = group_mention(oncall) if alert.severity == "critical" else ""
    if page:
        blocks.append(SectionBlock(text=_mrkdwn(f"{page} critical alert: please acknowledge")))
    blocks.append(section)
    enrichment = enrichment_text(alert.context.get(ENRICHMENT))
    if enrichment:
        blocks.append(ContextBlock(elements=[_mrkdwn(enrichment)]))
    state = status_line(alert)
    if mute is not None:
        state += f" · :mute: Muted until {utc(mute.until)} by {mention(mute.by)}"
    blocks.append(ContextBlock(elements=[_mrkdwn(state)]))
    if actions:
        history = "\n".join(_action_line(a) for a in actions[-10:])
        blocks.append(ContextBlock(elements=[_mrkdwn(history)]))
    buttons = _alert_buttons(alert, actions, lookup, muted=mute is not None,
                             mute_hours=mute_hours, tickets=tickets)
    if buttons:
        blocks.append(ActionsBlock(block_id=f"alert:{alert.id}", elements=buttons))
    text = escape(f"[{severity}] {alert.title} — {plain_entity(alert)}")
    if page:
        text = f"{page} {text}"
    return _message(text, blocks)


def enrichment_text(enrichment: Any) -> str:
    """Enrichment context (``alert.context["enrichment"]``, a mapping) as escaped lines."""
    if not isinstance(enrichment, dict) or not enrichment:
        return ""
    lines = [f"*{escape(key)}*: {escape(_value(value))}"
             for key, value in list(enrichment.items())[:20]]
    return truncate(":mag: " + " · ".join(lines), 2000)


def status_line(alert: Alert) -> str:
    """Who moved the alert to its status, and when (mrkdwn)."""
    if alert.status == "open":
        return ":rotating_light: Open: nobody has acknowledged it yet"
    verb = {"acknowledged": "Acknowledged", "resolved": "Resolved",
            "false_positive": "Marked false positive"}.get(alert.status, escape(alert.status))
    line = f"{verb} by {mention(alert.status_by)}"
    if alert.status_at:
        line += f" at {utc(alert.status_at)}"
    if alert.status_reason:
        line += f": {escape(alert.status_reason)}"
    return line


def _action_line(action: Action) -> str:
    return (f"`{escape(what_runs(action))}` requested by {mention(action.requested_by)}: "
            f"{escape(action.status)}")


def _alert_buttons(alert: Alert, actions: list[Action], lookup: PlaybookLookup | None, *,
                   muted: bool = False, mute_hours: Sequence[int] = (1, 24),
                   tickets: bool = False) -> list[ButtonElement]:
    buttons = []
    if alert.status == "open":
        buttons.append(ButtonElement(text="Acknowledge", action_id=ACK, value=alert.id,
                                     style="primary"))
    if alert.status not in ("open", "acknowledged"):
        return buttons
    buttons.append(ButtonElement(text="Resolve", action_id=RESOLVE, value=alert.id))
    buttons.append(ButtonElement(text="False positive", action_id=FALSE_POSITIVE,
                                 value=alert.id))
    if not muted:
        for hours in mute_hours:
            buttons.append(ButtonElement(text=f"Mute {hours} h", action_id=f"{MUTE}_{hours}",
                                         value=f"{alert.id}|{hours}"))
    if tickets:
        buttons.append(ButtonElement(text="Create ticket", action_id=TICKET, value=alert.id))
    busy = {a.playbook for a in actions if is_active(a)}
    for name in alert.playbooks:
        # A name that is not kebab-case cannot be a registered playbook: no button for it.
        if name in busy or not PLAYBOOK_NAME.fullmatch(name) or len(buttons) >= 25:
            continue
        playbook = _lookup(lookup, name)
        # A playbook with parameters opens a modal and a preview instead of a confirm dialog.
        takes_params = bool(getattr(playbook, "schema", {}).get("properties"))
        buttons.append(ButtonElement(
            text=truncate(playbook_label(name), BUTTON_TEXT_MAX), action_id=REQUEST,
            value=f"{alert.id}|{name}", style="danger",
            confirm=None if takes_params else _request_confirm(alert, name, playbook)))
    return buttons


def _request_confirm(alert: Alert, name: str, playbook: Any | None) -> ConfirmObject:
    what = escape(getattr(playbook, "description", "") or name)
    needed = int(getattr(playbook, "approvals_required", 1) or 1)
    who = "another person must approve" if needed == 1 else f"{needed} other people must approve"
    text = (f"This requests: {what} for {entity_text(alert)}. Nothing changes yet: "
            f"{who} in the alert's thread before it runs.")
    return ConfirmObject(title=truncate(f"{escape(playbook_label(name))}?", CONFIRM_TITLE_MAX),
                         text=PlainTextObject(text=truncate(text, CONFIRM_TEXT_MAX)),
                         confirm="Request approval", deny="Cancel")


# --- approval ------------------------------------------------------------------------------

def approval_message(action: Action, alert: Alert, *, now: float | None = None) -> Message:
    """The approval request in the alert's thread: Approve / Deny while it is open.

    The buttons carry ``"{action.id}:{action.token}"``; the token changes with every accepted
    click, so the message must be re-rendered (chat.update) after each one.
    """
    now = time.time() if now is None else now
    playbook = escape(what_runs(action))
    lines = [(f"{mention(action.requested_by)} requested *{playbook}* on {entity_text(alert)} "
              f"(alert `{escape(alert.id)}`: {escape(alert.title)})"),
             f"Approvals: {len(action.approvals)} of {action.approvals_required}"
             + (f" ({', '.join(mention(u) for u in action.approvals)})"
                if action.approvals else ""),
             f"Expires: {utc(action.expires_at)}"]
    open_request = action.status == "requested" and now <= action.expires_at
    if not open_request:
        lines.append(approval_state(action, now))
    blocks: list[Block] = [SectionBlock(block_id=f"approval:{action.id}",
                                        text=_mrkdwn("\n".join(lines)))]
    if open_request:
        value = f"{action.id}:{action.token}"
        blocks.append(ActionsBlock(block_id=f"decide:{action.id}", elements=[
            ButtonElement(text="Approve", action_id=APPROVE, value=value, style="primary",
                          confirm=ConfirmObject(
                              title="Approve this remediation?",
                              text=PlainTextObject(text=truncate(
                                  f"{playbook} on {entity_text(alert)} runs as soon as the "
                                  "required approvals are in.", CONFIRM_TEXT_MAX)),
                              confirm="Approve", deny="Cancel")),
            ButtonElement(text="Deny", action_id=DENY, value=value),
        ]))
    state = "awaiting approval" if open_request else _plain_state(action, now)
    text = (f"Remediation request {action.id}: {what_runs(action)} on alert {alert.id} "
            f"({len(action.approvals)} of {action.approvals_required} approvals), {state}")
    return _message(escape(text), blocks)


def what_runs(action: Action) -> str:
    """The request in words: ``quarantine-instance (stop=true)``, ``undo of
    disable-access-key (run R1A2B3)`` (plain text, for the caller to escape)."""
    text = f"undo of {action.playbook} (run {action.undo_of})" if action.undo_of else (
        action.playbook)
    if action.params:
        text += " (" + ", ".join(f"{k}={_value(v)}" for k, v in action.params.items()) + ")"
    return text


def _plain_state(action: Action, now: float) -> str:
    if action.status == "requested" and now > action.expires_at:
        return "expired"
    return action.status


def approval_state(action: Action, now: float | None = None) -> str:
    """The final or current state of a request that no longer takes clicks (mrkdwn)."""
    now = time.time() if now is None else now
    approvers = ", ".join(mention(u) for u in action.approvals) or "nobody"
    status = _plain_state(action, now)
    if status == "approved":
        return f":white_check_mark: Approved by {approvers}; queued to run"
    if status == "denied":
        if action.decided_by == action.requested_by:
            return f":no_entry_sign: Cancelled by {mention(action.decided_by)} (the requester)"
        return f":no_entry_sign: Denied by {mention(action.decided_by)}"
    if status == "expired":
        return (f":hourglass: Expired at {utc(action.expires_at)} without enough approvals; "
                "request again from the alert")
    if status == "running":
        return f":gear: Running (approved by {approvers})"
    if status in ("succeeded", "failed"):
        icon = ":white_check_mark:" if status == "succeeded" else ":x:"
        return f"{icon} {status.capitalize()}: {_summary(action)}"
    return escape(status)


def _summary(action: Action) -> str:
    summary = action.result.get("summary") or action.error or "no summary"
    return escape_truncate(summary, 1500)


# --- result --------------------------------------------------------------------------------

def may_undo(action: Action, playbook: Any | None) -> bool:
    """True when a finished run can be reversed from Slack: it succeeded, changed something,
    recorded undo data, is not itself an undo, was not destructive (``mode=terminate``), and
    its playbook implements undo."""
    if playbook is None or not getattr(playbook, "undoable", False):
        return False
    return (action.status == "succeeded" and not action.undo_of
            and action.result.get("changed") is not False and bool(action.result.get("undo"))
            and not playbook.is_destructive(action.params))


def result_message(action: Action, alert: Alert, *,
                   lookup: PlaybookLookup | None = None) -> Message:
    """The thread reply after a playbook run: what it did, or why it failed. A run that
    changed something, of a playbook that can reverse itself, gets an **Undo** button (a new
    request, approved like the run)."""
    ok = action.status == "succeeded"
    icon = ":white_check_mark:" if ok else ":x:"
    lines = [(f"{icon} *{escape(what_runs(action))}* {escape(action.status)} on "
              f"{entity_text(alert)}"), _summary(action)]
    if action.error and action.result.get("summary"):
        lines.append(f"Error: {escape_truncate(action.error, 1000)}")
    if action.result.get("changed") is False:
        lines.append("Nothing was changed.")
    fields = [_mrkdwn(f"*Requested by*\n{mention(action.requested_by)}"),
              _mrkdwn("*Approved by*\n"
                      + (", ".join(mention(u) for u in action.approvals) or "nobody"))]
    blocks: list[Block] = [SectionBlock(text=_mrkdwn("\n".join(lines)), fields=fields)]
    undo = action.result.get("undo")
    if undo:
        blocks.append(ContextBlock(elements=[_mrkdwn(
            "Undo data recorded: " + escape(_value(undo)), 2000)]))
    if may_undo(action, _lookup(lookup, action.playbook)):
        blocks.append(ActionsBlock(block_id=f"undo:{action.id}", elements=[ButtonElement(
            text="Undo", action_id=UNDO, value=action.id, confirm=ConfirmObject(
                title="Request an undo?", text=PlainTextObject(text=truncate(
                    f"This requests reversing {escape(what_runs(action))} on "
                    f"{entity_text(alert)}. Nothing changes until it is approved, like the "
                    "run was.", CONFIRM_TEXT_MAX)),
                confirm="Request undo", deny="Cancel"))]))
    text = (f"{what_runs(action)} {action.status} on alert {alert.id}: "
            f"{action.result.get('summary') or action.error or ''}")
    return _message(escape(text), blocks)
