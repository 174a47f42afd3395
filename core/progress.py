"""A progress line on stderr for long work, shown only on a terminal."""

from __future__ import annotations

import sys
import time
from typing import TextIO


class Progress:
    """``replay: 41% 12.3 MB of 30.0 MB, 2.1 MB/s``, redrawn at most ten times a second."""

    def __init__(self, label: str, total_bytes: int, stream: TextIO | None = None) -> None:
        self.label = label
        self.total = max(total_bytes, 1)
        self.stream = stream or sys.stderr
        self.enabled = self.stream.isatty()
        self.started = time.monotonic()
        self._drawn = 0.0

    def update(self, done_bytes: int) -> None:
        """Redraw with ``done_bytes`` read so far (cheap when called per event)."""
        if not self.enabled:
            return
        now = time.monotonic()
        if now - self._drawn < 0.1:
            return
        self._drawn = now
        rate = done_bytes / max(now - self.started, 1e-6)
        self.stream.write(f"\r{self.label}: {100 * done_bytes / self.total:3.0f}% "
                          f"{done_bytes / 1e6:.1f} MB of {self.total / 1e6:.1f} MB, "
                          f"{rate / 1e6:.1f} MB/s ")
        self.stream.flush()

    def done(self) -> None:
        """Clear the line."""
        if self.enabled:
            self.stream.write("\r" + " " * 60 + "\r")
            self.stream.flush()
