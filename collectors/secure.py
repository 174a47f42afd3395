"""Parse ``/var/log/secure`` and ``auth.log`` lines (sshd, sudo, su, PAM, shadow-utils) into
events. Headers (RFC 3164, RFC 5424, ISO 8601, journald's output formats) are read by
:mod:`collectors.syslog`. A line with no header is refused (:class:`ParseError`, so the caller
counts and dead-letters it): in a syslog file it is the text after a raw newline that some
writer did not escape, and reading it as sshd would let anyone who can write that text name
any address. Only input declared header-less (``journalctl -o cat``, ``headerless=True``) is
read without one, stamped with the read time and tagged ``timestamp_missing``.

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
``user_created`` success / failure (useradd; ``user.target.*``, ``system.auth.useradd.*``)
    ``new user: name=N, UID=I, GID=G, home=H, shell=S[, from=T]``,
    ``failed adding user 'N', <reason>``
``group_created`` (groupadd)
    ``new group: name=N, GID=G``, ``group added to /etc/group: name=N, GID=G``
``user_group_added`` (useradd, usermod, gpasswd)
    ``add 'N' to [shadow ]group 'G'``
``user_modified`` (usermod)
    ``change user 'N' <what> from 'A' to 'B'``, ``change user name 'A' to 'B'``,
    ``lock|unlock user 'N' password``
``user_deleted`` / ``group_deleted`` (userdel, groupdel)
    ``delete user 'N'``, ``group 'G' removed``
``password_changed`` (passwd)
    ``pam_unix(passwd:chauthtok): password changed for N``, ``password for 'N' changed by 'U'``

Messages are dispatched on the program and, for sshd, on the message's first word, so a line
costs one dict lookup and usually one anchored match.

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

import functools
import ipaddress
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from socbot.collectors.syslog import Header, HeaderError, parse_header
from socbot.core.events import Event, format_timestamp, stable_id

MAX_LINE_BYTES = 8192

__all__ = ["MAX_LINE_BYTES", "LineTooLong", "ParseError", "classify_line", "parse_line"]


class ParseError(ValueError):
    """The line is not a syslog line this parser can read."""


class LineTooLong(ParseError):
    """The line is over :data:`MAX_LINE_BYTES`; it is set aside, never matched or truncated."""


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
    # shadow-utils (useradd, groupadd, usermod, userdel, groupdel, passwd) and pam_unix.
    "useradd": re.compile(
        r"new user: name=(?P<name>[^ ,]+), UID=(?P<uid>\d+), GID=(?P<gid>\d+), "
        r"home=(?P<home>[^,]*), shell=(?P<shell>[^,]*)(?:, from=(?P<from>[^ ,]*))?"),
    "useradd_failed": re.compile(r"failed adding user '(?P<name>[^']*)', (?P<reason>.*)"),
    "groupadd": re.compile(
        r"(?:new group|group added to /etc/group): name=(?P<name>[^ ,]+), GID=(?P<gid>\d+)"
        r"(?:, from=(?P<from>[^ ,]*))?"),
    "group_member": re.compile(
        r"add '(?P<name>[^']+)' to (?P<shadow>shadow )?group '(?P<group>[^']+)'"
        r"(?:, from=(?P<from>[^ ,]*))?"),
    "usermod": re.compile(
        r"(?:change user '(?P<name>[^']+)' (?P<what>[a-z]+) from '(?P<old>[^']*)' to "
        r"'(?P<new>[^']*)'|change user name '(?P<old_name>[^']+)' to '(?P<new_name>[^']+)'|"
        r"(?P<lock>lock|unlock) user '(?P<locked>[^']+)' password)(?:, from=(?P<from>[^ ,]*))?"),
    "userdel": re.compile(r"delete user '(?P<name>[^']+)'(?:, from=(?P<from>[^ ,]*))?"),
    "groupdel": re.compile(
        r"(?:group '(?P<name>[^']+)' removed|remove group '(?P<name2>[^']+)')"
        r"(?: from /etc/group)?(?:, from=(?P<from>[^ ,]*))?"),
    "passwd": re.compile(
        r"(?:pam_unix\(passwd:chauthtok\): password changed for (?P<name>[^ ]+)|"
        r"password for '(?P<name2>[^']+)' changed by '(?P<by>[^']+)')"),
}

Fields = dict[str, object]


@functools.lru_cache(maxsize=65536)
def _normal_ip(addr: str) -> str | None:
    """The canonical text of an IP address (IPv4-mapped IPv6 as IPv4), or None if not an IP."""
    try:
        ip = ipaddress.ip_address(addr)
    except ValueError:
        return None
    mapped = getattr(ip, "ipv4_mapped", None)
    return str(mapped or ip)


def _source(fields: Fields, addr: str | None, port: str | None) -> None:
    """Set source.* from the daemon-written address token; a non-IP is kept only as text."""
    if addr:
        fields["source.address"] = addr
        ip = _normal_ip(addr)
        if ip is not None:
            fields["source.ip"] = ip
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


def _account(action: str) -> Callable[[re.Match[str]], Fields]:
    """Builder for shadow-utils and passwd lines: who was created, changed or removed."""
    def build(m: re.Match[str]) -> Fields:
        g = m.groupdict()
        fields: Fields = {"event.action": action, "event.outcome": "success"}
        name = g.get("name") or g.get("name2") or g.get("locked") or g.get("old_name")
        if action in ("group_created", "group_deleted"):
            fields["group.name"] = name
            if g.get("gid"):
                fields["group.id"] = g["gid"]
                fields["system.auth.groupadd.name"] = name
                fields["system.auth.groupadd.gid"] = g["gid"]
        else:
            fields["user.target.name"] = name
        if action == "user_created":
            if g.get("reason") is not None:
                fields["event.outcome"] = "failure"
                fields["error.message"] = g["reason"]
            else:
                fields.update({
                    "user.target.id": g["uid"], "user.target.group.id": g["gid"],
                    "system.auth.useradd.name": name, "system.auth.useradd.uid": g["uid"],
                    "system.auth.useradd.gid": g["gid"], "system.auth.useradd.home": g["home"],
                    "system.auth.useradd.shell": g["shell"],
                })
        elif action == "user_group_added":
            fields["group.name"] = g["group"]
            if g["shadow"]:
                fields["system.auth.group.shadow"] = True
        elif action == "user_modified":
            if g.get("what"):
                fields["system.auth.usermod.change"] = g["what"]
                fields["system.auth.usermod.old"] = g["old"]
                fields["system.auth.usermod.new"] = g["new"]
            elif g.get("new_name"):
                fields["system.auth.usermod.change"] = "name"
                fields["system.auth.usermod.old"] = g["old_name"]
                fields["system.auth.usermod.new"] = g["new_name"]
            else:
                fields["system.auth.usermod.change"] = f"{g['lock']} password"
        elif action == "password_changed" and g.get("by"):
            fields["user.name"] = g["by"]
        if g.get("from"):
            fields["system.auth.tty"] = g["from"]
        return fields
    return build


@dataclass(frozen=True)
class _Rule:
    """One message pattern and how to build fields from its match."""

    pattern: re.Pattern[str]
    build: Callable[[re.Match[str]], Fields]


def _rule(name: str, build: Callable[[re.Match[str]], Fields]) -> _Rule:
    return _Rule(_PATTERNS[name], build)


_PAM = _rule("pam_auth_failure", _pam_failure)
_SSH_LOGIN = _rule("ssh_login", _ssh_login)
# sshd messages, by their first word: a dict lookup instead of trying every pattern.
_SSHD_BY_WORD: dict[str, tuple[_Rule, ...]] = {
    "Failed": (_SSH_LOGIN,),
    "Accepted": (_SSH_LOGIN,),
    "Invalid": (_rule("ssh_invalid_user", _ssh_invalid),),
    "Connection": (_rule("ssh_connection_closed",
                         _ssh_simple("ssh_connection_closed", "failure")),),
    "Disconnected": (_rule("ssh_disconnected", _ssh_disconnected),),
    "error:": (_rule("ssh_max_auth_attempts", _ssh_simple("ssh_max_auth_attempts", "failure")),),
    "maximum": (_rule("ssh_max_auth_attempts", _ssh_simple("ssh_max_auth_attempts", "failure")),),
    "Bad": (_rule("ssh_bad_protocol_version",
                  _ssh_simple("ssh_bad_protocol_version", "failure")),),
    "Did": (_rule("ssh_no_identification", _ssh_simple("ssh_no_identification", "failure")),),
}
_SU_RULES = tuple(_rule(n, _su) for n in
                  ("su_util_linux", "su_bsd", "su_shadow", "su_sulog", "su_aix"))
_USERMOD = (_rule("group_member", _account("user_group_added")),
            _rule("usermod", _account("user_modified")))
# Other programs: the patterns their messages may match (pam_unix failures apply to any).
_BY_PROGRAM: dict[str, tuple[_Rule, ...]] = {
    "sudo": (_PAM, _rule("sudo", _sudo)),
    "su": (_PAM, *_SU_RULES),
    "useradd": (_rule("useradd", _account("user_created")),
                _rule("useradd_failed", _account("user_created")), *_USERMOD),
    "groupadd": (_rule("groupadd", _account("group_created")),),
    "usermod": _USERMOD,
    "gpasswd": _USERMOD,
    "userdel": (_rule("userdel", _account("user_deleted")),
                _rule("groupdel", _account("group_deleted"))),
    "groupdel": (_rule("groupdel", _account("group_deleted")),),
    "passwd": (_PAM, _rule("passwd", _account("password_changed"))),
}
_SSHD_RULES = tuple(dict.fromkeys(r for rules in _SSHD_BY_WORD.values() for r in rules))
# Declared header-less input (journalctl -o cat) names no program: every pattern may apply.
_ALL_RULES = tuple(dict.fromkeys(
    (*_SSHD_RULES, _PAM, *(r for rules in _BY_PROGRAM.values() for r in rules))))
_FAILURE_WORDS = "authentication failure"


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
    header, rule, match = found
    if header is None:
        return _without_header(raw, now or datetime.now(UTC), event_id, rule.build(match))
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
    event.update(rule.build(match))
    event["message"] = raw
    return event


def classify_line(line: str, now: datetime, *, headerless: bool = False
                  ) -> tuple[str, str] | None:
    """``(event.action, event.outcome)`` of the event :func:`parse_line` would make, or None;
    the same checks and exceptions, without building the event (for ``--summary``)."""
    found = _find(line.removesuffix("\n").removesuffix("\r"), now, headerless)
    if found is None:
        return None
    fields = found[1].build(found[2])
    return fields["event.action"], fields["event.outcome"]  # type: ignore[return-value]


def _find(raw: str, now: datetime | None, headerless: bool
          ) -> tuple[Header | None, _Rule, re.Match[str]] | None:
    """The header, rule and match of a line; None if it is of no interest."""
    # Checked before any regex runs: long lines are where matching cost hides. A str holds
    # at most 4 bytes a character, so only lines near the bound need encoding to count.
    if len(raw) > MAX_LINE_BYTES or (len(raw) * 4 > MAX_LINE_BYTES and not raw.isascii()
                                     and len(raw.encode("utf-8", "surrogatepass"))
                                     > MAX_LINE_BYTES):
        raise LineTooLong(f"line is over {MAX_LINE_BYTES} bytes")
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
        for rule in _ALL_RULES:
            match = rule.pattern.fullmatch(raw)
            if match is not None:
                return None, rule, match
        raise ParseError("not a message this parser knows, in header-less input")
    program, msg = header.program, header.msg
    if program is None:
        return None  # syslog-shaped, but no "program:" tag ("-- MARK --" and the like)
    if msg.startswith("[ID "):
        solaris = _SOLARIS_ID.match(msg)
        if solaris:
            msg = msg[solaris.end():]
    if program in _SSHD:
        rules = _SSHD_BY_WORD.get(msg.partition(" ")[0]) or (
            (_PAM,) if _FAILURE_WORDS in msg else ())
    else:
        rules = _BY_PROGRAM.get(program) or ((_PAM,) if _FAILURE_WORDS in msg else ())
    for rule in rules:
        match = rule.pattern.fullmatch(msg)
        if match is not None:
            return header, rule, match
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
