"""Parse ``/var/log/secure`` and ``auth.log`` lines into events: sshd
(:mod:`~collectors.secure_sshd`), dropbear (:mod:`~collectors.secure_dropbear`), PAM of any
program (:mod:`~collectors.secure_pam`), sudo, su and shadow-utils
(:mod:`~collectors.secure_local`); each module lists its ``event.action`` values.

Headers (RFC 3164, RFC 5424, ISO 8601, journald's output formats) are read by
:mod:`collectors.syslog`. A line with no header is refused (:class:`ParseError`, so the caller
counts and dead-letters it): in a syslog file it is the text after a raw newline that some
writer did not escape, and reading it as sshd would let anyone who can write that text name
any address. Only input declared header-less (``journalctl -o cat``, ``headerless=True``) is
read without one, stamped with the read time and tagged ``timestamp_missing``.

``message repeated N times: [ <message>]`` (rsyslog's reduction of repeats) is read as the
message inside, with ``system.auth.count`` = N; PAM's ``N more authentication failures`` sets
it too.

Field names follow Filebeat's ``system/auth`` module where it has them (``system.auth.ssh.*``,
``system.auth.sudo.*``) and ECS otherwise. Messages are dispatched on the program and, for
sshd, on the message's first word, so a line costs one dict lookup and usually one anchored
match.

Hostile input (see SECURITY.md). Usernames, version strings, auth-info, sudo working
directories and commands are attacker text that may contain spaces and `` from 1.2.3.4``.
Every pattern is anchored at both ends (``re.fullmatch``; ``$`` would also accept a trailing
newline), and free text is placed so that the daemon's own fixed text is matched where the
daemon put it. Where a line has free text on both sides of the address and the split is
ambiguous, the fields that depend on the split are left out and the event is tagged
``ambiguous_fields``: parsers never guess. Lines longer than :data:`MAX_LINE_BYTES` are refused
with :class:`LineTooLong` before any pattern runs; no pattern nests quantifiers, and the tests
time the worst lines we know of.

Exceptions::

    ValueError
     └── ParseError        not a syslog line this parser can read
          └── LineTooLong  over MAX_LINE_BYTES: set aside, never matched, never truncated

Example::

    >>> event = parse_line("Feb 21 21:56:12 bastion sshd[3430]: Invalid user test from 10.0.2.2")
    >>> event["event.action"], event["source.ip"], event["user.name"]
    ('ssh_invalid_user', '10.0.2.2', 'test')
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from socbot.collectors.secure_common import Fields, MessageRule
from socbot.collectors.secure_dropbear import DROPBEAR_RULES, strip_stamp
from socbot.collectors.secure_local import BY_PROGRAM
from socbot.collectors.secure_pam import FAILURE_WORDS, PAM_RULES
from socbot.collectors.secure_sshd import SSHD_BY_WORD, strip_prefix
from socbot.collectors.syslog import Header, HeaderError, parse_header
from socbot.core.events import Event, format_timestamp, stable_id

MAX_LINE_BYTES = 8192

__all__ = ["MAX_LINE_BYTES", "LineTooLong", "ParseError", "classify_line", "message_fields",
           "parse_line", "parse_message"]


class ParseError(ValueError):
    """The line is not a syslog line this parser can read."""


class LineTooLong(ParseError):
    """The line is over :data:`MAX_LINE_BYTES`; it is set aside, never matched or truncated."""


# Solaris prefixes messages with a message id: "[ID 800047 auth.notice] Failed none for ...".
_SOLARIS_ID = re.compile(r"\[ID \d+ [a-z0-9]+\.[a-z]+\] ")
_REPEATED = re.compile(r"message repeated (?P<n>\d{1,9}) times: \[ ?(?P<msg>.*)\]")

_SSHD = frozenset({"sshd", "sshd-session", "sshd-auth"})
_PAM_PROGRAMS = {name: (*PAM_RULES, *rules) for name, rules in BY_PROGRAM.items()}
_SSHD_RULES = tuple(dict.fromkeys(r for rules in SSHD_BY_WORD.values() for r in rules))
# Declared header-less input (journalctl -o cat) names no program: every pattern may apply.
_ALL_RULES = tuple(dict.fromkeys(
    (*_SSHD_RULES, *PAM_RULES, *DROPBEAR_RULES,
     *(r for rules in BY_PROGRAM.values() for r in rules))))


def parse_line(line: str, *, now: datetime | None = None, event_id: str | None = None,
               headerless: bool = False) -> Event | None:
    """Parse one syslog line into an event, or None if its message is of no interest.

    ``now`` gives the year to year-less timestamps (default: the current UTC time).
    ``headerless`` declares input whose lines carry no syslog header (``journalctl -o cat``):
    such a line is read if its message is one we know, at the time ``now``, and tagged
    ``timestamp_missing``. Without it a line with no header raises :class:`ParseError`.
    ``event_id`` becomes ``event.id`` (the tailer passes a hash of host, file and offset);
    without it the id is a hash of host, timestamp and line. Raises :class:`LineTooLong` for
    a line over :data:`MAX_LINE_BYTES` and :class:`ParseError` for a line that is not syslog.
    """
    raw = line.removesuffix("\n").removesuffix("\r")
    found = _find(raw, now, headerless)
    if found is None:
        return None
    header, fields = found
    if header is None:
        return _without_header(raw, now or datetime.now(UTC), event_id, fields)
    timestamp, host, program, pid, _msg = header
    event: Event = {
        "@timestamp": timestamp,
        "event.id": event_id or stable_id(host, timestamp, raw),
        "event.dataset": "secure",
        "host.name": host,
        "process.name": program,
    }
    if pid is not None:
        event["process.pid"] = pid
    event.update(fields)
    event["message"] = raw
    return event


def parse_message(msg: str, *, program: str, timestamp: str, host: str, pid: int | None,
                  event_id: str) -> Event | None:
    """Parse one message whose header fields come from elsewhere (journald's
    ``SYSLOG_IDENTIFIER``, ``__REALTIME_TIMESTAMP``, ``_HOSTNAME``, ``_PID``) into an event,
    or None if it is of no interest. Raises :class:`LineTooLong` for a message over
    :data:`MAX_LINE_BYTES`."""
    _check_length(msg)
    fields = message_fields(program, msg)
    if fields is None:
        return None
    event: Event = {"@timestamp": timestamp, "event.id": event_id, "event.dataset": "secure",
                    "host.name": host, "process.name": program}
    if pid is not None:
        event["process.pid"] = pid
    event.update(fields)
    event["message"] = msg
    return event


def _check_length(raw: str) -> None:
    # Checked before any regex runs: long lines are where matching cost hides. A str holds
    # at most 4 bytes a character, so only lines near the bound need encoding to count.
    if len(raw) > MAX_LINE_BYTES or (len(raw) * 4 > MAX_LINE_BYTES and not raw.isascii()
                                     and len(raw.encode("utf-8", "surrogatepass"))
                                     > MAX_LINE_BYTES):
        raise LineTooLong(f"line is over {MAX_LINE_BYTES} bytes")


def classify_line(line: str, now: datetime, *, headerless: bool = False
                  ) -> tuple[str, str, bool] | None:
    """``(event.action, event.outcome, ambiguous)`` of the event :func:`parse_line` would
    make, or None; the same checks and exceptions, without building the event (for
    ``--summary``). ``ambiguous``: the line read two ways and its address was left out."""
    found = _find(line.removesuffix("\n").removesuffix("\r"), now, headerless)
    if found is None:
        return None
    fields = found[1]
    return (fields["event.action"], fields["event.outcome"],  # type: ignore[return-value]
            "tags" in fields)


def _find(raw: str, now: datetime | None, headerless: bool
          ) -> tuple[Header | None, Fields] | None:
    """The header and fields of a line; None if it is of no interest."""
    if len(raw) * 4 > MAX_LINE_BYTES:
        _check_length(raw)
    now = now or datetime.now(UTC)
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    try:
        header = parse_header(raw, now)
    except HeaderError as exc:
        raise ParseError(str(exc)) from None
    if header is None:
        if not headerless:
            raise ParseError("no syslog header (timestamp, host, program) at the start; "
                             "a line of a syslog file without one is not read")
        fields = _first(_ALL_RULES, strip_prefix(raw))
        if fields is None:
            raise ParseError("not a message this parser knows, in header-less input")
        return None, fields
    program = header.program
    if program is None:
        return None  # syslog-shaped, but no "program:" tag ("-- MARK --" and the like)
    fields = message_fields(program, header.msg)
    return None if fields is None else (header, fields)


def message_fields(program: str, msg: str) -> Fields | None:
    """The event fields of one message of ``program`` (a syslog tag or journald's
    ``SYSLOG_IDENTIFIER``), or None if it is of no interest."""
    first = msg[:1]
    if first == "m" and msg.startswith("message repeated "):
        repeated = _REPEATED.fullmatch(msg)
        if repeated is not None:
            fields = message_fields(program, repeated["msg"])
            if fields is not None:
                fields["system.auth.count"] = int(repeated["n"]) * int(
                    fields.get("system.auth.count", 1))  # type: ignore[call-overload]
            return fields
    if first == "[" and msg.startswith("[ID "):
        solaris = _SOLARIS_ID.match(msg)
        if solaris:
            msg = msg[solaris.end():]
    if program in _SSHD:
        if first in "efP":
            msg = strip_prefix(msg)
        rules = SSHD_BY_WORD.get(msg.partition(" ")[0])
        if rules is None:
            rules = PAM_RULES if _pam_words(msg) else ()
    elif program == "dropbear":
        msg = strip_stamp(msg)
        rules = DROPBEAR_RULES
    else:
        rules = (_PAM_PROGRAMS.get(program, PAM_RULES) if _pam_words(msg)
                 else BY_PROGRAM.get(program, ()))
    for rule in rules:  # _first, inlined: this is the hot path of --summary
        match = rule.pattern.fullmatch(msg)
        if match is not None:
            return rule.build(match)
    return None


def _pam_words(msg: str) -> bool:
    """Whether one of the PAM patterns may match (a substring test before any regex)."""
    return (FAILURE_WORDS in msg or "check pass;" in msg
            or "Consecutive login failures" in msg)


def _first(rules: tuple[MessageRule, ...], msg: str) -> Fields | None:
    for rule in rules:
        match = rule.pattern.fullmatch(msg)
        if match is not None:
            return rule.build(match)
    return None


def _without_header(raw: str, now: datetime, event_id: str | None, fields: Fields) -> Event:
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    timestamp = format_timestamp(now)
    event: Event = {"@timestamp": timestamp,
                    "event.id": event_id or stable_id("", timestamp, raw),
                    "event.dataset": "secure"}
    event.update(fields)
    event["tags"] = [*event.get("tags", ()), "timestamp_missing"]
    event["message"] = raw
    return event
