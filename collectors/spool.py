"""A bounded on-disk FIFO of batches, for while Redis is unreachable.

Batches are appended as lines ``{epoch}\\t{seq}\\t{json}`` to segment files under one
directory; a segment is deleted once every batch in it is acknowledged. ``max_bytes`` bounds
the whole spool: :meth:`Spool.append` raises :class:`SpoolFull` rather than grow past it, and
the collector then stops taking input (a tailer stops reading, the door receiver answers 503 so
the vendor retries). Appends are flushed and fsynced before they return, so a batch the spool
accepted survives a crash; a torn last line (a crash mid-append) is ignored when reopening.

``epoch`` names one run of a collector and ``seq`` numbers its batches; the pair is what
makes draining exactly-once (see :mod:`collectors.sink`).
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from socbot.core.redisconn import UNAVAILABLE

log = logging.getLogger(__name__)

__all__ = ["Spool", "SpoolFull", "Spooled"]

SEGMENT_BYTES = 4 << 20


class SpoolFull(RuntimeError):
    """The spool is at its byte bound; the batch was not written."""


# A batch was not stored: Redis is away and the spool is full (or there is no spool).
NOT_STORED: tuple[type[Exception], ...] = (*UNAVAILABLE, SpoolFull)


@dataclass(frozen=True)
class Spooled:
    """One batch read back from the spool, and where its line ends."""

    epoch: str
    seq: int
    batch: dict[str, object]
    segment: Path
    end: int


class Spool:
    """A FIFO of JSON batches in segment files under ``directory``, at most ``max_bytes``.

    Reading starts at the head (the first batch not acknowledged); the head lives in memory
    only: after a restart, batches already in Redis are read again and the sink's marker
    check skips them.
    """

    def __init__(self, directory: str | Path, max_bytes: int = 256 << 20,
                 segment_bytes: int = SEGMENT_BYTES) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.max_bytes = max_bytes
        self.segment_bytes = segment_bytes
        self._head: tuple[Path, int] | None = None
        self._repair()

    def _segments(self) -> list[Path]:
        return sorted(self.directory.glob("*.spool"))

    @property
    def size(self) -> int:
        """Bytes held (acknowledged batches of a partly drained segment included)."""
        return sum(p.stat().st_size for p in self._segments())

    def __bool__(self) -> bool:
        return next(iter(self), None) is not None

    def append(self, epoch: str, seq: int, batch: dict[str, object]) -> None:
        """Write one batch durably; raise :class:`SpoolFull` if it would pass the bound."""
        line = f"{epoch}\t{seq}\t{json.dumps(batch, separators=(',', ':'))}\n".encode()
        segments = self._segments()
        held = sum(p.stat().st_size for p in segments)
        if held + len(line) > self.max_bytes:
            raise SpoolFull(f"spool {self.directory} holds {held} bytes; bound {self.max_bytes}")
        if not segments or segments[-1].stat().st_size + len(line) > self.segment_bytes:
            number = int(segments[-1].stem) + 1 if segments else 1
            segments.append(self.directory / f"{number:012d}.spool")
        with open(segments[-1], "ab") as handle:
            handle.write(line)
            handle.flush()
            os.fsync(handle.fileno())

    def __iter__(self) -> Iterator[Spooled]:
        """Every batch from the head on, oldest first."""
        for segment in self._segments():
            start = 0
            if self._head is not None:
                if segment < self._head[0]:
                    continue
                if segment == self._head[0]:
                    start = self._head[1]
            try:
                with open(segment, "rb") as handle:
                    handle.seek(start)
                    data = handle.read()
            except FileNotFoundError:
                continue
            offset = start
            for raw in data.split(b"\n")[:-1]:
                offset += len(raw) + 1
                epoch, seq, text = raw.decode().split("\t", 2)
                yield Spooled(epoch, int(seq), json.loads(text), segment, offset)

    def last(self) -> Spooled | None:
        """The newest batch held, if any."""
        found = None
        for item in self:
            found = item
        return found

    def acknowledge(self, item: Spooled) -> None:
        """``item`` and every batch before it are in Redis: move the head past it and delete
        the segments no longer needed."""
        self._head = (item.segment, item.end)
        for segment in self._segments():
            if segment < item.segment or (segment == item.segment
                                          and item.end >= segment.stat().st_size):
                segment.unlink()
        if not self._segments():
            self._head = None

    def _repair(self) -> None:
        """Cut a torn last line left by a crash in the middle of an append."""
        for segment in self._segments():
            data = segment.read_bytes()
            if data and not data.endswith(b"\n"):
                keep = data.rfind(b"\n") + 1
                log.warning("%s: dropping a torn last line (%d bytes) left by a crash; the "
                            "batch was never acknowledged to its source", segment,
                            len(data) - keep)
                with open(segment, "r+b") as handle:
                    handle.truncate(keep)
            if segment.stat().st_size == 0:
                segment.unlink()
