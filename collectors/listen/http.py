"""JSON over HTTP, as fluent-bit's and fluentd's ``http`` outputs and Vector's ``http`` sink
post it: ``POST /<tag>`` with ``Authorization: Bearer <token>``.

The body is one JSON object, a JSON array of objects, or JSON Lines (one object a line),
optionally gzip-compressed (``Content-Encoding: gzip``). The tag is the path with ``/`` read
as ``.`` (``/socbot/secure`` is ``socbot.secure``), or the record's ``tag`` field. A record's
time is its ``date`` (fluent-bit, seconds), ``time`` or ``timestamp`` (seconds or RFC 3339).

Answers: 200 with ``{"stored": N, "failed": M}`` once the events are stored (a record that
cannot be read is dead-lettered and counted, the others are stored); 400 for a body that is
not JSON at all, 401 without the token, 405 for a method other than POST, 411 without
``Content-Length``, 413 over the size cap. Connections are kept alive between requests.
"""

from __future__ import annotations

import asyncio
import hmac
import json
from datetime import datetime
from typing import TYPE_CHECKING, Any

from socbot.collectors.base import BadRecord
from socbot.collectors.listen.framing import FrameError, gunzip

if TYPE_CHECKING:
    from socbot.collectors.listen.server import Listener

__all__ = ["records", "serve_http"]

_MAX_HEADER = 16384
_REASONS = {200: "OK", 400: "Bad Request", 401: "Unauthorized", 405: "Method Not Allowed",
            411: "Length Required", 413: "Content Too Large", 431: "Headers Too Large"}


def _time(record: dict[str, Any]) -> float | None:
    for name in ("date", "time", "timestamp"):
        value = record.get(name)
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):
            try:
                return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
            except ValueError:
                continue
    return None


def records(body: bytes) -> list[Any]:
    """The records in a body: one object, an array, or JSON Lines (a bad line becomes a
    ``ValueError`` in its place, so the other lines are still read)."""
    text = body.decode("utf-8", "replace").strip()
    if not text:
        return []
    if text[0] == "[":
        parsed = json.loads(text)
        return parsed if isinstance(parsed, list) else [parsed]
    found: list[Any] = []
    for line in text.splitlines():
        if line.strip():
            try:
                found.append(json.loads(line))
            except ValueError as exc:
                found.append(ValueError(f"line {len(found) + 1} is not JSON: {exc}"))
    return found


async def _respond(writer: asyncio.StreamWriter, status: int, body: dict[str, Any],
                   close: bool = False) -> None:
    data = json.dumps(body).encode()
    head = [f"HTTP/1.1 {status} {_REASONS[status]}", "Content-Type: application/json",
            f"Content-Length: {len(data)}", *(["Connection: close"] if close else [])]
    writer.write("\r\n".join([*head, "", ""]).encode() + data)
    await writer.drain()


async def serve_http(listener: Listener, peer: str, reader: asyncio.StreamReader,
                     writer: asyncio.StreamWriter) -> None:
    """Serve requests on one connection until it closes, idles or errs."""
    o = listener.options
    token = f"Bearer {listener.http_token}".encode()
    while True:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), o.idle_timeout_s)
        except asyncio.IncompleteReadError:
            return
        except asyncio.LimitOverrunError:
            listener._refuse("http", peer, "bad_frame")
            await _respond(writer, 431, {"error": "request headers too large"}, close=True)
            return
        if len(head) > _MAX_HEADER:
            listener._refuse("http", peer, "bad_frame")
            await _respond(writer, 431, {"error": "request headers too large"}, close=True)
            return
        lines = head.decode("latin-1").split("\r\n")
        method, _, rest = lines[0].partition(" ")
        path = rest.partition(" ")[0]
        headers = {}
        for line in lines[1:]:
            name, sep, value = line.partition(":")
            if sep:
                headers[name.strip().lower()] = value.strip()
        close = headers.get("connection", "").lower() == "close"
        if method != "POST":
            await _respond(writer, 405, {"error": "POST JSON records"}, close=True)
            return
        length = headers.get("content-length", "")
        if not length.isdigit() or "chunked" in headers.get("transfer-encoding", "").lower():
            await _respond(writer, 411, {"error": "send Content-Length"}, close=True)
            return
        if int(length) > o.max_frame_bytes:
            listener._refuse("http", peer, "too_large")
            await _respond(writer, 413, {"error": f"body over {o.max_frame_bytes} bytes"},
                           close=True)
            return
        body = await asyncio.wait_for(reader.readexactly(int(length)), o.idle_timeout_s)
        if not hmac.compare_digest(headers.get("authorization", "").encode(), token):
            listener._refuse("http", peer, "bad_token")
            await _respond(writer, 401, {"error": "missing or wrong bearer token"}, close=True)
            return
        try:
            if headers.get("content-encoding", "").lower() == "gzip":
                body = gunzip(body, o.max_frame_bytes)
            found = records(body)
        except (FrameError, ValueError) as exc:
            await _respond(writer, 400, {"error": f"not JSON records: {exc}"}, close=close)
            if close:
                return
            continue
        tag = path.partition("?")[0].strip("/").replace("/", ".")
        items = []
        for record in found:
            if isinstance(record, ValueError):
                items.append(listener.intake.from_record(tag, None, str(record), peer,
                                                         where="http"))
                continue
            record_tag = record.get("tag") if isinstance(record, dict) else None
            items.append(listener.intake.from_record(
                tag or (record_tag if isinstance(record_tag, str) else ""),
                _time(record) if isinstance(record, dict) else None, record, peer,
                where="http"))
        stored = await listener.commit("http", items)
        failed = sum(isinstance(item, BadRecord) for item in items)
        await _respond(writer, 200, {"stored": stored, "failed": failed},
                       close=close)
        if close:
            return
