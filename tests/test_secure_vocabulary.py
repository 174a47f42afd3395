"""Every message class sshd, PAM and dropbear write about a failed, refused or cut-short
connection: the action, the outcome, the address (or host name) and the user of each.

The lines are written from the formats the daemons use (OpenSSH's auth.c, sshd.c, packet.c;
Linux-PAM's pam_unix; dropbear's svr-auth.c), with documentation addresses.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from socbot.collectors.secure import parse_line
from socbot.core.events import validate

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
H = "Nov 23 03:12:09 gw sshd[4242]: "

# (message after the header, action, outcome, address or host name, user)
SSHD = [
    ("Failed password for alice from 192.0.2.1 port 2200 ssh2", "ssh_login", "failure",
     "192.0.2.1", "alice"),
    ("Failed password for invalid user oracle from 192.0.2.2 port 2200", "ssh_login", "failure",
     "192.0.2.2", "oracle"),
    ("Failed password for invalid user oracle from 2001:db8::7", "ssh_login", "failure",
     "2001:db8::7", "oracle"),
    ("Failed password for bob from 192.0.2.3 port 2200 ssh1", "ssh_login", "failure",
     "192.0.2.3", "bob"),
    ("Failed hostbased for bob from 192.0.2.4 port 2200 ssh2: ED25519 SHA256:zz, client user "
     '"bob", client host "ws1"', "ssh_login", "failure", "192.0.2.4", "bob"),
    ("Failed keyboard-interactive/pam for invalid user x from 192.0.2.5 port 1 ssh2",
     "ssh_login", "failure", "192.0.2.5", "x"),
    ("[ID 800047 auth.info] Failed keyboard-interactive for <invalid username> from 192.0.2.6 "
     "port 2 ssh2", "ssh_login", "failure", "192.0.2.6", "<invalid username>"),
    ("Failed password for root from fe80::1%eth0 port 22 ssh2", "ssh_login", "failure",
     "fe80::1%eth0", "root"),
    ("Failed password for root from ::ffff:192.0.2.9 port 22 ssh2", "ssh_login", "failure",
     "192.0.2.9", "root"),
    ("error: PAM: Authentication failure for carol from ws7.example.org", "ssh_auth_failure",
     "failure", "ws7.example.org", "carol"),
    ("error: PAM: authentication error for carol from 192.0.2.10 via 198.51.100.1",
     "ssh_auth_failure", "failure", "192.0.2.10", "carol"),
    ("error: PAM: User not known to the underlying authentication module for illegal user zed "
     "from 192.0.2.11 ", "ssh_auth_failure", "failure", "192.0.2.11", "zed"),
    ("ROOT LOGIN REFUSED FROM 192.0.2.12 port 5 [preauth]", "ssh_root_refused", "failure",
     "192.0.2.12", "root"),
    ("ROOT LOGIN REFUSED FROM ::ffff:192.0.2.13", "ssh_root_refused", "failure", "192.0.2.13",
     "root"),
    ("Illegal user guest from 192.0.2.14", "ssh_invalid_user", "failure", "192.0.2.14", "guest"),
    ("User dave from 192.0.2.15 not allowed because not listed in AllowUsers", "ssh_not_allowed",
     "failure", "192.0.2.15", "dave"),
    ("User dave from host9.example.net not allowed because listed in DenyUsers",
     "ssh_not_allowed", "failure", "host9.example.net", "dave"),
    ("User erin from 192.0.2.16 not allowed because not in any group", "ssh_not_allowed",
     "failure", "192.0.2.16", "erin"),
    ("User erin from 192.0.2.17 not allowed because a group is listed in DenyGroups",
     "ssh_not_allowed", "failure", "192.0.2.17", "erin"),
    ("User erin from 192.0.2.18 not allowed because none of user's groups are listed in "
     "AllowGroups", "ssh_not_allowed", "failure", "192.0.2.18", "erin"),
    ("User erin not allowed because account is locked", "ssh_not_allowed", "failure", None,
     "erin"),
    ("refused connect from scanner.example.com (192.0.2.19)", "ssh_refused_connect", "failure",
     "192.0.2.19", None),
    ("Received disconnect from 192.0.2.20 port 4000:11: Bye Bye [preauth]",
     "ssh_disconnect_received", "failure", "192.0.2.20", None),
    ("error: Received disconnect from 192.0.2.21: 3: com.example.Client: Auth fail [preauth]",
     "ssh_disconnect_received", "failure", "192.0.2.21", None),
    ("Received disconnect from 192.0.2.22 port 1:14: No supported authentication methods "
     "available [preauth]", "ssh_disconnect_received", "failure", "192.0.2.22", None),
    ("Received disconnect from 192.0.2.23 port 4001:11: disconnected by user",
     "ssh_disconnect_received", "success", "192.0.2.23", None),
    ("Connection closed by 192.0.2.24 port 5000 [preauth]", "ssh_connection_closed", "failure",
     "192.0.2.24", None),
    ("Connection closed by 192.0.2.25", "ssh_connection_closed", "unknown", "192.0.2.25", None),
    ("Connection reset by 192.0.2.26 port 5001 [preauth]", "ssh_connection_reset", "failure",
     "192.0.2.26", None),
    ("Connection reset by authenticating user root 192.0.2.27 port 5002 [preauth]",
     "ssh_connection_reset", "failure", "192.0.2.27", "root"),
    ("Disconnected from 192.0.2.28 port 5003 [preauth]", "ssh_disconnected", "failure",
     "192.0.2.28", None),
    ("Disconnecting invalid user admin 192.0.2.29 port 5004: Change of username or service not "
     "allowed: (admin,ssh-connection) -> (root,ssh-connection) [preauth]",
     "ssh_user_change_refused", "failure", "192.0.2.29", "admin"),
    ("Disconnecting authenticating user root 192.0.2.30 port 5005: Too many authentication "
     "failures [preauth]", "ssh_disconnected", "failure", "192.0.2.30", "root"),
    ("Disconnecting: Too many authentication failures for root [preauth]",
     "ssh_max_auth_attempts", "failure", None, "root"),
    ("Disconnecting: Too many authentication failures [preauth]", "ssh_max_auth_attempts",
     "failure", None, None),
    ("Connection from 192.0.2.31 port 5006 on 198.51.100.2 port 22 rdomain \"\"",
     "ssh_connection_opened", "unknown", "192.0.2.31", None),
    ("SSH: Server;Ltype: Version;Remote: 192.0.2.90-4000;Protocol: 2.0;Client: libssh_0.9",
     "ssh_connection_opened", "unknown", "192.0.2.90", None),
    ("Unable to negotiate with 192.0.2.32 port 5007: no matching host key type found. Their "
     "offer: ssh-dss [preauth]", "ssh_negotiation_failed", "failure", "192.0.2.32", None),
    ("fatal: Unable to negotiate a key exchange method [preauth]", "ssh_negotiation_failed",
     "failure", None, None),
    ("fatal: no matching mac found: client hmac-x server hmac-y [preauth]",
     "ssh_negotiation_failed", "failure", None, None),
    ("Did not receive identification string from 192.0.2.33 port 5008",
     "ssh_no_identification", "failure", "192.0.2.33", None),
    ("error: kex_exchange_identification: Connection closed by remote host",
     "ssh_no_identification", "failure", None, None),
    ("error: kex_exchange_identification: read: Connection reset by peer",
     "ssh_no_identification", "failure", None, None),
    ('error: kex_exchange_identification: client sent invalid protocol identifier "GET / HTTP"',
     "ssh_bad_protocol_version", "failure", None, None),
    ("banner exchange: Connection from 192.0.2.34 port 5009: invalid format",
     "ssh_bad_protocol_version", "failure", "192.0.2.34", None),
    ("ssh_dispatch_run_fatal: Connection from 192.0.2.35 port 5010: message authentication "
     "code incorrect [preauth]", "ssh_protocol_error", "failure", "192.0.2.35", None),
    ("fatal: Timeout before authentication for 192.0.2.36 port 5011", "ssh_timeout", "failure",
     "192.0.2.36", None),
    ("Timeout before authentication for connection from 192.0.2.37 to 198.51.100.2, pid = 77",
     "ssh_timeout", "failure", "192.0.2.37", None),
    ("fatal: Read from socket failed: Connection reset by peer [preauth]",
     "ssh_connection_reset", "failure", None, None),
    ("fatal: Write failed: Connection reset by peer [preauth]", "ssh_connection_reset",
     "failure", None, None),
    ("maximum authentication attempts exceeded for invalid user xx from 192.0.2.38 port 5012 "
     "ssh2 [preauth]", "ssh_max_auth_attempts", "failure", "192.0.2.38", "xx"),
    ("PAM 2 more authentication failures; logname= uid=0 euid=0 tty=ssh ruser= "
     "rhost=192.0.2.39  user=root", "pam_auth_failure", "failure", "192.0.2.39", "root"),
    ("pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= "
     "rhost=192.0.2.40 ", "pam_auth_failure", "failure", "192.0.2.40", None),
    ("pam_sss(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= "
     "rhost=192.0.2.41 user=frank", "pam_auth_failure", "failure", "192.0.2.41", "frank"),
    ("pam_faillock(sshd:auth): Consecutive login failures for user root account temporarily "
     "locked", "account_locked", "failure", None, "root"),
    ("pam_unix(sshd:auth): check pass; user unknown", "pam_user_unknown", "failure", None, None),
]

OTHERS = [
    ("Nov 23 03:12:09 ftp vsftpd: pam_unix(vsftpd:auth): authentication failure; logname= uid=0 "
     "euid=0 tty=ftp ruser=anon rhost=client.example.com", "pam_auth_failure", "failure",
     "client.example.com", None),
    ("Nov 23 03:12:09 ftp pure-ftpd: (pam_unix) authentication failure; logname= uid=0 euid=0 "
     "tty=pure-ftpd ruser=gina rhost=192.0.2.50 ", "pam_auth_failure", "failure", "192.0.2.50",
     None),
    ("Nov 23 03:12:09 ftp proftpd: (pam_unix) authentication failure; logname= uid=0 euid=0 "
     "tty= ruser= rhost=192.0.2.51  user=hank", "pam_auth_failure", "failure", "192.0.2.51",
     "hank"),
    ("Nov 23 03:12:09 mail dovecot: pam_unix(dovecot:auth): authentication failure; logname= "
     "uid=0 euid=0 tty=dovecot ruser=ivy rhost=192.0.2.52", "pam_auth_failure", "failure",
     "192.0.2.52", None),
    ("Nov 23 03:12:09 r1 dropbear[31]: Bad password attempt for 'root' from 192.0.2.60:5000",
     "ssh_login", "failure", "192.0.2.60", "root"),
    ("Nov 23 03:12:09 r1 dropbear[31]: bad PAM password attempt for 'joe' from 192.0.2.61:5001",
     "ssh_login", "failure", "192.0.2.61", "joe"),
    ("Nov 23 03:12:09 r1 dropbear[31]: Login attempt for nonexistent user from "
     "::ffff:192.0.2.62:5002", "ssh_invalid_user", "failure", "192.0.2.62", None),
    ("Nov 23 03:12:09 r1 dropbear[31]: Exit before auth (user 'root', 10 fails): Max auth "
     "tries reached - user 'root' from 192.0.2.63:5003", "ssh_max_auth_attempts", "failure",
     "192.0.2.63", "root"),
    ("Nov 23 03:12:09 r1 dropbear[31]: [31] Nov 23 03:12:09 Exit before auth from "
     "<192.0.2.64:5004>: (user 'root', 10 fails): Max auth tries reached - user 'root'",
     "ssh_max_auth_attempts", "failure", "192.0.2.64", "root"),
    ("Nov 23 03:12:09 r1 dropbear[31]: Password auth succeeded for 'kim' from 192.0.2.65:5005",
     "ssh_login", "success", "192.0.2.65", "kim"),
]


def _check(event: dict | None, action: str, outcome: str, where: str | None,
           user: str | None) -> None:
    assert event is not None
    validate(event)
    assert (event["event.action"], event["event.outcome"]) == (action, outcome)
    assert event.get("source.ip", event.get("source.domain")) == where
    assert event.get("user.name") == user
    assert "tags" not in event


@pytest.mark.parametrize(("msg", "action", "outcome", "where", "user"), SSHD,
                         ids=[m[:48] for m, *_ in SSHD])
def test_sshd_message(msg: str, action: str, outcome: str, where: str | None,
                      user: str | None) -> None:
    _check(parse_line(H + msg, now=NOW), action, outcome, where, user)


@pytest.mark.parametrize(("line", "action", "outcome", "where", "user"), OTHERS,
                         ids=[m[16:64] for m, *_ in OTHERS])
def test_pam_of_any_service_and_dropbear(line: str, action: str, outcome: str,
                                         where: str | None, user: str | None) -> None:
    _check(parse_line(line, now=NOW), action, outcome, where, user)


def test_sshd_session_and_pre_auth_marks() -> None:
    event = parse_line("Nov 23 03:12:09 gw sshd-session[9]: Connection closed by authenticating "
                       "user root 192.0.2.70 port 4 [preauth]", now=NOW)
    assert event is not None and event["system.auth.ssh.preauth"] is True


def test_not_allowed_names_the_policy() -> None:
    event = parse_line(H + "User dave from 192.0.2.15 not allowed because listed in DenyUsers",
                       now=NOW)
    assert event is not None and event["system.auth.ssh.policy"] == "DenyUsers"


def test_message_repeated_counts_the_repeats() -> None:
    event = parse_line(H + "message repeated 5 times: [ Failed password for root from "
                       "192.0.2.80 port 22 ssh2]", now=NOW)
    assert event is not None
    assert (event["event.action"], event["source.ip"], event["system.auth.count"]) == (
        "ssh_login", "192.0.2.80", 5)


def test_pam_more_failures_counts_them() -> None:
    event = parse_line(H + "PAM 4 more authentication failures; logname= uid=0 euid=0 tty=ssh "
                       "ruser= rhost=192.0.2.81  user=root", now=NOW)
    assert event is not None and event["system.auth.count"] == 4


def test_host_name_is_a_domain_not_an_ip() -> None:
    event = parse_line(H + "error: PAM: Authentication failure for carol from WS7.Example.org",
                       now=NOW)
    assert event is not None
    assert "source.ip" not in event and event["source.domain"] == "ws7.example.org"


def test_uninteresting_sshd_lines_stay_of_no_interest() -> None:
    for msg in ("Server listening on 0.0.0.0 port 22.", "Postponed publickey for a from "
                "192.0.2.1 port 1 ssh2 [preauth]", "pam_unix(sshd:session): session opened for "
                "user a(uid=1000) by (uid=0)"):
        assert parse_line(H + msg, now=NOW) is None


def test_header_without_a_host_name_is_read() -> None:
    event = parse_line("Nov 23 03:12:09 sshd[8148]: error: kex_exchange_identification: "
                       "Connection closed by remote host", now=NOW)
    assert event is not None
    assert (event["process.name"], event["process.pid"], event["host.name"]) == ("sshd", 8148, "")
    assert event["event.action"] == "ssh_no_identification"
