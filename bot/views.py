"""Views beyond the alert message: the App Home tab, the false-positive modal and the
"was this you?" direct message.

Like :mod:`bot.blocks`, every builder uses ``slack_sdk.models`` so Slack's limits are checked
by ``to_dict()``, and every untrusted string goes through :func:`bot.escape.escape`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ConfirmObject,
    ContextBlock,
    DividerBlock,
    HeaderBlock,
    InputBlock,
    PlainTextInputElement,
    PlainTextObject,
    SectionBlock,
)
from slack_sdk.models.views import View

from socbot.bot.blocks import (
    ENRICHMENT,
    SEVERITY_EMOJI,
    Message,
    PlaybookLookup,
    _alert_buttons,
    _message,
    _mrkdwn,
    _value,
    entity_text,
    mention,
    plain_entity,
    status_line,
    utc,
)
from socbot.bot.escape import escape, truncate
from socbot.core.actions import Action
from socbot.core.alerts import SEVERITIES, Alert
from socbot.core.mutes import Mute

FALSE_POSITIVE_VIEW = "false_positive"
REASON_BLOCK, REASON_ACTION = "reason", "reason"
REASON_MAX = 500
VERIFY_YES, VERIFY_NO = "verify_yes", "verify_no"
HOME_ALERTS_MAX = 25  # three blocks each, under the 100-block limit of a view


# --- App Home ------------------------------------------------------------------------------

AlertExtras = Callable[[Alert], tuple[list[Action], Mute | None]]


def home_view(alerts: Sequence[Alert], extras: AlertExtras, *,
              lookup: PlaybookLookup | None = None, mute_hours: Sequence[int] = (1, 24),
              notice: str = "", playbooks: Sequence[str] = (),
              tickets: bool = False) -> dict[str, Any]:
    """The Home tab: open and acknowledged alerts by severity (worst first), with the same
    buttons as in the channel. ``extras`` gives an alert's requests and mute; ``notice`` is a
    line (mrkdwn, already escaped) shown on top, e.g. why a click was refused; ``playbooks``
    the playbook lines (mrkdwn, escaped) listed at the bottom, as ``/soc playbooks`` has them."""
    blocks: list[Block] = [HeaderBlock(text=PlainTextObject(text="Open alerts"))]
    if notice:
        blocks.append(SectionBlock(text=_mrkdwn(notice)))
    ranked = sorted(alerts, key=lambda a: (-_rank(a.severity), -a.last_seen))
    shown = ranked[:HOME_ALERTS_MAX]
    if not shown:
        blocks.append(SectionBlock(text=_mrkdwn(":white_check_mark: No open alerts.")))
    current = None
    for alert in shown:
        if alert.severity != current:
            current = alert.severity
            count = sum(1 for a in ranked if a.severity == current)
            emoji = SEVERITY_EMOJI.get(current, ":white_circle:")
            blocks.append(ContextBlock(elements=[_mrkdwn(
                f"{emoji} *{escape(current.upper())}* · {count} alert(s)")]))
        actions, mute = extras(alert)
        state = status_line(alert)
        if mute is not None:
            state += f" · :mute: until {utc(mute.until)}"
        blocks.append(SectionBlock(text=_mrkdwn(
            f"*{escape(alert.title)}*\n{entity_text(alert)} · {alert.count} event(s) · "
            f"last seen {utc(alert.last_seen)} · `{escape(alert.id)}`\n{state}")))
        buttons = _alert_buttons(alert, actions, lookup, muted=mute is not None,
                                 mute_hours=mute_hours, tickets=tickets)
        if buttons:
            blocks.append(ActionsBlock(block_id=f"alert:{alert.id}", elements=buttons))
    hidden = len(ranked) - len(shown)
    if hidden > 0:
        blocks.append(ContextBlock(elements=[_mrkdwn(
            f"{hidden} more open alert(s); `/soc alert ID` shows any one of them.")]))
    if playbooks:
        blocks.append(DividerBlock())
        blocks.append(SectionBlock(text=_mrkdwn(
            "*Playbooks* (run from an alert's button; approvals from another person)\n"
            + "\n".join(f"• {line}" for line in playbooks))))
    return View(type="home", blocks=blocks).to_dict()


def _rank(severity: str) -> int:
    return SEVERITIES.index(severity) if severity in SEVERITIES else -1


def closed_modal(text: str) -> dict[str, Any]:
    """A modal that only says why nothing more can be done (``text``: mrkdwn, escaped)."""
    return View(type="modal", title=PlainTextObject(text="Nothing to do"),
                close=PlainTextObject(text="Close"),
                blocks=[SectionBlock(text=_mrkdwn(text))]).to_dict()


# --- false positive ------------------------------------------------------------------------

def false_positive_modal(alert: Alert, origin: dict[str, str]) -> dict[str, Any]:
    """The modal asking why an alert is a false positive. ``origin`` (where the click came
    from: channel or home) travels in ``private_metadata``."""
    metadata = json.dumps({"alert_id": alert.id, **origin})
    return View(
        type="modal", callback_id=FALSE_POSITIVE_VIEW, private_metadata=metadata,
        title=PlainTextObject(text="False positive"), submit=PlainTextObject(text="Mark"),
        close=PlainTextObject(text="Cancel"),
        blocks=[
            SectionBlock(text=_mrkdwn(f"*{escape(alert.title)}* on {entity_text(alert)} "
                                  f"(`{escape(alert.id)}`)")),
            InputBlock(block_id=REASON_BLOCK, label=PlainTextObject(
                text="Why is this a false positive?"),
                element=PlainTextInputElement(action_id=REASON_ACTION, multiline=True,
                                              max_length=REASON_MAX)),
        ]).to_dict()


# --- was this you? -------------------------------------------------------------------------

VERIFY_STATES = ("pending", "yes", "no", "timeout")


def verify_message(alert: Alert, subject: str, state: str, *, due: float,
                   answered_at: float = 0.0) -> Message:
    """The direct message asking ``subject`` whether they did what the alert describes.

    Pending: Yes (with a confirm dialog) and No buttons. Answered or timed out: what happened
    next, and no buttons.
    """
    facts = [f"*{escape(k)}*: {escape(_value(v))}"
             for k, v in list(alert.context.items())[:8] if k != ENRICHMENT]
    lines = [f"Hi {mention(subject)}, the security team's bot saw this and wants to check "
             "it was you:",
             f"*{escape(alert.title)}* on {entity_text(alert)}, {alert.count} event(s), "
             f"first seen {utc(alert.first_seen)}"]
    blocks: list[Block] = [SectionBlock(text=_mrkdwn("\n".join(lines))),
                           ContextBlock(elements=[_mrkdwn(" · ".join(facts) or "no details")])]
    if state == "pending":
        blocks.append(ContextBlock(elements=[_mrkdwn(
            f"Please answer by {utc(due)}; without an answer the security team is alerted.")]))
        blocks.append(ActionsBlock(block_id=f"verify:{alert.id}", elements=[
            ButtonElement(text="Yes, it was me", action_id=VERIFY_YES, value=alert.id,
                          style="primary", confirm=ConfirmObject(
                              title="Confirm it was you",
                              text=PlainTextObject(text=truncate(
                                  f"You confirm that you did this ({escape(alert.title)}). "
                                  "The alert is closed; it is recorded under your name.",
                                  300)),
                              confirm="Yes, it was me", deny="Cancel")),
            ButtonElement(text="No, it wasn't me", action_id=VERIFY_NO, value=alert.id,
                          style="danger"),
        ]))
    else:
        done = {"yes": ":white_check_mark: You confirmed it was you. Thank you.",
                "no": ":rotating_light: You said it was not you; the security team has been "
                      "alerted and will contact you.",
                "timeout": ":hourglass: No answer in time; the security team has been "
                           "alerted."}[state]
        when = f" ({utc(answered_at)})" if answered_at else ""
        blocks.append(SectionBlock(text=_mrkdwn(done + when)))
    text = escape(f"Was this you? {alert.title} — {plain_entity(alert)}")
    return _message(text, blocks)
