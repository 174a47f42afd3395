"""Splitting byte streams into messages: syslog over TCP (RFC 6587) and gzip bodies.

Sans I/O: a framer is fed the bytes a connection delivered and returns the complete messages
in them, keeping the rest for the next call. A frame over the size cap raises
:class:`FrameError`, and the connection is then closed: after an oversized or malformed frame
there is no safe place to resume reading.
"""

from __future__ import annotations

import zlib

__all__ = ["FrameError", "SyslogFramer", "gunzip"]

_MAX_LENGTH_DIGITS = 10


class FrameError(ValueError):
    """A stream that cannot be split safely (oversized frame, bad octet count)."""


class SyslogFramer:
    """RFC 6587 framing, decided per frame as rsyslog and syslog-ng do.

    A frame that starts with a non-zero digit followed by digits and a space is octet
    counted (``LEN SP MSG``); anything else runs to the next newline (LF, with an optional CR
    before it). ``max_frame`` caps both kinds.
    """

    def __init__(self, max_frame: int) -> None:
        self.max_frame = max_frame
        self._buffer = bytearray()

    def feed(self, data: bytes) -> list[bytes]:
        """The complete messages in what has arrived so far."""
        buffer = self._buffer
        buffer += data
        frames: list[bytes] = []
        start = 0
        end = len(buffer)
        while start < end:
            first = buffer[start]
            if 0x31 <= first <= 0x39:  # 1-9: maybe an octet count
                digits = start
                while digits < end and digits - start <= _MAX_LENGTH_DIGITS \
                        and 0x30 <= buffer[digits] <= 0x39:
                    digits += 1
                if digits == end and digits - start <= _MAX_LENGTH_DIGITS:
                    break  # a count still arriving
                if buffer[digits] == 0x20 and digits - start <= _MAX_LENGTH_DIGITS:
                    length = int(buffer[start:digits])
                    if length > self.max_frame:
                        raise FrameError(f"octet-counted frame of {length} bytes is over the "
                                         f"{self.max_frame}-byte limit")
                    body = digits + 1
                    if end - body < length:
                        break
                    frames.append(bytes(buffer[body:body + length]))
                    start = body + length
                    continue
            newline = buffer.find(b"\n", start)
            if newline < 0:
                if end - start > self.max_frame:
                    raise FrameError(f"a line over {self.max_frame} bytes without a newline")
                break
            if newline - start > self.max_frame:
                raise FrameError(f"a line of {newline - start} bytes is over the "
                                 f"{self.max_frame}-byte limit")
            frame = bytes(buffer[start:newline]).rstrip(b"\r")
            if frame:
                frames.append(frame)
            start = newline + 1
        del buffer[:start]
        return frames

    @property
    def pending(self) -> int:
        """Bytes of an unfinished frame held."""
        return len(self._buffer)


def gunzip(data: bytes, cap: int) -> bytes:
    """Every gzip member in ``data``, decompressed; raise :class:`FrameError` past ``cap``
    bytes of output (a small body that inflates to gigabytes is refused, not inflated)."""
    out = bytearray()
    while data:
        inflater = zlib.decompressobj(wbits=31)
        try:
            out += inflater.decompress(data, cap + 1 - len(out))
        except zlib.error as exc:
            raise FrameError(f"not gzip: {exc}") from None
        if len(out) > cap:
            raise FrameError(f"decompresses to over {cap} bytes")
        if not inflater.eof:
            raise FrameError("truncated gzip data")
        data = inflater.unused_data
    return bytes(out)
