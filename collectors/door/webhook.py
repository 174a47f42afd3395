"""The door webhook receiver: ``POST /door/{unifi|verkada|kisi}`` with a signed JSON body.

Signature: the sender puts the Unix time in ``X-Signature-Timestamp`` and
``sha256=HEX(HMAC-SHA256(secret, "{timestamp}." + body))`` in ``X-Signature`` (``HEX`` alone
is accepted too). The secret comes from ``SOCBOT_DOOR_SECRET`` only. A request is refused
before its body is parsed when

========  ===========================================================================
401       no signature or timestamp headers, a wrong signature, or a timestamp outside
          ``signature_tolerance_s`` (replays of old captures); the same signature twice
          inside the window is refused too
411       no ``Content-Length`` (chunked bodies are not read)
413       ``Content-Length`` over ``max_body_bytes`` (nothing is read)
400       the body is not UTF-8 JSON
422       JSON, but not a door event of the vendor in the path
404 / 405 another path / another method
503       Redis is unreachable and the spool is full: the vendor should retry
========  ===========================================================================

and answered ``200 {"events": 1}`` once the event is in Redis or in the spool. ``GET
/healthz`` answers ``200 ok``.

Example::

    server = make_server(("127.0.0.1", 8088), sink, secret=b"...", settings=door_settings)
    server.serve_forever()
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import threading
import time
from collections import OrderedDict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import redis

from socbot.collectors.door.adapters import ADAPTERS, PayloadError, to_event
from socbot.collectors.sink import Batch, EventSink
from socbot.collectors.spool import SpoolFull
from socbot.core.config import DoorCollector
from socbot.core.events import dumps

log = logging.getLogger(__name__)

__all__ = ["DoorServer", "make_server", "sign"]

SIGNATURE = "X-Signature"
TIMESTAMP = "X-Signature-Timestamp"


def sign(secret: bytes, timestamp: str, body: bytes) -> str:
    """The ``X-Signature`` value for ``body`` sent at ``timestamp`` (for senders and tests)."""
    digest = hmac.new(secret, timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


class _Replays:
    """Signatures seen within the tolerance window, so a captured request cannot be replayed."""

    def __init__(self, window_s: int, limit: int = 100_000) -> None:
        self.window_s = window_s
        self.limit = limit
        self.seen: OrderedDict[str, float] = OrderedDict()
        self.lock = threading.Lock()

    def first_time(self, signature: str, now: float) -> bool:
        with self.lock:
            while self.seen and (next(iter(self.seen.values())) < now - 2 * self.window_s
                                 or len(self.seen) > self.limit):
                self.seen.popitem(last=False)
            if signature in self.seen:
                return False
            self.seen[signature] = now
            return True


class DoorServer(ThreadingHTTPServer):
    """A threaded HTTP server holding what the handler needs."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], sink: EventSink, secret: bytes,
                 settings: DoorCollector) -> None:
        super().__init__(address, _Handler)
        self.sink = sink
        self.secret = secret
        self.settings = settings
        self.replays = _Replays(settings.signature_tolerance_s)
        self.received = 0
        self.refused: dict[int, int] = {}


class _Handler(BaseHTTPRequestHandler):
    server: DoorServer
    protocol_version = "HTTP/1.1"
    server_version = "socbot-door"
    sys_version = ""

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s " + format, self.client_address[0], *args)

    def _answer(self, status: int, payload: dict[str, Any]) -> None:
        body = json.dumps(payload).encode()
        if status >= 400:
            self.server.refused[status] = self.server.refused.get(status, 0) + 1
            log.info("door webhook refused (%d): %s", status, payload.get("error"))
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        if status >= 400:  # the body may be unread: this connection cannot carry another
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        if self.path == "/healthz":
            self._answer(200, {"status": "ok"})
        else:
            self._answer(404, {"error": "not found; POST to /door/unifi, /door/verkada or "
                                        "/door/kisi"})

    def do_PUT(self) -> None:  # noqa: N802
        self._answer(405, {"error": "use POST"})

    def do_POST(self) -> None:  # noqa: N802
        parts = self.path.split("?", 1)[0].strip("/").split("/")
        if len(parts) != 2 or parts[0] != "door" or parts[1] not in ADAPTERS:
            self._answer(404, {"error": "not found; POST to /door/unifi, /door/verkada or "
                                        "/door/kisi"})
            return
        vendor = parts[1]
        signature = self.headers.get(SIGNATURE, "")
        stamp = self.headers.get(TIMESTAMP, "")
        if not signature or not stamp:
            self._answer(401, {"error": f"unsigned: send {TIMESTAMP} and {SIGNATURE}"})
            return
        length_text = self.headers.get("Content-Length")
        if length_text is None or not length_text.isdigit():
            self._answer(411, {"error": "Content-Length required"})
            return
        length = int(length_text)
        if length > self.server.settings.max_body_bytes:
            self._answer(413, {"error": f"body over {self.server.settings.max_body_bytes} "
                                        "bytes"})
            return
        body = self.rfile.read(length)
        now = time.time()
        try:
            sent_at = int(stamp)
        except ValueError:
            self._answer(401, {"error": f"{TIMESTAMP} is not Unix seconds"})
            return
        if abs(now - sent_at) > self.server.settings.signature_tolerance_s:
            self._answer(401, {"error": "timestamp outside the allowed window"})
            return
        expected = sign(self.server.secret, stamp, body)
        given = signature if signature.startswith("sha256=") else f"sha256={signature}"
        if not hmac.compare_digest(expected.encode(), given.encode()):
            self._answer(401, {"error": "bad signature"})
            return
        if not self.server.replays.first_time(given, now):
            self._answer(401, {"error": "replayed request"})
            return
        try:
            payload = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            self._answer(400, {"error": f"body is not UTF-8 JSON: {exc}"})
            return
        try:
            event = to_event(payload, vendor, self.server.settings.site)
        except PayloadError as exc:
            self._answer(422, {"error": str(exc)})
            return
        try:
            self.server.sink.send(Batch(events=[dumps(event)],
                                        counts={"door.parsed": 1}))
        except (SpoolFull, redis.ConnectionError, redis.TimeoutError) as exc:
            self._answer(503, {"error": f"cannot store the event now, retry: {exc}"})
            return
        self.server.received += 1
        self._answer(200, {"events": 1})


def make_server(address: tuple[str, int], sink: EventSink, *, secret: bytes,
                settings: DoorCollector) -> DoorServer:
    """A receiver bound to ``address`` (port 0: any free port), not yet serving."""
    if not secret:
        raise ValueError("set SOCBOT_DOOR_SECRET: the receiver refuses to run without a "
                         "shared secret to check signatures with")
    return DoorServer(address, sink, secret, settings)
