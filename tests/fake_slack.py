"""A fake Slack Web API over real HTTP, and a way to send signed interactions to the bot.

:class:`FakeSlack` listens on 127.0.0.1 (a free port) and answers like Slack for the methods the
bot uses, recording every call: the method, the parameters parsed from a JSON or form body (and
the query string), and the headers. It can be told to fail the next calls of a method with a
429 (with ``Retry-After``) or a 500, or to hold its answer to the next call of a method (the
call takes effect at once, as in Slack; only the answer is late: a client killed meanwhile
never learns the message's ts). ``conversations.history`` returns the messages posted to a
channel, with their metadata when asked. POSTs to ``/response_url/...`` are recorded too.

Use it through the ``slack`` fixture (registered for every module in ``tests/conftest.py``).
Modelled on bolt-python's ``tests/mock_web_api_server``, but written for these tests: the
server keeps state (channel ids for ``#names``, the messages posted) so that ``chat.update`` of
a message that was never posted fails as it would in Slack.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self

import pytest
from fake_socket_mode import SocketModeServer
from slack_sdk.signature import SignatureVerifier


@dataclass
class Call:
    """One request the fake server received."""

    method: str
    params: dict[str, Any]
    headers: dict[str, str]
    raw: str = ""
    received: float = field(default_factory=time.monotonic)


@dataclass
class _Failure:
    count: int
    status: int
    retry_after: int


@dataclass
class FakeSlack:
    """The fake Web API. Use as a context manager; ``url`` is the WebClient ``base_url``."""

    usergroups: dict[str, list[str]] = field(default_factory=dict)
    emails: dict[str, str] = field(default_factory=dict)  # users.lookupByEmail: email -> id
    log: list[Call] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.Condition()
        self._failures: dict[str, _Failure] = {}
        self._holds: dict[str, tuple[int, float]] = {}  # method -> (calls to let by, s)
        self._ts = itertools.count(1)
        self._channels: dict[str, str] = {}
        self.messages: dict[tuple[str, str], dict[str, Any]] = {}
        # Socket Mode: apps.connections.open answers this server's URL.
        self.socket_mode = SocketModeServer()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self.server.daemon_threads = True
        # A short poll interval makes shutdown() quick (it waits for the next poll).
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True,
                                        kwargs={"poll_interval": 0.05})

    @property
    def url(self) -> str:
        """The base URL to give WebClient (``base_url``), ending in ``/api/``."""
        return f"http://127.0.0.1:{self.server.server_port}/api/"

    def __enter__(self) -> Self:
        self.socket_mode.__enter__()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.socket_mode.__exit__(*exc)

    # --- test helpers ----------------------------------------------------------------------

    def fail_next(self, method: str, count: int = 1, status: int = 429,
                  retry_after: int = 1) -> None:
        """Answer the next ``count`` calls of ``method`` with ``status`` (429 + Retry-After)."""
        with self._lock:
            self._failures[method] = _Failure(count, status, retry_after)

    def hold_next(self, method: str, seconds: float, after: int = 0) -> None:
        """Answer the next call of ``method`` (after letting ``after`` calls by) only after
        ``seconds``; the call itself takes effect at once."""
        with self._lock:
            self._holds[method] = (after, seconds)

    def hold_for(self, method: str) -> float:
        """How long to hold the answer to the call of ``method`` being answered."""
        with self._lock:
            hold = self._holds.get(method)
            if hold is None:
                return 0.0
            after, seconds = hold
            if after:
                self._holds[method] = (after - 1, seconds)
                return 0.0
            del self._holds[method]
            return seconds

    def top_level(self, channel: str) -> list[dict[str, Any]]:
        """The messages posted to ``channel`` (an id) outside threads, oldest first."""
        with self._lock:
            return [params for (chan, _ts), params in sorted(self.messages.items())
                    if chan == channel and not params.get("thread_ts")]

    def calls(self, method: str) -> list[Call]:
        """The calls of ``method`` received so far, oldest first."""
        with self._lock:
            return [c for c in self.log if c.method == method]

    def wait_for(self, method: str, count: int = 1, timeout: float = 5.0) -> list[Call]:
        """Wait until ``method`` was called at least ``count`` times; fail after ``timeout``."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while True:
                found = [c for c in self.log if c.method == method]
                if len(found) >= count:
                    return found
                left = deadline - time.monotonic()
                if left <= 0:
                    seen = [c.method for c in self.log]
                    raise AssertionError(f"{method} called {len(found)} times, wanted {count}; "
                                         f"calls so far: {seen}")
                self._lock.wait(left)

    def settle(self, quiet: float = 0.3) -> None:
        """Wait until no call has arrived for ``quiet`` seconds (to assert that none follow)."""
        while True:
            with self._lock:
                before = len(self.log)
            time.sleep(quiet)
            with self._lock:
                if len(self.log) == before:
                    return

    def channel_id(self, name: str) -> str:
        """The id this fake gives a channel (``#security`` -> ``C…``; a user id -> the ``D…``
        of the bot's direct message with them; channel ids stay as they are)."""
        if name[:1] in ("U", "W"):
            return "D" + hashlib.sha1(name.encode()).hexdigest()[:8].upper()
        if not name.startswith("#"):
            return name
        with self._lock:
            if name not in self._channels:
                self._channels[name] = "C" + hashlib.sha1(name.encode()).hexdigest()[:8].upper()
            return self._channels[name]

    # --- answers ---------------------------------------------------------------------------

    def record(self, call: Call) -> tuple[int, dict[str, str], dict[str, Any]]:
        """Record ``call`` and compute the answer: status, extra headers, JSON body."""
        with self._lock:
            self.log.append(call)
            self._lock.notify_all()
            failure = self._failures.get(call.method)
            if failure and failure.count > 0:
                failure.count -= 1
                headers = {"Retry-After": str(failure.retry_after)} if failure.status == 429 else {}
                return failure.status, headers, {"ok": False, "error": "ratelimited"
                                                  if failure.status == 429 else "internal_error"}
        return 200, {}, self._answer(call)

    def _history(self, p: dict[str, Any]) -> dict[str, Any]:
        channel = str(p.get("channel", ""))
        oldest = float(p.get("oldest") or 0)
        with_metadata = str(p.get("include_all_metadata", "")).lower() in ("1", "true")
        found = []
        with self._lock:
            for (chan, ts), params in sorted(self.messages.items(), reverse=True):
                if chan != channel or float(ts) < oldest:
                    continue
                message = {"type": "message", "ts": ts, "text": params.get("text", ""),
                           "bot_id": "B0001"}
                if params.get("thread_ts"):
                    message["thread_ts"] = params["thread_ts"]
                if with_metadata and params.get("metadata"):
                    message["metadata"] = params["metadata"]
                found.append(message)
        limit = int(p.get("limit") or 100)
        return {"ok": True, "messages": found[:limit], "has_more": len(found) > limit}

    def _answer(self, call: Call) -> dict[str, Any]:
        p = call.params
        if call.method.startswith("response_url"):
            return {"ok": True}
        if call.method == "auth.test":
            return {"ok": True, "url": "https://example.slack.com/", "team": "Example",
                    "user": "socbot", "team_id": "T0001", "user_id": "UBOT0001",
                    "bot_id": "B0001", "is_enterprise_install": False}
        if call.method == "apps.connections.open":
            if not call.headers.get("authorization", "").startswith("Bearer xapp-"):
                return {"ok": False, "error": "not_allowed_token_type"}
            return {"ok": True, "url": self.socket_mode.new_url()}
        if call.method == "chat.postMessage":
            channel = self.channel_id(str(p.get("channel", "")))
            ts = f"{int(time.time())}.{next(self._ts):06d}"
            with self._lock:
                self.messages[(channel, ts)] = dict(p)
            return {"ok": True, "channel": channel, "ts": ts,
                    "message": {"text": p.get("text", ""), "ts": ts}}
        if call.method == "chat.update":
            key = (str(p.get("channel", "")), str(p.get("ts", "")))
            with self._lock:
                if key not in self.messages:
                    return {"ok": False, "error": "message_not_found"}
                old = self.messages[key]
                # Slack keeps a message's thread and, unless given new, its metadata.
                kept = {k: old[k] for k in ("thread_ts", "metadata") if k in old}
                self.messages[key] = {**kept, **p}
            return {"ok": True, "channel": key[0], "ts": key[1], "text": p.get("text", "")}
        if call.method == "conversations.history":
            return self._history(p)
        if call.method == "chat.postEphemeral":
            return {"ok": True, "message_ts": f"{int(time.time())}.{next(self._ts):06d}"}
        if call.method == "usergroups.users.list":
            group = str(p.get("usergroup", ""))
            if group not in self.usergroups:
                return {"ok": False, "error": "no_such_subteam"}
            return {"ok": True, "users": list(self.usergroups[group])}
        if call.method == "users.info":
            user = str(p.get("user", ""))
            return {"ok": True, "user": {"id": user, "name": user.lower(), "tz": "UTC"}}
        if call.method == "views.open":
            return {"ok": True, "view": {"id": "V0001"}}
        if call.method == "views.update":
            return {"ok": True, "view": {"id": p.get("view_id", "")}}
        if call.method == "views.publish":
            return {"ok": True, "view": {"id": "VHOME01", "type": "home"}}
        if call.method == "users.lookupByEmail":
            user = self.emails.get(str(p.get("email", "")))
            if user is None:
                return {"ok": False, "error": "users_not_found"}
            return {"ok": True, "user": {"id": user, "name": user.lower(), "deleted": False,
                                         "is_bot": False}}
        return {"ok": True}


def _handler_for(fake: FakeSlack) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self._serve(b"")

        def do_POST(self) -> None:
            self._serve(self.rfile.read(int(self.headers.get("Content-Length") or 0)))

        def _serve(self, body: bytes) -> None:
            path, _, query = self.path.partition("?")
            if path.startswith("/api/"):
                method = path[len("/api/"):]
            elif path.startswith("/response_url"):
                method = "response_url" + path[len("/response_url"):]
            else:
                self.send_error(404)
                return
            params = _parse(body, self.headers.get("Content-Type", ""), query)
            call = Call(method, params, {k.lower(): v for k, v in self.headers.items()},
                        body.decode("utf-8", "replace"))
            status, headers, answer = fake.record(call)
            hold = fake.hold_for(method)
            if hold:
                time.sleep(hold)
            data = json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: object) -> None:
            pass

    return Handler


def _parse(body: bytes, content_type: str, query: str) -> dict[str, Any]:
    params: dict[str, Any] = dict(urllib.parse.parse_qsl(query))
    if not body:
        return params
    if "json" in content_type:
        params.update(json.loads(body))
        return params
    form = dict(urllib.parse.parse_qsl(body.decode("utf-8")))
    # Form-encoded Web API calls send structured arguments as JSON strings.
    for key in ("blocks", "attachments", "view", "metadata"):
        if isinstance(form.get(key), str):
            try:
                form[key] = json.loads(form[key])
            except ValueError:
                pass
    params.update(form)
    return params


@pytest.fixture(name="slack")
def slack_fixture() -> Iterator[FakeSlack]:
    """A running fake Slack Web API (import this fixture into a test module to use it)."""
    with FakeSlack() as fake:
        yield fake


def strings(value: Any) -> Iterator[str]:
    """Every string inside a parsed JSON value (keys excluded), for assertions on content."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings(item)


def buttons(params: dict[str, Any]) -> list[dict[str, Any]]:
    """The buttons in a message's blocks, in order."""
    return [element for block in params.get("blocks") or [] if block.get("type") == "actions"
            for element in block.get("elements", [])]


def button_value(params: dict[str, Any], action_id: str) -> str:
    """The value of the first button with ``action_id``; fails if there is none."""
    for element in buttons(params):
        if element["action_id"] == action_id:
            return str(element["value"])
    raise AssertionError(f"no {action_id} button in {[b['action_id'] for b in buttons(params)]}")


# --- signed interactions ---------------------------------------------------------------------

@dataclass
class Reply:
    """What the bot's HTTP endpoint answered."""

    status: int
    body: str
    headers: dict[str, str] = field(default_factory=dict)


def signed_post(url: str, secret: str, body: str, *, timestamp: int | None = None,
                signature: str | None = None, headers: dict[str, str] | None = None) -> Reply:
    """POST ``body`` form-encoded to ``url`` signed the way Slack signs requests; ``headers``
    adds more (``X-Slack-Retry-Num``...). ``Reply.headers`` holds the answer's headers."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    sig = signature or SignatureVerifier(secret).generate_signature(timestamp=ts, body=body) or ""
    request = urllib.request.Request(url, data=body.encode(), method="POST", headers={
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Slack-Request-Timestamp": ts, "X-Slack-Signature": sig, **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return Reply(response.status, response.read().decode(),
                         {k.lower(): v for k, v in response.headers.items()})
    except urllib.error.HTTPError as exc:
        return Reply(exc.code, exc.read().decode(), {k.lower(): v for k, v in exc.headers.items()})


_TRIGGERS = itertools.count(1)


def trigger_id() -> str:
    """A fresh ``trigger_id``, as Slack gives every interaction and slash command."""
    return f"{int(time.time())}.{next(_TRIGGERS)}.0123456789abcdef"


def block_action_body(*, user: str, action_id: str, value: str, channel: str = "C0ALERTS",
                      message_ts: str = "1700000000.000100", response_url: str = "",
                      action_ts: str | None = None, home: bool = False, team: str = "T0001",
                      enterprise: str = "", user_team: str = "", block_id: str = "b",
                      selected: str | None = None) -> str:
    """The ``payload=`` form body of a ``block_actions`` interaction, as Slack sends it.

    ``home=True``: a click on the App Home tab (a view container, no channel, no message).
    ``team`` / ``enterprise``: the workspace the request comes from; ``user_team``: the
    clicking person's own team when it differs (Slack Connect). ``selected``: a choice in a
    select menu (``selected_option.value``) instead of a button.
    """
    if home:
        payload: dict[str, Any] = {
            "type": "block_actions", "team": {"id": "T0001", "domain": "example"},
            "user": {"id": user, "username": user.lower(), "team_id": "T0001"},
            "api_app_id": "A0001", "token": "legacy-verification-token",
            "container": {"type": "view", "view_id": "VHOME01"}, "trigger_id": trigger_id(),
            "view": {"id": "VHOME01", "type": "home", "blocks": []},
            "actions": [{"type": "button", "block_id": "b", "action_id": action_id,
                         "value": value, "action_ts": action_ts or f"{time.time():.6f}"}],
        }
        return _form_payload(payload, team, enterprise, user_team)
    payload = {
        "type": "block_actions", "team": {"id": "T0001", "domain": "example"},
        "user": {"id": user, "username": user.lower(), "name": user.lower(), "team_id": "T0001"},
        "api_app_id": "A0001", "token": "legacy-verification-token",
        "container": {"type": "message", "message_ts": message_ts, "channel_id": channel,
                      "is_ephemeral": False},
        "trigger_id": trigger_id(), "channel": {"id": channel, "name": "security-alerts"},
        "message": {"ts": message_ts, "text": ""}, "response_url": response_url,
        "actions": [{"type": "button", "block_id": block_id, "action_id": action_id,
                     "value": value, "action_ts": action_ts or f"{time.time():.6f}"}],
    }
    if selected is not None:
        payload["actions"][0] = {
            "type": "static_select", "block_id": block_id, "action_id": action_id,
            "selected_option": {"text": {"type": "plain_text", "text": selected},
                                "value": selected},
            "action_ts": action_ts or f"{time.time():.6f}"}
    return _form_payload(payload, team, enterprise, user_team)


def _form_payload(payload: dict[str, Any], team: str, enterprise: str, user_team: str) -> str:
    payload["team"]["id"] = team
    payload["user"]["team_id"] = user_team or team
    if enterprise:
        payload["enterprise"] = {"id": enterprise, "name": "Example Org"}
        payload["is_enterprise_install"] = False
    return urllib.parse.urlencode({"payload": json.dumps(payload)})


def view_submission_body(*, user: str, callback_id: str, values: dict[str, dict[str, Any]],
                         private_metadata: str = "") -> str:
    """The ``payload=`` form body of a ``view_submission``; ``values`` maps block id ->
    action id -> the typed text, or the element's state as Slack sends it (a dict such as
    ``{"type": "static_select", "selected_option": {...}}``)."""
    state = {block: {action: text if isinstance(text, dict) else
                     {"type": "plain_text_input", "value": text}
                     for action, text in actions.items()}
             for block, actions in values.items()}
    payload = {
        "type": "view_submission", "team": {"id": "T0001", "domain": "example"},
        "user": {"id": user, "username": user.lower(), "team_id": "T0001"},
        "api_app_id": "A0001", "token": "legacy-verification-token", "trigger_id": trigger_id(),
        "view": {"id": "V0001", "type": "modal", "hash": "1700000000.abcdef",
                 "callback_id": callback_id,
                 "private_metadata": private_metadata, "state": {"values": state},
                 "team_id": "T0001", "app_id": "A0001", "bot_id": "B0001"},
    }
    return urllib.parse.urlencode({"payload": json.dumps(payload)})


def slash_command_body(*, user: str, text: str, command: str = "/soc",
                       channel: str = "C0ALERTS", team: str = "T0001",
                       enterprise: str = "") -> str:
    """The form body of a slash command, as Slack sends it."""
    extra = {"enterprise_id": enterprise, "enterprise_name": "Example Org"} if enterprise else {}
    return urllib.parse.urlencode({
        **extra,
        "token": "legacy-verification-token", "team_id": team, "team_domain": "example",
        "channel_id": channel, "channel_name": "security-alerts", "user_id": user,
        "user_name": user.lower(), "command": command, "text": text,
        "api_app_id": "A0001", "response_url": "http://127.0.0.1:9/response_url/x",
        "trigger_id": trigger_id()})


def event_body(event: dict[str, Any], *, event_id: str = "", team: str = "T0001",
               enterprise: str = "") -> str:
    """The JSON body of an Events API ``event_callback`` (``event_id`` fresh unless given)."""
    body: dict[str, Any] = {
        "token": "legacy-verification-token", "team_id": team, "api_app_id": "A0001",
        "event": event, "type": "event_callback", "event_id": event_id or f"Ev{time.time_ns()}",
        "event_time": int(time.time()),
        "authorizations": [{"team_id": team, "user_id": "UBOT0001", "is_bot": True,
                            "is_enterprise_install": False}]}
    if enterprise:
        body["enterprise_id"] = enterprise
        body["authorizations"][0]["enterprise_id"] = enterprise
    return json.dumps(body)
