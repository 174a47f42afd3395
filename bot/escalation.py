"""Escalation: page the on-call group in the thread of an alert nobody acknowledged.

When an alert is first posted, :meth:`Escalator.schedule` puts it in the sorted set
``{soc}:escalate:due`` at ``now + slack.escalate_after_minutes[severity]`` (severities not listed
never escalate). :meth:`Escalator.tick` (every few seconds, in the ``escalate`` role) takes each
due alert (ZREM decides which process owns it), and if it is still open replies in its thread
with a mention of the on-call group, then schedules the next reminder, up to
``slack.escalation_repeats`` times. Acknowledging, resolving or marking a false positive stops
it. The clock is injected, so tests move time by hand. The same loop times out "was this you?"
questions (:meth:`bot.verify.Verifier.expire_due`).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

import redis
from slack_sdk import WebClient

from socbot.bot.blocks import group_mention
from socbot.bot.escape import escape
from socbot.bot.verify import Verifier
from socbot.core import keys
from socbot.core.alerts import Alert, AlertStore
from socbot.core.audit import audit
from socbot.core.config import Settings
from socbot.core.streams import texts

log = logging.getLogger(__name__)

DUE = keys.ESCALATION_DUE
COUNT = keys.ESCALATION_COUNT


class Escalator:
    """Schedule and send escalations of unacknowledged alerts."""

    def __init__(self, settings: Settings, client: WebClient, redis_client: redis.Redis,
                 alerts: AlertStore, verifier: Verifier | None = None, *,
                 clock: Callable[[], float] = time.time) -> None:
        self.minutes = settings.slack.escalate_after_minutes
        self.repeats = settings.slack.escalation_repeats
        self.oncall = settings.slack.oncall_usergroup
        self.client = client
        self.redis = redis_client
        self.alerts = alerts
        self.verifier = verifier
        self.clock = clock

    def schedule(self, alert: Alert) -> float | None:
        """Start the alert's escalation timer; return when it is due (None: never)."""
        minutes = self.minutes.get(alert.severity)
        if minutes is None:
            return None
        due = self.clock() + minutes * 60
        self.redis.zadd(DUE, {alert.id: due}, nx=True)
        return due

    def tick(self) -> int:
        """Escalate every alert due now; return how many were escalated."""
        now = self.clock()
        sent = 0
        for alert_id in texts(self.redis.zrangebyscore(DUE, "-inf", now)):
            if not self.redis.zrem(DUE, alert_id):
                continue  # another process took it
            alert = self.alerts.get(alert_id)
            if alert is None or alert.status != "open" or not alert.slack_ts:
                continue
            minutes = self.minutes.get(alert.severity)
            if minutes is None:
                continue
            round_ = int(self.redis.hincrby(COUNT, alert_id, 1))
            waited = minutes * round_
            page = group_mention(self.oncall)
            who = f"{page} " if page else ""
            self.client.chat_postMessage(
                channel=alert.slack_channel, thread_ts=alert.slack_ts,
                text=(f"{who}:rotating_light: Not acknowledged after {waited} min: "
                      f"{escape(alert.severity.upper())} {escape(alert.title)} "
                      f"(reminder {round_} of {self.repeats})"),
                unfurl_links=False, unfurl_media=False)
            audit(self.redis, who="socbot", what="escalate", alert_id=alert_id,
                  result=f"round {round_}", at=now)
            if round_ < self.repeats:
                self.redis.zadd(DUE, {alert_id: now + minutes * 60})
            sent += 1
        if self.verifier is not None:
            self.verifier.expire_due(now)
        return sent

    def run(self, stop: threading.Event, interval_s: float = 5.0) -> None:
        """Tick until ``stop`` is set; a failed tick is logged and retried."""
        while not stop.is_set():
            try:
                self.tick()
            except Exception:  # keep escalating whatever one tick met
                log.exception("escalation tick failed; retrying")
            stop.wait(interval_s)
