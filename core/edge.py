"""The one check every record passes where it enters: depth, size, time range, valid text.

Input from outside (a CloudTrail file, an SQS message, a door webhook body, an export row, a
scanner's output) is attacker-influenced. Before an event goes anywhere (Redis, a Lua script,
stdout) :func:`admit` looks at all of it, the vendor record under ``original`` included:

=================  ==========================================================================
depth              nested deeper than :data:`MAX_DEPTH` levels: refused (Python's JSON and
                   Redis's cjson recurse; 5,000 levels is a crash, not a record)
size               more than :data:`MAX_RECORD_CHARS` characters of text (keys and values):
                   refused, not truncated (a cut can change what a record says)
time range         ``@timestamp`` before 1970 or more than :data:`MAX_FUTURE_S` ahead of now:
                   refused (year 9999 would sit at the head of every time window)
text               a lone surrogate (``"\\ud800"`` in JSON; no UTF-8 encoding exists) or a C0
                   control other than tab, newline and carriage return, or DEL: replaced by
                   U+FFFD and the event tagged ``text_repaired`` (a repaired ``event.id``
                   gains ``#`` and a digest of the exact id, so two ids never merge).
                   Repaired, not refused: an attacker who writes the text (a user agent, a
                   badge name) must not be able to keep their own event out of detection by
                   adding one such character.
=================  ==========================================================================

A refusal is an :class:`EdgeError` (a ``ValueError``) whose message says what was wrong; the
readers turn it into a dead-lettered :class:`~collectors.base.BadRecord`. :func:`loads` reads
JSON with the same depth bound and turns the parser's own recursion error into an
:class:`EdgeError`; :func:`moment` reads a time (ISO 8601 text or epoch seconds or
milliseconds) without the overflow errors ``datetime`` raises for year 0 or 10,000.

Example::

    event = edge.admit(normalize(record))      # EdgeError: dead-letter it with str(exc)
"""

from __future__ import annotations

import functools
import hashlib
import ipaddress
import json
import re
import time
from datetime import UTC, datetime
from typing import Any

__all__ = ["MAX_DEPTH", "MAX_FUTURE_S", "MAX_RECORD_CHARS", "EdgeError", "admit", "check_time",
           "ip_text", "loads", "moment"]

MAX_DEPTH = 32                 # CloudTrail's deepest requestParameters are about 12 levels
MAX_RECORD_CHARS = 1 << 20     # CloudTrail caps an event at 256 KB; 1 Mi characters is generous
MAX_FUTURE_S = 86400           # clocks drift; a day ahead is a broken clock or a forgery
EARLIEST = "1970-01-01T00:00:00Z"
REPAIRED_TAG = "text_repaired"

_BAD_TEXT = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")
_DIRTY = "\x00"  # stands for text already found to need repair
_ISO_LIKE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]{1,9})?Z")


class EdgeError(ValueError):
    """A record refused at the edge; the message says which bound it broke."""


def _repair(text: str) -> str:
    return _BAD_TEXT.sub("\ufffd", text)


def _walk(value: Any) -> tuple[Any, bool]:
    """Check depth and size of ``value``; return it (a repaired copy when some text needed
    repair) and whether anything was repaired. Iterative: no recursion on hostile depth."""
    texts: list[str] = []
    add = texts.append
    chars = 0
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise EdgeError(f"nested deeper than {MAX_DEPTH} levels")
        if isinstance(node, dict):
            for key, item in node.items():
                if isinstance(key, str):  # csv.DictReader puts extra cells under None
                    add(key)
                if isinstance(item, str):
                    add(item)
                elif isinstance(item, dict | list):
                    stack.append((item, depth + 1))
        elif isinstance(node, list):
            for item in node:
                if isinstance(item, str):
                    add(item)
                elif isinstance(item, dict | list):
                    stack.append((item, depth + 1))
        elif isinstance(node, str):
            add(node)
        if len(texts) > 4096:  # keep the joined text small; check the size as we go
            chars += sum(map(len, texts))
            dirty = _BAD_TEXT.search("".join(texts)) is not None
            texts = [_DIRTY] if dirty else []
            add = texts.append
        if chars > MAX_RECORD_CHARS:
            raise EdgeError(f"record over {MAX_RECORD_CHARS} characters")
    joined = "".join(texts)
    if chars + len(joined) > MAX_RECORD_CHARS:
        raise EdgeError(f"record over {MAX_RECORD_CHARS} characters")
    if _BAD_TEXT.search(joined):
        return _rebuild(value), True
    return value, False


def _rebuild(value: Any) -> Any:
    # Depth is bounded by the check above, so recursion is safe here.
    if isinstance(value, str):
        return _repair(value)
    if isinstance(value, dict):
        return {(_repair(k) if isinstance(k, str) else k): _rebuild(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_rebuild(v) for v in value]
    return value


@functools.lru_cache(maxsize=4)
def _latest_at(second: int) -> str:
    return datetime.fromtimestamp(second + MAX_FUTURE_S, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _latest(now: float | None) -> str:
    return _latest_at(int(time.time() if now is None else now))


def check_time(stamp: Any, *, now: float | None = None) -> None:
    """Raise :class:`EdgeError` unless ``stamp`` is an ``@timestamp`` (UTC ISO 8601, ``Z``)
    from 1970 to :data:`MAX_FUTURE_S` ahead of this clock. Cheap: compares text."""
    if not isinstance(stamp, str) or not _ISO_LIKE.fullmatch(stamp):
        raise EdgeError(f"@timestamp {stamp!r} is not a UTC ISO 8601 time")
    if stamp < EARLIEST:
        raise EdgeError(f"time {stamp} is before 1970")
    if stamp > _latest(now):
        raise EdgeError(f"time {stamp} is more than {MAX_FUTURE_S} s ahead of this clock")


def admit(event: dict[str, Any], *, now: float | None = None) -> dict[str, Any]:
    """``event`` if it may enter (repaired and tagged if its text needed it); raise
    :class:`EdgeError` naming the bound it breaks otherwise."""
    check_time(event.get("@timestamp"), now=now)
    ident = event.get("event.id")
    if isinstance(ident, str) and _BAD_TEXT.search(ident):
        # Repaired ids could collide ("\x00" and "\ud800" both become U+FFFD) and the later
        # event would be taken for a duplicate: a digest of the exact id keeps them apart.
        digest = hashlib.blake2b(ident.encode("utf-8", "surrogatepass"), digest_size=8)
        event = {**event, "event.id": f"{_repair(ident)}#{digest.hexdigest()}"}
    checked, repaired = _walk(event)
    if repaired:
        tags = checked.get("tags")
        checked["tags"] = [*(tags if isinstance(tags, list) else ()), REPAIRED_TAG]
    return checked  # type: ignore[no-any-return]


def loads(text: str | bytes) -> Any:
    """``json.loads`` that raises :class:`EdgeError` for input nested beyond what the parser
    can follow (its RecursionError) and ``json.JSONDecodeError`` for what is not JSON."""
    try:
        return json.loads(text)
    except RecursionError:
        raise EdgeError("JSON nested too deep to read") from None


def moment(value: Any) -> datetime:
    """A UTC datetime from ISO 8601 text (``Z`` or an offset; none means UTC) or epoch seconds
    (milliseconds above 10**11, as some vendors send); :class:`EdgeError` for anything else,
    including times ``datetime`` cannot hold (year 0, year 10,000, 1e20 seconds)."""
    try:
        if isinstance(value, int | float) and not isinstance(value, bool):
            seconds = value / 1000 if value > 10**11 else value
            return datetime.fromtimestamp(seconds, UTC)
        if isinstance(value, str) and value.strip().isdigit():
            return moment(int(value.strip()))
        if isinstance(value, str) and value.strip():
            text = value.strip()
            if text.endswith(("Z", "z")):
                text = text[:-1] + "+00:00"
            parsed = datetime.fromisoformat(text)
            if parsed.tzinfo is None:
                parsed = parsed.replace(tzinfo=UTC)
            return parsed.astimezone(UTC)
    except (ValueError, OverflowError, OSError):
        pass
    raise EdgeError(f"no readable time (got {str(value)[:80]!r})")


# An IPv4 address already in its one text form (four decimal parts 0-255, no leading zeros):
# most addresses of a log, read without building an address object.
_IPV4_TEXT = re.compile(r"(?:(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\.){3}"
                        r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])")


def ip_text(value: str) -> str | None:
    """The one text form of an IP address every source uses: IPv4-mapped IPv6
    (``::ffff:10.66.66.66``) as the IPv4 address; None if ``value`` is not an address."""
    if _IPV4_TEXT.fullmatch(value):
        return value
    try:
        ip = ipaddress.ip_address(value)
    except ValueError:
        return None
    mapped = getattr(ip, "ipv4_mapped", None)
    return str(mapped or ip)


_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{},]', re.DOTALL)


def array_items(text: str) -> list[str] | None:
    """The raw text of each element of a document's record array (the document itself when it
    is an array, else its first array one level down, as in ``{"Records": [...]}``), found
    without parsing the elements: so when one element is too deep to parse, the others can
    still be read one by one. None if there is no such array."""
    depth, target, start = 0, -1, 0
    items: list[str] = []
    for match in _TOKEN.finditer(text):
        token = match.group()
        if token[0] == '"':
            continue
        if token in "[{":
            depth += 1
            if target < 0 and token == "[" and depth <= 2:
                target, start = depth, match.end()
        elif token in "]}":
            if depth == target:
                items.append(text[start:match.start()])
                return [item for item in items if item.strip()]
            depth -= 1
        elif depth == target:
            items.append(text[start:match.start()])
            start = match.end()
    return None
