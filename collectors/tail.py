"""Follow a log file through rotation without losing or repeating a line.

A :class:`FileTailer` hands out complete lines only (a trailing partial line waits for its
newline) as :class:`TailLine` tuples ``(line, file_id, offset)``: ``file_id`` is
``"{st_dev}:{st_ino}"`` of the file the line was read from and ``offset`` the byte offset of the
line's start. It follows

* rotation by rename: the path now names another inode, so the old file is read to its end
  (once more after noticing, for lines the writer added meanwhile) and the new one from 0;
* truncation (copytruncate): the file is shorter than the position, so reading starts at 0
  again, with a warning.

Positions live in Redis (:class:`PositionStore`). Exactly-once delivery comes from writing the
position in the *same* MULTI/EXEC as the events made from those lines::

    tailer = FileTailer("/var/log/secure", PositionStore(redis))
    lines = tailer.read_batch(500)
    pipe = redis.pipeline(transaction=True)
    for line in lines:
        pipe.xadd(...)
    tailer.stage_position(pipe)          # HSET of the position after the last line
    pipe.execute()                       # all or nothing: no loss, no repeat

On restart, a stored position whose file is still at the path resumes there; if the path
names another file, the rotated file (``path.1``, ``path.0``, ``path-YYYYMMDD``) with the stored
identity is finished first; failing that, the current file is read from 0 (and a warning says
so). A file never seen before is read from its end (like ``tail -F``) unless ``from_start``.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, NamedTuple, Self

import redis

from socbot.core import keys
from socbot.core.streams import decode_fields

log = logging.getLogger(__name__)


class TailLine(NamedTuple):
    """One complete line (newline removed) and where it starts."""

    line: str
    file_id: str
    offset: int


@dataclass(frozen=True)
class Position:
    """Where reading resumes: the file's identity and the byte offset of the next line."""

    file_id: str
    offset: int


def file_id(st: os.stat_result) -> str:
    """The identity of a file that survives renames: device and inode."""
    return f"{st.st_dev}:{st.st_ino}"


class PositionStore:
    """Positions per absolute path in Redis hashes ``{key_prefix}{path}`` = {file_id, offset}."""

    def __init__(self, client: redis.Redis,
                 key_prefix: str = keys.TAIL_POSITION_PREFIX) -> None:
        self.client = client
        self.key_prefix = key_prefix

    def key(self, path: str | Path) -> str:
        """The Redis key that holds the position of ``path``."""
        return self.key_prefix + os.path.abspath(path)

    def load(self, path: str | Path) -> Position | None:
        """The stored position of ``path``, or None if it was never saved."""
        raw = self.client.hgetall(self.key(path))
        if not raw:
            return None
        fields = decode_fields(raw)
        return Position(fields["file_id"], int(fields["offset"]))

    def stage(self, pipe: redis.client.Pipeline, path: str | Path, position: Position) -> None:
        """Queue the position write on ``pipe`` (the caller's MULTI/EXEC with the events)."""
        pipe.hset(self.key(path), mapping={"file_id": position.file_id,
                                           "offset": str(position.offset)})

    def save(self, path: str | Path, position: Position) -> None:
        """Write the position now, outside any transaction."""
        pipe = self.client.pipeline(transaction=True)
        self.stage(pipe, path, position)
        pipe.execute()


_ROTATED_SUFFIX = r"(?:\.\d+|-\d{8}(?:\d{2})?)"


class FileTailer:
    """Read complete lines from ``path``, following rotation and truncation.

    ``positions`` (optional) gives the start position on the first read and receives the
    position through :meth:`stage_position`; the tailer itself never writes it except once, at
    first sight of a file read from its end, so that a restart starts from there too.
    ``max_line_bytes`` bounds memory: a longer line is returned cut to ``max_line_bytes + 1``
    bytes (still recognisably too long for a parser) and the rest of it is skipped.
    """

    def __init__(self, path: str | Path, positions: PositionStore | None = None, *,
                 from_start: bool = False, chunk_size: int = 64 * 1024,
                 max_line_bytes: int = 64 * 1024) -> None:
        self.path = Path(path)
        self.positions = positions
        self.from_start = from_start
        self.chunk_size = chunk_size
        self.max_line_bytes = max_line_bytes
        self._fh: BinaryIO | None = None
        self._file_id: str | None = None
        self._offset = 0          # start of the next line not yet handed out
        self._read_pos = 0        # where the next read() starts
        self._pending = bytearray()
        self._pending_len = 0     # full length of the partial line, even beyond the cap
        self._started = False
        self._drained = False     # the old file was read once more after a rename was seen

    # -- public ---------------------------------------------------------------------------

    @property
    def position(self) -> Position | None:
        """The position after the last line handed out (None before any file was opened)."""
        if self._file_id is None:
            return None
        return Position(self._file_id, self._offset)

    def stage_position(self, pipe: redis.client.Pipeline) -> None:
        """Queue the current position on ``pipe`` (the transaction that adds the events)."""
        if self.positions is not None and self.position is not None:
            self.positions.stage(pipe, self.path, self.position)

    def read_batch(self, max_lines: int = 500) -> list[TailLine]:
        """Return up to ``max_lines`` complete lines available now ([] at the end for now)."""
        if not self._started:
            self._start()
        out: list[TailLine] = []
        while len(out) < max_lines:
            if self._fh is None and not self._open_new_file():
                break
            got = self._read_chunk()
            if got is None:
                follow = self._at_end()
                if follow is None:
                    break
                out.extend(follow)
                continue
            out.extend(got)
        if len(out) > max_lines:
            # Lines past the limit all come from the last chunk, of the current file: unread
            # them so the position stays exactly after the last line returned.
            first_extra = out[max_lines]
            out = out[:max_lines]
            self._offset = self._read_pos = first_extra.offset
            self._reset_pending()
        return out

    def __iter__(self) -> Iterator[TailLine]:
        """Yield every complete line available now, then stop."""
        while batch := self.read_batch():
            yield from batch

    def close(self) -> None:
        """Close the open file, if any."""
        if self._fh is not None:
            self._fh.close()
            self._fh = None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- opening --------------------------------------------------------------------------

    def _start(self) -> None:
        self._started = True
        stored = self.positions.load(self.path) if self.positions else None
        try:
            current = os.stat(self.path)
        except FileNotFoundError:
            current = None
        if stored is None:
            if current is None:
                return  # not there yet: read it from 0 when it appears
            self._open(self.path, 0 if self.from_start else current.st_size)
            if not self.from_start and self.positions is not None and self.position:
                self.positions.save(self.path, self.position)
            return
        if current is not None and file_id(current) == stored.file_id:
            self._open(self.path, stored.offset)
            return
        rotated = self._find_rotated(stored.file_id)
        if rotated is not None:
            log.info("%s was rotated while stopped: finishing %s from byte %d first",
                     self.path, rotated, stored.offset)
            self._open(rotated, stored.offset)
        elif current is not None:
            log.warning("%s: the file of the saved position (%s) is gone; reading the current "
                        "file from the start", self.path, stored.file_id)
            self._open(self.path, 0)

    def _find_rotated(self, wanted: str) -> Path | None:
        pattern = re.compile(re.escape(self.path.name) + _ROTATED_SUFFIX)
        try:
            entries = sorted(self.path.parent.iterdir())
        except OSError:
            return None
        for entry in entries:
            if pattern.fullmatch(entry.name):
                try:
                    if file_id(entry.stat()) == wanted:
                        return entry
                except OSError:
                    continue
        return None

    def _open(self, path: Path, offset: int) -> None:
        self.close()
        fh = open(path, "rb")  # noqa: SIM115 - kept open across calls, closed in close()
        st = os.fstat(fh.fileno())
        if offset > st.st_size:
            log.warning("%s is shorter (%d bytes) than the saved position %d: truncated, "
                        "reading from the start", path, st.st_size, offset)
            offset = 0
        self._fh, self._file_id = fh, file_id(st)
        self._offset = self._read_pos = offset
        self._reset_pending()
        self._drained = False

    def _open_new_file(self) -> bool:
        try:
            self._open(self.path, 0)
        except FileNotFoundError:
            return False
        return True

    # -- reading --------------------------------------------------------------------------

    def _reset_pending(self) -> None:
        self._pending = bytearray()
        self._pending_len = 0

    def _add_pending(self, data: bytes) -> None:
        room = self.max_line_bytes + 1 - len(self._pending)
        if room > 0:
            self._pending += data[:room]
        self._pending_len += len(data)

    def _take_line(self) -> TailLine:
        assert self._file_id is not None
        line = TailLine(self._pending.decode("utf-8", "replace"), self._file_id, self._offset)
        self._offset += self._pending_len + 1
        self._reset_pending()
        return line

    def _read_chunk(self) -> list[TailLine] | None:
        """Complete lines from the next chunk; None at the end of the file."""
        assert self._fh is not None
        self._fh.seek(self._read_pos)
        data = self._fh.read(self.chunk_size)
        if not data:
            return None
        self._read_pos += len(data)
        parts = data.split(b"\n")
        rest = parts.pop()  # after the last newline: the start of a line still being written
        lines: list[TailLine] = []
        if parts:
            # The first piece ends a line that may have begun in an earlier chunk.
            self._add_pending(parts[0])
            lines.append(self._take_line())
            file_id_, offset, cap = self._file_id, self._offset, self.max_line_bytes + 1
            assert file_id_ is not None
            for raw in parts[1:]:
                text = (raw if len(raw) <= cap else raw[:cap]).decode("utf-8", "replace")
                lines.append(TailLine(text, file_id_, offset))
                offset += len(raw) + 1
            self._offset = offset
        self._add_pending(rest)
        return lines

    def _at_end(self) -> list[TailLine] | None:
        """At the end of the open file: follow a rename or truncation, else None (wait)."""
        assert self._fh is not None
        try:
            at_path = os.stat(self.path)
        except FileNotFoundError:
            return None  # renamed, new file not created yet: keep reading the old one
        if file_id(at_path) != self._file_id:
            if not self._drained:
                self._drained = True  # the writer may have added lines since our last read
                return []
            tail: list[TailLine] = []
            if self._pending_len:
                # The old file will get no newline now; its last line is complete as it is.
                tail.append(self._take_line())
            log.info("%s rotated: finished the old file at byte %d, reading the new one",
                     self.path, self._offset)
            self._open(self.path, 0)
            return tail
        size = os.fstat(self._fh.fileno()).st_size
        if size < self._read_pos:
            log.warning("%s was truncated (%d bytes, position %d): reading from the start",
                        self.path, size, self._read_pos)
            self._offset = self._read_pos = 0
            self._reset_pending()
            return []
        return None
