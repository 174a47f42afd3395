"""From a source to the ``soc:events`` stream: the secure-log and CloudTrail collectors.

Each event is one entry ``{"e": dumps(event)}`` on :data:`core.streams.EVENTS` (trimmed to about
``maxlen`` entries). What could not be parsed goes to :data:`core.streams.DEAD_LETTERS` with the
raw text (at most 8 KiB) and the error, and every outcome is counted in the hash
``soc:stats:parse`` (``secure.parsed|ignored|failed``, ``cloudtrail.parsed|duplicates|failed``).

Delivery guarantees:

* secure: the events of a batch of lines, their dead letters, their counts and the file
  position after the batch are written in one MULTI/EXEC, so after a crash the next run
  starts exactly after the last line whose events Redis accepted. While Redis is unreachable
  the batch is retried (the position is kept in memory, nothing is skipped).
* CloudTrail: a Lua script marks ``soc:seen:ct:{eventID}`` (SET NX with a TTL) and adds the
  event in one atomic step, so at-least-once deliveries and re-runs never double an event.
  Re-running a collection after a failure is therefore safe.

Example::

    stop = threading.Event()
    stats = collect_secure(redis, "/var/log/secure", stop)           # until stop is set
    stats = collect_cloudtrail(redis, "AWSLogs/111122223333/CloudTrail/")
"""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

import redis
from redis.typing import EncodableT, FieldT

from collectors.cloudtrail import BadRecord, read_path
from collectors.secure import MAX_LINE_BYTES, ParseError, parse_line
from collectors.tail import FileTailer, PositionStore, TailLine
from core.events import Event, dumps, stable_id
from core.streams import DEAD_LETTERS, EVENTS

log = logging.getLogger(__name__)

STATS_KEY = "soc:stats:parse"
SEEN_PREFIX = "soc:seen:ct:"
EVENTS_MAXLEN = 1_000_000
DEAD_MAXLEN = 100_000

Fields = dict[FieldT, EncodableT]  # a stream entry, typed as redis-py wants it

# KEYS: seen marker, events stream, stats hash. ARGV: ttl, maxlen, serialized event.
# Marking and adding in one script: a crash between the two cannot mark an event it never added.
_DEDUP_ADD = """
redis.call('HINCRBY', KEYS[3], 'cloudtrail.parsed', 1)
if not redis.call('SET', KEYS[1], '1', 'NX', 'EX', tonumber(ARGV[1])) then
  redis.call('HINCRBY', KEYS[3], 'cloudtrail.duplicates', 1)
  return 0
end
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[2], '*', 'e', ARGV[3])
return 1
"""


@dataclass
class CollectStats:
    """What one collection did; ``sent`` counts entries Redis accepted on ``soc:events``."""

    parsed: int = 0
    ignored: int = 0
    failed: int = 0
    duplicates: int = 0
    sent: int = 0


def _cap(text: str) -> str:
    """At most MAX_LINE_BYTES of ``text``, for a dead letter (never for matching)."""
    return text.encode("utf-8", "replace")[:MAX_LINE_BYTES].decode("utf-8", "ignore")


def _execute(client: redis.Redis, build: Callable[[redis.client.Pipeline], None],
             stop: threading.Event) -> bool:
    """Run one MULTI/EXEC built by ``build``; retry while Redis is unreachable.

    Returns False if ``stop`` was set before Redis accepted it.
    """
    while True:
        try:
            pipe = client.pipeline(transaction=True)
            build(pipe)
            pipe.execute()
            return True
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            log.warning("redis unavailable, batch kept for retry: %s", exc)
            if stop.wait(1.0):
                return False


def collect_secure(client: redis.Redis, path: str | Path, stop: threading.Event, *,
                   from_start: bool = False, poll_interval: float = 0.5, batch: int = 500,
                   once: bool = False, maxlen: int = EVENTS_MAXLEN,
                   positions: PositionStore | None = None) -> CollectStats:
    """Tail ``path`` and send its events until ``stop`` is set (or, with ``once``, to its end).

    ``from_start`` reads a file never seen before from its beginning instead of its end.
    ``positions`` defaults to a :class:`PositionStore` on ``client``.
    """
    path = Path(path)
    stats = CollectStats()
    host = socket.gethostname()
    tailer = FileTailer(path, positions or PositionStore(client), from_start=from_start)
    try:
        while not stop.is_set():
            lines = tailer.read_batch(batch)
            if not lines:
                if once:
                    break
                stop.wait(poll_interval)
                continue
            events, dead, counts = _parse_batch(lines, host, path)
            build = partial(_stage_batch, tailer=tailer, events=events, dead=dead,
                            counts=counts, maxlen=maxlen)
            if not _execute(client, build, stop):
                break
            stats.parsed += counts["parsed"]
            stats.ignored += counts["ignored"]
            stats.failed += counts["failed"]
            stats.sent += len(events)
    finally:
        tailer.close()
    return stats


def _stage_batch(pipe: redis.client.Pipeline, *, tailer: FileTailer, events: list[Event],
                 dead: list[Fields], counts: dict[str, int], maxlen: int) -> None:
    """Queue one batch's events, dead letters, counts and position on ``pipe``."""
    for event in events:
        pipe.xadd(EVENTS, {"e": dumps(event)}, maxlen=maxlen, approximate=True)
    for fields in dead:
        pipe.xadd(DEAD_LETTERS, fields, maxlen=DEAD_MAXLEN, approximate=True)
    for name, value in counts.items():
        if value:
            pipe.hincrby(STATS_KEY, f"secure.{name}", value)
    tailer.stage_position(pipe)  # last: the position moves with its events


def _parse_batch(lines: list[TailLine], host: str, path: Path
                 ) -> tuple[list[Event], list[Fields], dict[str, int]]:
    now = datetime.now(UTC)
    events: list[Event] = []
    dead: list[Fields] = []
    counts = {"parsed": 0, "ignored": 0, "failed": 0}
    for item in lines:
        # The line is part of the id so that a truncated file, whose offsets start over,
        # does not reuse the id of an earlier, different line.
        event_id = stable_id(host, item.file_id, item.offset, item.line)
        try:
            event = parse_line(item.line, now=now, event_id=event_id)
        except ParseError as exc:
            counts["failed"] += 1
            dead.append({"source": "secure", "line": _cap(item.line),
                         "error": f"{type(exc).__name__}: {exc}", "path": str(path),
                         "offset": str(item.offset)})
            continue
        if event is None:
            counts["ignored"] += 1
        else:
            counts["parsed"] += 1
            events.append(event)
    return events, dead, counts


def send_cloudtrail(client: redis.Redis, items: list[Event | BadRecord], *,
                    dedup_ttl: int = 86400, maxlen: int = EVENTS_MAXLEN) -> CollectStats:
    """Send events (each eventID at most once per ``dedup_ttl``) and dead-letter bad records,
    in one round trip. Raises redis errors: nothing is known to be sent until it returns."""
    stats = CollectStats()
    script = client.register_script(_DEDUP_ADD)
    pipe = client.pipeline(transaction=False)
    goods = [item for item in items if isinstance(item, dict)]
    bads = [item for item in items if isinstance(item, BadRecord)]
    for event in goods:
        script(keys=[SEEN_PREFIX + event["event.id"], EVENTS, STATS_KEY],
               args=[dedup_ttl, maxlen, dumps(event)], client=pipe)
    for bad in bads:
        fields: Fields = {"source": "cloudtrail", "line": bad.raw, "error": bad.error,
                          "path": bad.path, "index": "" if bad.index is None else str(bad.index)}
        pipe.xadd(DEAD_LETTERS, fields, maxlen=DEAD_MAXLEN, approximate=True)
    if bads:
        pipe.hincrby(STATS_KEY, "cloudtrail.failed", len(bads))
    if not goods and not bads:
        return stats
    results = pipe.execute()
    sent = sum(int(r) for r in results[:len(goods)])
    stats.parsed, stats.sent = len(goods), sent
    stats.duplicates, stats.failed = len(goods) - sent, len(bads)
    return stats


def add_stats(total: CollectStats, more: CollectStats) -> None:
    """Add ``more`` into ``total``."""
    for name, value in vars(more).items():
        setattr(total, name, getattr(total, name) + value)


def collect_cloudtrail(client: redis.Redis, path: str | Path, *, dedup_ttl: int = 86400,
                       batch: int = 500, maxlen: int = EVENTS_MAXLEN) -> CollectStats:
    """Send the events of CloudTrail files under ``path``, each eventID at most once.

    An event whose eventID was seen within ``dedup_ttl`` seconds counts as a duplicate and is
    not sent again; bad records go to the dead-letter stream.
    """
    stats = CollectStats()
    pending: list[Event | BadRecord] = []
    for item in read_path(path):
        if isinstance(item, BadRecord):
            log.warning("%s: record %s not read: %s", item.path, item.index, item.error)
        pending.append(item)
        if len(pending) >= batch:
            add_stats(stats, send_cloudtrail(client, pending, dedup_ttl=dedup_ttl, maxlen=maxlen))
            pending.clear()
    if pending:
        add_stats(stats, send_cloudtrail(client, pending, dedup_ttl=dedup_ttl, maxlen=maxlen))
    return stats
