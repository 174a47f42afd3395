"""A fake Slack Socket Mode server: a WebSocket server on loopback that speaks Slack's envelope
protocol to slack_sdk's own Socket Mode client.

What Slack does, and so what this server does:

* ``apps.connections.open`` (app-level token) answers a ``wss://`` URL; here the fake Web API
  answers ``ws://127.0.0.1:PORT/link/?ticket=N`` (slack_sdk's built-in client uses a plain
  socket for any port but 443).
* After the WebSocket handshake the server sends ``{"type": "hello", ...}``.
* Each request is an envelope ``{"envelope_id", "type": "events_api" | "interactive" |
  "slash_commands", "payload", "accepts_response_payload", "retry_attempt", "retry_reason"}``;
  the app answers ``{"envelope_id", "payload"?}`` (the acknowledgement), which
  :meth:`SocketModeServer.request` returns.
* ``{"type": "disconnect", "reason": "refresh_requested"}`` asks the client to open a new
  connection (``apps.connections.open`` again) and drop the old one.
* Pings are answered with pongs carrying the same payload.

Only the WebSocket framing the client uses is implemented (RFC 6455: unfragmented frames,
masked from the client, unmasked from the server).
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import socket
import struct
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Self

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
TEXT, CLOSE, PING, PONG = 0x1, 0x8, 0x9, 0xA


@dataclass
class _Connection:
    sock: socket.socket
    number: int
    lock: threading.Lock = field(default_factory=threading.Lock)
    open: bool = True

    def send(self, opcode: int, data: bytes) -> None:
        header = bytes([0x80 | opcode])
        size = len(data)
        if size < 126:
            header += bytes([size])
        elif size < 1 << 16:
            header += bytes([126]) + struct.pack("!H", size)
        else:
            header += bytes([127]) + struct.pack("!Q", size)
        with self.lock:
            if self.open:
                self.sock.sendall(header + data)

    def close(self) -> None:
        if not self.open:
            return
        try:
            self.send(CLOSE, struct.pack("!H", 1000))
        except OSError:
            pass
        self.open = False
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()


class SocketModeServer:
    """The fake Socket Mode endpoint. Use as a context manager (FakeSlack does)."""

    def __init__(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.2)
        self._lock = threading.Condition()
        self._tickets = itertools.count(1)
        self._closed = False
        self.connections: list[_Connection] = []
        self.acks: dict[str, dict[str, Any]] = {}
        self.hellos = 0
        self._thread = threading.Thread(target=self._accept, daemon=True)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._closed = True
        self.drop()
        self._thread.join(timeout=2)
        self._listener.close()

    def new_url(self) -> str:
        """A fresh connection URL, as ``apps.connections.open`` returns one."""
        port = self._listener.getsockname()[1]
        return f"ws://127.0.0.1:{port}/link/?ticket={next(self._tickets)}"

    # --- what tests call -------------------------------------------------------------------

    def wait_connected(self, count: int = 1, timeout: float = 10.0) -> None:
        """Wait until ``count`` connections have been greeted with ``hello``."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while self.hellos < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"{self.hellos} Socket Mode connection(s), wanted {count}")
                self._lock.wait(left)

    def send(self, kind: str, payload: dict[str, Any], *, retry_attempt: int = 0,
             retry_reason: str = "", envelope_id: str | None = None) -> str:
        """Send an envelope on the newest open connection; return its ``envelope_id``."""
        envelope_id = envelope_id or str(uuid.uuid4())
        envelope = {"envelope_id": envelope_id, "type": kind, "payload": payload,
                    "accepts_response_payload": kind != "events_api",
                    "retry_attempt": retry_attempt, "retry_reason": retry_reason}
        self._current().send(TEXT, json.dumps(envelope).encode())
        return envelope_id

    def request(self, kind: str, payload: dict[str, Any], *, timeout: float = 5.0,
                **kwargs: Any) -> dict[str, Any]:
        """Send an envelope and wait for the app's acknowledgement (Slack waits 3 s)."""
        envelope_id = self.send(kind, payload, **kwargs)
        deadline = time.monotonic() + timeout
        with self._lock:
            while envelope_id not in self.acks:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"no acknowledgement of {kind} envelope {envelope_id}")
                self._lock.wait(left)
            return self.acks[envelope_id]

    def disconnect(self, reason: str = "refresh_requested") -> None:
        """Ask the client to reconnect, as Slack does before it drops a connection."""
        self._current().send(TEXT, json.dumps({
            "type": "disconnect", "reason": reason,
            "debug_info": {"host": "applink-fake"}}).encode())

    def drop(self) -> None:
        """Close every connection from the server's side (a client blocked reading its socket
        wakes at once instead of at its receive timeout)."""
        with self._lock:
            connections = list(self.connections)
        for connection in connections:
            connection.close()

    def _current(self) -> _Connection:
        with self._lock:
            live = [c for c in self.connections if c.open]
        if not live:
            raise AssertionError("no open Socket Mode connection")
        return live[-1]

    # --- server ----------------------------------------------------------------------------

    def _accept(self) -> None:
        while not self._closed:
            try:
                sock, _addr = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=self._serve, args=(sock,), daemon=True).start()

    def _serve(self, sock: socket.socket) -> None:
        sock.settimeout(None)
        reader = sock.makefile("rb")
        try:
            if not self._handshake(sock, reader):
                sock.close()
                return
        except OSError:
            sock.close()
            return
        with self._lock:
            connection = _Connection(sock, len(self.connections) + 1)
            self.connections.append(connection)
        connection.send(TEXT, json.dumps({
            "type": "hello", "num_connections": 1,
            "debug_info": {"host": "applink-fake", "approximate_connection_time": 18060},
            "connection_info": {"app_id": "A0001"}}).encode())
        with self._lock:
            self.hellos += 1
            self._lock.notify_all()
        try:
            self._read(connection, reader)
        except (OSError, ValueError):  # the client went away (reset, or closed mid-frame)
            pass
        finally:
            connection.close()

    @staticmethod
    def _handshake(sock: socket.socket, reader: Any) -> bool:
        request_line = reader.readline().decode("latin-1")
        headers = {}
        while True:
            line = reader.readline().decode("latin-1").strip()
            if not line:
                break
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        key = headers.get("sec-websocket-key", "")
        if not request_line.startswith("GET /link/") or not key:
            sock.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
            return False
        accept = base64.b64encode(hashlib.sha1((key + GUID).encode()).digest()).decode()
        sock.sendall(("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                      f"Connection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n\r\n").encode())
        return True

    def _read(self, connection: _Connection, reader: Any) -> None:
        while connection.open:
            head = reader.read(2)
            if len(head) < 2:
                return
            opcode, masked, size = head[0] & 0x0F, head[1] & 0x80, head[1] & 0x7F
            if size == 126:
                size = struct.unpack("!H", reader.read(2))[0]
            elif size == 127:
                size = struct.unpack("!Q", reader.read(8))[0]
            mask = reader.read(4) if masked else b"\0\0\0\0"
            data = bytes(b ^ mask[i % 4] for i, b in enumerate(reader.read(size)))
            if opcode == PING:
                connection.send(PONG, data)
            elif opcode == CLOSE:
                return
            elif opcode == TEXT:
                message = json.loads(data)
                with self._lock:
                    self.acks[str(message.get("envelope_id"))] = message
                    self._lock.notify_all()
