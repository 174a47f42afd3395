"""Ship audit entries to fluentd (forward protocol, acknowledged), spooling while it is away.

Every entry :func:`core.audit.audit` writes to the Redis stream is also sent to fluentd with tag
``socbot.audit``. When fluentd cannot be reached the entry is appended to a JSON Lines spool
file under the state directory (``audit-fluentd.jsonl``); the spool is re-sent, oldest first,
before anything newer as soon as fluentd answers again: on the next entry, or from
:meth:`FluentForwarder.run_retries` in a background thread. So fluentd receives entries in the
order they were written. While that thread runs (``socbot run`` starts it), every entry goes
through the spool and the thread delivers it, so no caller ever waits for fluentd.

An entry counts as sent only when fluentd acknowledged it (the forward protocol's ``chunk`` /
``ack`` option, :mod:`core.forward`); one written to a fluentd that accepts but does not read,
or that dies before answering, is spooled and sent again. So delivery is at least once: an
acknowledgement lost on its way back repeats an entry. The Redis stream (``socbot audit
export``) stays the complete record.

Example::

    forwarder = FluentForwarder.from_env()        # None unless FLUENTD_HOST is set
    forwarder.send({"who": "U1", "what": "ack", ...}, at=time.time())
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from socbot.core import metrics
from socbot.core.forward import AckForwardClient, ForwardError

log = logging.getLogger(__name__)

TAG, LABEL = "socbot", "audit"  # fluentd tag: socbot.audit
DEFAULT_PORT = 24224
SPOOL_NAME = "audit-fluentd.jsonl"
BATCH = 100  # spooled entries re-sent per acknowledged message


def fluentd_address(env: Mapping[str, str]) -> tuple[str, int] | None:
    """``(FLUENTD_HOST, FLUENTD_PORT)`` (port default 24224), None without a host; ValueError
    when the port is not one. ``socbot doctor`` reads the same variables through this."""
    host = env.get("FLUENTD_HOST", "").strip()
    if not host:
        return None
    raw_port = env.get("FLUENTD_PORT", "").strip() or str(DEFAULT_PORT)
    if not raw_port.isdigit() or not 0 < int(raw_port) < 65536:
        raise ValueError(f"FLUENTD_PORT={raw_port!r} is not a port; write a number such as "
                         f"{DEFAULT_PORT}, or unset it")
    return host, int(raw_port)


class FluentForwarder:
    """Send audit entries to fluentd; spool them to ``spool`` while it is unreachable.

    ``retry_after_s`` is how long after a failure entries go straight to the spool without
    trying the network, so a dead fluentd does not add a connect timeout to every entry.
    """

    def __init__(self, host: str, port: int = DEFAULT_PORT, *, spool: Path,
                 timeout_s: float = 3.0, retry_after_s: float = 5.0) -> None:
        self.host, self.port = host, port
        self.spool = spool
        self.retry_after_s = retry_after_s
        self.client = AckForwardClient(host, port, timeout_s=timeout_s)
        self.last_error: Exception | None = None
        self._lock = threading.Lock()
        self._down_until = 0.0
        self._wake = threading.Event()
        self._loop = threading.Event()  # set while run_retries delivers in the background

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None,
                 spool_dir: Path | None = None) -> FluentForwarder | None:
        """A forwarder to ``FLUENTD_HOST``:``FLUENTD_PORT`` (24224), or None without a host."""
        address = fluentd_address(os.environ if env is None else env)
        if address is None:
            return None
        if spool_dir is None:
            from socbot.core.redisconn import state_dir

            spool_dir = state_dir()
        return cls(*address, spool=spool_dir / SPOOL_NAME)

    def send(self, record: Mapping[str, Any], at: float) -> bool:
        """Send one entry (after anything spooled); spool it if fluentd is unreachable.
        Returns True if fluentd acknowledged it before this returned.

        While :meth:`run_retries` runs (the bot's runtime starts it), the entry is only
        appended to the spool and that thread delivers it: waiting for an acknowledgement
        never delays the caller (a Slack listener has 3 s to answer), whatever fluentd does.
        """
        if self._loop.is_set():
            self._append([(at, dict(record))])
            self._wake.set()
            return False
        with self._lock:
            if time.monotonic() < self._down_until or not self._flush_locked():
                self._append([(at, dict(record))])
                metrics.audit_forwarded("spooled")
                return False
            if self._deliver([(float(at), dict(record))]):
                metrics.audit_forwarded("sent")
                return True
            self._append([(at, dict(record))])
            metrics.audit_forwarded("spooled")
            return False

    def flush(self, outcome: str = "resent") -> int:
        """Re-send the spool if fluentd answers; return how many entries were re-sent."""
        with self._lock:
            before = self.spooled()
            self._flush_locked(outcome)
            return before - self.spooled()

    def spooled(self) -> int:
        """How many entries wait in the spool."""
        try:
            with self.spool.open("rb") as file:
                return sum(1 for line in file if line.strip())
        except FileNotFoundError:
            return 0

    def run_retries(self, stop: threading.Event, interval_s: float = 10.0) -> None:
        """Deliver in the background until ``stop`` is set (a thread's target): what
        :meth:`send` queues, at once, and the spool every ``interval_s`` (after a failure,
        not before ``retry_after_s`` has passed)."""
        self._loop.set()
        last = time.monotonic()
        try:
            while not stop.is_set():
                woken = self._wake.wait(0.2)
                now = time.monotonic()
                if not (woken or now - last >= interval_s) or now < self._down_until:
                    continue
                self._wake.clear()
                last = now
                try:
                    if self.spooled():
                        self.flush("sent" if woken else "resent")
                except Exception:  # keep retrying; the next round may succeed
                    log.exception("audit spool: re-send failed")
        finally:
            self._loop.clear()

    def close(self) -> None:
        """Close the connection to fluentd."""
        self.client.close()

    # --- spool -------------------------------------------------------------------------------

    def _flush_locked(self, outcome: str = "resent") -> bool:
        """Send every spooled entry in order; keep the rest if one fails. True if empty now.

        One flusher at a time (a lock file, across the processes sharing the state directory);
        the spool itself is locked only to read it and to drop what was delivered, never while
        waiting for fluentd, so :meth:`_append` (and the caller of :meth:`send`) never waits
        for the network.
        """
        try:
            if self.spool.stat().st_size == 0:
                return True
        except FileNotFoundError:
            return True
        with self.spool.with_name(self.spool.name + ".flush").open("a") as guard:
            fcntl.flock(guard, fcntl.LOCK_EX)
            with self.spool.open("r", encoding="utf-8") as file:
                fcntl.flock(file, fcntl.LOCK_SH)
                lines = [line for line in file.read().splitlines() if line.strip()]
            sent = 0
            while sent < len(lines):
                batch: list[tuple[float, dict[str, Any]]] = []
                taken = 0
                for line in lines[sent:sent + BATCH]:
                    taken += 1
                    try:
                        item = json.loads(line)
                        batch.append((float(item["at"]), dict(item["record"])))
                    except (ValueError, KeyError, TypeError):
                        log.error("audit spool: dropping an unreadable line: %.200s", line)
                if batch and not self._deliver(batch):
                    break
                sent += taken
            left = self._drop_first(sent) if sent else len(lines)
        if sent:
            metrics.audit_forwarded(outcome, sent)
            if outcome == "resent":
                log.info("audit spool: re-sent %d entries to fluentd", sent)
        return left == 0

    def _drop_first(self, count: int) -> int:
        """Remove the first ``count`` entries (delivered); return how many are left. Entries
        appended meanwhile are at the end and stay. The emptied file stays: another process
        may be waiting to append to it."""
        with self.spool.open("r+", encoding="utf-8") as file:
            fcntl.flock(file, fcntl.LOCK_EX)
            lines = [line for line in file.read().splitlines() if line.strip()]
            rest = lines[count:]
            file.seek(0)
            file.truncate()
            file.write("".join(line + "\n" for line in rest))
            file.flush()
            os.fsync(file.fileno())
        return len(rest)

    def _append(self, items: list[tuple[float, dict[str, Any]]]) -> None:
        self.spool.parent.mkdir(parents=True, exist_ok=True)
        with self.spool.open("a", encoding="utf-8") as file:
            fcntl.flock(file, fcntl.LOCK_EX)
            for at, record in items:
                file.write(json.dumps({"at": at, "record": record}, separators=(",", ":"))
                           + "\n")
            file.flush()
            os.fsync(file.fileno())

    def _deliver(self, entries: list[tuple[float, dict[str, Any]]]) -> bool:
        """Send and wait for fluentd's acknowledgement; False (and back off) without it."""
        try:
            self.client.send(f"{TAG}.{LABEL}", entries)
        except ForwardError as exc:
            self.last_error = exc
            self._failed()
            return False
        return True

    def _failed(self) -> None:
        self._down_until = time.monotonic() + self.retry_after_s
        log.warning("fluentd at %s:%s did not acknowledge (%s); spooling audit entries to %s",
                    self.host, self.port, self.last_error, self.spool)
