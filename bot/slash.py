"""The ``/soc`` slash command: recent events, search, one alert, mutes, status, playbooks.

Every answer is ephemeral (only the person who typed the command sees it) and is returned in
the command's acknowledgement, so it arrives within Slack's 3 seconds; queries are bounded
(:mod:`core.eventstore`) to stay far below that. Answers stay within Slack's limits (at most 50
blocks, 3000 characters a section) and every value from an event is escaped. Wrong arguments
get the usage.

The manifest declares the command with ``should_escape: true``, so Slack sends ``&``, ``<`` and
``>`` typed by the user as entities; they are turned back into characters before parsing.
"""

from __future__ import annotations

import difflib
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import redis

from socbot.bot.approvers import Approvers
from socbot.bot.blocks import mention, utc
from socbot.bot.escape import escape, escape_truncate, truncate
from socbot.bot.render import AlertRenderer
from socbot.core.alerts import AlertStore
from socbot.core.events import Event
from socbot.core.eventstore import GROUP as INDEX_GROUP
from socbot.core.eventstore import EventStore
from socbot.core.mutes import MAX_MUTE_S, MuteStore
from socbot.core.streams import ACTIONS, ALERTS, DEAD_LETTERS, EVENTS, decode, entries
from socbot.playbooks import describe

USAGE = "\n".join([
    "*Usage* (answers are visible only to you):",
    "`/soc recent [DATASET] [N]`: the newest events (N up to 50)",
    "`/soc search user=NAME ip=ADDR host=NAME dataset=NAME since=24h limit=N`: events "
    "matching all the given conditions (at least one of user, ip, host, dataset)",
    "`/soc alert ID`: one alert, with its buttons",
    "`/soc mute RULE [ENTITY] DURATION [REASON]`: silence a rule (for one entity) "
    "for 30m, 4h, 2d...; `/soc mute list`; `/soc unmute RULE [ENTITY]`",
    "`/soc status`: lag and consumers per stage, dead letters, last event per source",
    "`/soc playbooks`: the remediation playbooks",
    "`/soc help`: this text",
])
STAGES = ((EVENTS, "detect"), (EVENTS, INDEX_GROUP), (ALERTS, "notify"), (ACTIONS, "respond"))
DURATION = re.compile(r"(\d{1,6})([smhd])")
UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
ALERT_ID = re.compile(r"A[0-9A-F]{10}")
SEARCH_KEYS = ("user", "ip", "host", "dataset", "since", "limit")
MAX_EVENTS = 50
SECTION = 2900


class UsageError(ValueError):
    """The arguments are wrong; the message says which."""


def parse_duration(text: str) -> int:
    """``30m`` -> 1800; raises UsageError for anything else."""
    match = DURATION.fullmatch(text.strip().lower())
    if not match:
        raise UsageError(f"`{escape(text)}` is not a duration; write 30m, 4h or 2d")
    return int(match.group(1)) * UNITS[match.group(2)]


def unescape_command(text: str) -> str:
    """Undo Slack's ``should_escape`` entities in the command text."""
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def sections(lines: list[str], max_blocks: int = 45) -> list[dict[str, Any]]:
    """Pack escaped mrkdwn lines into section blocks of at most SECTION characters."""
    blocks: list[dict[str, Any]] = []
    chunk = ""
    for line in lines:
        line = truncate(line, SECTION)
        if chunk and len(chunk) + 1 + len(line) > SECTION:
            blocks.append(_section(chunk))
            chunk = ""
        chunk = f"{chunk}\n{line}" if chunk else line
    if chunk:
        blocks.append(_section(chunk))
    return blocks[:max_blocks]


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text, "verbatim": True}}


def event_line(event: Event) -> str:
    """One event as one escaped line."""
    parts = [f"`{escape(event.get('@timestamp', '?'))}`",
             escape(event.get("event.dataset", "")), escape(event.get("event.action", "")),
             escape(event.get("event.outcome", ""))]
    for label, name in (("user", "user.name"), ("ip", "source.ip"), ("host", "host.name")):
        if event.get(name) not in (None, ""):
            parts.append(f"{label}={escape_truncate(event[name], 100)}")
    message = event.get("message")
    if message:
        parts.append("— " + escape_truncate(message, 160))
    return " ".join(p for p in parts if p)


@dataclass
class Answer:
    """What ``/soc`` answers: fallback text and blocks, always ephemeral."""

    text: str
    blocks: list[dict[str, Any]]

    def response(self) -> dict[str, Any]:
        """Keyword arguments for ``ack()`` (or a ``response_url`` post)."""
        return {"response_type": "ephemeral", "text": truncate(self.text, 3000),
                "blocks": self.blocks[:50]}


class SocCommand:
    """Parse and answer one ``/soc`` command."""

    def __init__(self, redis_client: redis.Redis, alerts: AlertStore, mutes: MuteStore,
                 events: EventStore, approvers: Approvers, renderer: AlertRenderer,
                 playbooks: Callable[[], list[Any]], rules: Callable[[], set[str]]) -> None:
        self.redis = redis_client
        self.alerts = alerts
        self.mutes = mutes
        self.events = events
        self.approvers = approvers
        self.renderer = renderer
        self.playbooks = playbooks
        self.rules = rules

    def answer(self, text: str, user: str) -> Answer:
        """The answer to ``/soc {text}`` typed by ``user``."""
        words = unescape_command(text or "").split()
        command, args = (words[0].lower(), words[1:]) if words else ("help", [])
        handlers = {"recent": self.recent, "search": self.search, "alert": self.alert,
                    "mute": self.mute, "unmute": self.unmute, "status": self.status,
                    "playbooks": self.list_playbooks}
        if command == "help" and not args:
            return Answer("socbot /soc usage", sections(USAGE.splitlines()))
        handler = handlers.get(command)
        try:
            if handler is None:
                raise UsageError(f"unknown command `{escape_truncate(command, 40)}`")
            return handler(args, user)
        except UsageError as exc:
            return Answer(f"/soc: {exc}", sections([f":warning: {exc}", *USAGE.splitlines()]))

    # --- events ------------------------------------------------------------------------------

    def recent(self, args: list[str], user: str) -> Answer:
        """``recent [DATASET] [N]``."""
        dataset, limit = None, 10
        for arg in args:
            if (count := _count(arg)) is not None:
                limit = count
            elif dataset is None and re.fullmatch(r"[a-z][a-z0-9_.-]{0,40}", arg):
                dataset = arg
            else:
                raise UsageError(f"`{escape_truncate(arg, 60)}` is neither a dataset nor a count")
        if not 1 <= limit <= MAX_EVENTS:
            raise UsageError(f"N is 1 to {MAX_EVENTS}")
        found = self.events.recent(dataset, limit)
        kind = f"{escape(dataset)} event" if dataset else "event"
        title = f"*The {len(found)} most recent {kind}(s), newest first*" if found else (
            f"*No {kind}s stored yet*")
        return self._events(title, found)

    def search(self, args: list[str], user: str) -> Answer:
        """``search key=value ...``."""
        terms: dict[str, str] = {}
        for arg in args:
            key, sep, value = arg.partition("=")
            if not sep or key not in SEARCH_KEYS or not value or key in terms:
                raise UsageError(f"`{escape_truncate(arg, 60)}` is not one of "
                                 + ", ".join(f"{k}=..." for k in SEARCH_KEYS) + " (each once)")
            terms[key] = value
        if not {"user", "ip", "host", "dataset"} & set(terms):
            raise UsageError("give at least one of user=, ip=, host=, dataset=")
        since = parse_duration(terms["since"]) if "since" in terms else None
        limit = _count(terms.get("limit", "20")) or 0
        if not 1 <= limit <= MAX_EVENTS:
            raise UsageError(f"limit is 1 to {MAX_EVENTS}")
        started = time.monotonic()
        result = self.events.search(user=terms.get("user"), ip=terms.get("ip"),
                                    host=terms.get("host"), dataset=terms.get("dataset"),
                                    since_s=since, limit=limit)
        took = (time.monotonic() - started) * 1000
        shown = " ".join(f"{k}={escape_truncate(v, 80)}" for k, v in terms.items())
        title = f"*{len(result.events)} event(s)* for {shown} ({took:.0f} ms)"
        if result.truncated:
            title += f"; stopped after {result.scanned} candidates: narrow the search"
        return self._events(title, result.events)

    def _events(self, title: str, events: list[Event]) -> Answer:
        lines = [title, *(event_line(e) for e in events)]
        if not events:
            lines.append("Nothing found (events are kept for the configured retention).")
        return Answer(_plain(title), sections(lines))

    # --- alerts and mutes ----------------------------------------------------------------------

    def alert(self, args: list[str], user: str) -> Answer:
        """``alert ID``."""
        if len(args) != 1 or not ALERT_ID.fullmatch(args[0].upper()):
            raise UsageError("`/soc alert ID` takes one alert id, such as A1B2C3D4E5")
        alert = self.alerts.get(args[0].upper())
        if alert is None:
            return Answer("No such alert", sections([f"No alert {escape(args[0])}; alerts "
                                                     "are kept 30 days."]))
        message = self.renderer.message(alert)
        return Answer(message["text"], message["blocks"])

    def mute(self, args: list[str], user: str) -> Answer:
        """``mute RULE [ENTITY] DURATION [REASON]`` or ``mute list``."""
        if args == ["list"]:
            return self.mute_list()
        if len(args) < 2:
            raise UsageError("`/soc mute RULE [ENTITY] DURATION [REASON]`")
        self._may_mute(user)
        rule = self._rule(args[0])
        if DURATION.fullmatch(args[1].lower()):
            entity, seconds, reason = None, parse_duration(args[1]), args[2:]
        elif len(args) >= 3:
            entity, seconds, reason = args[1], parse_duration(args[2]), args[3:]
        else:
            raise UsageError("a mute needs a duration, such as 4h")
        if not 0 < seconds <= MAX_MUTE_S:
            raise UsageError(f"a mute lasts up to {MAX_MUTE_S // 86400} days")
        mute = self.mutes.mute(rule, entity, seconds=seconds, by=user,
                               reason=" ".join(reason)[:200])
        what = f"`{escape(rule)}`" + (f" for {escape(entity)}" if entity else " (every entity)")
        return Answer(_plain(f"Muted {what}"), sections([
            f":mute: Muted {what} until {utc(mute.until)} by {mention(user)}."]))

    def unmute(self, args: list[str], user: str) -> Answer:
        """``unmute RULE [ENTITY]``."""
        if not 1 <= len(args) <= 2:
            raise UsageError("`/soc unmute RULE [ENTITY]`")
        self._may_mute(user)
        entity = args[1] if len(args) == 2 else None
        done = self.mutes.unmute(args[0], entity)
        what = f"`{escape(args[0])}`" + (f" for {escape(entity)}" if entity else "")
        return Answer(_plain(f"Unmuted {what}"), sections([
            f":loud_sound: Unmuted {what}." if done else f"No mute on {what}; nothing changed."]))

    def mute_list(self) -> Answer:
        """Every mute in force."""
        mutes = self.mutes.active()
        lines = [f"*{len(mutes)} mute(s) in force*"] + [
            f"`{escape(m.rule_id)}` {escape(m.entity)} until {utc(m.until)} by "
            f"{mention(m.by)}" + (f": {escape_truncate(m.reason, 200)}" if m.reason else "")
            for m in mutes[:100]]
        return Answer(f"{len(mutes)} mute(s)", sections(lines))

    def _may_mute(self, user: str) -> None:
        if not self.approvers.may_respond(user):
            raise UsageError(f"only the {escape(self.approvers.describe_responders())} may "
                             "mute; nothing changed")

    def _rule(self, rule: str) -> str:
        known = self.rules()
        if known and rule not in known:
            close = difflib.get_close_matches(rule, sorted(known), n=3)
            hint = ("did you mean " + " or ".join(f"`{escape(r)}`" for r in close) + "?"
                    if close else "`/soc status` and the README list the rules")
            raise UsageError(f"`{escape_truncate(rule, 80)}` is not a rule id; {hint}")
        return rule

    # --- status and playbooks ------------------------------------------------------------------

    def status(self, args: list[str], user: str) -> Answer:
        """``status``: per-stage lag and consumers, dead letters, last event per source."""
        if args:
            raise UsageError("`/soc status` takes no arguments")
        lines = ["*Stages* (stream / group: lag, pending, consumers)"]
        for stream, group in STAGES:
            lines.append(self._stage(stream, group))
        dead = int(self.redis.xlen(DEAD_LETTERS))
        lines.append(f"*Dead letters*: {dead}")
        for _id, entry in entries(self.redis.xrevrange(DEAD_LETTERS, count=5)):
            at = float(entry.get("dead.at") or 0)
            subject = entry.get("alert_id") or entry.get("action_id") or entry.get("dead.id", "")
            lines.append(f"• {escape(entry.get('dead.stream', '?'))}/"
                         f"{escape(entry.get('dead.group', '?'))} {escape(subject)} "
                         f"{utc(at) if at else ''}: "
                         f"{escape_truncate(entry.get('dead.error', ''), 300)}")
        lines.append("*Last event per source*")
        last = self.events.last_seen()
        now = time.time()
        for dataset, (stamp, indexed) in sorted(last.items()):
            ago = f"{int(now - indexed)} s ago" if indexed else "?"
            lines.append(f"• {escape(dataset)}: `{escape(stamp)}` (indexed {ago})")
        if not last:
            lines.append("• no events indexed yet")
        lines.append(f"Events kept: {self.events.count()}")
        return Answer("socbot status", sections(lines))

    def _stage(self, stream: str, group: str) -> str:
        try:
            groups = self.redis.xinfo_groups(stream)
        except redis.ResponseError:
            return f"• `{stream}` / {group}: stream not created yet"
        for info in groups:
            if decode(info["name"]) != group:
                continue
            lag = info.get("lag")
            consumers = self.redis.xinfo_consumers(stream, group)
            busy = ", ".join(f"{escape(decode(c['name']))} (idle {int(c['idle']) // 1000} s, "
                             f"{c['pending']} pending)" for c in consumers[:5])
            return (f"• `{stream}` / {group}: lag {lag if lag is not None else '?'}, "
                    f"{info['pending']} pending, {len(consumers)} consumer(s)"
                    + (f": {busy}" if busy else ""))
        return f"• `{stream}` / {group}: no consumer group (stage never ran)"

    def list_playbooks(self, args: list[str], user: str) -> Answer:
        """``playbooks``."""
        if args:
            raise UsageError("`/soc playbooks` takes no arguments")
        lines = ["*Playbooks* (run from an alert's button; approvals from another person)"]
        lines += [f"• {playbook_line(playbook)}" for playbook in self.playbooks()]
        return Answer("socbot playbooks", sections(lines))


def playbook_line(playbook: Any) -> str:
    """A playbook as ``/soc playbooks`` and the Home tab show it (mrkdwn, escaped): the same
    words as ``socbot playbooks list``."""
    return (f"`{escape(playbook.name)}`: {escape(describe.kind(playbook))} · "
            f"{escape(describe.approvals(playbook))} · {escape(playbook.description)}")


def _count(text: str) -> int | None:
    """A count typed by the user, else None. ASCII digits only: ``isdigit()`` also accepts
    "²", which ``int()`` refuses, and a few thousand digits exceed ``int()``'s limit."""
    return int(text) if text.isascii() and text.isdigit() and len(text) <= 9 else None


def _plain(text: str) -> str:
    return text.replace("*", "")
