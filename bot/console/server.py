"""The console's HTTP server (stdlib, loopback only): the page, its JSON calls, the Web API.

Routes:

* ``GET /`` and ``GET /static/NAME``: the page (plain HTML, CSS and one script).
* ``/api/METHOD``: the Slack Web API the bot's ``WebClient`` calls (its ``base_url``).
* ``POST /response_url/USER/CHANNEL``: the bot answering through a ``response_url``.
* ``GET /console/state?user=KEY&since=N``: what that person sees; waits up to 10 s for a
  change past version ``N``.
* ``POST /console/{click,submit,close,command,home}``: what the person did, as JSON.

The page's own calls and ``response_url`` posts must be JSON, and Web API calls carry their
token in the ``Authorization`` header (a cross-site form can send neither without the browser
asking first, and nothing here answers such a request); the page's calls must also name a
loopback host. So another web site open in the same browser cannot act through the console.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from socbot.bot.console.interactions import Answer, Bot
from socbot.bot.console.workspace import PEOPLE, Workspace, person

log = logging.getLogger(__name__)

STATIC = Path(__file__).resolve().parent / "static"
FILES = {"index.html": "text/html", "console.js": "text/javascript",
         "console.css": "text/css"}
MAX_BODY = 1 << 20
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "[::1]")


class ConsoleServer(ThreadingHTTPServer):
    """Serves one workspace; ``bot`` is set once the bot's endpoint is known."""

    daemon_threads = True

    def __init__(self, host: str, port: int, workspace: Workspace) -> None:
        if not _loopback(host):
            raise ValueError(f"the console listens on loopback only, not {host!r}: it acts "
                             "as anyone in the channel; use 127.0.0.1")
        super().__init__((host, port), _Handler)
        self.workspace = workspace
        self.bot: Bot | None = None
        self.thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """The page's address."""
        return f"http://127.0.0.1:{self.server_port}"

    @property
    def api_url(self) -> str:
        """The ``base_url`` for the bot's WebClient."""
        return f"{self.url}/api/"

    def handle_error(self, request: object, client_address: object) -> None:
        """A page closed mid-answer (its long poll) is no error; anything else is logged."""
        import sys

        if not isinstance(sys.exc_info()[1], ConnectionError):
            log.exception("console: error answering %s", client_address)

    def start(self) -> ConsoleServer:
        """Serve in a daemon thread."""
        self.thread = threading.Thread(target=self.serve_forever, name="console", daemon=True,
                                       kwargs={"poll_interval": 0.1})
        self.thread.start()
        return self

    def close(self) -> None:
        """Stop serving and release the port."""
        self.shutdown()
        self.server_close()


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class _Handler(BaseHTTPRequestHandler):
    server: ConsoleServer

    def log_message(self, format: str, *args: object) -> None:
        log.debug("console: " + format, *args)

    def do_GET(self) -> None:
        path, _, query = self.path.partition("?")
        if path == "/":
            path = "/static/index.html"
        if path.startswith("/static/") and path[len("/static/"):] in FILES:
            name = path[len("/static/"):]
            self._send(200, (STATIC / name).read_bytes(), FILES[name] + "; charset=utf-8")
        elif path == "/console/state":
            self._state(dict(urllib.parse.parse_qsl(query)))
        elif path == "/console/people":
            self._json(200, {"people": [vars(p) for p in PEOPLE]})
        elif path.startswith("/api/"):
            self._api(path[len("/api/"):], b"", query)
        else:
            self._json(404, {"error": "not found"})

    def do_POST(self) -> None:
        path, _, query = self.path.partition("?")
        length = int(self.headers.get("Content-Length") or 0)
        if not 0 <= length <= MAX_BODY:
            self._json(413, {"error": "request too large"})
            return
        body = self.rfile.read(length)
        if path.startswith("/api/"):
            self._api(path[len("/api/"):], body, query)
        elif path.startswith("/response_url/"):
            self._response_url(path, body)
        elif path.startswith("/console/"):
            self._page_call(path[len("/console/"):], body)
        else:
            self._json(404, {"error": "not found"})

    # --- the bot's side -------------------------------------------------------------------

    def _api(self, method: str, body: bytes, query: str) -> None:
        params = _params(body, self.headers.get("Content-Type", ""), query)
        # The token only from the header, as slack_sdk sends it: a form another web site makes
        # a browser post cannot set one, so it cannot write into the channel.
        token = self.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        params.pop("token", None)
        self._json(200, self.server.workspace.call(method, params, token))

    def _response_url(self, path: str, body: bytes) -> None:
        parts = path.split("/")
        if len(parts) != 4:
            self._json(404, {"error": "not found"})
            return
        _, _, user, channel = parts
        if "json" not in self.headers.get("Content-Type", ""):
            self._json(415, {"error": "a response_url takes JSON"})
            return
        try:
            reply = json.loads(body or b"{}")
        except ValueError:
            self._json(400, {"error": "invalid_json"})
            return
        workspace = self.server.workspace
        if reply.get("response_type") == "in_channel":
            workspace.call("chat.postMessage", {"channel": channel, "text": reply.get("text", ""),
                                                "blocks": reply.get("blocks")}, "xoxb-console")
        else:
            workspace.ephemeral(user, channel, str(reply.get("text", "")),
                                list(reply.get("blocks") or []))
        self._json(200, {"ok": True})

    # --- the page's side ------------------------------------------------------------------

    def _state(self, query: dict[str, str]) -> None:
        try:
            who = person(query.get("user", "oncall"))
            since = int(query.get("since", "-1"))
        except (KeyError, ValueError) as exc:
            self._json(400, {"error": str(exc)})
            return
        self.server.workspace.wait_change(since, timeout=10.0)
        self._json(200, self.server.workspace.snapshot(who.user_id))

    def _page_call(self, what: str, body: bytes) -> None:
        host = self.headers.get("Host", "").rsplit(":", 1)[0]
        if "json" not in self.headers.get("Content-Type", "") or host not in LOOPBACK_NAMES:
            self._json(403, {"error": "the console takes JSON from its own page only"})
            return
        bot = self.server.bot
        if bot is None:
            self._json(503, {"error": "the bot has not started yet"})
            return
        try:
            request = json.loads(body)
            who = person(str(request.get("user", "")))
        except (ValueError, KeyError, AttributeError) as exc:
            self._json(400, {"error": f"bad request: {exc}"})
            return
        answer: Answer
        if what == "click":
            answer = bot.click(who, dict(request.get("action") or {}),
                               channel=str(request.get("channel", "")),
                               message_ts=str(request.get("ts", "")),
                               home=bool(request.get("home")))
        elif what == "submit":
            answer = bot.submit(who, dict(request.get("values") or {}))
        elif what == "close":
            self.server.workspace.close_modal(who.user_id)
            answer = Answer(200, "")
        elif what == "command":
            answer = bot.command(who, str(request.get("text", "")),
                                 str(request.get("channel", "")))
        elif what == "home":
            answer = bot.home_opened(who)
        else:
            self._json(404, {"error": "not found"})
            return
        self._json(200, {"status": answer.status, "body": answer.body})

    def _json(self, status: int, value: Any) -> None:
        self._send(status, json.dumps(value).encode(), "application/json; charset=utf-8")

    def _send(self, status: int, data: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Content-Security-Policy",
                         "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'")
        self.end_headers()
        self.wfile.write(data)


def _params(body: bytes, content_type: str, query: str) -> dict[str, Any]:
    """A Web API call's arguments: JSON, or a form whose structured fields are JSON text."""
    params: dict[str, Any] = dict(urllib.parse.parse_qsl(query))
    if not body:
        return params
    if "json" in content_type:
        loaded = json.loads(body)
        if isinstance(loaded, dict):
            params.update(loaded)
        return params
    form: dict[str, Any] = dict(urllib.parse.parse_qsl(body.decode("utf-8")))
    for key in ("blocks", "attachments", "view", "metadata"):
        if isinstance(form.get(key), str):
            try:
                form[key] = json.loads(form[key])
            except ValueError:
                pass
    params.update(form)
    return params
