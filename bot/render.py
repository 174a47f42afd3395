"""Render an alert with everything its message shows: requests, mute, on-call mention.

:func:`bot.blocks.alert_message` is pure; this gathers its inputs from Redis so that the
notifier, the listeners and the Home tab show the same message. :func:`post_arguments` gives the
whole ``chat.postMessage`` call for an alert (``socbot replay --format slack`` prints it).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import redis

from socbot.bot import blocks
from socbot.bot.blocks import Message, PlaybookLookup
from socbot.core import keys
from socbot.core.actions import Action, ActionStore
from socbot.core.alerts import Alert
from socbot.core.config import Settings
from socbot.core.mutes import Mute, MuteStore


def mute_entity(alert: Alert) -> str:
    """The entity a Mute button silences: the alert's entity value (else its dedup key)."""
    return str(alert.entity.get("value") or alert.dedup_key)


def channel_for(settings: Settings, alert: Alert) -> str:
    """The channel an alert is posted to (see :meth:`Routing.channel`)."""
    return settings.slack.routing.channel(
        rule_id=alert.rule_id, dataset=alert.dataset, severity=alert.severity,
        account=str(alert.context.get("cloud.account.id", "")))


def post_arguments(settings: Settings, alert: Alert, actions: list[Action] | None = None, *,
                   mute: Mute | None = None,
                   lookup: PlaybookLookup | None = None) -> dict[str, Any]:
    """The keyword arguments of the ``chat.postMessage`` that posts ``alert``."""
    return {"channel": channel_for(settings, alert), **blocks.alert_message(
        alert, actions or [], lookup=lookup, oncall=settings.slack.oncall_usergroup,
        mute=mute, mute_hours=settings.slack.mute_hours,
        tickets=settings.tickets.jira.enabled)}


class AlertRenderer:
    """The alert message as it should look now, read from Redis."""

    def __init__(self, settings: Settings, actions: ActionStore, mutes: MuteStore,
                 lookup: PlaybookLookup | None = None,
                 enrichment: Callable[[Alert], Mapping[str, str]] | None = None) -> None:
        self.settings = settings
        self.actions = actions
        self.mutes = mutes
        self.lookup = lookup
        # Alert -> label/text lines shown under the alert's facts (GeoIP, AWS, history...).
        self.enrichment = enrichment

    def extras(self, alert: Alert) -> tuple[list[Action], Mute | None]:
        """The requests made on ``alert`` and the mute in force on it."""
        return (self.actions.for_alert(alert.id),
                self.mutes.is_muted(alert.rule_id, mute_entity(alert)))

    def message(self, alert: Alert) -> Message:
        """``text``, ``blocks`` and unfurl flags for posting or updating ``alert``."""
        actions, mute = self.extras(alert)
        if self.enrichment is not None:
            labels = self.enrichment(alert)
            if labels:
                alert.context[blocks.ENRICHMENT] = dict(labels)
        return blocks.alert_message(alert, actions, lookup=self.lookup,
                                    oncall=self.settings.slack.oncall_usergroup, mute=mute,
                                    mute_hours=self.settings.slack.mute_hours,
                                    tickets=self.settings.tickets.jira.enabled)


@contextmanager
def render_lock(client: redis.Redis, alert_id: str, wait_s: float = 3.0) -> Iterator[None]:
    """Hold the alert's render lock while reading it and sending ``chat.update``.

    The notifier and the listeners both rewrite an alert's message; without this, an update
    rendered just before a click could reach Slack after the click's and erase its new state.
    Whoever takes the lock second reads the alert after the first one's change. After
    ``wait_s`` the update goes ahead anyway (a stale lock must not block an incident).
    """
    key, token = keys.render_lock(alert_id), uuid.uuid4().hex
    deadline = time.monotonic() + wait_s
    held = bool(client.set(key, token, nx=True, px=10_000))
    while not held and time.monotonic() < deadline:
        time.sleep(0.02)
        held = bool(client.set(key, token, nx=True, px=10_000))
    try:
        yield
    finally:
        if held and client.get(key) in (token, token.encode()):
            client.delete(key)
