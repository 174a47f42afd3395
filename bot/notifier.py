"""Deliver alerts from ``soc:alerts`` (group ``notify``) to Slack, or to a terminal.

Entries are ``{"alert_id", "kind": "new"|"updated"|"action_result", "action_id"?}``.

**Idempotent by alert id.** The first delivery of an alert posts it and stores the message's
channel and ts (:meth:`AlertStore.set_slack_message`) before the entry is acknowledged; every
later delivery of any entry for that alert edits that message (``chat.update``) instead. A
short Redis lock per alert keeps two notifier processes from both posting the same alert.

**Coalescing.** A storm of signals gives a storm of ``updated`` entries; Slack allows about
50 ``chat.update`` calls a minute. So :meth:`SlackNotifier.handle` only *marks* the alert dirty
(a counter in the Redis hash ``soc:notify:dirty``) and :meth:`SlackNotifier.flush`, run after
every consumer batch (``Consumer(..., after_batch=notifier.flush)``), makes one ``chat.update``
per dirty alert with the alert's state read at that moment, so any number of updates in a batch
cost one call. The mark lives in Redis rather than in memory because the consumer acknowledges
an entry as soon as ``handle`` returns: a notifier that dies between a batch and its flush
leaves the marks for the next flush (of any process). A mark is removed only if nobody
re-marked the alert while it was being updated (compare the counter), so an update that arrives
mid-flush is never lost.

**Pacing.** Posts to one channel are spaced by ``post_interval_s`` and updates by
``update_interval_s`` by sleeping in the consumer's thread: entries that arrive meanwhile
simply join the next batch and are coalesced there. The 429 retry handler is the backstop.

Example::

    notifier = SlackNotifier(settings, make_web_client(secrets), alerts, actions)
    Consumer(redis, ALERTS, GROUP, consumer_name(GROUP), notifier.handle,
             after_batch=notifier.flush).run(stop)
"""

from __future__ import annotations

import logging
import sys
import threading
import time
import unicodedata
from collections.abc import Callable, Sequence
from typing import Any, TextIO

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
)

from socbot.bot import blocks
from socbot.bot.render import AlertRenderer, channel_for, render_lock
from socbot.core.actions import ActionStore
from socbot.core.alerts import Alert, AlertStore
from socbot.core.config import Secrets, Settings
from socbot.core.mutes import MuteStore
from socbot.core.streams import Fields

log = logging.getLogger(__name__)

GROUP = "notify"
DIRTY = "soc:notify:dirty"
POST_LOCK_MS = 60_000
RESULT_POSTED_TTL_S = 7 * 86400

# Delete a dirty mark only if its counter is still the one the flush read.
_CLEAR_IF_UNCHANGED = """
if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then
  return redis.call('HDEL', KEYS[1], ARGV[1])
end
return 0
"""


def make_web_client(secrets: Secrets, *, rate_limit_retries: int = 3) -> WebClient:
    """A WebClient that retries 429 answers after ``Retry-After`` and dropped connections.

    ``secrets.slack_api_url`` (when set) replaces Slack's Web API base URL, for tests and
    proxies.
    """
    handlers = [ConnectionErrorRetryHandler(max_retry_count=2),
                RateLimitErrorRetryHandler(max_retry_count=rate_limit_retries)]
    if secrets.slack_api_url:
        base_url = secrets.slack_api_url.rstrip("/") + "/"
        return WebClient(token=secrets.slack_bot_token or None, base_url=base_url,
                         retry_handlers=handlers)
    return WebClient(token=secrets.slack_bot_token or None, retry_handlers=handlers)


class SlackNotifier:
    """Post new alerts to their channel, edit them in place as they grow, report results.

    ``post_interval_s`` spaces ``chat.postMessage`` calls per channel (Slack allows about one
    a second); ``update_interval_s`` spaces ``chat.update`` calls (Tier 3, about 50 a minute).
    ``on_posted`` hooks run once after an alert's first post (escalation timer, "was this
    you?" message); a failing hook is logged and never makes the post repeat.
    """

    def __init__(self, settings: Settings, client: WebClient, alerts: AlertStore,
                 actions: ActionStore, *, post_interval_s: float = 1.0,
                 update_interval_s: float = 1.2, mutes: MuteStore | None = None,
                 on_posted: Sequence[Callable[[Alert], object]] = (),
                 enricher: Any = None) -> None:
        self.settings = settings
        self.client = client
        self.alerts = alerts
        self.actions = actions
        self.redis = alerts.client
        # The enricher (enrichment.Enricher) computes an alert's context once and keeps it
        # with the alert; every later redraw shows the same lines.
        self.renderer = AlertRenderer(settings, actions, mutes or MuteStore(alerts.client),
                                      enrichment=enricher.labels_for if enricher else None)
        self.on_posted = list(on_posted)
        self.post_interval_s = post_interval_s
        self.update_interval_s = update_interval_s
        self._clear = self.redis.register_script(_CLEAR_IF_UNCHANGED)
        self._last_post: dict[str, float] = {}
        self._last_update = 0.0
        self._updated_at: dict[str, float] = {}  # when each alert was last updated (monotonic)

    def handle(self, entry_id: str, fields: Fields) -> None:
        """Handle one entry: post or update now (``new``), mark dirty (``updated``), or report
        a playbook result (``action_result``)."""
        alert_id = fields.get("alert_id", "")
        kind = fields.get("kind", "new")
        if kind == "updated":
            self.redis.hincrby(DIRTY, alert_id, 1)
        elif kind == "action_result":
            self._action_result(alert_id, fields.get("action_id", ""))
        else:
            self.deliver(alert_id)

    def flush(self) -> None:
        """One ``chat.update`` per alert marked dirty since the last flush, as far as the
        update pacing allows now: it never sleeps (it runs after every consumer batch, and
        sleeping there would hold up new alerts), so the alerts it has no time for keep their
        mark for the next flush, least recently updated first. :meth:`run_flusher` calls it
        while no entries arrive. Never raises; a failed update keeps its mark."""
        dirty = [(_text(raw_id), version) for raw_id, version in self.redis.hgetall(DIRTY).items()]
        dirty.sort(key=lambda item: self._updated_at.get(item[0], 0.0))
        for alert_id, version in dirty:
            if time.monotonic() < self._last_update + self.update_interval_s:
                return
            self._updated_at[alert_id] = time.monotonic()
            try:
                delivered = self.deliver(alert_id)
            except SlackApiError as exc:
                status = exc.response.status_code
                log.error("cannot update alert %s in Slack: %s", alert_id,
                          exc.response.get("error"))
                # Rate limited or Slack down: keep the mark. Anything else (a deleted message,
                # an archived channel) would fail again; the alert's next update retries.
                if status == 429 or status >= 500:
                    continue
                delivered = True
            except Exception:
                log.exception("cannot update alert %s; will retry", alert_id)
                continue
            if delivered:
                self._clear(keys=[DIRTY], args=[alert_id, version])

    def run_flusher(self, stop: threading.Event, interval_s: float = 0.25) -> None:
        """Flush every ``interval_s`` until ``stop`` is set: updates left by a paced flush go
        out even when no new entry arrives."""
        while not stop.wait(interval_s):
            try:
                self.flush()
            except Exception:  # a flusher that dies would leave messages stale for good
                log.exception("flush failed; retrying")

    def deliver(self, alert_id: str) -> bool:
        """Post the alert if it has no message yet, else update it; False if another process
        is posting it right now (the caller keeps it dirty)."""
        alert = self.alerts.get(alert_id)
        if alert is None:
            log.warning("alert %s no longer exists; nothing to notify", alert_id)
            return True
        if alert.slack_ts:
            self._update(alert)
            return True
        lock = f"soc:notify:posting:{alert_id}"
        if not self.redis.set(lock, "1", nx=True, px=POST_LOCK_MS):
            self.redis.hincrby(DIRTY, alert_id, 1)
            return False
        try:
            alert = self.alerts.get(alert_id) or alert  # it may have been posted meanwhile
            if alert.slack_ts:
                self._update(alert)
            else:
                self._post(alert)
        finally:
            self.redis.delete(lock)
        return True

    def _post(self, alert: Alert) -> None:
        channel = channel_for(self.settings, alert)
        wait = self._last_post.get(channel, 0.0) + self.post_interval_s - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        posted = self.client.chat_postMessage(channel=channel, **self.renderer.message(alert))
        self._last_post[channel] = time.monotonic()
        # Stored before the entry is acknowledged: a redelivery then updates, never reposts.
        self.alerts.set_slack_message(alert.id, posted["channel"], posted["ts"])
        fresh = self.alerts.get(alert.id) or alert
        for hook in self.on_posted:
            try:
                hook(fresh)
            except Exception:  # the alert is posted; a hook must not make it post again
                log.exception("after posting alert %s: %s failed", alert.id, hook)

    def _update(self, alert: Alert) -> None:
        wait = self._last_update + self.update_interval_s - time.monotonic()
        if wait > 0:
            time.sleep(wait)
            alert = self.alerts.get(alert.id) or alert  # show what arrived while waiting
        with render_lock(self.redis, alert.id):
            alert = self.alerts.get(alert.id) or alert
            self.client.chat_update(channel=alert.slack_channel, ts=alert.slack_ts,
                                    **self.renderer.message(alert))
        self._last_update = time.monotonic()

    def _action_result(self, alert_id: str, action_id: str) -> None:
        action = self.actions.get(action_id)
        if action is None:
            log.warning("action %s (alert %s) no longer exists; no result to post",
                        action_id, alert_id)
            return
        alert_id = alert_id or action.alert_id
        self.deliver(alert_id)  # posts the alert first if it never was, else refreshes it
        alert = self.alerts.get(alert_id)
        if alert is None or not alert.slack_ts:
            return
        posted_flag = f"soc:notify:result:{action.id}:{action.status}"
        if not self.redis.exists(posted_flag):
            self.client.chat_postMessage(channel=alert.slack_channel, thread_ts=alert.slack_ts,
                                         **blocks.result_message(action, alert))
            self.redis.set(posted_flag, "1", ex=RESULT_POSTED_TTL_S)
        if action.slack_channel and action.slack_ts:
            self.client.chat_update(channel=action.slack_channel, ts=action.slack_ts,
                                    **blocks.approval_message(action, alert))


# --- terminal --------------------------------------------------------------------------------

# Bidirectional overrides and isolates can reorder what a reader sees ("Trojan Source").
_BIDI = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def clean(value: object) -> str:
    """``value`` as one line of inert text: control characters (C0, DEL, C1, including ESC
    and so every ANSI sequence) and bidi overrides removed, newlines and tabs as spaces."""
    text = value.decode("utf-8", "backslashreplace") if isinstance(value, bytes) else str(value)
    out = []
    for char in text:
        if char in "\n\r\t":
            out.append(" ")
        elif unicodedata.category(char) != "Cc" and char not in _BIDI:
            out.append(char)
    return "".join(out)


class TerminalNotifier:
    """Print alerts for a bot running without Slack credentials.

    A new alert prints a block; ``updated`` entries print at most one count line per alert per
    batch (coalesced in memory until :meth:`flush`: losing a terminal line on a crash is
    harmless, unlike a Slack message left stale).
    """

    def __init__(self, alerts: AlertStore, actions: ActionStore,
                 stream: TextIO = sys.stdout, enricher: Any = None) -> None:
        self.alerts = alerts
        self.actions = actions
        self.stream = stream
        self.enricher = enricher
        self._dirty: dict[str, None] = {}  # insertion-ordered set
        self._shown: dict[str, int] = {}  # the count last printed per alert

    def handle(self, entry_id: str, fields: Fields) -> None:
        """Print a new alert or a playbook result now; remember an update for :meth:`flush`."""
        alert_id, kind = fields.get("alert_id", ""), fields.get("kind", "new")
        if kind == "updated":
            self._dirty[alert_id] = None
            return
        if kind == "action_result":
            action = self.actions.get(fields.get("action_id", ""))
            if action is not None:
                summary = action.result.get("summary") or action.error
                self._print(f"{action.alert_id} {action.playbook} {action.status}: {summary}")
            return
        alert = self.alerts.get(alert_id)
        if alert is not None:
            self._shown[alert.id] = alert.count
            extra = ([f"  {label}: {text}" for label, text in
                      self.enricher.labels_for(alert).items()] if self.enricher else [])
            self._print(*self.render(alert), *extra, "")

    def flush(self) -> None:
        """Print one count line per alert updated since the last flush."""
        for alert_id in self._dirty:
            alert = self.alerts.get(alert_id)
            # An update may already be shown (the alert was printed after it was counted).
            if alert is not None and self._shown.get(alert.id) != alert.count:
                self._shown[alert.id] = alert.count
                self._print(f"{alert.id} [{alert.severity.upper()}] {alert.title}: "
                            f"count {alert.count}, last seen {blocks.utc(alert.last_seen)}")
        self._dirty.clear()

    @staticmethod
    def render(alert: Alert) -> list[str]:
        """The lines printed for a new alert (not yet cleaned)."""
        lines = [f"=== [{alert.severity.upper()}] {alert.title} ({alert.id})",
                 "entity: " + blocks.plain_entity(alert),
                 (f"count {alert.count}; first seen {blocks.utc(alert.first_seen)}; "
                  f"last seen {blocks.utc(alert.last_seen)}; rule {alert.rule_id}")]
        lines += [f"  {k}: {v}" for k, v in list(alert.context.items())[:10]]
        if alert.playbooks:
            lines.append("suggested playbooks: " + ", ".join(alert.playbooks))
        return lines

    def _print(self, *lines: str) -> None:
        # Each line is cleaned on its own, so the only newlines are the ones written here.
        self.stream.write("".join(clean(line) + "\n" for line in lines))
        self.stream.flush()


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
