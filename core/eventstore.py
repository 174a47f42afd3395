"""Recent events kept in Redis for ``/soc recent`` and ``/soc search``, with indexes.

Fed by its own consumer group (``index``) on ``{soc}:events``, so indexing never slows detection.
Layout (every key a stream, so entry ids are ingest times in ms and a ``since`` bound is an id
range, not a scan):

* ``{soc}:es:all``: one entry per event, field ``e`` = a compact copy of the event (the vendor
  record ``original`` dropped, long strings cut), trimmed to the retention (``MINID``) and to
  ``max_events``;
* ``{soc}:es:ix:{kind}:{value}`` for kind ``dataset``, ``user`` (``user.name``), ``ip``
  (``source.ip``) and ``host`` (``host.name``): field ``r`` = the id of the event in
  ``{soc}:es:all``; trimmed to the retention and expiring with it when no event arrives;
  (``enrichment/history.py`` reads these streams for entity history: keep the layout). A
  stream preallocates a 4 KB node, so each distinct value costs about 4.7 KB for as long as it
  is retained: a scan bringing a new address per event costs that per event;
* ``{soc}:es:last``: per dataset, the ``@timestamp`` of the last event and when it was indexed.

A search reads the most selective index it was given newest first and filters the events on the
other conditions, scanning at most ``MAX_SCAN`` references: answers stay well under a second on
millions of stored events (``bench/bench_eventstore.py``). An event delivered twice is indexed
twice and shown once (results are deduplicated by ``event.id``).

Example::

    store = EventStore(redis_client, retention_s=72 * 3600)
    store.add({"@timestamp": "...", "event.id": "e1", "event.dataset": "secure", ...})
    store.search(ip="203.0.113.7", since_s=86400, limit=20).events
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import orjson
import redis

from socbot.core import keys
from socbot.core.edge import ip_text
from socbot.core.events import Event, loads
from socbot.core.streams import decode_fields, entries

GROUP = "index"
ALL = keys.EVENT_STORE
LAST = keys.EVENT_STORE_LAST
INDEX_FIELDS = {"dataset": "event.dataset", "user": "user.name", "ip": "source.ip",
                "host": "host.name"}
MAX_VALUE = 256  # longer values are stored but not indexed (nobody types them)
MAX_STRING = 512
MAX_SCAN = 20_000
PAGE = 500

# One call stores a batch. KEYS: all-stream, last-hash, then each index stream the batch
# names (once). ARGV[1]: JSON {min (id, retention), ret (s), ms (now in ms), now, last:
# [dataset, @timestamp of its last event in the batch, ...]}; then per event, flat (no JSON to
# decode per event): its compact JSON, the number n of its indexes, their n positions in KEYS.
# (``max_events`` is kept by the XTRIM in ``add_many``, not here.) Ids come from the caller's
# clock (so tests can move time), kept increasing; an index entry takes the id of its event, so
# every index increases too. Each stream is trimmed to the retention once per call, after its
# entries are added.
_ADD = """
local head = cjson.decode(ARGV[1])
local ms, seq = head.ms, 0
local last = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)[1]
if last then
  local lms, lseq = string.match(last[1], '(%d+)-(%d+)')
  if ms <= tonumber(lms) then ms, seq = tonumber(lms), tonumber(lseq) + 1 end
end
local prefix = string.format('%.0f-', ms)
local all, touched, stored, i = KEYS[1], {}, 0, 2
while i <= #ARGV do
  local id = prefix .. string.format('%.0f', seq)
  seq = seq + 1
  redis.call('XADD', all, id, 'e', ARGV[i])
  local n = tonumber(ARGV[i + 1])
  for j = i + 2, i + 1 + n do
    local at = tonumber(ARGV[j])
    redis.call('XADD', KEYS[at], id, 'r', id)
    touched[at] = true
  end
  i, stored = i + 2 + n, stored + 1
end
redis.call('XTRIM', all, 'MINID', '~', head.min)
for at in pairs(touched) do
  redis.call('XTRIM', KEYS[at], 'MINID', '~', head.min)
  redis.call('EXPIRE', KEYS[at], head.ret)
end
for k = 1, #head.last, 2 do
  redis.call('HSET', KEYS[2], head.last[k], head.last[k + 1], head.last[k] .. '@indexed', head.now)
end
return stored
"""


def _json(value: object) -> str:
    """Compact JSON (UTF-8, not escaped); what JSON cannot hold is written as its text."""
    return orjson.dumps(value, default=str, option=orjson.OPT_NON_STR_KEYS).decode()


def normalize(kind: str, value: object) -> str | None:
    """The form a value is indexed and searched under, or None if it cannot be indexed."""
    if value is None:
        return None
    text = str(value).strip()
    if not text or len(text) > MAX_VALUE:
        return None
    if kind == "ip":
        return ip_text(text)  # ::ffff:10.0.0.1 is searched as 10.0.0.1, as it is indexed
    if kind == "host":
        return text.lower()
    return text


_SCALARS = frozenset({int, float, bool, type(None)})  # kept as they are by compact()


def compact(event: Event) -> Event:
    """The form kept for display: no vendor record, nested values as JSON text, strings cut to
    ``MAX_STRING``. An event with none of these (a log line's) is returned itself, not copied:
    the index stage then stores the entry's own text. Never change what it returns."""
    if "original" not in event:  # the usual case first, by exact type: nothing to change?
        for value in event.values():
            kind = type(value)
            if kind is str:
                if len(value) > MAX_STRING:
                    break
            elif kind not in _SCALARS:  # a nested value, or a type the loop below decides
                break
        else:
            return event
    out: Event = {}
    for key, value in event.items():
        if key == "original":
            continue
        if isinstance(value, str) and len(value) > MAX_STRING:
            value = value[:MAX_STRING] + "…"
        elif isinstance(value, (dict, list)):
            text = _json(value)
            value = text if len(text) <= MAX_STRING else text[:MAX_STRING] + "…"
        out[key] = value
    return out


@dataclass
class SearchResult:
    """Events found, newest first; ``truncated`` when the scan bound stopped the search."""

    events: list[Event] = field(default_factory=list)
    scanned: int = 0
    truncated: bool = False


class EventStore:
    """Recent events with retention and indexes by dataset, user, IP and host."""

    def __init__(self, client: redis.Redis, *, retention_s: int = 72 * 3600,
                 max_events: int = 2_000_000, clock: Callable[[], float] = time.time) -> None:
        self.client = client
        self.retention_s = retention_s
        self.max_events = max_events
        self.clock = clock
        self._add = client.register_script(_ADD)
        self._since_trim = 0

    index_key = staticmethod(keys.event_index)

    def _min_id(self, seconds: float) -> str:
        return f"{max(int((self.clock() - seconds) * 1000), 0)}-0"

    def add_many(self, events: Iterable[Event]) -> int:
        """Store events (one script call, one round trip); return how many were stored."""
        return self._store((event, None) for event in events)

    def _store(self, items: Iterable[tuple[Event, str | None]]) -> int:
        """Store events, each with its serialized text when the caller has it (an entry's),
        which is stored as it is when :func:`compact` keeps the event whole."""
        now = self.clock()
        index_keys: dict[str, int] = {}
        flat: list[str | int] = []
        last: dict[str, str] = {}  # per dataset, the @timestamp of its last event
        stored = 0
        # Per field and text value: its index's position in KEYS (0: not indexed). A batch
        # repeats the same few values (one host, one user, one address in a storm).
        places: dict[tuple[str, str], int] = {}
        for event, text in items:
            positions = []
            for kind, name in INDEX_FIELDS.items():
                raw = event.get(name)
                place = places.get((kind, raw)) if type(raw) is str else None
                if place is None:
                    value = normalize(kind, raw)
                    place = 0 if value is None else index_keys.setdefault(
                        self.index_key(kind, value), len(index_keys) + 3)
                    if type(raw) is str:
                        places[(kind, raw)] = place
                if place:
                    positions.append(place)
            kept = compact(event)
            flat += [text if kept is event and text is not None else _json(kept),
                     len(positions), *positions]
            dataset = str(event.get("event.dataset", ""))[:MAX_VALUE]
            if dataset:
                last[dataset] = str(event.get("@timestamp", ""))
            stored += 1
        if not stored:
            return 0
        head = orjson.dumps({
            "min": self._min_id(self.retention_s), "ret": self.retention_s,
            "ms": int(now * 1000), "now": f"{now:.3f}",
            "last": [text for pair in last.items() for text in pair]})
        self._add(keys=[ALL, LAST, *index_keys], args=[head, *flat])
        self._since_trim += stored
        if self._since_trim >= 10_000:
            self._since_trim = 0
            self.client.xtrim(ALL, maxlen=self.max_events, approximate=True)
        return stored

    def add(self, event: Event) -> None:
        """Store one event."""
        self.add_many([event])

    def handle(self, entry_id: str, fields: dict[str, str]) -> None:
        """Consumer handler for ``{soc}:events`` (group ``index``), one entry."""
        self.add(loads(fields["e"]))

    def handle_batch(self, batch: list[tuple[str, dict[str, str]]]) -> dict[str, Exception]:
        """Consumer batch handler: a read's events stored in one call. An entry that cannot be
        read fails alone; if the store fails, every entry of the batch is tried again."""
        failures: dict[str, Exception] = {}
        items: list[tuple[Event, str | None]] = []
        for entry_id, fields in batch:
            try:
                text = fields["e"]
                event = loads(text)
            except Exception as exc:  # a bad entry must not hold back the batch
                failures[entry_id] = exc
                continue
            items.append((event, text))
        self._store(items)
        return failures

    # --- queries ----------------------------------------------------------------------------

    def recent(self, dataset: str | None = None, limit: int = 10) -> list[Event]:
        """The newest ``limit`` events, of one dataset or of all."""
        if dataset is None:
            rows = self.client.xrevrange(ALL, max="+", min=self._min_id(self.retention_s),
                                         count=limit)
            return _dedup(loads(fields.get("e", "{}")) for _id, fields in entries(rows))[:limit]
        return self.search(dataset=dataset, limit=limit).events

    def search(self, *, user: str | None = None, ip: str | None = None,
               host: str | None = None, dataset: str | None = None,
               since_s: float | None = None, limit: int = 20) -> SearchResult:
        """Events matching every condition given, newest first (at least one is needed)."""
        wanted = {kind: normalize(kind, value) for kind, value in
                  (("user", user), ("ip", ip), ("host", host), ("dataset", dataset))
                  if value is not None}
        if not wanted:
            raise ValueError("give at least one of user, ip, host or dataset")
        if any(value is None for value in wanted.values()):
            return SearchResult()
        conditions = {kind: str(value) for kind, value in wanted.items()}
        lengths = self._lengths(conditions)
        kind = min(lengths, key=lambda k: lengths[k])
        result = SearchResult()
        if lengths[kind] == 0:
            return result
        key = self.index_key(kind, conditions[kind])
        # Trimming is approximate (whole stream nodes); the retention is exact for readers.
        low = self._min_id(min(since_s or self.retention_s, self.retention_s))
        high = "+"
        seen: set[str] = set()
        # One condition: every reference is a hit, so read just enough; more conditions:
        # start small and double, up to PAGE.
        page = limit if len(conditions) == 1 else min(max(limit * 4, 50), PAGE)
        while len(result.events) < limit:
            refs = entries(self.client.xrevrange(key, max=high, min=low, count=page))
            if not refs:
                break
            result.scanned += len(refs)
            for event in self._fetch([fields["r"] for _id, fields in refs]):
                if all(normalize(k, event.get(INDEX_FIELDS[k])) == v
                       for k, v in conditions.items()):
                    event_id = str(event.get("event.id", ""))
                    if event_id not in seen:
                        seen.add(event_id)
                        result.events.append(event)
                        if len(result.events) >= limit:
                            break
            if len(refs) < page:
                break
            if result.scanned >= MAX_SCAN:
                result.truncated = True
                break
            high = "(" + refs[-1][0]
            page = min(page * 2, PAGE)
        return result

    def _lengths(self, conditions: dict[str, str]) -> dict[str, int]:
        pipe = self.client.pipeline(transaction=False)
        for kind, value in conditions.items():
            pipe.xlen(self.index_key(kind, value))
        return dict(zip(conditions, pipe.execute(), strict=True))

    def _fetch(self, ids: list[str]) -> list[Event]:
        pipe = self.client.pipeline(transaction=False)
        for event_id in ids:
            pipe.xrange(ALL, min=event_id, max=event_id, count=1)
        found = (entries(rows) for rows in pipe.execute())
        return [loads(rows[0][1].get("e", "{}")) for rows in found if rows]

    def last_seen(self) -> dict[str, tuple[str, float]]:
        """Per dataset: the last event's ``@timestamp`` and when it was indexed (epoch s)."""
        raw = decode_fields(self.client.hgetall(LAST))
        return {name: (stamp, float(raw.get(f"{name}@indexed", 0) or 0))
                for name, stamp in raw.items() if "@" not in name}

    def count(self) -> int:
        """How many events are stored."""
        return int(self.client.xlen(ALL))


def _dedup(events: Iterable[Event]) -> list[Event]:
    seen: set[str] = set()
    out = []
    for event in events:
        key = str(event.get("event.id", ""))
        if key not in seen:
            seen.add(key)
            out.append(event)
    return out
