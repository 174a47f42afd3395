"""The storm rollup message: one header for the storm, its members, and the bulk buttons.

Like every message builder (:mod:`socbot.bot.blocks`), it returns the ``chat.postMessage`` /
``chat.update`` arguments but the channel, and escapes every string that came from an event.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import cache

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ConfirmObject,
    ContextBlock,
    HeaderBlock,
    Option,
    PlainTextObject,
    SectionBlock,
    StaticSelectElement,
)

from socbot.bot.blocks import HEADER_MAX, SEVERITY_EMOJI, Message, _message, _mrkdwn
from socbot.bot.escape import escape, truncate
from socbot.bot.rollup import Member, Rollup
from socbot.core.alerts import SEVERITIES

PICK = "rollup_member"
ACK_ALL = "rollup_ack_all"
MUTE_ALL = "rollup_mute"  # + _HOURS
LISTED = 20  # members listed in the message (most severe, most active first)
PICKABLE = 100  # Slack's limit of options in a select
_PREPOSITION = re.compile(r"\b(from|on|by|for|to|in|of|at|with)$")
NOUNS = {"ip": "addresses", "user": "users", "host": "hosts", "instance": "instances",
         "access_key": "access keys", "security_group": "security groups", "door": "doors",
         "bssid": "access points", "role": "roles", "bucket": "buckets"}


@cache
def _rule_titles() -> dict[str, str]:
    from socbot.detections.rule import load_all

    return {rule_id: rule.title for rule_id, rule in load_all().items()}


def storm_title(rule_id: str, members: Sequence[Member]) -> str:
    """``SSH brute force from 50 addresses on 3 hosts`` (unescaped)."""
    template = _rule_titles().get(rule_id, "")
    prefix = template.split("{", 1)[0].strip() if template else ""
    kinds = {str(m.entity.get("type", "")) for m in members}
    noun = NOUNS.get(kinds.pop(), "alerts") if len(kinds) == 1 else "alerts"
    entities = {str(m.entity.get("value", "")) or m.id for m in members}
    what = f"{len(entities)} {noun}"
    hosts = {m.host for m in members if m.host}
    if len(hosts) > 1:
        what += f" on {len(hosts)} hosts"
    if not prefix:
        return f"{rule_id}: {what}"
    return f"{prefix} {what}" if _PREPOSITION.search(prefix) else f"{prefix}: {what}"


def rollup_message(rollup: Rollup, members: Sequence[Member], *,
                   mute_hours: Sequence[int] = (1, 24)) -> Message:
    """The rollup as posted in its channel."""
    live = [m for m in members if m.status in ("open", "acknowledged")]
    top = max((m.severity_rank for m in live or members), default=0)
    severity = SEVERITIES[top] if 0 <= top < len(SEVERITIES) else "info"
    title = storm_title(rollup.rule_id, members)
    header = HeaderBlock(text=PlainTextObject(text=truncate(
        f"{SEVERITY_EMOJI.get(severity, ':white_circle:')} {severity.upper()}: "
        f"{escape(title)}", HEADER_MAX)))
    states = {s: sum(m.status == s for m in members)
              for s in ("open", "acknowledged", "resolved", "false_positive")}
    summary = (f"*Storm:* {len(members)} alerts of `{escape(rollup.rule_id)}` · "
               f"{sum(m.count for m in members):,} events · "
               + ", ".join(f"{n} {s.replace('_', ' ')}" for s, n in states.items() if n))
    lines = [_member_line(m) for m in members[:LISTED]]
    if len(members) > LISTED:
        lines.append(f"…and {len(members) - LISTED} more (pick one below, or `/soc alert ID`)")
    blocks: list[Block] = [header, SectionBlock(text=_mrkdwn(summary)),
                           SectionBlock(text=_mrkdwn("\n".join(lines) or "no members"))]
    blocks.append(ContextBlock(elements=[_mrkdwn(
        "Pick a member to get its own message, with its buttons, in this thread. New alerts "
        "of this rule in this channel join this message.")]))
    elements: list[ButtonElement | StaticSelectElement] = []
    if live:
        elements.append(StaticSelectElement(
            placeholder="Act on one alert…", action_id=PICK,
            options=[Option(value=m.id, text=truncate(_option_text(m), 75))
                     for m in live[:PICKABLE]]))
    if any(m.status == "open" for m in members):
        elements.append(ButtonElement(
            text="Acknowledge all", action_id=ACK_ALL, value=rollup.id, style="primary",
            confirm=ConfirmObject(title="Acknowledge every alert?", confirm="Acknowledge all",
                                  deny="Cancel", text=PlainTextObject(text=truncate(
                                      f"Acknowledges the {states['open']} open alert(s) of "
                                      "this storm. Nothing else changes.", 300)))))
    if live:
        for hours in mute_hours:
            elements.append(ButtonElement(
                text=f"Mute all {hours} h", action_id=f"{MUTE_ALL}_{hours}",
                value=f"{rollup.id}|{hours}",
                confirm=ConfirmObject(title=f"Mute for {hours} h?", confirm="Mute all",
                                      deny="Cancel", text=PlainTextObject(text=truncate(
                                          f"No new alerts from this rule for the {len(live)} "
                                          f"entities of this storm for {hours} h.", 300)))))
    if elements:
        blocks.append(ActionsBlock(block_id=f"rollup:{rollup.id}", elements=elements))
    text = escape(f"[{severity.upper()}] {title}")
    return _message(text, blocks)


def _member_line(m: Member) -> str:
    entity = escape(str(m.entity.get("value", ""))) or "no entity"
    host = f" on {escape(m.host)}" if m.host else ""
    state = "" if m.status == "open" else f" · {escape(m.status.replace('_', ' '))}"
    return (f"{SEVERITY_EMOJI.get(m.severity, ':white_circle:')} `{m.id}` *{entity}*{host}: "
            f"{m.count:,} event(s){state}")


def _option_text(m: Member) -> str:
    # Escaped like every plain_text the bot sends (headers too).
    return escape(f"{m.severity} {m.entity.get('value', '') or m.id} ({m.count} events)")
