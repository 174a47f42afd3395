""""Was this you?": ask the person an alert names, as Dropbox's securitybot did.

For the rules listed in ``slack.verify_user.rules`` (rule id -> the alert context field that
names the person), the bot DMs that person when the alert is first posted, with Yes / No:

* the person is found by ``slack.verify_user.users`` (name or email -> user id), else by
  ``users.lookupByEmail`` (the value if it is an address, or ``value@email_domain``);
* only that person can answer (checked by ``user.id``); any other click is refused;
* **Yes** (confirmed in a dialog) resolves the alert and mutes the same rule for that entity for
  ``quiet_hours``, so the person is not asked again about the same thing;
* **No**, or no answer within ``timeout_minutes``, pages the on-call group in the alert's
  thread.

State is the hash ``{soc}:verify:{alert_id}``; the answer is a compare-and-set, so a double click
or a replayed request after the first answer changes nothing. Pending questions wait in the
sorted set ``{soc}:verify:due`` for :meth:`Verifier.expire_due` (run by the escalation loop).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

import redis
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from socbot.bot.blocks import group_mention, mention
from socbot.bot.escape import escape
from socbot.bot.render import mute_entity
from socbot.bot.views import verify_message
from socbot.core import keys
from socbot.core.alerts import Alert, AlertStore
from socbot.core.audit import audit
from socbot.core.config import Settings
from socbot.core.mutes import MuteStore
from socbot.core.streams import decode, decode_fields, texts

log = logging.getLogger(__name__)

DUE = keys.VERIFY_DUE
TTL_S = 30 * 86400

# KEYS: verify hash. ARGV: user, answer, now. Returns the outcome.
_ANSWER = """
local status = redis.call('HGET', KEYS[1], 'status')
if not status then return 'missing' end
if redis.call('HGET', KEYS[1], 'subject') ~= ARGV[1] then return 'not_subject' end
if status ~= 'pending' then return 'closed:' .. status end
redis.call('HSET', KEYS[1], 'status', ARGV[2], 'answered_at', ARGV[3])
return ARGV[2]
"""


@dataclass
class Question:
    """One "was this you?" question."""

    alert_id: str
    subject: str  # Slack user id
    person: str  # as the alert names them
    status: str
    due: float
    channel: str = ""
    ts: str = ""
    answered_at: float = 0.0


class Verifier:
    """Send, answer and time out "was this you?" questions."""

    def __init__(self, settings: Settings, client: WebClient, redis_client: redis.Redis,
                 alerts: AlertStore, mutes: MuteStore, *,
                 clock: Callable[[], float] = time.time) -> None:
        self.config = settings.slack.verify_user
        self.oncall = settings.slack.oncall_usergroup
        self.client = client
        self.redis = redis_client
        self.alerts = alerts
        self.mutes = mutes
        self.clock = clock
        self._answer = redis_client.register_script(_ANSWER)

    key = staticmethod(keys.verify)

    def get(self, alert_id: str) -> Question | None:
        """The question asked about an alert, if any."""
        raw = decode_fields(self.redis.hgetall(self.key(alert_id)))
        if not raw:
            return None
        return Question(alert_id, raw["subject"], raw.get("person", ""), raw["status"],
                        float(raw["due"]), raw.get("channel", ""), raw.get("ts", ""),
                        float(raw.get("answered_at") or 0))

    def person(self, alert: Alert) -> str:
        """The person the alert names, per ``verify_user.rules`` (empty if none)."""
        field = self.config.rules.get(alert.rule_id)
        value = alert.context.get(field) if field else None
        return value.strip() if isinstance(value, str) else ""

    def resolve_user(self, person: str) -> str:
        """The Slack user id of ``person``, or empty when nobody matches."""
        if person in self.config.users:
            return self.config.users[person]
        email = person if "@" in person else (
            f"{person}@{self.config.email_domain}" if self.config.email_domain else "")
        if not email:
            return ""
        try:
            found = self.client.users_lookupByEmail(email=email)
        except SlackApiError as exc:
            log.info("no Slack user for %r: %s", email, exc.response.get("error"))
            return ""
        user = found.get("user") or {}
        return "" if user.get("is_bot") or user.get("deleted") else str(user.get("id", ""))

    def start(self, alert: Alert) -> bool:
        """Ask the person an alert names (once per alert); False when no one is asked."""
        person = self.person(alert)
        if not person:
            return False
        subject = self.resolve_user(person)
        if not subject:
            self._thread(alert, f":grey_question: Could not find a Slack user for "
                                f"{escape(person)} to ask \"was this you?\".")
            return False
        due = self.clock() + self.config.timeout_minutes * 60
        key = self.key(alert.id)
        if not self.redis.hsetnx(key, "subject", subject):
            return False  # asked already (a redelivered post)
        self.redis.hset(key, mapping={"person": person[:256], "status": "pending",
                                      "due": due})
        self.redis.expire(key, TTL_S)
        posted = self.client.chat_postMessage(
            channel=subject, **verify_message(alert, subject, "pending", due=due))
        self.redis.hset(key, mapping={"channel": posted["channel"], "ts": posted["ts"]})
        self.redis.zadd(DUE, {alert.id: due})
        self._thread(alert, f":speech_balloon: Asked {mention(subject)} whether this was them; "
                            f"answer expected within {self.config.timeout_minutes} min.")
        audit(self.redis, who="socbot", what="verify_ask", alert_id=alert.id, result=subject)
        return True

    def answer(self, alert_id: str, user: str, answer: str) -> str:
        """Record ``user``'s answer (``yes`` or ``no``) and act on it; return the outcome:
        ``yes``, ``no``, ``not_subject``, ``closed:<status>`` or ``missing``."""
        if answer not in ("yes", "no"):
            raise ValueError("answer is 'yes' or 'no'")
        now = self.clock()
        outcome = decode(self._answer(keys=[self.key(alert_id)], args=[user, answer, now]))
        audit(self.redis, who=user, what=f"verify_{answer}", alert_id=alert_id, result=outcome)
        if outcome not in ("yes", "no"):
            return outcome
        self.redis.zrem(DUE, alert_id)
        alert = self.alerts.get(alert_id)
        question = self.get(alert_id)
        if alert is None or question is None:
            return outcome
        if answer == "yes":
            self.alerts.transition(alert_id, "resolved", user,
                                   reason="the person named confirmed it was them")
            hours = self.config.quiet_hours
            self.mutes.mute(alert.rule_id, mute_entity(alert), seconds=hours * 3600, by=user,
                            reason="confirmed by the person named", now=now)
            self._thread(alert, f":white_check_mark: {mention(user)} confirmed it was them; "
                                f"resolved, and this alert is quiet for {hours} h.")
        else:
            self._thread(alert, f"{self._page()}:rotating_light: {mention(user)} says this was "
                                "*not* them. Please investigate now.")
        self._refresh(question)
        return outcome

    def expire_due(self, now: float | None = None) -> list[str]:
        """Time out the questions past their due time; return their alert ids."""
        now = self.clock() if now is None else now
        expired = []
        for alert_id in texts(self.redis.zrangebyscore(DUE, "-inf", now)):
            if not self.redis.zrem(DUE, alert_id):
                continue  # another process took it
            question = self.get(alert_id)
            if question is None or question.status != "pending":
                continue
            self.redis.hset(self.key(alert_id), mapping={"status": "timeout",
                                                         "answered_at": now})
            alert = self.alerts.get(alert_id)
            if alert is not None:
                self._thread(alert, f"{self._page()}:hourglass: {mention(question.subject)} "
                                    f"did not answer \"was this you?\" within "
                                    f"{self.config.timeout_minutes} min. Please investigate.")
            audit(self.redis, who="socbot", what="verify_timeout", alert_id=alert_id,
                  result=question.subject)
            self._refresh(self.get(alert_id))
            expired.append(alert_id)
        return expired

    def _page(self) -> str:
        page = group_mention(self.oncall)
        return f"{page} " if page else ""

    def _refresh(self, question: Question | None) -> None:
        alert = self.alerts.get(question.alert_id) if question else None
        if question is None or alert is None or not question.ts:
            return
        self.client.chat_update(channel=question.channel, ts=question.ts, **verify_message(
            alert, question.subject, question.status, due=question.due,
            answered_at=question.answered_at))

    def _thread(self, alert: Alert, text: str) -> None:
        if alert.slack_channel and alert.slack_ts:
            self.client.chat_postMessage(channel=alert.slack_channel, thread_ts=alert.slack_ts,
                                         text=text, unfurl_links=False, unfurl_media=False)
