"""Deliver alerts from ``{soc}:alerts`` (group ``notify``) to Slack, or to a terminal.

Entries are ``{"alert_id", "kind", "action_id"?}``: ``kind`` is ``new`` or another piece of
news about the alert (``severity``, ``state``, ...), ``updated`` for a count that grew, or
``action_result`` (a playbook finished: its result goes to the alert's thread at once).
The detection stage writes ``new`` and ``severity`` only; for a count that grew it bumps the
alert's mark in ``{soc}:notify:dirty`` itself (:mod:`socbot.core.grouping`), without an entry.

**Marks, then passes.** :meth:`SlackNotifier.handle` only *marks* the alert as owed to Slack (a
counter in the Redis hash ``{soc}:notify:dirty``; ``{soc}:notify:news`` says the mark is news;
:meth:`SlackNotifier.handle_batch`, what the notify stage runs, marks a whole read at once) and
:meth:`SlackNotifier.flush`, run after every consumer batch and by :meth:`run_flusher` every
0.1 s, sends what the pacing allows now in the order :mod:`socbot.bot.delivery` gives: new
alerts first (most severe first), then updates. A pass never sleeps. Any number of marks for
one alert cost one call, showing the alert as it is at that moment. The marks live in Redis
because the consumer acknowledges an entry as soon as ``handle`` returns: a notifier that dies
leaves them for the next pass of any process. A mark is removed only if nobody re-marked the
alert while it was being sent (compare the counter), so news that arrives mid-send is kept.

**Exactly one message per alert, across crashes.** An alert is posted once: a short Redis lock
keeps two processes from posting it at the same time, and before ``chat.postMessage`` the
notifier writes a *post intent* (``{soc}:notify:intent:{id}``: the channel and the time) and
sends the alert id in the message's metadata. The returned ``ts`` is stored with the alert
and the intent deleted. A notifier killed while Slack was posting leaves the intent: the next
attempt reads the channel's history since the intent and, if the message is there, keeps its
``ts`` and updates it instead of posting again.

Example::

    notifier = SlackNotifier(settings, make_web_client(secrets), alerts, actions)
    Consumer(redis, ALERTS, GROUP, consumer_name(GROUP), notifier.handle,
             after_batch=notifier.flush).run(stop)
"""

from __future__ import annotations

import json
import logging
import sys
import threading
import time
import unicodedata
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Protocol, TextIO

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
)

from socbot.bot import blocks
from socbot.bot.delivery import Pacing, Waiting, next_sends
from socbot.bot.render import AlertRenderer, channel_for, render_lock
from socbot.bot.rollup import Rollup, RollupStore, is_rollup
from socbot.bot.rollup_blocks import rollup_message
from socbot.core import keys
from socbot.core.actions import ActionStore
from socbot.core.alerts import SEVERITIES, Alert, AlertStore
from socbot.core.config import Secrets, Settings
from socbot.core.mutes import MuteStore
from socbot.core.streams import Fields, decode, decode_fields

log = logging.getLogger(__name__)

GROUP = "notify"
DIRTY = keys.NOTIFY_DIRTY
NEWS = keys.NOTIFY_NEWS
CHANNEL_IDS = keys.NOTIFY_CHANNEL_IDS
POST_LOCK_MS = 20_000  # a killed poster blocks its alert this long
INTENT_TTL_S = 86400
RESULT_POSTED_TTL_S = 7 * 86400
METADATA_TYPE = "socbot_alert"
HISTORY_PAGES = 5
SENT_AT_KEPT = 10_000

# Delete a dirty mark (and its news flag) only if its counter is still the one the pass read.
_CLEAR_IF_UNCHANGED = """
if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then
  redis.call('HDEL', KEYS[2], ARGV[1])
  return redis.call('HDEL', KEYS[1], ARGV[1])
end
return 0
"""


class AlertLabels(Protocol):
    """Enrichment shown under an alert (``enrichment.Enricher`` is one)."""

    def labels_for(self, alert: Alert) -> dict[str, str]:
        """Label -> text lines for ``alert``, the same on every redraw."""
        ...


class Notifier(Protocol):
    """What the ``notify`` stage drives: :class:`SlackNotifier` or :class:`TerminalNotifier`.

    ``handle`` takes each ``{soc}:alerts`` entry; ``flush`` runs after every batch of entries
    (a notifier may coalesce updates until then); ``flusher`` is a loop to run in its own
    thread until the stop event is set, for a notifier whose updates can wait for their turn
    after the batch that asked for them (None: nothing to run).
    """

    def handle(self, entry_id: str, fields: Fields) -> None:
        """Deliver or remember one ``{soc}:alerts`` entry."""
        ...

    def flush(self) -> None:
        """Deliver what was left for the end of the batch."""
        ...

    def flusher(self) -> Callable[[threading.Event], None] | None:
        """A background loop for a thread of its own, or None."""
        ...


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
    a second); ``update_interval_s`` spaces ``chat.update`` calls (Tier 3, about 50 a minute);
    an update waits at most about ``max_update_wait_s`` behind other work, and one whose alert
    has not changed for ``update_settle_s`` counts as settled (its final figures: see
    :mod:`socbot.bot.delivery`). ``clock`` is
    monotonic seconds (tests pass their own). ``on_posted`` hooks run once after an alert's
    first post (escalation timer, "was this you?" message); a failing hook is logged and never
    makes the post repeat.
    """

    def __init__(self, settings: Settings, client: WebClient, alerts: AlertStore,
                 actions: ActionStore, *, post_interval_s: float = 1.0,
                 update_interval_s: float = 1.2, max_update_wait_s: float = 10.0,
                 update_settle_s: float = 0.5, mutes: MuteStore | None = None,
                 on_posted: Sequence[Callable[[Alert], object]] = (),
                 enricher: AlertLabels | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
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
        self.clock = clock
        self.pacing = Pacing(post_interval_s, update_interval_s, max_update_wait_s)
        self.rollups = RollupStore(self.redis)
        self._clear = self.redis.register_script(_CLEAR_IF_UNCHANGED)
        self._pass = threading.Lock()  # the consumer thread and the flusher take turns
        self._since: dict[str, float] = {}  # when each marked alert started waiting
        self._sent_at: dict[str, float] = {}  # when each alert's message was last sent
        self.update_settle_s = update_settle_s
        # Each waiting mark's version and when it was first seen at it (when it last changed).
        self._changed: dict[str, tuple[str, float]] = {}

    def handle(self, entry_id: str, fields: Fields) -> None:
        """Mark the entry's alert as owed to Slack (news if it is not a plain count update),
        or post a playbook result (``action_result``) now: :meth:`handle_batch` of one."""
        failures = self.handle_batch([(entry_id, fields)])
        if failures:
            raise failures[entry_id]

    def handle_batch(self, entries: Sequence[tuple[str, Fields]]) -> dict[str, Exception]:
        """:meth:`handle` for every entry of a read, the marks in one transaction: a pass (the
        flusher's, running meanwhile) sees all of a read's alerts or none of them. A storm's
        alerts, written by one detect batch, then fold into their rollup together instead of
        the first of them being posted on its own. Playbook results follow, in order; the
        error of each that failed. A Redis failure marking raises: nothing is acknowledged."""
        pipe = self.redis.pipeline(transaction=True)
        results: list[tuple[str, str, str]] = []
        for entry_id, fields in entries:
            alert_id = fields.get("alert_id", "")
            kind = fields.get("kind", "new")
            if kind == "action_result":
                results.append((entry_id, alert_id, fields.get("action_id", "")))
            elif alert_id:
                if kind not in ("new", "updated"):
                    pipe.hset(NEWS, alert_id, kind)
                pipe.hincrby(DIRTY, alert_id, 1)
        if len(pipe):
            pipe.execute()
        failures: dict[str, Exception] = {}
        for entry_id, alert_id, action_id in results:
            try:
                self._action_result(alert_id, action_id)
            except Exception as exc:  # the consumer retries it, then dead-letters it
                failures[entry_id] = exc
        return failures

    def flush(self) -> None:
        """One pass: send what the pacing allows now, in delivery order (never sleeps, never
        raises; whatever it has no room for keeps its mark for the next pass)."""
        with self._pass:
            marks = decode_fields(self.redis.hgetall(DIRTY))
            if not marks:
                return
            now = self.clock()
            for table in (self._since, self._changed):  # only waiting marks keep theirs
                for key in [k for k in table if k not in marks]:
                    del table[key]
            if len(self._sent_at) > SENT_AT_KEPT:  # only waiting alerts need theirs
                self._sent_at = {k: v for k, v in self._sent_at.items() if k in marks}
            waiting = self._waiting(marks, now)
            for item in next_sends(waiting, now=now, pacing=self.pacing):
                self._send(item, marks[item.key])

    def _waiting(self, marks: dict[str, str], now: float) -> list[Waiting]:
        """What each mark needs: its channel, whether it is posted, its severity. Storms fold
        into rollups here (an alert shown by a rollup passes its mark to the rollup)."""
        rows = self._alert_rows([k for k in marks if not is_rollup(k)], marks)
        moved, gained = self._fold(rows, marks)
        if moved:
            pipe = self.redis.pipeline(transaction=False)
            for rollup_id in gained:  # a new member is news; a member's growth is not
                pipe.hset(NEWS, rollup_id, "members")
            for rollup_id in moved:
                pipe.hincrby(DIRTY, rollup_id, 1)
            versions = pipe.execute()[len(gained):]
            marks.update(zip(moved, map(str, versions), strict=True))
        news_ids = set(decode_fields(self.redis.hgetall(NEWS)))
        waiting = [Waiting(key=r.id, channel=r.channel, posted=r.posted,
                           severity_rank=r.severity_rank,
                           since=self._since.setdefault(r.id, now), news=r.id in news_ids,
                           last_sent=self._sent_at.get(r.id, 0.0),
                           settled=self._settled(r.id, marks[r.id], now)) for r in rows]
        for rollup_id in (k for k in marks if is_rollup(k)):
            rollup = self.rollups.get(rollup_id)
            if rollup is None:
                self._clear(keys=[DIRTY, NEWS], args=[rollup_id, marks[rollup_id]])
                continue
            waiting.append(Waiting(
                key=rollup_id, channel=rollup.channel, posted=bool(rollup.slack_ts),
                severity_rank=self.rollups.severity_rank(rollup_id),
                since=self._since.setdefault(rollup_id, now), news=rollup_id in news_ids,
                last_sent=self._sent_at.get(rollup_id, 0.0),
                settled=self._settled(rollup_id, marks[rollup_id], now)))
        return waiting

    def _settled(self, key: str, version: str, now: float) -> bool:
        """True when ``key``'s mark has kept ``version`` for ``update_settle_s``: its alert
        (or rollup) stopped changing, so the update owed shows its final figures."""
        seen = self._changed.get(key)
        if seen is None or seen[0] != version:
            self._changed[key] = seen = (version, now)
        return now - seen[1] >= self.update_settle_s

    def _alert_rows(self, ids: list[str], marks: Mapping[str, str]) -> list[_Row]:
        pipe = self.redis.pipeline(transaction=False)
        for alert_id in ids:
            pipe.hmget(AlertStore.key(alert_id), "rule_id", "dataset", "severity", "context",
                       "slack_ts")
        rows = []
        for alert_id, row in zip(ids, pipe.execute(), strict=True):
            rule_id, dataset, severity, context, ts = (decode(v) if v is not None else None
                                                       for v in row)
            if rule_id is None:  # expired or never existed: nothing to show
                self._clear(keys=[DIRTY, NEWS], args=[alert_id, marks[alert_id]])
                continue
            channel = self.settings.slack.routing.channel(
                rule_id=rule_id, dataset=dataset or "", severity=severity or "",
                account=_account(context))
            rows.append(_Row(alert_id, rule_id, channel, bool(ts),
                             SEVERITIES.index(severity) if severity in SEVERITIES else 0))
        return rows

    def _fold(self, rows: list[_Row], marks: Mapping[str, str]) -> tuple[list[str], list[str]]:
        """Fold storms into rollups. Returns the rollups to mark (their members changed) and
        those that gained members. The alerts a rollup shows (members without a message of
        their own) leave ``rows``, their marks passed on to the rollup."""
        config = self.settings.slack.rollup
        wall = time.time()
        member_of = self.rollups.of([r.id for r in rows])
        moved: dict[str, None] = {}
        gained: dict[str, None] = {}
        shown: set[str] = set()
        storms: dict[tuple[str, str], list[_Row]] = {}
        for row in rows:
            rollup_id = member_of.get(row.id)
            if rollup_id:
                moved[rollup_id] = None
                if not row.posted:
                    shown.add(row.id)
            elif not row.posted and config.enabled:
                storms.setdefault((row.channel, row.rule_id), []).append(row)
        for (channel, rule_id), group in storms.items():
            ids = [r.id for r in group]
            rank = max(r.severity_rank for r in group)
            rollup_id = self.rollups.active(channel, rule_id)
            if rollup_id is not None:
                self.rollups.join(rollup_id, channel, rule_id, ids, wall, rank)
            else:
                recent = self.rollups.opened(channel, rule_id, ids, wall, config.window_seconds)
                if len(recent) < config.alerts:
                    continue  # not a storm (yet): they are posted on their own
                rollup_id = self.rollups.start(channel, rule_id, recent, wall, rank)
            moved[rollup_id] = gained[rollup_id] = None
            shown.update(ids)
        for alert_id in shown:
            self._clear(keys=[DIRTY, NEWS], args=[alert_id, marks[alert_id]])
        rows[:] = [r for r in rows if r.id not in shown]
        return list(moved), list(gained)

    def _send(self, item: Waiting, version: str) -> None:
        try:
            delivered = self.deliver(item.key)
        except SlackApiError as exc:
            status = exc.response.status_code
            log.error("cannot send alert %s to Slack: %s", item.key, exc.response.get("error"))
            # Rate limited or Slack down: keep the mark. Anything else (a deleted message,
            # an archived channel) would fail again; the alert's next news retries.
            if status == 429 or status >= 500:
                return
            delivered = True
        except Exception:
            log.exception("cannot send alert %s; will retry", item.key)
            return
        if delivered:
            self._sent_at[item.key] = self.clock()
            self._since.pop(item.key, None)  # a new mark waits from now, not from before
            self._clear(keys=[DIRTY, NEWS], args=[item.key, version])

    def flusher(self) -> Callable[[threading.Event], None]:
        """:meth:`run_flusher`: updates paced by Slack's rate limits go out on time."""
        return self.run_flusher

    def run_flusher(self, stop: threading.Event, interval_s: float = 0.1) -> None:
        """Run a pass every ``interval_s`` until ``stop`` is set: what a paced pass left goes
        out even when no new entry arrives."""
        while not stop.wait(interval_s):
            try:
                self.flush()
            except Exception:  # a flusher that dies would leave messages stale for good
                log.exception("flush failed; retrying")

    def deliver(self, alert_id: str) -> bool:
        """Post the alert (or rollup) if it has no message yet, else update it, now; False if
        another process is posting it right now (the caller keeps it marked)."""
        if is_rollup(alert_id):
            return self._deliver_rollup(alert_id)
        alert = self.alerts.get(alert_id)
        if alert is None:
            log.warning("alert %s no longer exists; nothing to notify", alert_id)
            return True
        if alert.slack_ts:
            self._update(alert)
            return True
        with self._post_lock(alert_id) as held:
            if not held:
                return False
            alert = self.alerts.get(alert_id) or alert  # it may have been posted meanwhile
            if alert.slack_ts:
                self._update(alert)
            elif self._post_once(alert.id, channel_for(self.settings, alert),
                                 self.renderer.message(alert),
                                 lambda channel, ts: self.alerts.set_slack_message(
                                     alert_id, channel, ts)):
                fresh = self.alerts.get(alert.id) or alert
                for hook in self.on_posted:
                    try:
                        hook(fresh)
                    except Exception:  # the alert is posted; a hook must not make it repeat
                        log.exception("after posting alert %s: %s failed", alert.id, hook)
        return True

    def _deliver_rollup(self, rollup_id: str) -> bool:
        rollup = self.rollups.get(rollup_id)
        if rollup is None:
            return True
        message = self.rollup_message(rollup)
        if rollup.slack_ts:
            self.client.chat_update(channel=rollup.slack_channel, ts=rollup.slack_ts, **message)
            return True
        with self._post_lock(rollup_id) as held:
            if not held:
                return False
            self._post_once(rollup_id, rollup.channel, message,
                            lambda channel, ts: self.rollups.set_slack_message(
                                rollup_id, channel, ts))
        return True

    def rollup_message(self, rollup: Rollup) -> dict[str, Any]:
        """The rollup's message as it should look now."""
        return rollup_message(rollup, self.rollups.members(rollup),
                              mute_hours=self.settings.slack.mute_hours)

    @contextmanager
    def _post_lock(self, key: str) -> Iterator[bool]:
        """Hold the short lock that keeps two processes from posting ``key`` at once; yields
        False (and keeps ``key`` marked) when another process holds it."""
        lock = keys.notify_posting(key)
        if not self.redis.set(lock, "1", nx=True, px=POST_LOCK_MS):
            self.redis.hincrby(DIRTY, key, 1)
            yield False
            return
        try:
            yield True
        finally:
            self.redis.delete(lock)

    def _post_once(self, key: str, channel: str, message: Mapping[str, Any],
                   remember: Callable[[str, str], None]) -> bool:
        """Post ``message`` for ``key`` unless an earlier attempt did (then update that
        message); ``remember(channel_id, ts)`` stores where it is. True for a fresh post."""
        found = self.find_posted(key, channel)
        if found is not None:  # posted by a notifier that died before storing the ts
            log.warning("%s was already posted (%s %s); updating it", key, *found)
            remember(*found)
            self.redis.delete(keys.notify_intent(key))
            self.client.chat_update(channel=found[0], ts=found[1], **message)
            return False
        self.redis.set(keys.notify_intent(key), json.dumps({"channel": channel, "at": time.time()}),
                       ex=INTENT_TTL_S)
        posted = self.client.chat_postMessage(channel=channel, metadata=metadata(key),
                                              **message)
        self.redis.hset(CHANNEL_IDS, channel, posted["channel"])
        # Stored before the mark is cleared: a redelivery then updates, never reposts.
        remember(posted["channel"], posted["ts"])
        self.redis.delete(keys.notify_intent(key))
        return True

    def find_posted(self, alert_id: str, channel: str) -> tuple[str, str] | None:
        """The channel id and ts of the alert's own message when an earlier attempt left a
        post intent and Slack shows the message; None when it was never posted."""
        raw = self.redis.get(keys.notify_intent(alert_id))
        if raw is None:
            return None
        intent = json.loads(raw)
        channel_id = decode(self.redis.hget(CHANNEL_IDS, channel) or b"") or (
            channel if channel[:1] in ("C", "G", "D") else "")
        if not channel_id:
            log.warning("alert %s may have been posted to %s, whose id is not known yet; "
                        "posting it (a duplicate is possible)", alert_id, channel)
            return None
        cursor = None
        for _ in range(HISTORY_PAGES):
            page = self.client.conversations_history(
                channel=channel_id, oldest=f"{float(intent['at']) - 60:.6f}", limit=200,
                include_all_metadata=True, cursor=cursor)
            for message in page.get("messages") or []:
                payload = (message.get("metadata") or {}).get("event_payload") or {}
                if (message.get("metadata", {}).get("event_type") == METADATA_TYPE
                        and payload.get("alert_id") == alert_id
                        and message.get("thread_ts") in (None, message.get("ts"))):
                    return channel_id, str(message["ts"])
            cursor = (page.get("response_metadata") or {}).get("next_cursor")
            if not cursor:
                break
        return None

    def _update(self, alert: Alert) -> None:
        with render_lock(self.redis, alert.id):
            alert = self.alerts.get(alert.id) or alert
            self.client.chat_update(channel=alert.slack_channel, ts=alert.slack_ts,
                                    **self.renderer.message(alert))

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
        posted_flag = keys.notify_result(action.id, action.status)
        if not self.redis.exists(posted_flag):
            self.client.chat_postMessage(channel=alert.slack_channel, thread_ts=alert.slack_ts,
                                         **blocks.result_message(action, alert))
            self.redis.set(posted_flag, "1", ex=RESULT_POSTED_TTL_S)
        if action.slack_channel and action.slack_ts:
            self.client.chat_update(channel=action.slack_channel, ts=action.slack_ts,
                                    **blocks.approval_message(action, alert))


@dataclass
class _Row:
    """A marked alert as a pass sees it."""

    id: str
    rule_id: str
    channel: str
    posted: bool
    severity_rank: int


def metadata(alert_id: str) -> dict[str, Any]:
    """The message metadata that names the alert a message belongs to."""
    return {"event_type": METADATA_TYPE, "event_payload": {"alert_id": alert_id}}


def _account(context: str | None) -> str:
    try:
        found = json.loads(context or "{}")
    except ValueError:
        return ""
    return str(found.get("cloud.account.id", "")) if isinstance(found, dict) else ""


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
                 stream: TextIO = sys.stdout, enricher: AlertLabels | None = None) -> None:
        self.alerts = alerts
        self.actions = actions
        self.stream = stream
        self.enricher = enricher
        self._dirty: dict[str, None] = {}  # insertion-ordered set
        self._lock = threading.Lock()
        self._shown: dict[str, int] = {}  # the count last printed per alert

    def handle(self, entry_id: str, fields: Fields) -> None:
        """Print a new alert or a playbook result now; remember an update for :meth:`flush`."""
        alert_id, kind = fields.get("alert_id", ""), fields.get("kind", "new")
        if kind == "updated":
            with self._lock:
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
        """Print one count line per alert updated since the last flush (``updated`` entries,
        and the dirty marks the detection stage leaves as counts grow)."""
        with self._lock:  # the flusher thread and the consumer's after-batch both flush
            marked = [decode(raw_id) for raw_id in self.alerts.client.hkeys(DIRTY)]
            if marked:
                self.alerts.client.hdel(DIRTY, *marked)
            dirty = dict.fromkeys([*self._dirty, *marked])
            self._dirty.clear()
            for alert_id in dirty:
                alert = self.alerts.get(alert_id)
                # An update may already be shown (the alert was printed after it was counted).
                if alert is not None and self._shown.get(alert.id) != alert.count:
                    self._shown[alert.id] = alert.count
                    self._print(f"{alert.id} [{alert.severity.upper()}] {alert.title}: count "
                                f"{alert.count}, last seen {blocks.utc(alert.last_seen)}")

    def flusher(self) -> Callable[[threading.Event], None]:
        """A loop that flushes every second, so growing counts show even when no entry
        arrives (the detection stage marks them instead of writing entries)."""
        def run(stop: threading.Event) -> None:
            while not stop.wait(1.0):
                try:
                    self.flush()
                except Exception:
                    log.exception("flush failed; retrying")
        return run

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
