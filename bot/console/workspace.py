"""The Web API side of the console: what the bot's ``WebClient`` calls, answered as Slack does.

State is kept for the page to show: the messages of every channel (and their threads), the
ephemeral messages per person, the open modal per person and the App Home view per person.
Every call is also kept in :attr:`Workspace.log` (method and parameters), newest last.
"""

from __future__ import annotations

import hashlib
import itertools
import threading
import time
from dataclasses import dataclass, field
from typing import Any

BOT_USER, BOT_ID, TEAM = "UBOT0001", "B0001", "T0001"


@dataclass(frozen=True)
class Person:
    """Someone the page can act as: a Slack user id, a display name, their team."""

    key: str
    user_id: str
    name: str
    team_id: str = TEAM


# The on-call group, and the people the switch on the page offers.
ONCALL_GROUP = "S0ONCALL"
PEOPLE = (
    Person("oncall", "U0ONCALL", "Olive (on-call)"),
    Person("approver", "U0APPR", "Abel (approver)"),
    Person("approver2", "U0APPR2", "Ada (second approver)"),
    Person("outsider", "U0OUTSIDE", "Otto (not an approver)"),
    Person("external", "U0EXTERN", "Eve (shared channel, other org)", "T0OTHERORG"),
)


def person(key: str) -> Person:
    """The person named ``key``; a clear error for an unknown one."""
    for candidate in PEOPLE:
        if candidate.key == key:
            return candidate
    raise KeyError(f"unknown person {key!r}: one of {', '.join(p.key for p in PEOPLE)}")


@dataclass
class Message:
    """A message as the channel holds it."""

    channel: str
    ts: str
    params: dict[str, Any]
    edited: bool = False

    def view(self) -> dict[str, Any]:
        """What the page needs to draw it."""
        return {"channel": self.channel, "ts": self.ts, "text": self.params.get("text", ""),
                "blocks": self.params.get("blocks") or [],
                "thread_ts": self.params.get("thread_ts") or "", "edited": self.edited}


@dataclass
class Workspace:
    """Channels, modals and Home tabs of one console; thread-safe."""

    usergroups: dict[str, list[str]] = field(default_factory=lambda: {
        ONCALL_GROUP: ["U0ONCALL", "U0APPR"]})
    log: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.Condition()
        self._ts = itertools.count(1)
        self._views = itertools.count(1)
        self._channels: dict[str, str] = {}
        self.messages: dict[tuple[str, str], Message] = {}
        self.ephemerals: dict[str, list[dict[str, Any]]] = {}
        self.modals: dict[str, dict[str, Any]] = {}  # user -> view (with "id")
        self.homes: dict[str, dict[str, Any]] = {}
        self._trigger_users: dict[str, str] = {}  # trigger_id -> the person who acted
        self._modal_updates: dict[str, int] = {}  # user -> views.update calls on their modal
        self.version = 0  # grows with every change the page should redraw for

    # --- for the page ---------------------------------------------------------------------

    def snapshot(self, user: str) -> dict[str, Any]:
        """What ``user`` sees now: channels with messages, their ephemerals, modal, Home."""
        with self._lock:
            messages = [m.view() for _key, m in sorted(self.messages.items(),
                                                      key=lambda item: item[0][1])]
            names = {cid: name for name, cid in self._channels.items()}
            return {"version": self.version, "messages": messages, "channels": names,
                    "ephemerals": list(self.ephemerals.get(user, [])),
                    "modal": self.modals.get(user), "home": self.homes.get(user)}

    def thread_texts(self) -> dict[str, str]:
        """The fallback text of every reply in a thread, by ts (for the terminal's log)."""
        with self._lock:
            return {ts: str(m.params.get("text", "")) for (_c, ts), m in self.messages.items()
                    if m.params.get("thread_ts")}

    def wait_change(self, version: int, timeout: float) -> int:
        """Block until the state changed past ``version`` (or ``timeout``); the new version."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while self.version <= version:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._lock.wait(left)
            return self.version

    def close_modal(self, user: str) -> None:
        """The person closed their modal (or the bot's answer closed it)."""
        with self._lock:
            if self.modals.pop(user, None) is not None:
                self._changed()

    def modal_updates(self, user: str) -> int:
        """How many ``views.update`` calls changed ``user``'s modal so far."""
        with self._lock:
            return self._modal_updates.get(user, 0)

    def replace_modal(self, user: str, view: dict[str, Any], updates_seen: int = -1) -> None:
        """A ``response_action: update`` or ``push`` answer to a submission. Slack applies it
        before any ``views.update`` the bot sends after answering: one that already arrived
        (more updates than ``updates_seen`` when the submission was sent) is not overwritten."""
        with self._lock:
            if 0 <= updates_seen < self._modal_updates.get(user, 0):
                return
            old = self.modals.get(user) or {}
            self.modals[user] = {**view, "id": old.get("id") or self._view_id()}
            self._changed()

    def modal_errors(self, user: str, errors: dict[str, str]) -> None:
        """A ``response_action: errors`` answer: shown under the named blocks."""
        with self._lock:
            if user in self.modals:
                self.modals[user] = {**self.modals[user], "errors": errors}
                self._changed()

    def ephemeral(self, user: str, channel: str, text: str,
                  blocks: list[dict[str, Any]] | None = None) -> None:
        """Show ``user`` a message only they see (also a ``response_url`` answer)."""
        with self._lock:
            self.ephemerals.setdefault(user, []).append(
                {"channel": channel, "text": text, "blocks": blocks or [],
                 "ts": self._next_ts()})
            self._changed()

    def channel_id(self, name: str) -> str:
        """``#security`` -> a stable ``C…`` id; a user id -> their direct message ``D…``."""
        if name[:1] in ("U", "W"):
            return "D" + hashlib.sha1(name.encode()).hexdigest()[:8].upper()
        if not name.startswith("#"):
            return name
        with self._lock:
            if name not in self._channels:
                self._channels[name] = "C" + hashlib.sha1(name.encode()).hexdigest()[:8].upper()
            return self._channels[name]

    # --- the Web API ----------------------------------------------------------------------

    def call(self, method: str, params: dict[str, Any], token: str) -> dict[str, Any]:
        """Answer one Web API call as Slack would."""
        if not token.startswith("xoxb-"):
            return {"ok": False, "error": "not_authed"}
        with self._lock:
            self.log.append((method, params))
            answer = self._answer(method, params)
            self._changed()
            return answer

    def _answer(self, method: str, p: dict[str, Any]) -> dict[str, Any]:
        if method == "auth.test":
            return {"ok": True, "url": "http://127.0.0.1/", "team": "Console", "user": "socbot",
                    "team_id": TEAM, "user_id": BOT_USER, "bot_id": BOT_ID,
                    "is_enterprise_install": False}
        if method == "chat.postMessage":
            channel = self.channel_id(str(p.get("channel", "")))
            if not p.get("text") and not p.get("blocks"):
                return {"ok": False, "error": "no_text"}
            thread = str(p.get("thread_ts") or "")
            if thread and (channel, thread) not in self.messages:
                return {"ok": False, "error": "thread_not_found"}
            ts = self._next_ts()
            self.messages[(channel, ts)] = Message(channel, ts, dict(p))
            return {"ok": True, "channel": channel, "ts": ts,
                    "message": {"text": p.get("text", ""), "ts": ts}}
        if method == "chat.update":
            key = (str(p.get("channel", "")), str(p.get("ts", "")))
            old = self.messages.get(key)
            if old is None:
                return {"ok": False, "error": "message_not_found"}
            kept: dict[str, Any] = {k: old.params[k] for k in ("thread_ts", "metadata")
                                    if k in old.params}
            self.messages[key] = Message(key[0], key[1], {**kept, **p}, edited=True)
            return {"ok": True, "channel": key[0], "ts": key[1], "text": p.get("text", "")}
        if method == "chat.postEphemeral":
            user = str(p.get("user", ""))
            ts = self._next_ts()
            self.ephemerals.setdefault(user, []).append(
                {"channel": self.channel_id(str(p.get("channel", ""))),
                 "text": p.get("text", ""), "blocks": p.get("blocks") or [], "ts": ts})
            return {"ok": True, "message_ts": ts}
        if method == "conversations.history":
            return self._history(p)
        if method == "usergroups.users.list":
            group = str(p.get("usergroup", ""))
            if group not in self.usergroups:
                return {"ok": False, "error": "no_such_subteam"}
            return {"ok": True, "users": list(self.usergroups[group])}
        if method == "users.info":
            user = str(p.get("user", ""))
            found = next((x for x in PEOPLE if x.user_id == user), None)
            name = found.name if found else user.lower()
            return {"ok": True, "user": {"id": user, "name": name, "real_name": name,
                                         "tz": "UTC", "team_id": found.team_id if found
                                         else TEAM}}
        if method == "users.lookupByEmail":
            return {"ok": False, "error": "users_not_found"}
        if method in ("views.open", "views.push"):
            user = self._trigger_users.pop(str(p.get("trigger_id", "")), "")
            if not user:
                return {"ok": False, "error": "expired_trigger_id"}
            view = {**_as_dict(p.get("view")), "id": self._view_id()}
            self.modals[user] = view
            return {"ok": True, "view": view}
        if method == "views.update":
            for user, view in self.modals.items():
                if view.get("id") == p.get("view_id"):
                    self.modals[user] = {**_as_dict(p.get("view")), "id": view["id"]}
                    self._modal_updates[user] = self._modal_updates.get(user, 0) + 1
                    return {"ok": True, "view": self.modals[user]}
            return {"ok": False, "error": "not_found"}
        if method == "views.publish":
            user = str(p.get("user_id", ""))
            view = {**_as_dict(p.get("view")), "id": f"VHOME{user}"}
            self.homes[user] = view
            return {"ok": True, "view": view}
        if method == "reactions.add":
            return {"ok": True}
        return {"ok": False, "error": "unknown_method",
                "detail": f"the console does not serve {method}"}

    def trigger(self, user: str) -> str:
        """A fresh ``trigger_id`` for an interaction of ``user`` (``views.open`` needs it)."""
        with self._lock:
            trigger = f"{int(time.time())}.{next(self._views)}.c0501e"
            self._trigger_users[trigger] = user
            return trigger

    def _history(self, p: dict[str, Any]) -> dict[str, Any]:
        channel = str(p.get("channel", ""))
        oldest = float(p.get("oldest") or 0)
        found = []
        for (chan, ts), message in sorted(self.messages.items(), reverse=True):
            if chan != channel or float(ts) < oldest:
                continue
            item = {"type": "message", "ts": ts, "text": message.params.get("text", ""),
                    "bot_id": BOT_ID}
            if message.params.get("thread_ts"):
                item["thread_ts"] = message.params["thread_ts"]
            if message.params.get("metadata"):
                item["metadata"] = message.params["metadata"]
            found.append(item)
        limit = int(p.get("limit") or 100)
        return {"ok": True, "messages": found[:limit], "has_more": len(found) > limit}

    def _next_ts(self) -> str:
        return f"{int(time.time())}.{next(self._ts):06d}"

    def _view_id(self) -> str:
        return f"V{next(self._views):08d}"

    def _changed(self) -> None:
        self.version += 1
        self._lock.notify_all()


def _as_dict(value: Any) -> dict[str, Any]:
    return dict(value) if isinstance(value, dict) else {}
