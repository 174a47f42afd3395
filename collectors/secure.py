"""Parse ``/var/log/secure`` and ``auth.log`` lines (sshd, sudo, su, PAM) into events.

Field names follow Filebeat's ``system/auth`` module where it has them (``system.auth.ssh.*``,
``system.auth.sudo.*``) and ECS otherwise. ``event.action`` values (sshd unless noted; U user,
A address, P port, R target user, T tty):

``ssh_login`` failure
    ``Failed <method> for [invalid user ]U from A port P ssh2``
``ssh_login`` success
    ``Accepted <method> for U from A port P ssh2[: <key>]``
``ssh_invalid_user`` failure
    ``Invalid user U from A [port P]``
``ssh_connection_closed`` failure
    ``Connection closed by invalid|authenticating user U A port P [preauth]``
``ssh_disconnected`` failure
    ``Disconnected from invalid|authenticating user U A port P [preauth]``
``ssh_logout`` success
    ``Disconnected from user U A port P``
``ssh_max_auth_attempts`` failure
    ``error: maximum authentication attempts exceeded for U from A port P ssh2 [preauth]``
``ssh_bad_protocol_version`` failure
    ``Bad protocol version identification 'V' from A [port P]``
``ssh_no_identification`` failure
    ``Did not receive identification string from A [port P]``
``pam_auth_failure`` failure (any program)
    ``[pam_unix(S:auth): ][N more ]authentication failure[s]; ... rhost=A  user=U``
``sudo`` success / failure (sudo)
    ``U : [user NOT in sudoers ; |N incorrect password attempts ; ]TTY=T ; PWD=D ; USER=R ;
    COMMAND=C``
``su`` success / failure (su)
    ``[FAILED SU ](to R) U on T``, ``[BAD SU ]U to R on T``, ``Successful|FAILED su for R by U``,
    ``+|- T U:R``, ``failed: T changing from U to R``

Hostile input (see SECURITY.md). Usernames, version strings, sudo working directories and
commands are attacker text that may contain spaces and `` from 1.2.3.4``. Every pattern is
anchored at both ends (``re.fullmatch``; ``$`` would also accept a trailing newline), and free
text is placed so that the daemon's own fixed trailing text (`` from <addr> port <n> ssh2``,
`` <addr> port <n> [preauth]``) is matched at the right end: a greedy free-text group followed
by the fixed suffix always takes the *last* address, the one sshd wrote. Where a line has free
text on both sides of the address (an sshd certificate's key id, a sudo PWD and COMMAND) and the
split is ambiguous, the fields that depend on the split are left out and the event is tagged
``ambiguous_fields``: parsers never guess. Lines longer than :data:`MAX_LINE_BYTES` are refused
with :class:`LineTooLong` before any pattern runs; no pattern nests quantifiers, and the tests
time the worst lines we know of (about 2 ms for 8 KiB).

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

import ipaddress
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from core.events import Event, format_timestamp, stable_id

MAX_LINE_BYTES = 8192

__all__ = ["MAX_LINE_BYTES", "LineTooLong", "ParseError", "parse_line"]


class ParseError(ValueError):
    """The line is not a syslog line this parser can read."""


class LineTooLong(ParseError):
    """The line is over :data:`MAX_LINE_BYTES`; it is set aside, never matched or truncated."""


_MONTHS = {m: i for i, m in enumerate(
    ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), 1)}

# "Nov 23 03:12:09 host rest", "Jul  7 ...", "Jun 2 ..." and syslog-ng's "2015 Nov 13 ...".
_RFC3164 = re.compile(
    r"(?:(?P<year>\d{4}) )?(?P<mon>[A-Z][a-z]{2}) {1,2}(?P<day>\d{1,2}) "
    r"(?P<h>\d{2}):(?P<m>\d{2}):(?P<s>\d{2}) (?P<host>[^ ]+) (?P<rest>.*)"
)
# rsyslog high precision: "2021-03-01T10:00:01.123456+01:00 host rest" (zone optional).
_RFC3339 = re.compile(
    r"(?P<date>\d{4}-\d{2}-\d{2})[T ](?P<time>\d{2}:\d{2}:\d{2})(?:\.(?P<frac>\d{1,9}))?"
    r"(?P<zone>Z|[+-]\d{2}:?\d{2})? (?P<host>[^ ]+) (?P<rest>.*)"
)
# "sshd[123]: msg", "sudo: msg", "su(pam_unix)[23164]: msg" (old PAM style).
_TAG = re.compile(
    r"(?P<prog>[^ \[\]():]+)(?:\((?P<sub>[^ ()]*)\))?(?:\[(?P<pid>\d+)\])?: ?(?P<msg>.*)")
# Solaris prefixes messages with a message id: "[ID 800047 auth.notice] Failed none for ...".
_SOLARIS_ID = re.compile(r"\[ID \d+ [a-z0-9]+\.[a-z]+\] ")

_SSHD = frozenset({"sshd", "sshd-session", "sshd-auth"})

# sshd's own trailing text; every free-text group before it is greedy so the suffix is the last.
_SSH2_TAIL = (
    r" from (?P<addr>[^ ]+) port (?P<port>\d+) ssh2"
    # key info: "RSA SHA256:..." or a certificate "... ID <key id> (serial N) CA <type> <fp>";
    # the key id is attacker text too, hence the ambiguity check in _ssh_login. sshd formats
    # a log message into 1024 bytes, so a key id is shorter; the bound keeps a line full of
    # near-miss " from " candidates from costing a scan to the end of the line per candidate.
    r"(?:: (?P<key>[^ ]+ [^ ]+)"
    r"(?: ID (?P<key_id>[^()]{0,1024}+)(?<= )\(serial \d+\) CA [^ ]+ [^ ]+)?)?"
    r"(?: \[preauth\])?"
)
_PATTERNS: dict[str, re.Pattern[str]] = {
    "ssh_login": re.compile(
        r"(?P<verb>Failed|Accepted) (?P<method>[^ ]+) for (?P<invalid>invalid user )?"
        r"(?P<user>.*)" + _SSH2_TAIL),
    "ssh_invalid_user": re.compile(
        r"Invalid user (?P<user>.*) from (?P<addr>[^ ]+)(?: port (?P<port>\d+))?(?: \[preauth\])?"),
    "ssh_connection_closed": re.compile(
        r"Connection closed by (?P<kind>invalid|authenticating) user (?P<user>.*)"
        r" (?P<addr>[^ ]+) port (?P<port>\d+)(?: \[preauth\])?"),
    "ssh_disconnected": re.compile(
        r"Disconnected from (?:(?P<kind>invalid|authenticating) )?user (?P<user>.*)"
        r" (?P<addr>[^ ]+) port (?P<port>\d+)(?: \[preauth\])?"),
    "ssh_max_auth_attempts": re.compile(
        r"(?:error: )?maximum authentication attempts exceeded for (?P<invalid>invalid user )?"
        r"(?P<user>.*) from (?P<addr>[^ ]+) port (?P<port>\d+) ssh2(?: \[preauth\])?"),
    "ssh_bad_protocol_version": re.compile(
        r"Bad protocol version identification '(?P<version>.*)' from (?P<addr>[^ ]+)"
        r"(?: port (?P<port>\d+))?"),
    "ssh_no_identification": re.compile(
        r"Did not receive identification string from (?P<addr>[^ ]+)(?: port (?P<port>\d+))?"),
    # pam_unix writes: "authentication failure; logname=%s uid=%d euid=%d tty=%s ruser=%s
    # rhost=%s" and then "  user=%s" when it knows the user: the one free field comes last.
    "pam_auth_failure": re.compile(
        r"(?:pam_unix\((?P<service>[^ ():]+):auth\): )?(?:(?P<more>\d+) more )?"
        r"authentication failures?; logname=(?P<logname>[^ ]*) uid=\d+ euid=\d+ tty=(?P<tty>[^ ]*)"
        r" ruser=(?P<ruser>[^ ]*) rhost=(?P<rhost>[^ ]*)(?: {1,2}user=(?P<user>.*))?"),
    # sudo: "  alice : [error ; ]TTY=pts/0 ; PWD=/home/a ; USER=root ; [GROUP=g ; ][TSID=x ; ]
    # [ENV=... ; ]COMMAND=/bin/ls". PWD and COMMAND are both free text: see _sudo.
    "sudo": re.compile(
        r" *(?P<user>[^ ]+) : (?:(?P<error>[^;]+?) ; )?TTY=(?P<tty>[^ ]+) ; PWD=(?P<pwd>.*)"
        r" ; USER=(?P<runas>[^ ]+) ;(?: GROUP=[^ ]+ ;)?(?: TSID=[^ ]+ ;)?(?: ENV=[^;]* ;)?"
        r" COMMAND=(?P<command>.*)"),
    "su_util_linux": re.compile(
        r"(?P<failed>FAILED SU )?\(to (?P<target>[^ ()]+)\) (?P<user>[^ ]+) on (?P<tty>[^ ]+)"),
    "su_bsd": re.compile(
        r"(?P<failed>BAD SU )?(?P<user>[^ ]+) to (?P<target>[^ ]+) on (?P<tty>[^ ]+)"),
    "su_shadow": re.compile(
        r"(?P<result>Successful|FAILED) su for (?P<target>[^ ]+) by (?P<user>[^ ]+)"),
    "su_sulog": re.compile(r"(?P<sign>[+-]) (?P<tty>[^ ]+) (?P<user>[^ :]+):(?P<target>[^ ]+)"),
    "su_aix": re.compile(
        r"(?P<failed>failed): (?P<tty>[^ ]+) changing from (?P<user>[^ ]+) to (?P<target>[^ ]+)"),
}

Fields = dict[str, object]


def _source(fields: Fields, addr: str | None, port: str | None) -> None:
    """Set source.* from the daemon-written address token; a non-IP is kept only as text."""
    if addr:
        fields["source.address"] = addr
        try:
            ip = ipaddress.ip_address(addr)
        except ValueError:
            ip = None
        if ip is not None:
            mapped = getattr(ip, "ipv4_mapped", None)
            fields["source.ip"] = str(mapped or ip)
    if port is not None and 0 <= int(port) <= 65535:
        fields["source.port"] = int(port)


def _ssh_login(m: re.Match[str]) -> Fields:
    verb = m["verb"]
    fields: Fields = {
        "event.action": "ssh_login",
        "event.outcome": "success" if verb == "Accepted" else "failure",
        "system.auth.ssh.event": verb,
        "system.auth.ssh.method": m["method"],
        "user.name": m["user"],
    }
    if m["key"]:
        fields["system.auth.ssh.signature"] = m["key"]
    if m["key_id"] is not None and " from " in m["user"]:
        # A certificate key id is attacker text to the right of the address, so the line
        # reads two ways; rather than pick one, leave every field the split decides.
        fields.pop("user.name")
        fields["tags"] = ["ambiguous_fields"]
        return fields
    if m["invalid"]:
        fields["system.auth.ssh.invalid_user"] = True
    _source(fields, m["addr"], m["port"])
    return fields


def _ssh_simple(action: str, outcome: str) -> Callable[[re.Match[str]], Fields]:
    def build(m: re.Match[str]) -> Fields:
        groups = m.groupdict()
        fields: Fields = {"event.action": action, "event.outcome": outcome}
        if groups.get("user") is not None:
            fields["user.name"] = groups["user"]
        if groups.get("version") is not None:
            fields["system.auth.ssh.version"] = groups["version"]
        if groups.get("kind"):
            fields["system.auth.ssh.user_state"] = groups["kind"]
        if groups.get("invalid"):
            fields["system.auth.ssh.invalid_user"] = True
        _source(fields, groups["addr"], groups.get("port"))
        return fields
    return build


def _ssh_invalid(m: re.Match[str]) -> Fields:
    fields = _ssh_simple("ssh_invalid_user", "failure")(m)
    fields["system.auth.ssh.event"] = "Invalid"
    return fields


def _ssh_disconnected(m: re.Match[str]) -> Fields:
    if m["kind"]:
        return _ssh_simple("ssh_disconnected", "failure")(m)
    return _ssh_simple("ssh_logout", "success")(m)


def _pam_failure(m: re.Match[str]) -> Fields:
    fields: Fields = {"event.action": "pam_auth_failure", "event.outcome": "failure"}
    if m["user"]:
        fields["user.name"] = m["user"]
    if m["service"]:
        fields["system.auth.pam.service"] = m["service"]
    if m["ruser"]:
        fields["system.auth.pam.ruser"] = m["ruser"]
    if m["tty"]:
        fields["system.auth.pam.tty"] = m["tty"]
    # "N more authentication failures" counts the ones after the first, logged already.
    fields["system.auth.pam.failures"] = int(m["more"]) if m["more"] else 1
    if m["rhost"]:
        _source(fields, m["rhost"], None)
    return fields


def _sudo(m: re.Match[str]) -> Fields:
    error = m["error"]
    fields: Fields = {
        "event.action": "sudo",
        "event.outcome": "failure" if error else "success",
        "user.name": m["user"],
        "system.auth.sudo.tty": m["tty"],
    }
    if error:
        fields["system.auth.sudo.error"] = error
    if m.string.count(" ; USER=") > 1 or m.string.count(" ; COMMAND=") > 1:
        # PWD (a directory name) or COMMAND (arguments) holds sudo's own separators, so
        # which USER= is sudo's cannot be known; leave out what depends on it.
        fields["tags"] = ["ambiguous_fields"]
        return fields
    fields.update({
        "system.auth.sudo.pwd": m["pwd"],
        "system.auth.sudo.user": m["runas"],
        "user.effective.name": m["runas"],
        "system.auth.sudo.command": m["command"],
    })
    return fields


def _su(m: re.Match[str]) -> Fields:
    groups = m.groupdict()
    failed = bool(groups.get("failed")) or groups.get("result") == "FAILED" \
        or groups.get("sign") == "-"
    fields: Fields = {
        "event.action": "su",
        "event.outcome": "failure" if failed else "success",
        "user.name": groups["user"],
        "user.effective.name": groups["target"],
    }
    if groups.get("tty"):
        fields["system.auth.su.tty"] = groups["tty"]
    return fields


@dataclass(frozen=True)
class _Rule:
    """One message pattern: the programs it applies to (None: any) and how to build fields."""

    pattern: str
    programs: frozenset[str] | None
    build: Callable[[re.Match[str]], Fields]


_SU = frozenset({"su"})
_RULES: tuple[_Rule, ...] = (
    _Rule("ssh_login", _SSHD, _ssh_login),
    _Rule("ssh_invalid_user", _SSHD, _ssh_invalid),
    _Rule("ssh_connection_closed", _SSHD, _ssh_simple("ssh_connection_closed", "failure")),
    _Rule("ssh_disconnected", _SSHD, _ssh_disconnected),
    _Rule("ssh_max_auth_attempts", _SSHD, _ssh_simple("ssh_max_auth_attempts", "failure")),
    _Rule("ssh_bad_protocol_version", _SSHD, _ssh_simple("ssh_bad_protocol_version", "failure")),
    _Rule("ssh_no_identification", _SSHD, _ssh_simple("ssh_no_identification", "failure")),
    _Rule("pam_auth_failure", None, _pam_failure),
    _Rule("sudo", frozenset({"sudo"}), _sudo),
    _Rule("su_util_linux", _SU, _su),
    _Rule("su_bsd", _SU, _su),
    _Rule("su_shadow", _SU, _su),
    _Rule("su_sulog", _SU, _su),
    _Rule("su_aix", _SU, _su),
)


def _rfc3164_time(m: re.Match[str], now: datetime) -> datetime:
    """The moment of a year-less timestamp: this year, or last year if that is > 1 day ahead."""
    month = _MONTHS.get(m["mon"])
    if month is None:
        raise ParseError(f"unknown month {m['mon']!r}")
    years = [int(m["year"])] if m["year"] else [now.year, now.year - 1, now.year - 2]
    for year in years:
        try:
            moment = datetime(year, month, int(m["day"]), int(m["h"]), int(m["m"]), int(m["s"]),
                              tzinfo=UTC)
        except ValueError:
            continue  # Feb 29 outside a leap year, or a bad day/time: try the year before
        if m["year"] or moment <= now + timedelta(days=1):
            return moment
    raise ParseError("timestamp is not a valid date")


def _rfc3339_time(m: re.Match[str]) -> datetime:
    text = f"{m['date']}T{m['time']}"
    if m["frac"]:
        text += "." + m["frac"][:6].ljust(6, "0")
    zone = m["zone"]
    if zone and zone != "Z":
        text += zone if ":" in zone else f"{zone[:3]}:{zone[3:]}"
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as exc:
        raise ParseError(f"bad timestamp: {exc}") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def parse_line(line: str, *, now: datetime | None = None, event_id: str | None = None
               ) -> Event | None:
    """Parse one syslog line into an event, or None if its message is of no interest.

    ``now`` gives the year to year-less timestamps (default: the current UTC time).
    ``event_id`` becomes ``event.id`` (the tailer passes a hash of host, file and offset);
    without it the id is a hash of host, timestamp and line. Raises :class:`LineTooLong` for
    a line over :data:`MAX_LINE_BYTES` and :class:`ParseError` for a line that is not syslog.
    """
    raw = line.removesuffix("\n").removesuffix("\r")
    # Checked before any regex runs: long lines are where matching cost hides.
    if len(raw) > MAX_LINE_BYTES or len(raw.encode("utf-8", "surrogatepass")) > MAX_LINE_BYTES:
        raise LineTooLong(f"line is over {MAX_LINE_BYTES} bytes")
    now = now or datetime.now(UTC)
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    header = _RFC3164.fullmatch(raw)
    if header:
        moment = _rfc3164_time(header, now)
    else:
        header = _RFC3339.fullmatch(raw)
        if not header:
            raise ParseError("not a syslog line: no timestamp and host at the start")
        moment = _rfc3339_time(header)
    tag = _TAG.fullmatch(header["rest"])
    if not tag:
        return None  # syslog-shaped, but no "program:" tag ("-- MARK --" and the like)
    program, msg = tag["prog"], tag["msg"]
    solaris = _SOLARIS_ID.match(msg)
    if solaris:
        msg = msg[solaris.end():]
    for rule in _RULES:
        if rule.programs is not None and program not in rule.programs:
            continue
        match = _PATTERNS[rule.pattern].fullmatch(msg)
        if match is None:
            continue
        fields = rule.build(match)
        timestamp = format_timestamp(moment)
        host = header["host"]
        event: Event = {
            "@timestamp": timestamp,
            "event.id": event_id or stable_id(host, timestamp, raw),
            "event.dataset": "secure",
            "host.name": host,
            "process.name": program,
        }
        if tag["pid"]:
            event["process.pid"] = int(tag["pid"])
        event.update(fields)
        event["message"] = raw
        return event
    return None
