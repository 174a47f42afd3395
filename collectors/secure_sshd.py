"""sshd's messages (OpenSSH, any version that writes to syslog or the journal).

``event.action`` values (U user, A address, P port; ``[preauth]`` may end most of them; an
``error:`` or ``fatal:`` prefix is read past). Every line that ends before authentication
(``[preauth]``, or names an invalid or authenticating user) sets ``system.auth.ssh.preauth``.

``ssh_login`` failure / success
    ``Failed|Accepted <method> for [invalid user ]U from A [port P] [ssh1|ssh2][: <auth-info>]``
``ssh_invalid_user`` failure
    ``Invalid|Illegal user U from A [port P]``
``ssh_auth_failure`` failure (sshd's PAM conversation)
    ``PAM: Authentication failure|error for [illegal user ]U from A [via S]``,
    ``PAM: User not known to the underlying authentication module for ... from A``
``ssh_not_allowed`` failure (``system.auth.ssh.policy``: AllowUsers, DenyUsers, AllowGroups,
    DenyGroups; ``system.auth.ssh.reason``)
    ``User U [from A] not allowed because <reason>``
``ssh_root_refused`` failure
    ``ROOT LOGIN REFUSED FROM A [port P]``
``ssh_refused_connect`` failure (TCP wrappers)
    ``refused connect from <client> (A)``
``ssh_max_auth_attempts`` failure
    ``maximum authentication attempts exceeded for [invalid user ]U from A port P ssh2``,
    ``Disconnecting: Too many authentication failures [for U]``
``ssh_user_change_refused`` failure
    ``Disconnecting invalid|authenticating user U A port P: Change of username or service ...``
``ssh_connection_opened`` unknown
    ``Connection from A port P on S port Q [rdomain "R"]``, ``SSH: Server;Ltype: ...;Remote: A-P;``
``ssh_connection_closed``, ``ssh_connection_reset`` failure before authentication, else unknown
    ``Connection closed|reset by [invalid|authenticating user U ]A [port P]``,
    ``Read from socket failed: <reason>``, ``Read error from remote host A: <reason>``,
    ``Write failed: <reason>`` (reset)
``ssh_disconnected`` failure before authentication, else unknown; ``ssh_logout`` success
    ``Disconnected from [invalid|authenticating ]user U A port P``, ``Disconnected from A port
    P``, ``Disconnecting [invalid|authenticating user U ]A port P: <reason>``
``ssh_disconnect_received`` failure before authentication or for codes 3 and 14 (``Auth
    fail``, no authentication methods), else success
    ``Received disconnect from A [port P]:<code>: <reason>``
``ssh_negotiation_failed`` failure
    ``Unable to negotiate with A port P: no matching <what> found. Their offer: ...``,
    ``Unable to negotiate a <what>``, ``no matching <what> found: ...``
``ssh_no_identification`` / ``ssh_bad_protocol_version`` failure
    ``Did not receive identification string from A``, ``kex_exchange_identification: ...``,
    ``Bad protocol version identification 'V' from A``, ``banner exchange: Connection from A
    port P: invalid format``
``ssh_protocol_error`` failure
    ``ssh_dispatch_run_fatal: Connection from A port P: <reason>``, ``Disconnecting: <reason>``,
    ``Corrupted MAC on input.``, ``Bad packet length N.``
``ssh_timeout`` failure
    ``Timeout before authentication for [connection from ]A [port P]``

Where a line has attacker text on both sides of the address, the address is only taken when
the line's structure leaves one reading: see :func:`_ssh_login`.
"""

from __future__ import annotations

import re

from socbot.collectors.secure_common import Build, Fields, MessageRule, ambiguous, source

__all__ = ["SSHD_BY_WORD", "strip_prefix"]

_PRE = r"(?P<preauth> \[preauth\])?"


def strip_prefix(msg: str) -> str:
    """The message without sshd's ``error: `` / ``fatal: `` and ``PAM: `` prefixes."""
    if msg.startswith(("error: ", "fatal: ")):
        msg = msg[7:]
    if msg.startswith("PAM: "):
        msg = msg[5:]
    return msg


def _fields(action: str, outcome: str, m: re.Match[str], *, preauth: bool = False) -> Fields:
    """The fields every sshd event shares, from the named groups the pattern has."""
    g = m.groupdict()
    fields: Fields = {"event.action": action, "event.outcome": outcome}
    if g.get("user") is not None:
        fields["user.name"] = g["user"]
    if g.get("kind"):
        fields["system.auth.ssh.user_state"] = g["kind"]
    if g.get("invalid"):
        fields["system.auth.ssh.invalid_user"] = True
    if preauth or g.get("preauth") or g.get("kind"):
        fields["system.auth.ssh.preauth"] = True
    if g.get("reason"):
        fields["system.auth.ssh.reason"] = g["reason"]
    source(fields, g.get("addr"), g.get("port"))
    return fields


def _preauth_outcome(m: re.Match[str]) -> str:
    return "failure" if m["preauth"] or m.groupdict().get("kind") else "unknown"


# --- Failed / Accepted: the two injection points ---------------------------------------------

_LOGIN = re.compile(r"(?P<verb>Failed|Accepted) (?P<method>[^ ]+) for "
                    r"(?P<invalid>(?:invalid|illegal) user )?(?P<rest>.*)")
# sshd writes "... from <addr> port <n> ssh2" and, for some methods, ": <auth-info>" after it.
_CANDIDATE = re.compile(r" from (?P<addr>[^ ]+)(?: port (?P<port>\d{1,5}))?"
                        r"(?: (?P<proto>ssh[12]?)(?P<info>:(?= )|:$)?)?")
# (The space after ": " is looked at, not taken: it may begin the next candidate.)


def _login_split(rest: str, invalid: bool) -> re.Match[str] | None | bool:
    """The candidate `` from A port P ssh2`` that sshd wrote, None if there is none, False if
    two readings remain.

    The user name is on the left of the address and the auth-info (a certificate's key id, a
    hostbased client's user and host) on its right; both can hold `` from A port P ssh2``. A
    candidate is a reading only if it is followed by the end of the line or, after ``sshN``,
    by ``: ``. An existing user's name (no ``invalid user``) is an account name: one token,
    never empty, so the first candidate after such a name is sshd's. Otherwise the line is
    read only if exactly one candidate is a reading.
    """
    if rest.count(" from ") == 1:
        found = _CANDIDATE.search(rest)
        return found if found is not None and _reading(found, rest) else None
    readings = [c for c in _CANDIDATE.finditer(rest) if _reading(c, rest)
                and (invalid or c.start() > 0)]
    if not readings:
        return None
    first = rest[:readings[0].start()]
    if not invalid and " " not in first:
        return readings[0]
    if len(readings) == 1:
        return readings[0]
    return False


def _reading(c: re.Match[str], rest: str) -> bool:
    return c.end() == len(rest) or (c["info"] is not None and c["proto"] is not None)


def _ssh_login(m: re.Match[str]) -> Fields | None:
    rest = m["rest"]
    preauth = rest.endswith(" [preauth]")
    if preauth:
        rest = rest[:-10]
    invalid = bool(m["invalid"])
    verb = m["verb"]
    fields: Fields = {
        "event.action": "ssh_login",
        "event.outcome": "success" if verb == "Accepted" else "failure",
        "system.auth.ssh.event": verb,
        "system.auth.ssh.method": m["method"],
    }
    if invalid:
        fields["system.auth.ssh.invalid_user"] = True
    if preauth:
        fields["system.auth.ssh.preauth"] = True
    split = _login_split(rest, invalid)
    if split is None:
        return None
    if split is False:
        return ambiguous(fields)
    assert not isinstance(split, bool)
    fields["user.name"] = rest[:split.start()]
    info = rest[split.end():].removeprefix(" ")
    if info:
        key = info.split(" ", 2)
        if len(key) >= 2:
            fields["system.auth.ssh.signature"] = f"{key[0]} {key[1]}"
    source(fields, split["addr"], split["port"])
    return fields


# The common shape, one token of user and " from " once: one match, no candidates to weigh.
_LOGIN_COMMON = re.compile(r"(Failed|Accepted) ([^ ]+) for ((?:invalid|illegal) user )?([^ ]*)"
                           r" from ([^ ]+) port (\d{1,5}) ssh2(?:: ([^ ]+ [^ ]+))?")


def _ssh_login_common(m: re.Match[str]) -> Fields | None:
    if m.string.count(" from ") != 1:
        general = _LOGIN.fullmatch(m.string)
        return None if general is None else _ssh_login(general)
    verb, method, invalid, user, addr, port, key = m.groups()
    fields: Fields = {
        "event.action": "ssh_login",
        "event.outcome": "success" if verb == "Accepted" else "failure",
        "system.auth.ssh.event": verb,
        "system.auth.ssh.method": method,
    }
    if invalid:
        fields["system.auth.ssh.invalid_user"] = True
    fields["user.name"] = user
    if key:
        fields["system.auth.ssh.signature"] = key
    source(fields, addr, port)
    return fields


# --- the other messages ----------------------------------------------------------------------

def _simple(action: str, outcome: str, **extra: object) -> Build:
    def build(m: re.Match[str]) -> Fields:
        fields = _fields(action, outcome, m)
        fields.update(extra)
        return fields
    return build


def _invalid_user(m: re.Match[str]) -> Fields:
    fields = _fields("ssh_invalid_user", "failure", m)
    fields["system.auth.ssh.event"] = "Invalid"
    fields["system.auth.ssh.invalid_user"] = True
    return fields


def _disconnected(m: re.Match[str]) -> Fields:
    g = m.groupdict()
    if g.get("kind") or g["preauth"]:
        return _fields("ssh_disconnected", "failure", m)
    if g.get("user") is not None:
        return _fields("ssh_logout", "success", m)
    return _fields("ssh_disconnected", "unknown", m)


_POLICIES = ("AllowUsers", "DenyUsers", "AllowGroups", "DenyGroups")


def _not_allowed(m: re.Match[str]) -> Fields:
    fields = _fields("ssh_not_allowed", "failure", m)
    reason = m["reason"]
    policy = next((p for p in _POLICIES if reason.endswith(p)), None)
    if policy is None and reason == "not in any group":
        policy = "AllowGroups"
    if policy:
        fields["system.auth.ssh.policy"] = policy
    return fields


# "<addr> port <n>: " as sshd writes it before a reason; counted to find a second reading.
_ADDR_PORT_COLON = re.compile(r" [^ ]+ port \d{1,5}:(?= )")


def _user_addr_reason(action: str) -> Build:
    """``[invalid|authenticating user U ]A port P: <reason>``: with a user (attacker text on
    the left) and a reason that may quote it (on the right), a second ``A port P: `` leaves
    two readings."""
    def build(m: re.Match[str]) -> Fields:
        name = action
        reason = m["reason"]
        if action == "ssh_disconnected" and reason.startswith(
                "Change of username or service not allowed"):
            name = "ssh_user_change_refused"
        preauth = bool(m["kind"]) or reason.endswith("[preauth]")
        outcome = "failure" if preauth or action != "ssh_disconnected" else "unknown"
        fields = _fields(name, outcome, m, preauth=preauth)
        if m["kind"] and len(_ADDR_PORT_COLON.findall(" " + m.string)) > 1:
            return ambiguous(fields, "user.name", "source.address", "source.ip", "source.port",
                             "source.domain", "system.auth.ssh.reason")
        return fields
    return build


def _received_disconnect(m: re.Match[str]) -> Fields:
    code = int(m["code"])
    reason = m["reason"] or ""
    failed = bool(m["preauth"]) or code in (3, 14) or reason.endswith("Auth fail")
    fields = _fields("ssh_disconnect_received", "failure" if failed else "success", m)
    fields["system.auth.ssh.disconnect_code"] = code
    return fields


def _negotiation(m: re.Match[str]) -> Fields:
    fields = _fields("ssh_negotiation_failed", "failure", m, preauth=True)
    if m.groupdict().get("what"):
        fields["system.auth.ssh.negotiation"] = m["what"]
    return fields


def _kex_identification(m: re.Match[str]) -> Fields:
    reason = m["reason"]
    action = ("ssh_bad_protocol_version" if "protocol identifier" in reason
              or "banner" in reason else "ssh_no_identification")
    return _fields(action, "failure", m, preauth=True)


def _r(pattern: str, build: Build) -> MessageRule:
    return MessageRule(re.compile(pattern), build)


_USER_ADDR_PORT = (r"(?:(?P<kind>invalid|authenticating) user (?P<user>.*) )?(?P<addr>[^ ]+) "
                   r"port (?P<port>\d{1,5}): (?P<reason>.*)")
_SSH2_OPT = r"(?: port (?P<port>\d{1,5}))?(?: ssh[12]?)?"

# sshd messages by their first word (after strip_prefix): a dict lookup, then few patterns.
SSHD_BY_WORD: dict[str, tuple[MessageRule, ...]] = {
    "Failed": (MessageRule(_LOGIN_COMMON, _ssh_login_common), MessageRule(_LOGIN, _ssh_login)),
    "Accepted": (MessageRule(_LOGIN_COMMON, _ssh_login_common),
                 MessageRule(_LOGIN, _ssh_login)),
    "Invalid": (_r(r"Invalid user (?P<user>.*) from (?P<addr>[^ ]+)(?: port (?P<port>\d{1,5}))?"
                   + _PRE, _invalid_user),),
    "Illegal": (_r(r"Illegal user (?P<user>.*) from (?P<addr>[^ ]+)(?: port (?P<port>\d{1,5}))?"
                   + _PRE, _invalid_user),),
    "Connection": (
        _r(r"Connection (?P<verb>closed|reset) by (?P<kind>invalid|authenticating) user "
           r"(?P<user>.*) (?P<addr>[^ ]+) port (?P<port>\d{1,5})" + _PRE,
           lambda m: _fields("ssh_connection_" + m["verb"], "failure", m)),
        _r(r"Connection (?P<verb>closed|reset) by (?P<addr>[^ ]+)(?: port (?P<port>\d{1,5}))?"
           + _PRE, lambda m: _fields("ssh_connection_" + m["verb"], _preauth_outcome(m), m)),
        _r(r"Connection from (?P<addr>[^ ]+)(?: port (?P<port>\d{1,5}))?(?: on (?P<local>[^ ]+) "
           r"port \d{1,5}(?: rdomain \"[^\"]*\")?)?", _simple("ssh_connection_opened", "unknown")),
    ),
    "Disconnected": (
        _r(r"Disconnected from (?:(?P<kind>invalid|authenticating) )?user (?P<user>.*) "
           r"(?P<addr>[^ ]+) port (?P<port>\d{1,5})" + _PRE, _disconnected),
        _r(r"Disconnected from (?P<addr>[^ ]+) port (?P<port>\d{1,5})" + _PRE, _disconnected),
    ),
    "Disconnecting:": (
        _r(r"Disconnecting: Too many authentication failures(?: for (?:invalid user )?"
           r"(?P<user>.*?))?" + _PRE, _simple("ssh_max_auth_attempts", "failure",
                                              **{"system.auth.ssh.preauth": True})),
        _r(r"Disconnecting: (?P<reason>.*?)" + _PRE, _simple("ssh_protocol_error", "failure")),
    ),
    "Disconnecting": (_r(r"Disconnecting " + _USER_ADDR_PORT,
                         _user_addr_reason("ssh_disconnected")),),
    "maximum": (_r(r"maximum authentication attempts exceeded for (?P<invalid>invalid user )?"
                   r"(?P<user>.*) from (?P<addr>[^ ]+)" + _SSH2_OPT + _PRE,
                   _simple("ssh_max_auth_attempts", "failure")),),
    "Did": (_r(r"Did not receive identification string from (?P<addr>[^ ]+)"
               r"(?: port (?P<port>\d{1,5}))?" + _PRE,
               _simple("ssh_no_identification", "failure", **{"system.auth.ssh.preauth": True})),),
    "Authentication": (_r(r"Authentication (?:failure|error|failed) for (?:(?:illegal|invalid) "
                          r"user )?(?P<user>.*) from (?P<addr>[^ ]+)(?: via [^ ]+)?" + _SSH2_OPT
                          + _PRE + " ?", _simple("ssh_auth_failure", "failure")),),
    "authentication": (_r(r"authentication (?:failure|error|failed) for (?:(?:illegal|invalid) "
                          r"user )?(?P<user>.*) from (?P<addr>[^ ]+)(?: via [^ ]+)?" + _SSH2_OPT
                          + _PRE + " ?", _simple("ssh_auth_failure", "failure")),),
    "User": (
        _r(r"User not known to the underlying authentication module for (?:(?:illegal|invalid) "
           r"user )?(?P<user>.*) from (?P<addr>[^ ]+)" + _SSH2_OPT + _PRE + " ?",
           _simple("ssh_auth_failure", "failure")),
        _r(r"User (?P<user>.*) from (?P<addr>[^ ]+) not allowed because (?P<reason>[^\[]+)" + _PRE,
           _not_allowed),
        _r(r"User (?P<user>[^ ]*) not allowed because (?P<reason>[^\[]+)" + _PRE, _not_allowed),
    ),
    "ROOT": (_r(r"ROOT LOGIN REFUSED FROM (?P<addr>[^ ]+)(?: port (?P<port>\d{1,5}))?" + _PRE,
                _simple("ssh_root_refused", "failure", **{"user.name": "root"})),),
    "refused": (_r(r"refused connect from (?P<client>.*) \((?P<addr>[^ ()]+)\)",
                   _simple("ssh_refused_connect", "failure")),),
    "Received": (_r(r"Received disconnect from (?P<addr>[^ ]+?)(?: port (?P<port>\d{1,5}))?:"
                    r" ?(?P<code>\d{1,3}):(?: (?P<reason>.*?))?" + _PRE + " ?",
                    _received_disconnect),),
    "Unable": (
        _r(r"Unable to negotiate with (?P<addr>[^ ]+?)(?: port (?P<port>\d{1,5}))?: no matching "
           r"(?P<what>.*?) found\..*", _negotiation),
        _r(r"Unable to negotiate a (?P<what>.*?)" + _PRE, _negotiation),
    ),
    "no": (_r(r"no matching (?P<what>.+?) found: .*", _negotiation),),
    "kex_exchange_identification:": (
        _r(r"kex_exchange_identification: (?:read: )?(?P<reason>Connection closed by remote host|"
           r"Connection reset by peer|[Cc]lient sent invalid protocol identifier.*)" + _PRE,
           _kex_identification),),
    "banner": (_r(r"banner exchange: Connection from (?P<addr>[^ ]+) port (?P<port>\d{1,5}): "
                  r"(?P<reason>.*)", lambda m: _fields("ssh_bad_protocol_version", "failure", m,
                                                       preauth=True)),),
    "ssh_dispatch_run_fatal:": (_r(r"ssh_dispatch_run_fatal: Connection from " + _USER_ADDR_PORT,
                                   _user_addr_reason("ssh_protocol_error")),),
    "Timeout": (_r(r"Timeout before authentication for (?:connection from )?(?P<addr>[^ ]+?)"
                   r"(?: port (?P<port>\d{1,5}))?(?: to [^ ]+, pid = \d+)?",
                   _simple("ssh_timeout", "failure", **{"system.auth.ssh.preauth": True})),),
    # Debian's and Ubuntu's sshd with LogLevel VERBOSE: "SSH: Server;Ltype: Version;Remote:
    # 192.0.2.1-4000;Protocol: 2.0;Client: ..."
    "SSH:": (_r(r"SSH: Server;Ltype: [A-Za-z]+;Remote: (?P<addr>[^ ;]+)-(?P<port>\d{1,5});.*",
                _simple("ssh_connection_opened", "unknown")),),
    "Read": (
        _r(r"Read from socket failed: (?P<reason>.*?)" + _PRE,
           lambda m: _fields("ssh_connection_reset", "failure", m, preauth=True)),
        _r(r"Read error from remote host (?P<addr>[^ ]+?)(?: port (?P<port>\d{1,5}))?: "
           r"(?P<reason>.*?)" + _PRE, lambda m: _fields("ssh_connection_reset", "failure", m)),
    ),
    "Write": (_r(r"Write failed: (?P<reason>.*?)" + _PRE,
                 lambda m: _fields("ssh_connection_reset", "failure", m, preauth=True)),),
    "Corrupted": (_r(r"(?P<reason>Corrupted MAC on input\.)" + _PRE,
                     _simple("ssh_protocol_error", "failure")),),
    "Bad": (
        _r(r"Bad protocol version identification '(?P<version>.*)' from (?P<addr>[^ ]+)"
           r"(?: port (?P<port>\d{1,5}))?" + _PRE,
           lambda m: {**_fields("ssh_bad_protocol_version", "failure", m, preauth=True),
                      "system.auth.ssh.version": m["version"]}),
        _r(r"(?P<reason>Bad packet length \d+\.)" + _PRE, _simple("ssh_protocol_error", "failure")),
    ),
}
