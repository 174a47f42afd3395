"""The door webhook receiver: ``POST /door/{unifi|verkada|kisi}`` with a signed JSON body.

Signature: the sender puts the Unix time in ``X-Signature-Timestamp`` and
``sha256=HEX(HMAC-SHA256(secret, "{timestamp}." + body))`` in ``X-Signature`` (``HEX`` alone
is accepted too). The secret comes from ``SOCBOT_DOOR_SECRET`` only. A request is refused
before its body is parsed when

========  ===========================================================================
401       no signature or timestamp headers, a wrong signature, or a timestamp outside
          ``signature_tolerance_s`` (replays of old captures); the same signature twice
          inside the window is refused too, by every receiver sharing the Redis and after
          a restart (:class:`Replays`)
411       no ``Content-Length`` (chunked bodies are not read)
413       ``Content-Length`` over ``max_body_bytes`` (nothing is read)
400       the body is not UTF-8 JSON (or is nested too deep to read)
422       JSON, but not a door event of the vendor in the path, or refused by
          :func:`core.edge.admit` (a time out of range, nested too deep)
500       a defect met an unforeseen body (logged with its traceback; nothing stored)
404 / 405 another path / another method
503       Redis is unreachable and the spool is full: the vendor should retry
========  ===========================================================================

and answered ``200 {"events": 1}`` once the event is in Redis or in the spool. The body of a
signed request answered 400 or 422 is dead-lettered (``{soc}:dead``, source ``door``) with the
reason and counted as ``door.failed``. ``GET
/healthz`` answers ``200 ok``.

Example::

    server = make_server(("127.0.0.1", 8088), sink, secret=b"...", settings=door_settings)
    server.serve_forever()
"""

from __future__ import annotations

import hashlib
import hmac
import io
import json
import logging
import socket
import sys
import threading
import time
from collections import OrderedDict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import redis

from socbot.collectors.base import BadRecord, admitted, capped, encode_event
from socbot.collectors.door.adapters import ADAPTERS, to_event
from socbot.collectors.sink import Batch, EventSink
from socbot.collectors.spool import NOT_STORED
from socbot.core import edge, keys
from socbot.core.config import DoorCollector
from socbot.core.redisconn import UNAVAILABLE

log = logging.getLogger(__name__)

__all__ = ["DoorServer", "make_server", "sign"]

SIGNATURE = "X-Signature"
TIMESTAMP = "X-Signature-Timestamp"


def sign(secret: bytes, timestamp: str, body: bytes) -> str:
    """The ``X-Signature`` value for ``body`` sent at ``timestamp`` (for senders and tests)."""
    digest = hmac.new(secret, timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


class Replays:
    """Signatures seen within the tolerance window, kept in Redis so that a captured request
    is refused by every receiver and after a restart: ``SET NX`` of the signature's hash with
    twice the window as its TTL (a timestamp is accepted up to a window either side of now).

    While Redis is unreachable, this process's memory stands in (a warning is logged): events
    still reach the spool, and a replay can then only pass on another receiver.
    """

    def __init__(self, client: redis.Redis, window_s: int, limit: int = 100_000) -> None:
        self.client = client
        self.ttl_s = 2 * window_s
        self.limit = limit
        self.seen: OrderedDict[str, float] = OrderedDict()
        self.lock = threading.Lock()

    def first_time(self, signature: str, now: float) -> bool:
        """True the first time ``signature`` is seen in the window (and marks it seen)."""
        try:
            return bool(self.client.set(keys.door_replay(signature), "1", nx=True, ex=self.ttl_s))
        except UNAVAILABLE as exc:
            log.warning("redis unreachable, replay check from this process's memory: %s", exc)
        with self.lock:
            while self.seen and (next(iter(self.seen.values())) < now - self.ttl_s
                                 or len(self.seen) > self.limit):
                self.seen.popitem(last=False)
            if signature in self.seen:
                return False
            self.seen[signature] = now
            return True

    def forget(self, signature: str) -> None:
        """Let ``signature`` be sent again: its request was not stored (the sender retries)."""
        with self.lock:
            self.seen.pop(signature, None)
        try:
            self.client.delete(keys.door_replay(signature))
        except UNAVAILABLE:
            pass


_BUSY = (b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
         b"Retry-After: 1\r\nConnection: close\r\nContent-Length: 46\r\n\r\n"
         b'{"error": "too many connections, retry later"}')


class DoorServer(ThreadingHTTPServer):
    """A threaded HTTP server holding what the handler needs, with a bounded listen backlog,
    at most ``settings.max_connections`` connections (one thread each; the next is answered
    503 and closed) and an idle timeout on each."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], sink: EventSink, secret: bytes,
                 settings: DoorCollector) -> None:
        self.request_queue_size = settings.backlog  # read by listen() in server_activate
        super().__init__(address, _Handler)
        self.sink = sink
        self.secret = secret
        self.settings = settings
        self.replays = Replays(sink.client, settings.signature_tolerance_s)
        self.received = 0
        self.refused: dict[int, int] = {}
        self.busy = 0
        self._slots = threading.BoundedSemaphore(settings.max_connections)
        self._open = 0
        self._open_lock = threading.Lock()

    def connections_open(self) -> int:
        """Connections being served now."""
        return self._open

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self._slots.acquire(blocking=False):
            self.busy += 1
            try:
                request.settimeout(1.0)
                request.sendall(_BUSY)
            except OSError:
                pass
            self.shutdown_request(request)
            return
        with self._open_lock:
            self._open += 1
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._release()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._release()

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that resets or vanishes mid-request is routine on the Internet: one debug
        # line, not a traceback on stderr per connection. Anything else is a defect: logged.
        if isinstance(sys.exc_info()[1], OSError):
            log.debug("door webhook: connection from %s ended abruptly", client_address,
                      exc_info=True)
        else:
            log.exception("door webhook: unexpected error serving %s", client_address)

    def _release(self) -> None:
        with self._open_lock:
            self._open -= 1
        self._slots.release()


class _DeadlineReader(io.RawIOBase):
    """A connection's bytes; each read waits at most the idle timeout, and never past the
    current request's deadline (then TimeoutError, which drops the connection)."""

    def __init__(self, sock: socket.socket, idle_s: float) -> None:
        super().__init__()
        self.sock, self.idle_s, self.deadline = sock, idle_s, float("inf")

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("request not complete within request_timeout_s")
        self.sock.settimeout(min(self.idle_s, left))
        return self.sock.recv_into(buffer)


class _Handler(BaseHTTPRequestHandler):
    server: DoorServer
    protocol_version = "HTTP/1.1"
    server_version = "socbot-door"
    sys_version = ""
    _signature = ""  # of the request being handled, once it passed the replay check

    def setup(self) -> None:
        super().setup()
        # An idle connection (no request, or a body that stops coming) holds a thread: drop it,
        # and so a request dribbled a byte at a time (slowloris), past request_timeout_s.
        # (On the socket: the handler's ``timeout`` is a class attribute shared by every one.)
        settings = self.server.settings
        self._reader = _DeadlineReader(self.connection, settings.idle_timeout_s)
        self.rfile = io.BufferedReader(self._reader)

    def handle_one_request(self) -> None:
        self._reader.deadline = time.monotonic() + self.server.settings.request_timeout_s
        super().handle_one_request()

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
        self._signature = ""
        try:
            self._post()
        except TimeoutError:  # the body stopped coming: idle_timeout_s
            self.close_connection = True
            if self._signature:
                self.server.replays.forget(self._signature)
        except Exception as exc:  # a defect meeting an unforeseen body: answer, never go mute
            log.exception("door webhook: unexpected %s", type(exc).__name__)
            if self._signature:
                self.server.replays.forget(self._signature)
            self._answer(500, {"error": f"internal error ({type(exc).__name__}); the request "
                                        "was not stored, retry"})

    def _post(self) -> None:
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
        if length_text is None or not (length_text.isascii() and length_text.isdigit()):
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
        self._signature = given
        try:
            payload = edge.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError, edge.EdgeError) as exc:
            self._refuse(400, f"body is not UTF-8 JSON: {exc}", body, vendor)
            return
        item = admitted(lambda: to_event(payload, vendor, self.server.settings.site),
                        self.path, 0, payload)
        if isinstance(item, BadRecord):
            self._refuse(422, item.error, body, vendor)
            return
        self._store(Batch(events=[encode_event(item)], counts={"door.parsed": 1}),
                    200, {"events": 1})

    def _refuse(self, status: int, error: str, body: bytes, vendor: str) -> None:
        """Answer ``status`` and dead-letter the (signed, so genuinely sent) body with the
        reason: a vendor's new payload shape is visible in {soc}:dead, not only in a log."""
        raw = capped(body.decode("utf-8", "replace"))
        dead = BadRecord(f"/door/{vendor}", None, error, raw).dead_letter("door")
        self._store(Batch(dead=[dead], counts={"door.failed": 1}), status, {"error": error})

    def _store(self, batch: Batch, status: int, payload: dict[str, Any]) -> None:
        try:
            self.server.sink.send(batch)
        except NOT_STORED as exc:
            self.server.replays.forget(self._signature)  # the sender's retry must pass
            self._answer(503, {"error": f"cannot store the event now, retry: {exc}"})
            return
        if status == 200:
            self.server.received += 1
        self._answer(status, payload)


def make_server(address: tuple[str, int], sink: EventSink, *, secret: bytes,
                settings: DoorCollector) -> DoorServer:
    """A receiver bound to ``address`` (port 0: any free port), not yet serving."""
    if not secret:
        raise ValueError("set SOCBOT_DOOR_SECRET: the receiver refuses to run without a "
                         "shared secret to check signatures with")
    return DoorServer(address, sink, secret, settings)
