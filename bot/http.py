"""HTTP mode: serve the Bolt app on a threaded stdlib WSGI server.

Routes: ``POST /slack/events`` (and ``POST /slack/interactive``, the same handler, for apps
whose interactivity URL was set separately) go to Bolt, which verifies Slack's signature and
timestamp before any listener runs; ``GET /healthz`` answers ``ok``; anything else is 404.

Example::

    server = serve(app, "0.0.0.0", 3000)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    ...
    server.shutdown(); server.server_close()
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from socketserver import ThreadingMixIn
from typing import TYPE_CHECKING, Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from slack_bolt import App
from slack_bolt.adapter.wsgi import SlackRequestHandler

if TYPE_CHECKING:
    from wsgiref.types import StartResponse, WSGIEnvironment

log = logging.getLogger(__name__)

EVENTS_PATH = "/slack/events"
INTERACTIVE_PATH = "/slack/interactive"
# Slack's payloads are a few KB; refuse anything far larger before reading it, so nobody can
# make the signature check hash megabytes.
MAX_BODY = 1 << 20


class ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    """A WSGI server that handles each request in its own thread (Bolt acks within 3 s)."""

    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    """Request lines go to logging (debug), not to stderr."""

    def log_message(self, format: str, *args: object) -> None:
        log.debug("%s - %s", self.address_string(), format % args)


class RefusalLog:
    """Log refused signatures at WARNING, at most once per ``interval_s`` per address (a
    flood of forged requests must not become a flood of log lines); the count of the ones not
    logged goes into the next line."""

    def __init__(self, interval_s: float = 60.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.interval_s = interval_s
        self.clock = clock
        self._lock = threading.Lock()
        self._last: dict[str, tuple[float, int]] = {}

    def refused(self, address: str, path: str) -> bool:
        """Note one refusal; True when it was logged."""
        with self._lock:
            now = self.clock()
            last, quiet = self._last.get(address, (float("-inf"), 0))
            if now - last < self.interval_s:
                self._last[address] = (last, quiet + 1)
                return False
            if len(self._last) > 10_000:  # many addresses: forget the old ones
                self._last.clear()
            self._last[address] = (now, 0)
        more = f" (and {quiet} more since the last report)" if quiet else ""
        log.warning("refused a request to %s from %s: bad or stale Slack signature%s; check "
                    "SLACK_SIGNING_SECRET and the clock if this is Slack", path, address, more)
        return True


class SlackRouter:
    """Dispatch WSGI requests to Bolt by path; answer ``/healthz`` itself."""

    def __init__(self, app: App, refusals: RefusalLog | None = None) -> None:
        self.handlers = {path: SlackRequestHandler(app, path=path)
                         for path in (EVENTS_PATH, INTERACTIVE_PATH)}
        self.refusals = refusals or RefusalLog()

    def __call__(self, environ: WSGIEnvironment,
                 start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        method = environ.get("REQUEST_METHOD", "")
        if path == "/healthz" and method in ("GET", "HEAD"):
            return _plain(start_response, "200 OK", "ok")
        handler = self.handlers.get(path)
        if handler is None or method != "POST":
            return _plain(start_response, "404 Not Found", "not found")
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = -1
        if not 0 <= length <= MAX_BODY:
            return _plain(start_response, "413 Payload Too Large", "request too large")

        def answer(status: str, headers: list[tuple[str, str]],
                   exc_info: Any = None) -> Callable[[bytes], object]:
            if status.startswith("401"):
                self.refusals.refused(str(environ.get("REMOTE_ADDR", "-")), path)
            return start_response(status, headers, exc_info)

        return handler(environ, answer)


def _plain(start_response: StartResponse, status: str, text: str) -> list[bytes]:
    body = text.encode()
    start_response(status, [("Content-Type", "text/plain; charset=utf-8"),
                            ("Content-Length", str(len(body)))])
    return [body]


def serve(app: App, host: str, port: int) -> ThreadingWSGIServer:
    """Bind a server for ``app`` on ``host:port`` (0 picks a free port) without starting it.

    Run it with ``server.serve_forever()`` (in a thread if needed); ``server.server_port``
    is the bound port. Refuses an app without a signing secret: in HTTP mode that secret is
    the only thing that tells Slack's requests from anyone else's.
    """
    if not getattr(app, "_signing_secret", ""):
        raise ValueError("HTTP mode needs SLACK_SIGNING_SECRET (the app's 'Basic Information' "
                         "page); without it anyone could forge button clicks")
    server = make_server(host, port, SlackRouter(app), server_class=ThreadingWSGIServer,
                         handler_class=_QuietHandler)
    assert isinstance(server, ThreadingWSGIServer)
    return server
