"""A Forward protocol client that counts entries as delivered only once fluentd acknowledged them.

fluentd's forward input answers ``{"ack": CHUNK}`` to a message whose option map carries
``{"chunk": CHUNK}``, after it has stored the entries. Without that option a write succeeds as
soon as the kernel has buffered it, so a fluentd that accepts connections but does not read
(hung, or its buffer full) swallows entries that were counted as sent. :meth:`send` writes a
batch in Forward mode (``[tag, [[time, record], ...], {"chunk": id, "size": n}]``) and waits
for its acknowledgement; anything short of it raises :class:`ForwardError`, and the caller keeps
the batch to send again. Delivery is at least once: an acknowledgement lost on the way back
makes the batch arrive twice.

Example::

    client = AckForwardClient("fluentd", 24224, timeout_s=3.0)
    client.send("socbot.audit", [(time.time(), {"who": "U1"})])   # ForwardError if unacked
"""

from __future__ import annotations

import base64
import os
import socket
import time
from collections.abc import Mapping, Sequence
from typing import Any

import msgpack
from fluent.sender import EventTime

__all__ = ["AckForwardClient", "ForwardError"]


class ForwardError(OSError):
    """A batch fluentd did not acknowledge: unreachable, closed, silent past the timeout."""


class AckForwardClient:
    """One connection to fluentd, opened on demand and dropped after any failure."""

    def __init__(self, host: str, port: int, *, timeout_s: float = 3.0) -> None:
        self.host, self.port, self.timeout_s = host, port, timeout_s
        self._sock: socket.socket | None = None

    def send(self, tag: str, entries: Sequence[tuple[float, Mapping[str, Any]]]) -> None:
        """Deliver ``entries`` (time, record) under ``tag``; return once fluentd acknowledged
        them, raise :class:`ForwardError` otherwise (nothing is known to be delivered)."""
        chunk = base64.b64encode(os.urandom(16)).decode()
        packet = msgpack.packb(
            [tag, [[EventTime(at), dict(record)] for at, record in entries],
             {"chunk": chunk, "size": len(entries)}], use_bin_type=True, default=str)
        try:
            sock = self._connect()
            sock.sendall(packet)
            self._wait_for_ack(sock, chunk)
        except (OSError, ValueError, msgpack.UnpackException) as exc:
            self.close()
            if isinstance(exc, ForwardError):
                raise
            raise ForwardError(f"{type(exc).__name__}: {exc}") from exc

    def close(self) -> None:
        """Drop the connection (the next send opens a new one)."""
        if self._sock is not None:
            try:
                self._sock.close()
            finally:
                self._sock = None

    def _connect(self) -> socket.socket:
        if self._sock is None:
            self._sock = socket.create_connection((self.host, self.port), self.timeout_s)
        return self._sock

    def _wait_for_ack(self, sock: socket.socket, chunk: str) -> None:
        deadline = time.monotonic() + self.timeout_s
        unpacker = msgpack.Unpacker(raw=False)
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise ForwardError(f"no acknowledgement from {self.host}:{self.port} within "
                                   f"{self.timeout_s} s")
            sock.settimeout(left)
            try:
                data = sock.recv(4096)
            except TimeoutError:
                continue
            if not data:
                raise ForwardError(f"{self.host}:{self.port} closed the connection before "
                                   "acknowledging")
            unpacker.feed(data)
            for reply in unpacker:
                if isinstance(reply, dict) and reply.get("ack") == chunk:
                    return
