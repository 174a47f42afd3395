"""Syslog headers: the timestamp, host and ``program[pid]:`` tag in front of a message.

Shapes read, each optionally after a ``<PRI>``:

========================  ==================================================================
RFC 3164 (BSD)            ``Nov 23 03:12:09 host prog[1]: msg``, ``Jun 2 ...``, syslog-ng's
                          ``2015 Nov 13 ...``; journalctl ``short-precise`` adds ``.123456``
ISO 8601 / RFC 3339       rsyslog high precision ``2021-03-01T10:00:01.123456+01:00 host ...``;
                          journalctl ``short-iso`` (``+0100``); no zone means UTC
RFC 5424                  ``<34>1 2003-10-11T22:14:15.003Z host app procid msgid [sd] msg``
journalctl short-unix     ``1606099929.123456 host prog[1]: msg``
========================  ==================================================================

A journald line with no syslog prefix at all (``journalctl -o cat``) has no header; the caller
decides what to do with it (:func:`parse_header` returns None).

RFC 3164 carries no year: :func:`rfc3164_moment` picks, among next year, this year and the
years before, the latest moment that is not more than a day ahead of ``now``, so a December
line read in January is last year's and a January line read on 31 December (a clock a little
ahead) is next year's.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import NamedTuple

from socbot.core import edge
from socbot.core.events import format_timestamp

__all__ = ["Header", "HeaderError", "parse_header"]


class HeaderError(ValueError):
    """A syslog-shaped line whose timestamp is not a valid moment."""


MONTHS = {m: i for i, m in enumerate(
    ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), 1)}

_PRI = r"(?:<\d{1,3}>)?"
# "sshd[123]: msg", "sudo: msg", "su(pam_unix)[23164]: msg" (old PAM style); optional, so a
# line with no tag ("-- MARK --") still reads as syslog.
_TAG_PART = (r"(?:(?P<prog>[^ \[\]():]+)(?:\((?P<sub>[^ ()]*)\))?(?:\[(?P<pid>\d+)\])?: ?)?"
             r"(?P<msg>.*)")
_RFC3164 = re.compile(
    _PRI + r"(?:(?P<year>\d{4}) )?(?P<mon>[A-Z][a-z]{2}) {1,2}(?P<day>\d{1,2}) "
    r"(?P<h>[01]\d|2[0-3]):(?P<m>[0-5]\d):(?P<s>[0-5]\d)(?:\.(?P<frac>\d{1,9}))? (?P<host>[^ ]+) "
    + _TAG_PART
)
_RFC3339 = re.compile(
    _PRI + r"(?P<date>\d{4}-\d{2}-\d{2})[T ](?P<time>\d{2}:\d{2}:\d{2})(?:[.,](?P<frac>\d{1,9}))?"
    r"(?P<zone>Z|[+-]\d{2}:?\d{2})? (?P<host>[^ ]+) (?P<rest>.*)"
)
# RFC 5424: "-" or one or more [id param="value" ...] elements; a value escapes \" \\ \].
_RFC5424 = re.compile(
    r"(?:<\d{1,3}>)?1 (?P<stamp>[^ ]+) (?P<host>[^ ]+) (?P<app>[^ ]+) (?P<procid>[^ ]+) "
    r"(?P<msgid>[^ ]+) (?P<sd>-|(?:\[[^\]\" ]+(?: [^= \]\"]+=\"(?:[^\"\\]|\\.)*\")*\])+)"
    r"(?: \ufeff?(?P<msg>.*))?"
)
_UNIX = re.compile(r"(?P<epoch>\d{9,11})(?:\.(?P<frac>\d{1,9}))? (?P<host>[^ ]+) (?P<rest>.*)")
_ISO_STAMP = re.compile(
    r"(?P<date>\d{4}-\d{2}-\d{2})T(?P<time>\d{2}:\d{2}:\d{2})(?:\.(?P<frac>\d{1,9}))?"
    r"(?P<zone>Z|[+-]\d{2}:\d{2})")
# "sshd[123]: msg", "sudo: msg", "su(pam_unix)[23164]: msg" (old PAM style).
_TAG = re.compile(
    r"(?P<prog>[^ \[\]():]+)(?:\((?P<sub>[^ ()]*)\))?(?:\[(?P<pid>\d+)\])?: ?(?P<msg>.*)")


class Header(NamedTuple):
    """What the syslog header says: when (as ``@timestamp``), where, which program (None if
    the line has no tag) and its pid, and the message text."""

    timestamp: str
    host: str
    program: str | None
    pid: int | None
    msg: str


def rfc3164_moment(year: str | None, mon: str, day: str, h: str, m: str, s: str,
                   now: datetime) -> datetime:
    """The moment of an RFC 3164 timestamp; the year is inferred from ``now`` when absent."""
    month = MONTHS.get(mon)
    if month is None:
        raise HeaderError(f"unknown month {mon!r}")
    years = [int(year)] if year else [now.year + 1, now.year, now.year - 1, now.year - 2,
                                      now.year - 3, now.year - 4]
    limit = now + timedelta(days=1)
    for candidate in years:
        try:
            moment = datetime(candidate, month, int(day), int(h), int(m), int(s), tzinfo=UTC)
        except ValueError:
            continue  # Feb 29 outside a leap year, or a bad day/time: try the year before
        if year or moment <= limit:
            return moment
    raise HeaderError("timestamp is not a valid date")


def _with_fraction(moment: datetime, frac: str | None) -> datetime:
    if not frac:
        return moment
    return moment.replace(microsecond=int(frac[:6].ljust(6, "0")))


def _iso_moment(date: str, time: str, frac: str | None, zone: str | None) -> datetime:
    text = f"{date}T{time}"
    if frac:
        text += "." + frac[:6].ljust(6, "0")
    if zone and zone != "Z":
        text += zone if ":" in zone else f"{zone[:3]}:{zone[3:]}"
    try:
        moment = datetime.fromisoformat(text)
        # In UTC here: 9999-12-31T23:59:59-05:00 is past the largest datetime in UTC.
        return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)
    except (ValueError, OverflowError) as exc:
        raise HeaderError(f"bad timestamp: {exc}") from None


def _in_range(moment: datetime) -> str:
    """The ``@timestamp`` of a header time that carries its year (ISO 8601, RFC 5424, epoch):
    HeaderError for one before 1970 or more than a day ahead (:func:`core.edge.check_time`),
    which would sit at the head of every detection window."""
    stamp = format_timestamp(moment)
    try:
        edge.check_time(stamp)
    except edge.EdgeError as exc:
        raise HeaderError(str(exc)) from None
    return stamp


def _split_tag(host: str, moment: datetime, rest: str) -> Header:
    stamp = _in_range(moment)
    tag = _TAG.fullmatch(rest)
    if not tag:
        return Header(stamp, host, None, None, rest)  # "-- MARK --" and the like
    pid = tag["pid"]
    return Header(stamp, host, tag["prog"], int(pid) if pid else None, tag["msg"])


class HeaderCache:
    """Memoizes the date of RFC 3164 timestamps for one ``now``: only the time of day varies
    from line to line, so a line costs a string join rather than a datetime and a strftime."""

    def __init__(self) -> None:
        self.now: datetime | None = None
        self.dates: dict[tuple[str | None, str, str], str | None] = {}

    def header(self, m: re.Match[str], now: datetime) -> Header:
        """The header of the RFC 3164 line ``m`` read at ``now``."""
        if now != self.now or len(self.dates) > 4096:
            self.now, self.dates = now, {}
        # Positional: the groups of _RFC3164 in order (faster than looking up names).
        year, mon, day, h, mi, sec, frac, host, prog, _sub, pid, msg = m.groups()
        if host.endswith(":"):
            # No host name at all ("Nov 23 21:50:37 sshd[8148]: msg"): the tag is where the
            # host would be (a host name never ends with a colon).
            tag = _TAG.fullmatch(m.string, m.start(8))
            if tag is not None:
                host, prog, pid, msg = "", tag["prog"], tag["pid"], tag["msg"]
        key = (year, mon, day)
        date = self.dates.get(key, "")
        if date == "":
            # The year is the same all day long unless the day straddles now + 1 day.
            first = rfc3164_moment(year, mon, day, "00", "00", "00", now)
            last = rfc3164_moment(year, mon, day, "23", "59", "59", now)
            date = self.dates[key] = (first.strftime("%Y-%m-%d") if first.year == last.year
                                      else None)
        if date is None or frac:
            moment = rfc3164_moment(year, mon, day, h, mi, sec, now)
            stamp = format_timestamp(_with_fraction(moment, frac))
        else:
            stamp = f"{date}T{h}:{mi}:{sec}Z"
        return Header(stamp, host, prog, int(pid) if pid else None, msg)


_CACHE = HeaderCache()


def parse_header(raw: str, now: datetime) -> Header | None:
    """The header of ``raw``, or None if the line does not start with one we know.

    Raises :class:`HeaderError` for a header whose timestamp is not a valid moment.
    """
    first = raw[:1]
    if first.isalpha() or (first.isdigit() and raw[4:5] == " "):
        m = _RFC3164.fullmatch(raw)
        if m:
            return _CACHE.header(m, now)
    if first == "<" or first.isdigit():
        m = _RFC3164.fullmatch(raw) if first == "<" else None
        if m:
            return _CACHE.header(m, now)
        m = _RFC5424.fullmatch(raw)
        if m:
            return _rfc5424(m)
        m = _RFC3339.fullmatch(raw)
        if m:
            return _split_tag(m["host"], _iso_moment(m["date"], m["time"], m["frac"], m["zone"]),
                              m["rest"])
        m = _UNIX.fullmatch(raw)
        if m:
            try:
                moment = datetime.fromtimestamp(int(m["epoch"]), UTC)
            except (OverflowError, OSError, ValueError):
                raise HeaderError("epoch timestamp out of range") from None
            return _split_tag(m["host"], _with_fraction(moment, m["frac"]), m["rest"])
    return None


def _rfc5424(m: re.Match[str]) -> Header:
    stamp = _ISO_STAMP.fullmatch(m["stamp"])
    if not stamp:
        raise HeaderError(f"RFC 5424 timestamp {m['stamp']!r} is not RFC 3339")
    moment = _iso_moment(stamp["date"], stamp["time"], stamp["frac"], stamp["zone"])
    app = None if m["app"] == "-" else m["app"]
    procid = m["procid"]
    # isascii: "²³".isdigit() is True, and int() refuses it.
    pid = int(procid) if procid.isascii() and procid.isdigit() and len(procid) < 10 else None
    host = "" if m["host"] == "-" else m["host"]
    # rsyslog's RFC 5424 templates put the 3164 MSG, space first, after the SP that ends SD.
    return Header(_in_range(moment), host, app, pid, (m["msg"] or "").lstrip(" "))
