"""What every collector shares: the record that could not be read, and event ids for lines.

A reader of files (``read_path``) yields, in file order, an event (a ``dict``) for each record
it read, a :class:`BadRecord` for each one it could not read (so one bad record never stops a
file and the caller can count and dead-letter it) and, for line sources, None for a line that
is well formed but of no interest. ``isinstance(item, dict)`` tells events apart.
"""

from __future__ import annotations

import json
import logging
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from socbot.core import edge
from socbot.core.events import LINE_BREAKS, Event, stable_id

__all__ = ["RAW_CAP", "BadRecord", "admitted", "admitted_items", "capped", "encode_event",
           "file_key", "line_id"]

log = logging.getLogger(__name__)

RAW_CAP = 8192  # bytes of a bad record kept for the dead-letter stream

_json_encode = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, default=str).encode
try:
    import orjson
except ImportError:  # pragma: no cover - orjson is a declared dependency
    orjson = None  # type: ignore[assignment]




def encode_event(event: dict[str, Any]) -> str:
    """:func:`core.events.dumps` of ``event``, about 7 times faster (orjson, the same compact
    JSON with UTF-8 text); falls back to the standard library for what orjson refuses (an
    integer over 64 bits in a CloudTrail record, say). U+0085, U+2028 and U+2029 are written
    as ``\\uXXXX`` escapes, so the text holds no line break but the final one's absence."""
    text: str | None = None
    if orjson is not None:
        try:
            text = orjson.dumps(event, default=str).decode()
        except TypeError:
            pass
    if text is None:
        text = _json_encode(event)
    return text if text.isascii() else text.translate(LINE_BREAKS)


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
        """The fields of this record's entry on the dead-letter stream (valid UTF-8 text, even
        where the record, its file name or its error held a lone surrogate)."""
        fields = {"source": source, "line": self.raw, "error": self.error, "path": self.path,
                  "index": "" if self.index is None else str(self.index)}
        return {k: _utf8(v) for k, v in fields.items()}


def _utf8(text: str) -> str:
    return text.encode("utf-8", "replace").decode("utf-8")


def capped(record: Any) -> str:
    """At most :data:`RAW_CAP` bytes of a record as text, for a dead letter (never matching)."""
    try:
        text = record if isinstance(record, str) else json.dumps(record, default=str)
    except (RecursionError, ValueError):
        text = f"<{type(record).__name__} too deep or circular to show>"
    return text.encode("utf-8", "replace")[:RAW_CAP].decode("utf-8", "ignore")


def admitted(build: Callable[[], Event], path: str, index: int | None, raw: Any,
             expected: tuple[type[Exception], ...] = (ValueError,)) -> Event | BadRecord:
    """The event ``build()`` makes of one record, passed through :func:`core.edge.admit`; a
    :class:`BadRecord` with the reason if it cannot be made or may not enter.

    ``expected`` are the parser's own refusals (``RecordError``, ``PayloadError``, and
    :class:`core.edge.EdgeError`, all ValueErrors). Any other exception is a parser defect
    meeting an input nobody foresaw: logged with its traceback and set aside the same way, so
    one record never stops a file, a message or a request.
    """
    try:
        return edge.admit(build())
    except expected as exc:
        return BadRecord(path, index, f"{type(exc).__name__}: {exc}", capped(raw))
    except (RecursionError, MemoryError) as exc:
        return BadRecord(path, index, f"{type(exc).__name__}: record too deep or too large",
                         capped(raw))
    except Exception as exc:
        log.exception("%s: record %s: unexpected %s", path, index, type(exc).__name__)
        return BadRecord(path, index, f"internal error: {type(exc).__name__}: {exc}",
                         capped(raw))


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


def _same(event: Event) -> Event:
    return event


def admitted_items(items: Iterator[Event | BadRecord | None], path: str
                   ) -> Iterator[Event | BadRecord | None]:
    """A line parser's output with every event passed through :func:`core.edge.admit`; if the
    parser itself raises (a defect), one :class:`BadRecord` stands for the rest of ``path``."""
    index = 0
    while True:
        try:
            item = next(items)
        except StopIteration:
            return
        except Exception as exc:
            log.exception("%s: unexpected %s after %d records", path, type(exc).__name__, index)
            yield BadRecord(path, index, f"internal error: {type(exc).__name__}: {exc}; the "
                            "rest was not read", "")
            return
        yield admitted(partial(_same, item), path, index, item) if isinstance(item, dict) else item
        index += 1


def files_under(path: Path, keep: Callable[[Path], bool] | None = None) -> list[Path]:
    """``path`` itself when it is not a directory; else the files below it (recursive,
    sorted by path) that ``keep`` accepts (all of them without ``keep``)."""
    if not path.is_dir():
        return [path]
    return sorted(p for p in path.rglob("*") if p.is_file() and (keep is None or keep(p)))
