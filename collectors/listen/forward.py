"""fluentd's Forward protocol v1: the four carrier modes, the handshake and acks (sans I/O).

A connection carries MessagePack arrays:

===========================  ===========================================================
Message                      ``[tag, time, record, option?]``
Forward                      ``[tag, [[time, record], ...], option?]``
PackedForward                ``[tag, bin(entries packed back to back), option?]``
CompressedPackedForward      the same with ``option.compressed == "gzip"``
===========================  ===========================================================

``time`` is an integer or an EventTime (extension type 0: seconds and nanoseconds, two
big-endian uint32). An ``option.chunk`` asks for ``{"ack": chunk}`` once the entry is stored.

With a shared key the server speaks first: ``HELO`` with a nonce; the client answers ``PING``
with its host name, a salt and ``sha512_hex(salt + host + nonce + key)``; the server answers
``PONG`` with the result and its own digest, ``sha512_hex(salt + server_host + nonce + key)``.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import struct
from typing import Any

import msgpack

from socbot.collectors.listen.framing import gunzip

__all__ = ["ForwardError", "Handshake", "ack", "entries", "unpacker"]

Entry = tuple[float | None, Any]


class ForwardError(ValueError):
    """A Forward message that is not one of the protocol's shapes."""


def _ext_hook(code: int, data: bytes) -> object:
    if code == 0 and len(data) == 8:
        seconds, nanoseconds = struct.unpack(">II", data)
        return seconds + nanoseconds / 1e9
    return msgpack.ExtType(code, data)


def unpacker(max_frame: int) -> msgpack.Unpacker:
    """An unpacker for one connection's stream; a message over ``max_frame`` bytes raises
    ``msgpack.BufferFull`` rather than growing the buffer."""
    return msgpack.Unpacker(raw=False, unicode_errors="replace", ext_hook=_ext_hook,
                            max_buffer_size=max_frame, strict_map_key=False)


def _time(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ForwardError(f"entry time is {type(value).__name__}, not an integer or EventTime")
    return float(value)


def entries(message: object, max_frame: int) -> tuple[str, list[Entry], dict[str, Any]]:
    """The tag, entries and option of one Forward message, whatever its mode."""
    if not isinstance(message, list | tuple) or len(message) not in (2, 3, 4):
        raise ForwardError("a Forward message is an array of 2 to 4 items")
    tag = message[0]
    if not isinstance(tag, str) or not tag:
        raise ForwardError("a Forward message starts with a tag (a string)")
    second = message[1]
    option: Any = {}
    if isinstance(second, list | tuple):  # Forward mode
        option = message[2] if len(message) > 2 else {}
        found: list[Entry] = []
        for entry in second:
            if not isinstance(entry, list | tuple) or len(entry) != 2:
                raise ForwardError("a Forward-mode entry is [time, record]")
            found.append((_time(entry[0]), entry[1]))
    elif isinstance(second, bytes | str):  # PackedForward, maybe compressed
        option = message[2] if len(message) > 2 else {}
        data = second.encode("utf-8", "surrogateescape") if isinstance(second, str) else second
        if isinstance(option, dict) and option.get("compressed") == "gzip":
            data = gunzip(data, max_frame)
        elif isinstance(option, dict) and option.get("compressed") not in (None, "text"):
            raise ForwardError(f"unknown compression {option.get('compressed')!r}")
        inner = unpacker(max_frame)
        inner.feed(data)
        found = []
        for entry in inner:
            if not isinstance(entry, list | tuple) or len(entry) != 2:
                raise ForwardError("a packed entry is [time, record]")
            found.append((_time(entry[0]), entry[1]))
    else:  # Message mode
        if len(message) < 3:
            raise ForwardError("a Message-mode message is [tag, time, record, option?]")
        option = message[3] if len(message) > 3 else {}
        found = [(_time(second), message[2])]
    if not isinstance(option, dict):
        raise ForwardError("the option of a Forward message is a map")
    return tag, found, option


def ack(chunk: object) -> bytes:
    """The answer to an entry whose option carried ``chunk``."""
    return msgpack.packb({"ack": chunk}, use_bin_type=True)


def _bytes(value: object) -> bytes:
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode()
    raise ForwardError(f"expected a string, got {type(value).__name__}")


class Handshake:
    """The server side of the shared-key handshake for one connection."""

    def __init__(self, shared_key: str, server_host: str) -> None:
        self.key = shared_key.encode()
        self.server_host = server_host
        self.nonce = secrets.token_bytes(16)

    def helo(self) -> bytes:
        """The server's first message (user/password authentication is not offered)."""
        return msgpack.packb(["HELO", {"nonce": self.nonce, "auth": b"", "keepalive": True}],
                             use_bin_type=True)

    def answer(self, ping: object) -> tuple[bool, bytes]:
        """Check a PING; return whether it passed and the PONG to send either way."""
        try:
            if not isinstance(ping, list | tuple) or len(ping) != 6 or ping[0] != "PING":
                raise ForwardError("expected PING")
            client_host, salt, digest = _bytes(ping[1]), _bytes(ping[2]), _bytes(ping[3])
        except ForwardError as exc:
            return False, self._pong(False, str(exc), b"")
        expected = hashlib.sha512(salt + client_host + self.nonce + self.key).hexdigest()
        if not hmac.compare_digest(expected.encode(), digest):
            return False, self._pong(False, "shared_key mismatch", salt)
        return True, self._pong(True, "", salt)

    def _pong(self, ok: bool, reason: str, salt: bytes) -> bytes:
        digest = hashlib.sha512(salt + self.server_host.encode() + self.nonce + self.key)
        return msgpack.packb(["PONG", ok, reason, self.server_host,
                              digest.hexdigest() if ok else ""], use_bin_type=True)
