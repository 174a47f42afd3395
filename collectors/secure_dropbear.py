"""Dropbear's messages (U user, A address, P port; the user name is quoted attacker text).

``ssh_login`` failure / success
    ``Bad [PAM ]password attempt for 'U' from A:P``,
    ``Password|Pubkey auth succeeded for 'U' [with <key> ]from A:P``
``ssh_invalid_user`` failure
    ``Login attempt for nonexistent user ['U' ]from A:P``
``ssh_max_auth_attempts`` failure
    ``Exit before auth from <A:P>: [(user 'U', N fails): ]Max auth tries reached - user 'U'``,
    ``Exit before auth (user 'U', N fails): Max auth tries reached - user 'U' from A:P``
``ssh_connection_opened`` unknown
    ``Child connection from A:P``

Some builds put ``[pid] Mon DD HH:MM:SS `` before the message (read past). The address is
sshd-style fixed text: the last ``from A:P`` at the end of the line, or the ``<A:P>`` right
after ``Exit before auth from``; a greedy quoted user name cannot supply it.
"""

from __future__ import annotations

import re

from socbot.collectors.secure_common import Build, Fields, MessageRule, source

__all__ = ["DROPBEAR_RULES", "strip_stamp"]

_STAMP = re.compile(r"\[\d+\] [A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d ")
_FROM = r" from (?P<addr>[^ ]+):(?P<port>\d{1,5})"


def strip_stamp(msg: str) -> str:
    """The message without the ``[pid] Mon DD HH:MM:SS `` some dropbear builds write."""
    if msg.startswith("["):
        found = _STAMP.match(msg)
        if found:
            return msg[found.end():]
    return msg


def _build(action: str, outcome: str) -> Build:
    def build(m: re.Match[str]) -> Fields:
        g = m.groupdict()
        fields: Fields = {"event.action": action, "event.outcome": outcome}
        user = g.get("user") if g.get("user") is not None else g.get("user2")
        if user is not None:
            fields["user.name"] = user
        if action == "ssh_invalid_user":
            fields["system.auth.ssh.invalid_user"] = True
        if g.get("method"):
            fields["system.auth.ssh.method"] = g["method"].lower()
        source(fields, g["addr"], g["port"])
        return fields
    return build


def _r(pattern: str, action: str, outcome: str) -> MessageRule:
    return MessageRule(re.compile(pattern), _build(action, outcome))


DROPBEAR_RULES = (
    _r(r"[Bb]ad (?:PAM )?password attempt for '(?P<user>.*)'" + _FROM, "ssh_login", "failure"),
    _r(r"[Ll]ogin attempt for nonexistent user(?: '(?P<user>.*)')?" + _FROM,
       "ssh_invalid_user", "failure"),
    # dropbear refuses user names over 100 bytes: the bound keeps a name full of the fixed
    # text after it from costing a scan to the end of the line per copy.
    _r(r"[Ee]xit before auth from <(?P<addr>[^ <>]+):(?P<port>\d{1,5})>: (?:\(user '.{0,100}', "
       r"\d+ fails\): )?Max auth tries reached - user '(?P<user>.*)'",
       "ssh_max_auth_attempts", "failure"),
    _r(r"[Ee]xit before auth \(user '.{0,100}', \d{1,6} fails\): Max auth tries reached - "
       r"user '(?P<user>.*)'" + _FROM, "ssh_max_auth_attempts", "failure"),
    _r(r"(?P<method>Password|Pubkey) auth succeeded for '(?P<user>.*)'(?: with .*)?" + _FROM,
       "ssh_login", "success"),
    _r(r"Child connection from (?P<addr>[^ ]+):(?P<port>\d{1,5})", "ssh_connection_opened",
       "unknown"),
)
