"""The systemd journal: auth messages from ``journalctl -o json``, live or from exported files.

On most current distributions sshd, sudo and PAM write to the journal first (and to
``/var/log/secure`` only if rsyslog forwards them). Each journal entry is one JSON object;
the parser of :mod:`collectors.secure` reads its ``MESSAGE`` with the header fields journald
keeps beside it:

========================  ==========================================================
``__REALTIME_TIMESTAMP``  ``@timestamp`` (microseconds since the epoch, UTC)
``_HOSTNAME``             ``host.name``
``SYSLOG_IDENTIFIER``     ``process.name`` (``_COMM`` when there is none)
``_PID``                  ``process.pid`` (journald's own, ``SYSLOG_PID`` otherwise)
``__CURSOR``              ``event.id`` (a hash of it) and the collector's position
========================  ==========================================================

``SYSLOG_IDENTIFIER`` is whatever the writer says (``logger -t sshd`` claims to be sshd);
``_COMM`` is journald's own record of the process. An entry that names a daemon whose lines
carry addresses (sshd, dropbear) but comes from another process is read as that process's
message, so a local user cannot forge sshd's lines through the journal. ``MESSAGE`` given as
an array of bytes (journald's form for text that is not UTF-8) is decoded with replacement.

:func:`collect_journald` runs ``journalctl -o json --follow`` (an argument list, never a
shell) and commits each batch of events with the cursor of its last entry in one
transaction (:class:`~collectors.sink.EventSink`), so a restart resumes with
``--after-cursor``: nothing lost, nothing repeated. Until the first entry arrives nothing is
saved, so a collector stopped before then starts from the journal's end again.
:func:`read_path` reads exported ``journalctl -o json`` files for ``socbot parse`` and
``socbot replay``.

Example::

    stats = collect_journald(redis, threading.Event(), once=True)   # to the journal's end
"""

from __future__ import annotations

import json
import logging
import queue
import subprocess
import threading
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import redis

from socbot.collectors.base import BadRecord, capped, encode_event, files_under
from socbot.collectors.pipeline import CollectStats, Sender, keep_event
from socbot.collectors.secure import ParseError, parse_message
from socbot.collectors.secure_connections import Connections
from socbot.collectors.sink import EVENTS_MAXLEN, Batch, EventSink
from socbot.collectors.spool import Spool
from socbot.core import keys
from socbot.core.events import Event, format_timestamp, stable_id

__all__ = ["DEFAULT_MATCHES", "collect_journald", "journalctl_command", "read_path",
           "record_event"]

log = logging.getLogger(__name__)

# Facilities auth (4) and authpriv (10): what /var/log/secure and auth.log hold.
DEFAULT_MATCHES = ("SYSLOG_FACILITY=4", "SYSLOG_FACILITY=10")
_DAEMONS = frozenset({"sshd", "sshd-session", "sshd-auth", "dropbear"})
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _text(value: object) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(b, int) and 0 <= b < 256 for b in value):
        return bytes(value).decode("utf-8", "replace")
    return None


def record_event(record: object) -> Event | None:
    """The event of one journal entry, or None if its message is of no interest.

    Raises :class:`~collectors.secure.ParseError` for an entry that is not a journal record
    (no ``__REALTIME_TIMESTAMP``) and :class:`~collectors.secure.LineTooLong` for a message
    over the parser's bound.
    """
    if not isinstance(record, Mapping):
        raise ParseError("a journal entry is a JSON object")
    msg = _text(record.get("MESSAGE"))
    if msg is None:
        return None
    stamp = str(record.get("__REALTIME_TIMESTAMP", ""))
    if not (stamp.isascii() and stamp.isdigit()) or len(stamp) > 17:
        raise ParseError("journal entry without a valid __REALTIME_TIMESTAMP")
    timestamp = format_timestamp(_EPOCH + timedelta(microseconds=int(stamp)))
    comm = _text(record.get("_COMM"))
    program = _text(record.get("SYSLOG_IDENTIFIER")) or comm or ""
    if program in _DAEMONS and comm and comm not in _DAEMONS:
        program = comm  # "logger -t sshd": the message is the logger's, not sshd's
    pid_text = _text(record.get("_PID")) or _text(record.get("SYSLOG_PID")) or ""
    pid = int(pid_text) if pid_text.isascii() and pid_text.isdigit() and len(pid_text) < 10 \
        else None
    host = _text(record.get("_HOSTNAME")) or ""
    cursor = _text(record.get("__CURSOR"))
    event_id = stable_id("journald", cursor) if cursor else stable_id(host, timestamp, msg)
    return parse_message(msg, program=program, timestamp=timestamp, host=host, pid=pid,
                         event_id=event_id)


def _entries(path: Path) -> Iterator[tuple[int, object | ParseError]]:
    """``(index, record or the error)`` of each entry of a ``journalctl -o json`` file (one
    object per line; a JSON array is read too)."""
    with path.open("rb") as handle:
        head = handle.read(64).lstrip()
        handle.seek(0)
        if head.startswith(b"["):
            try:
                records = json.load(handle)
            except (ValueError, RecursionError) as exc:
                yield 0, ParseError(f"not a JSON array of journal entries: {exc}")
                return
            yield from enumerate(records if isinstance(records, list) else [records])
            return
        for index, raw in enumerate(handle):
            if not raw.strip():
                continue
            try:
                yield index, json.loads(raw)
            except (ValueError, RecursionError) as exc:
                yield index, ParseError(f"not JSON: {exc}")


def read_path(path: Path) -> Iterator[Event | BadRecord | None]:
    """Events of exported journal files (``journalctl -o json > FILE``) or a directory of
    them, with the per-process correlation of :class:`Connections`."""
    connections = Connections()
    for file in files_under(path):
        for index, record in _entries(file):
            try:
                if isinstance(record, ParseError):
                    raise record
                event = record_event(record)
            except ParseError as exc:
                yield BadRecord(str(file), index, f"{type(exc).__name__}: {exc}",
                                capped(record) if not isinstance(record, ParseError) else "")
                continue
            yield None if event is None else connections.apply(event)


def journalctl_command(*, cursor: str | None, from_start: bool, follow: bool,
                       matches: Sequence[str] = DEFAULT_MATCHES,
                       executable: str = "journalctl") -> list[str]:
    """The argument list that reads the journal after ``cursor`` (else from its start or its
    end) with ``matches`` (``FIELD=VALUE``; the same field given twice means either)."""
    argv = [executable, "--output=json", "--no-pager"]
    if follow:
        argv.append("--follow")
    if cursor:
        argv.append(f"--after-cursor={cursor}")
    else:
        argv.append("--lines=all" if from_start else "--lines=0")
    for match in matches:
        field, sep, _value = match.partition("=")
        if not sep or not field or not field.replace("_", "").isalnum() or not field.isupper():
            raise ValueError(f"journal match {match!r}: write FIELD=VALUE with an upper-case "
                             "field name, such as SYSLOG_IDENTIFIER=sshd")
        argv.append(match)
    return argv


def _parse_batch(lines: list[bytes], connections: Connections
                 ) -> tuple[list[Event], list[dict[str, str]], dict[str, int], str | None]:
    events: list[Event] = []
    dead: list[dict[str, str]] = []
    counts = {"parsed": 0, "ignored": 0, "failed": 0}
    cursor: str | None = None
    for raw in lines:
        text = raw.decode("utf-8", "replace")
        try:
            record: Any = json.loads(text)
            if isinstance(record, dict) and isinstance(record.get("__CURSOR"), str):
                cursor = record["__CURSOR"]
            event = record_event(record)
        except (ValueError, RecursionError) as exc:  # ParseError is a ValueError
            counts["failed"] += 1
            dead.append({"source": "journald", "line": capped(text),
                         "error": f"{type(exc).__name__}: {exc}", "path": "journalctl",
                         "offset": cursor or ""})
            continue
        keep_event(event, counts, events, connections)
    return events, dead, counts, cursor


def _saved_cursor(client: redis.Redis, sink: EventSink, key: str) -> str | None:
    spooled = sink.last_spooled_position()
    if spooled is not None:
        return spooled[0]
    value = client.hget(key, "file_id")
    if value is None:
        return None
    return value.decode() if isinstance(value, bytes) else str(value)


def collect_journald(client: redis.Redis, stop: threading.Event, *, name: str = "journal",
                     from_start: bool = False, once: bool = False,
                     matches: Sequence[str] = DEFAULT_MATCHES, poll_interval: float = 0.5,
                     batch: int = 500, maxlen: int = EVENTS_MAXLEN,
                     spool: Spool | None = None, executable: str = "journalctl"
                     ) -> CollectStats:
    """Follow the journal (``once``: read to its end and stop) and send its events until
    ``stop`` is set. ``name`` keys the saved cursor (one per collector); without a saved
    cursor the journal is read from its end, or from its start with ``from_start``. Raises
    :class:`OSError` when ``executable`` cannot be run and :class:`RuntimeError` when it
    fails."""
    stats = CollectStats()
    sink = EventSink(client, f"journald:{name}", spool, maxlen=maxlen)
    position_key = keys.TAIL_POSITION_PREFIX + "journald:" + name
    argv = journalctl_command(cursor=_saved_cursor(client, sink, position_key),
                              from_start=from_start, follow=not once, matches=matches,
                              executable=executable)
    process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE)
    assert process.stdout is not None
    lines: queue.Queue[bytes | None] = queue.Queue(maxsize=batch * 4)

    def pump() -> None:
        assert process.stdout is not None
        for raw in process.stdout:
            lines.put(raw)
        lines.put(None)

    threading.Thread(target=pump, name="journalctl-reader", daemon=True).start()
    sender = Sender(sink, stop, stats)
    connections = Connections()
    ended = False
    try:
        while not stop.is_set() and not ended:
            try:
                first = lines.get(timeout=poll_interval)
            except queue.Empty:
                if spool is not None and spool:
                    sink.drain()
                continue
            taken: list[bytes] = []
            item = first
            while item is not None:
                taken.append(item)
                if len(taken) >= batch:
                    break
                try:
                    item = lines.get_nowait()
                except queue.Empty:
                    break
            ended = item is None
            if not taken:
                continue
            events, dead, counts, cursor = _parse_batch(taken, connections)
            work = Batch(events=[encode_event(e) for e in events], dead=dead,
                         counts={f"journald.{k}": v for k, v in counts.items()},
                         position_key=position_key if cursor else "",
                         position=(cursor, 0) if cursor else None)
            if not sender.put(work, counts):
                break
    finally:
        if not ended and process.poll() is None:
            process.terminate()  # stopped: journalctl would follow for ever
        try:
            process.wait(10)     # at the end of its output it is exiting by itself
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        try:
            sender.close()
        finally:
            sink.close()
    if ended and process.returncode not in (0, None) and not stop.is_set():
        raise RuntimeError(f"{argv[0]} exited with status {process.returncode}")
    return stats
