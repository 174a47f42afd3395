"""Property tests: attacker text in the user name, the auth-info after ``ssh2: ``, PAM's ruser
and user, or dropbear's quoted user never supplies the address.

Each generated line has the address the daemon wrote (``DAEMON``, which the generators never
produce); the parser must give that address or, where the line reads two ways, none (tagged
``ambiguous_fields``). It never raises anything but :class:`ParseError`.
"""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from socbot.collectors.secure import ParseError, parse_line

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
DAEMON = "203.0.113.9"
HEAD = "Nov 23 03:12:09 gw sshd[77]: "

# Pieces of the daemons' own fixed text, other addresses and plain text: what an attacker
# would splice into a name to make a line read differently.
_PIECES = st.sampled_from([
    " from ", "from ", "6.6.6.6", "10.10.1.1", "::1", "::ffff:6.6.6.6", " port ", " port 22",
    "22", " ssh2", " ssh1", ": ", " [preauth]", "[preauth]", " rhost=", "rhost=", " user=",
    "  user=", "'", '"', "x", " ", "invalid user ", "authenticating user ", "(", ")", ":4444",
    " via 6.6.6.6", " not allowed because ", "RSA SHA256:abc", " ID ", " (serial 1) CA RSA ",
    "<6.6.6.6:1>", "\\", "%eth0", ":", " ssh2:", " port 1 ssh2:", " 6.6.6.6 port 1:",
])
_NOISE = st.text(alphabet=st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp")),
                 max_size=12)
HOSTILE = st.lists(st.one_of(_PIECES, _NOISE), max_size=14).map("".join)
ACCOUNT = st.from_regex(r"[a-z_][a-z0-9_-]{0,15}", fullmatch=True)


def _read(line: str) -> dict | None:
    try:
        return parse_line(line, now=NOW)
    except ParseError:
        return None


def _daemons_or_none(event: dict | None) -> None:
    """The address is the daemon's, or absent with the line marked ambiguous."""
    assert event is not None
    if "source.ip" in event or "source.address" in event:
        assert event.get("source.ip") == DAEMON, event
    else:
        assert "ambiguous_fields" in event.get("tags", ()), event


SSHD_USER_TEMPLATES = [
    "Failed password for invalid user {u} from {a} port 4242 ssh2",
    "Failed password for {u} from {a} port 4242 ssh2",
    "Failed publickey for invalid user {u} from {a} port 4242 ssh2: RSA SHA256:k",
    "Invalid user {u} from {a} port 4242",
    "Connection closed by invalid user {u} {a} port 4242 [preauth]",
    "Connection reset by authenticating user {u} {a} port 4242 [preauth]",
    "Disconnected from authenticating user {u} {a} port 4242 [preauth]",
    "error: maximum authentication attempts exceeded for invalid user {u} from {a} port 4242 "
    "ssh2 [preauth]",
    "error: PAM: Authentication failure for illegal user {u} from {a}",
    "Disconnecting invalid user {u} {a} port 4242: Too many authentication failures [preauth]",
    "Disconnecting invalid user {u} {a} port 4242: Change of username or service not allowed: "
    "({u},ssh-connection) -> (root,ssh-connection) [preauth]",
]


@settings(max_examples=150, deadline=None)
@given(user=HOSTILE, template=st.sampled_from(SSHD_USER_TEMPLATES))
def test_hostile_user_name_never_supplies_the_address(user: str, template: str) -> None:
    _daemons_or_none(_read(HEAD + template.format(u=user, a=DAEMON)))


@settings(max_examples=300, deadline=None)
@given(user=HOSTILE, info=HOSTILE, method=st.sampled_from(["publickey", "hostbased",
                                                           "password"]))
def test_hostile_user_and_auth_info_never_supply_the_address(user: str, info: str,
                                                             method: str) -> None:
    line = (f"{HEAD}Failed {method} for invalid user {user} from {DAEMON} port 4242 ssh2: "
            f"{info}")
    _daemons_or_none(_read(line))


def test_user_name_ending_where_sshd_writes_auth_info_leaves_two_readings() -> None:
    # Invalid user "x from 6.6.6.6 port 1 ssh2:" from the daemon's address, or invalid user
    # "x" from 6.6.6.6 with the auth-info "from <daemon> ...": neither can be ruled out.
    event = _read(f"{HEAD}Failed publickey for invalid user x from 6.6.6.6 port 1 ssh2: from "
                  f"{DAEMON} port 4242 ssh2: RSA SHA256:k")
    assert event is not None and "source.ip" not in event
    assert event["tags"] == ["ambiguous_fields"]


@settings(max_examples=150, deadline=None)
@given(user=ACCOUNT, info=HOSTILE)
def test_existing_users_hostile_auth_info_still_gives_the_address(user: str, info: str) -> None:
    # An existing account's name is one token: the first address after it is sshd's.
    event = _read(f"{HEAD}Failed publickey for {user} from {DAEMON} port 4242 ssh2: {info}")
    assert event is not None and event["source.ip"] == DAEMON
    assert event["user.name"] == user


@settings(max_examples=150, deadline=None)
@given(ruser=HOSTILE, user=HOSTILE, service=st.sampled_from(["sshd", "vsftpd", "dovecot"]))
def test_hostile_pam_ruser_and_user_never_supply_the_host(ruser: str, user: str,
                                                          service: str) -> None:
    line = (f"Nov 23 03:12:09 gw {service}[5]: pam_unix({service}:auth): authentication "
            f"failure; logname= uid=0 euid=0 tty=x ruser={ruser} rhost={DAEMON}  user={user}")
    _daemons_or_none(_read(line))


@settings(max_examples=150, deadline=None)
@given(user=HOSTILE, template=st.sampled_from([
    "Bad password attempt for '{u}' from {a}:4242",
    "Login attempt for nonexistent user '{u}' from {a}:4242",
    "Exit before auth from <{a}:4242>: (user '{u}', 3 fails): Max auth tries reached - user '{u}'",
    "Exit before auth (user '{u}', 3 fails): Max auth tries reached - user '{u}' from {a}:4242",
]))
def test_hostile_dropbear_user_never_supplies_the_address(user: str, template: str) -> None:
    event = _read("Nov 23 03:12:09 r1 dropbear[5]: " + template.format(u=user, a=DAEMON))
    if event is not None:  # a quote in the name can make the line no longer dropbear's shape
        assert event.get("source.ip") == DAEMON, event


@settings(max_examples=150, deadline=None)
@given(text=HOSTILE)
def test_any_sshd_message_parses_or_is_refused_and_never_names_an_invented_address(
        text: str) -> None:
    event = _read(HEAD + text)
    if event is not None:
        # Whatever the message, an address only comes from sshd's position in it, and the
        # generator's addresses are the only ones there.
        assert event.get("source.ip") in (None, "6.6.6.6", "10.10.1.1", "::1"), event
