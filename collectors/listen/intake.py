"""From what an agent sent to an event: which parser, which host, which id.

A syslog message is routed by its program (``sshd``, ``door``, ...) and a Forward or HTTP
record by its tag, through :class:`Router`'s glob patterns; the default sends everything to
the secure-log parser, which keeps what it knows and ignores the rest. The parsers are the
file collectors' own: :func:`~socbot.collectors.secure.parse_line`,
:func:`~socbot.collectors.cloudtrail.normalize` and the door adapters.

``host.name`` is what the sender says (the syslog header, the record's ``host`` field) unless
the configuration pins the peer's address to a name: then the pinned name wins and a
different claim is kept as ``log.syslog.hostname``, so one compromised host cannot speak for
another.

Example::

    intake = Intake(Router({"door.*": "door"}), peer_names={"10.0.0.7": "bastion"})
    item = intake.from_syslog("<38>Dec  2 21:00:01 bastion sshd[7]: Failed password ...",
                              "10.0.0.7")
"""

from __future__ import annotations

import fnmatch
import json
import re
import threading
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from socbot.collectors.base import BadRecord, capped, file_key, line_id
from socbot.collectors.cloudtrail import from_eventbridge, is_eventbridge, normalize
from socbot.collectors.door.adapters import ADAPTERS, to_event
from socbot.collectors.secure import parse_line
from socbot.collectors.syslog import HeaderError, parse_header
from socbot.core.events import Event, format_timestamp

__all__ = ["DEFAULT_ROUTES", "SOURCES", "Intake", "Router"]

# What a route may name: a parser, or door:<vendor> for a vendor's payloads.
SOURCES = ("secure", "cloudtrail", "door", *(f"door:{vendor}" for vendor in ADAPTERS))
# Tags and programs, first match wins; anything else is a log line for the secure parser.
DEFAULT_ROUTES: dict[str, str] = {
    "cloudtrail": "cloudtrail", "*.cloudtrail": "cloudtrail", "cloudtrail.*": "cloudtrail",
    "door": "door", "*.door": "door", "door.*": "door",
}
_PRI = re.compile(r"<(\d{1,3})>")
# Fields agents put a raw line in: fluentd in_tail (message), fluent-bit tail (log), Vector.
_LINE_FIELDS = ("message", "log", "MESSAGE")
_HOST_FIELDS = ("host", "hostname", "_HOSTNAME")
_PROGRAM_FIELDS = ("ident", "program", "SYSLOG_IDENTIFIER")


class Router:
    """Tag or program -> source, by glob patterns tried in order (configured ones first)."""

    def __init__(self, routes: Mapping[str, str] | None = None) -> None:
        table = {**(routes or {}), **DEFAULT_ROUTES}
        for pattern, source in table.items():
            if source not in SOURCES:
                raise ValueError(f"route {pattern!r} names {source!r}; use one of "
                                 f"{', '.join(SOURCES)}")
        self.routes = list(table.items())

    def source(self, tag: str | None) -> str:
        """The source the parsers know ``tag`` as (``secure`` when no pattern matches)."""
        if tag:
            for pattern, source in self.routes:
                if fnmatch.fnmatchcase(tag, pattern):
                    return source
        return "secure"


class Intake:
    """Turns received messages and records into events or bad records (never raises)."""

    def __init__(self, router: Router | None = None, *,
                 peer_names: Mapping[str, str] | None = None, site: str | None = None,
                 local_name: str = "socbot-listen") -> None:
        self.router = router or Router()
        self.peer_names = dict(peer_names or {})
        self.site = site
        self._key = file_key(local_name, datetime.now(UTC).isoformat())
        self._seq = 0
        self._lock = threading.Lock()

    def _event_id(self, raw: str) -> str:
        with self._lock:
            self._seq += 1
            seq = self._seq
        return line_id(self._key, seq, raw)

    # -- syslog ------------------------------------------------------------------------------

    def from_syslog(self, message: str, peer: str, *, where: str = "syslog"
                    ) -> Event | BadRecord | None:
        """One syslog message (RFC 3164 or 5424, with or without ``<PRI>``)."""
        try:
            raw = message.rstrip("\r\n\x00")
            now = datetime.now(UTC)
            pri = _PRI.match(raw)
            if pri and int(pri[1]) > 191:
                raise ValueError(f"priority {pri[1]} is over 191")
            try:
                header = parse_header(raw, now)
            except HeaderError as exc:
                raise ValueError(str(exc)) from None
            if header is None:
                raise ValueError("no syslog header (RFC 3164 or RFC 5424)")
            source = self.router.source(header.program)
            if source == "secure":
                line = raw[pri.end():] if pri else raw
                event = parse_line(line, now=now, event_id=self._event_id(line))
            else:
                event = self._json_event(source, header.msg)
                if header.host:
                    event.setdefault("host.name", header.host)
            return self._pin(event, peer) if event is not None else None
        except Exception as exc:  # one record never stops a connection
            return _bad(where, peer, exc, message)

    # -- Forward and HTTP records ------------------------------------------------------------

    def from_record(self, tag: str, time: float | None, record: Any, peer: str, *,
                    where: str = "forward") -> Event | BadRecord | None:
        """One agent record with its tag and time (seconds since the epoch, or None)."""
        try:
            if not isinstance(record, dict):
                raise ValueError(f"a record is a map, not {type(record).__name__}")
            source = self.router.source(tag)
            if source == "secure":
                event = self._line_event(time, record)
            else:
                event = self._json_event(source, record)
            return self._pin(event, peer) if event is not None else None
        except Exception as exc:
            return _bad(where, peer, exc, record)

    def _line_event(self, time: float | None, record: dict[str, Any]) -> Event | None:
        line = next((record[f] for f in _LINE_FIELDS if isinstance(record.get(f), str)), None)
        if line is None:
            raise ValueError(f"no log line in the record (fields {', '.join(_LINE_FIELDS)})")
        line = line.rstrip("\r\n")
        now = datetime.now(UTC)
        program = next((record[f] for f in _PROGRAM_FIELDS if isinstance(record.get(f), str)),
                       None)
        if program is not None or _header_of(line, now) is None:
            # An agent that parsed the syslog header (fluentd's syslog input) or a bare message
            # (journald's MESSAGE): rebuild the header from the record's own fields.
            host = next((record[f] for f in _HOST_FIELDS if isinstance(record.get(f), str)),
                        None)
            if not host or " " in host:
                raise ValueError("a record without a syslog header needs a host field")
            moment = datetime.fromtimestamp(time, UTC) if time is not None else now
            pid = record.get("pid", record.get("_PID"))
            tag = f"{program}[{pid}]" if program and str(pid or "").isdigit() else program
            line = f"{format_timestamp(moment)} {host} {tag + ': ' if tag else ''}{line}"
        return parse_line(line, now=now, event_id=self._event_id(line))

    def _json_event(self, source: str, body: Any) -> Event:
        if isinstance(body, str):
            body = json.loads(body)
        if source == "cloudtrail":
            if isinstance(body, dict) and is_eventbridge(body):
                body = from_eventbridge(body)
            return normalize(body)
        vendor = source.partition(":")[2] or None
        return to_event(body, vendor, self.site)

    def _pin(self, event: Event, peer: str) -> Event:
        pinned = self.peer_names.get(peer)
        if pinned is not None:
            claimed = event.get("host.name")
            if claimed and claimed != pinned:
                event["log.syslog.hostname"] = claimed
            event["host.name"] = pinned
        elif not event.get("host.name"):
            event["host.name"] = peer
        return event


def _header_of(line: str, now: datetime) -> object | None:
    try:
        return parse_header(line, now)
    except HeaderError:
        return None


def _bad(where: str, peer: str, exc: Exception, raw: object) -> BadRecord:
    return BadRecord(path=f"{where}:{peer}", index=None,
                     error=f"{type(exc).__name__}: {exc}", raw=capped(raw))
