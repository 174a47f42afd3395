"""Read whole files of one source as events, counting what could not be read.

Used by ``socbot parse`` and ``socbot replay``, which need no Redis: nothing here writes
anywhere. A line or record that cannot be parsed is counted (and described on stderr by the
caller), never dropped silently.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from core.events import Event, stable_id


@dataclass
class EventReader:
    """An iterable of events from ``paths``, with counts and progress as it goes."""

    source: str
    paths: list[Path]
    parsed: int = 0
    ignored: int = 0
    failed: int = 0
    bytes_read: int = 0
    errors: Counter[str] = field(default_factory=Counter)

    @property
    def total_bytes(self) -> int:
        """Size of every file to read (for a progress bar)."""
        return sum(p.stat().st_size for p in self._files())

    def _files(self) -> list[Path]:
        files: list[Path] = []
        for path in self.paths:
            if not path.exists():
                raise FileNotFoundError(f"{path}: no such file or directory")
            files += sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        return files

    def __iter__(self) -> Iterator[Event]:
        if self.source == "secure":
            yield from self._secure()
        elif self.source == "cloudtrail":
            yield from self._cloudtrail()
        else:
            raise ValueError(f"unknown source {self.source!r}; use secure or cloudtrail")

    def _secure(self) -> Iterator[Event]:
        from collectors.secure import ParseError, parse_line

        now = datetime.now(UTC)
        for path in self._files():
            identity = str(path.resolve())
            offset = 0
            with path.open("rb") as handle:
                for raw in handle:
                    line = raw.decode("utf-8", errors="replace")
                    try:
                        event = parse_line(line, now=now, event_id=stable_id(identity, offset))
                    except ParseError as exc:
                        self.failed += 1
                        self.errors[f"{type(exc).__name__}: {exc}"] += 1
                        event = None
                    else:
                        if event is None:
                            self.ignored += 1
                        else:
                            self.parsed += 1
                    offset += len(raw)
                    self.bytes_read += len(raw)
                    if event is not None:
                        yield event

    def _cloudtrail(self) -> Iterator[Event]:
        from collectors.cloudtrail import read_path

        for path in self.paths:
            for item in read_path(path):
                if isinstance(item, dict):
                    self.parsed += 1
                    yield item
                else:
                    self.failed += 1
                    self.errors[str(item)] += 1
        self.bytes_read = self.total_bytes

    def report(self) -> str:
        """One line for stderr: what was read and what was not."""
        text = f"{self.parsed} events, {self.ignored} lines of no interest, {self.failed} unparsed"
        if self.errors:
            worst = "; ".join(f"{n} x {e}" for e, n in self.errors.most_common(3))
            text += f" ({worst})"
        return text


def read_events(source: str, paths: list[Path]) -> EventReader:
    """Events of ``source`` (``secure`` or ``cloudtrail``) from files or directories."""
    return EventReader(source, paths)
