"""What every collector shares: the record that could not be read, and event ids for lines.

A reader of files (``read_path``) yields, in file order, an event (a ``dict``) for each record
it read, a :class:`BadRecord` for each one it could not read (so one bad record never stops a
file and the caller can count and dead-letter it) and, for line sources, None for a line that
is well formed but of no interest. ``isinstance(item, dict)`` tells events apart.
"""

from __future__ import annotations

import json
import zlib
from dataclasses import dataclass
from typing import Any

from socbot.core.events import stable_id

__all__ = ["RAW_CAP", "BadRecord", "capped", "encode_event", "file_key", "line_id"]

RAW_CAP = 8192  # bytes of a bad record kept for the dead-letter stream

_json_encode = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, default=str).encode
try:
    import orjson
except ImportError:  # pragma: no cover - orjson is a declared dependency
    orjson = None  # type: ignore[assignment]


def encode_event(event: dict[str, Any]) -> str:
    """:func:`core.events.dumps` of ``event``, about 7 times faster (orjson, the same compact
    JSON with UTF-8 text); falls back to the standard library for what orjson refuses (an
    integer over 64 bits in a CloudTrail record, say)."""
    if orjson is not None:
        try:
            return orjson.dumps(event, default=str).decode()
        except TypeError:
            pass
    return _json_encode(event)


@dataclass(frozen=True)
class BadRecord:
    """A record (``index`` in its file) or a whole file (``index`` None) that was not read."""

    path: str
    index: int | None
    error: str
    raw: str

    def __str__(self) -> str:
        return self.error

    def dead_letter(self, source: str) -> dict[str, str]:
        """The fields of this record's entry on the dead-letter stream."""
        return {"source": source, "line": self.raw, "error": self.error, "path": self.path,
                "index": "" if self.index is None else str(self.index)}


def capped(record: Any) -> str:
    """At most :data:`RAW_CAP` bytes of a record as text, for a dead letter (never matching)."""
    text = record if isinstance(record, str) else json.dumps(record, default=str)
    return text.encode("utf-8", "replace")[:RAW_CAP].decode("utf-8", "ignore")


def line_id(file_key: str, offset: int, line: str) -> str:
    """A stable event id for the line at byte ``offset`` of the file ``file_key`` names.

    ``file_key`` is a :func:`core.events.stable_id` of the host and file identity, computed
    once per file; the line's CRC keeps a truncated file, whose offsets start over, from
    reusing the id of an earlier, different line. Cheap: one CRC per line, no hash object.
    """
    return f"{file_key}-{offset:x}-{zlib.crc32(line.encode('utf-8', 'surrogatepass')):08x}"


def file_key(*parts: object) -> str:
    """The per-file part of :func:`line_id`."""
    return stable_id(*parts)[:16]
