"""Read whole files of one source as events, counting what could not be read.

Used by ``socbot parse`` and ``socbot replay``, which need no Redis: nothing here writes
anywhere. A line or record that cannot be parsed is counted (and described on stderr by the
caller), never dropped silently.

Each source's module provides ``read_path(path) -> Iterator[Event | BadRecord | None]`` (see
:mod:`collectors.base`); :data:`READERS` names them, so adding a source adds one line here.
"""

from __future__ import annotations

import importlib
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from socbot.collectors.base import BadRecord, file_key, files_under, line_id
from socbot.collectors.secure_common import AMBIGUOUS
from socbot.core.events import Event

if TYPE_CHECKING:  # `socbot --help` imports this module: no pydantic at start-up
    from socbot.core.config import Settings

# A reader takes (path), or (path, settings) for the sources in _WITH_SETTINGS.
ReadPath = Callable[..., Iterator[Event | BadRecord | None]]

# source -> "module:function" reading one file or directory.
READERS = {
    "secure": "socbot.collectors.files:read_secure",
    "cloudtrail": "socbot.collectors.cloudtrail:read_path",
    "door": "socbot.collectors.door.files:read_path",
    "wifi": "socbot.collectors.wifi.files:read_path",
    "findings": "socbot.collectors.findings:read_path",
    "journald": "socbot.collectors.journald:read_path",
}
SOURCES = tuple(READERS)
_WITH_SETTINGS = ("door", "wifi")  # their read_path takes (path, settings)
_CHUNK = 4 << 20


def reader(source: str) -> ReadPath:
    """The file reader of ``source``; ValueError naming the known sources otherwise."""
    if source not in READERS:
        raise ValueError(f"unknown source {source!r}; use one of {', '.join(SOURCES)}")
    module, _, name = READERS[source].partition(":")
    function: ReadPath = getattr(importlib.import_module(module), name)
    return function


def read_secure(path: Path, now: datetime | None = None) -> Iterator[Event | BadRecord | None]:
    """Events of syslog files (read in large chunks; ids from the file and byte offset)."""
    from socbot.collectors.secure import ParseError, parse_line
    from socbot.collectors.secure_connections import Connections

    now = now or datetime.now(UTC)
    connections = Connections()
    for file in files_under(path):
        key = file_key(str(file.resolve()))
        offset = 0
        index = 0
        with file.open("rb") as handle:
            rest = b""
            while True:
                chunk = handle.read(_CHUNK)
                data = rest + chunk
                if not chunk:
                    lines, rest = ([data] if data else []), b""
                else:
                    lines = data.split(b"\n")
                    rest = lines.pop()
                for raw in lines:
                    line = raw.decode("utf-8", "replace")
                    try:
                        event = parse_line(line, now=now, event_id=line_id(key, offset, line))
                        yield event if event is None else connections.apply(event)
                    except ParseError as exc:
                        yield BadRecord(str(file), index, f"{type(exc).__name__}: {exc}", "")
                    offset += len(raw) + 1
                    index += 1
                if not chunk:
                    break


@dataclass
class EventReader:
    """An iterable of events from ``paths``, with counts and progress as it goes."""

    source: str
    paths: list[Path]
    parsed: int = 0
    ignored: int = 0
    failed: int = 0
    ambiguous: int = 0
    bytes_read: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    settings: Settings | None = None

    @property
    def total_bytes(self) -> int:
        """Size of every file to read (for a progress bar)."""
        return sum(p.stat().st_size for p in self._files())

    def _files(self) -> list[Path]:
        files: list[Path] = []
        for path in self.paths:
            if not path.exists():
                raise FileNotFoundError(f"{path}: no such file or directory")
            files += files_under(path)
        return files

    def __iter__(self) -> Iterator[Event]:
        read = reader(self.source)
        for path in self.paths:
            if not path.exists():
                raise FileNotFoundError(f"{path}: no such file or directory")
            for item in (read(path, self.settings) if self.source in _WITH_SETTINGS
                         else read(path)):
                if item is None:
                    self.ignored += 1
                elif isinstance(item, BadRecord):
                    self.failed += 1
                    self.errors[item.error] += 1
                else:
                    self.parsed += 1
                    self.ambiguous += AMBIGUOUS in item.get("tags", ())
                    yield item
            self.bytes_read += sum(p.stat().st_size for p in files_under(path))

    def report(self) -> str:
        """One line for stderr: what was read and what was not."""
        return report(self.parsed, self.ignored, self.failed, self.errors, self.ambiguous)


def report(parsed: int, ignored: int, failed: int, errors: Counter[str], ambiguous: int = 0
           ) -> str:
    """One line for stderr: what was read and what was not (the three commonest errors);
    ``ambiguous`` events read two ways and kept no address or user."""
    text = f"{parsed} events"
    if ambiguous:
        text += f" ({ambiguous} ambiguous: read two ways, no address or user taken from the line)"
    text += f", {ignored} of no interest, {failed} unparsed"
    if errors:
        worst = "; ".join(f"{n} x {e}" for e, n in errors.most_common(3))
        text += f" ({worst})"
    return text


def read_events(source: str, paths: list[Path], settings: Settings | None = None
                ) -> EventReader:
    """Events of ``source`` (one of :data:`SOURCES`) from files or directories; ``settings``
    give the door export column map and the Wi-Fi sensor's name and site."""
    reader(source)  # an unknown source fails here, before any reading
    return EventReader(source, paths, settings=settings)


@dataclass
class ChunkResult:
    """What one worker made of one byte range of a syslog file."""

    summary: Counter[tuple[str, str]] = field(default_factory=Counter)
    lines: list[str] = field(default_factory=list)
    parsed: int = 0
    ignored: int = 0
    failed: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    ambiguous: int = 0


def _boundaries(path: Path, parts: int) -> list[tuple[int, int]]:
    """Byte ranges of ``path`` (at least :data:`_CHUNK` long) that start at line starts."""
    size = path.stat().st_size
    step = max(_CHUNK, size // max(parts, 1) + 1)
    starts = [0]
    with path.open("rb") as handle:
        while starts[-1] + step < size:
            handle.seek(starts[-1] + step)
            handle.readline()
            if handle.tell() >= size:
                break
            starts.append(handle.tell())
    return list(zip(starts, [*starts[1:], size], strict=True))


def _parse_range(job: tuple[str, int, int, str, datetime, bool]) -> ChunkResult:
    from socbot.collectors.base import encode_event
    from socbot.collectors.secure import ParseError, classify_line, parse_line
    from socbot.collectors.secure_connections import Connections

    connections = Connections()
    name, start, end, key, now, summary = job
    result = ChunkResult()
    with open(name, "rb") as handle:
        handle.seek(start)
        data = handle.read(end - start)
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    counts = result.summary
    offset = start
    for raw in lines:
        line = raw.decode("utf-8", "replace")
        try:
            if summary:
                kind = classify_line(line, now)
                if kind is not None:
                    counts[kind[:2]] += 1
                    result.ambiguous += kind[2]
            else:
                event = parse_line(line, now=now, event_id=line_id(key, offset, line))
                if event is not None:
                    result.lines.append(encode_event(connections.apply(event)))
                    result.ambiguous += "tags" in event and AMBIGUOUS in event["tags"]
                kind = None if event is None else (event["event.action"], "", False)
        except ParseError as exc:
            result.failed += 1
            result.errors[f"{type(exc).__name__}: {exc}"] += 1
        else:
            if kind is None:
                result.ignored += 1
            else:
                result.parsed += 1
        offset += len(raw) + 1
    return result


def parse_secure_in_parallel(paths: list[Path], jobs: int, *, summary: bool
                             ) -> Iterator[ChunkResult]:
    """Parse syslog files on ``jobs`` processes (1: this one), yielding results in file order.

    Each worker takes a range of whole lines; the event ids are those :func:`read_secure`
    gives (file and byte offset), so the output is the same as reading on one process, except
    that a range starts with an empty per-process table
    (:class:`~collectors.secure_connections.Connections`): a line without an address whose
    process wrote its address in an earlier range stays without.
    """
    import multiprocessing

    now = datetime.now(UTC)
    work: list[tuple[str, int, int, str, datetime, bool]] = []
    for path in paths:
        if not path.exists():
            raise FileNotFoundError(f"{path}: no such file or directory")
        for file in files_under(path):
            key = file_key(str(file.resolve()))
            work += [(str(file), start, end, key, now, summary)
                     for start, end in _boundaries(file, jobs * 4)]
    if jobs <= 1:
        yield from map(_parse_range, work)
        return
    # fork starts workers at once, but a child forked while another thread of this process
    # holds a lock (logging, an import, a client's pool) waits for it forever; so fork only a
    # process of one thread (the CLI's), else start fresh interpreters.
    import threading

    context = multiprocessing.get_context(
        "fork" if threading.active_count() == 1 else "forkserver")
    with context.Pool(jobs) as pool:
        yield from pool.imap(_parse_range, work)
