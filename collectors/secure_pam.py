"""PAM lines of any program (sshd, su, sudo, vsftpd, proftpd, pure-ftpd, dovecot, ...) and any
module that writes pam_unix's failure line (pam_unix, pam_sss, pam_ldap, ...).

``event.action`` values:

``pam_auth_failure`` failure (``system.auth.count``: the failures the line stands for)
    ``[pam_X(S:auth): |(pam_X) |pam_X: ][PAM ][N more ]authentication failure[s]; logname=L
    uid=I euid=E tty=T ruser=R rhost=H[  user=U]``
``pam_user_unknown`` failure
    ``pam_X(S:auth): check pass; user unknown``
``account_locked`` failure (pam_faillock)
    ``pam_faillock(S:auth): Consecutive login failures for user U account temporarily locked``

pam_unix writes ``ruser=%s rhost=%s %s%s`` with ``user=`` last: ``ruser`` (the login name a
remote service such as an FTP server passes) and ``user`` are attacker text on both sides of
``rhost`` (sshd too may set ``ruser`` to the name tried). The host is taken only when one split
of the line reads as pam_unix wrote it, or every such split names one host;
otherwise the event keeps no host, no user and no ruser and is tagged ``ambiguous_fields``.
"""

from __future__ import annotations

import re

from socbot.collectors.secure_common import Fields, MessageRule, ambiguous, source

__all__ = ["FAILURE_WORDS", "PAM_RULES"]

FAILURE_WORDS = "authentication failure"

_MODULE = (r"(?:\(?(?P<module>pam_[a-z0-9_]+)(?:\((?P<service>[^ ():]*)(?::[a-z]+)?\))?\)?:? )?")
_FAILURE = re.compile(
    _MODULE + r"(?:PAM )?(?:(?P<more>\d{1,6}) more )?authentication failures?; "
    r"logname=(?P<logname>[^ ]*) uid=\d* euid=\d* tty=(?P<tty>[^ ]*) ruser=(?P<rest>.*)")
_RHOST = re.compile(r" rhost=(?P<host>[^ ]*)")


def _split(rest: str) -> tuple[str, str, str | None] | None:
    """``(ruser, rhost, user)`` of the text after ``ruser=``; None if two readings remain.

    A reading is a `` rhost=H`` followed by the end of the line (a trailing space allowed) or
    by `` user=`` (one or two spaces). Readings that agree on the host give the host; the
    users are then kept only if there is one reading.
    """
    at = rest.find(" rhost=")
    if at >= 0 and rest.find(" rhost=", at + 7) < 0:
        # One " rhost=": one possible reading (the usual line), read without a regex.
        end = rest.find(" ", at + 7)
        host, tail = (rest[at + 7:], "") if end < 0 else (rest[at + 7:end], rest[end:])
        if tail in ("", " "):
            return rest[:at], host, None
        if tail.startswith(" user="):
            return rest[:at], host, tail[6:]
        if tail.startswith("  user="):
            return rest[:at], host, tail[7:]
        return None
    readings: list[tuple[str, str, str | None]] = []
    for found in _RHOST.finditer(rest):
        tail = rest[found.end():]
        if tail in ("", " "):
            readings.append((rest[:found.start()], found["host"], None))
        elif tail.startswith(" user="):
            readings.append((rest[:found.start()], found["host"], tail[6:]))
        elif tail.startswith("  user="):
            readings.append((rest[:found.start()], found["host"], tail[7:]))
    if not readings or len({r[1] for r in readings}) > 1:
        return None
    return readings[0] if len(readings) == 1 else ("", readings[0][1], None)


def _failure(m: re.Match[str]) -> Fields:
    module, service, more, tty, rest = m.group("module", "service", "more", "tty", "rest")
    fields: Fields = {"event.action": "pam_auth_failure", "event.outcome": "failure"}
    if service:
        fields["system.auth.pam.service"] = service
    if module:
        fields["system.auth.pam.module"] = module
    if tty:
        fields["system.auth.pam.tty"] = tty
    count = int(more) if more else 1
    fields["system.auth.pam.failures"] = count
    if count > 1:
        fields["system.auth.count"] = count
    split = _split(rest)
    if split is None:
        return ambiguous(fields)
    ruser, rhost, user = split
    if user:
        fields["user.name"] = user
    if ruser:
        fields["system.auth.pam.ruser"] = ruser
    if rhost:
        source(fields, rhost)
    return fields


def _unknown(m: re.Match[str]) -> Fields:
    fields: Fields = {"event.action": "pam_user_unknown", "event.outcome": "failure"}
    if m["service"]:
        fields["system.auth.pam.service"] = m["service"]
    return fields


def _locked(m: re.Match[str]) -> Fields:
    fields: Fields = {"event.action": "account_locked", "event.outcome": "failure",
                      "user.name": m["user"]}
    if m["service"]:
        fields["system.auth.pam.service"] = m["service"]
    return fields


PAM_RULES = (
    MessageRule(_FAILURE, _failure),
    MessageRule(re.compile(_MODULE + r"check pass; user unknown"), _unknown),
    MessageRule(re.compile(_MODULE + r"Consecutive login failures for user (?P<user>.*) account "
                           r"temporarily locked"), _locked),
)
