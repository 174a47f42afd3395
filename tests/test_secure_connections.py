"""Per-process correlation: lines of an sshd process that name no address get the one the
same process wrote before, and nothing else does."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from pathlib import Path

import redis

from socbot.collectors.files import read_events
from socbot.collectors.pipeline import collect_secure
from socbot.collectors.secure import parse_line
from socbot.collectors.secure_connections import FROM_PROCESS, PREAUTH_FROM_PROCESS, Connections
from socbot.core.events import loads
from socbot.core.streams import EVENTS

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
OPENED = "Connection from 192.0.2.5 port 4000 on 198.51.100.2 port 22"
TOO_MANY = "Disconnecting: Too many authentication failures for root [preauth]"


def line(msg: str, pid: int = 700, host: str = "gw", at: str = "03:12:09") -> dict:
    event = parse_line(f"Nov 23 {at} {host} sshd[{pid}]: {msg}", now=NOW)
    assert event is not None, msg
    return event


def run(table: Connections, *events: dict) -> list[dict]:
    return [table.apply(e) for e in events]


def test_line_without_address_gets_its_process_address() -> None:
    _, cut = run(Connections(), line(OPENED), line(TOO_MANY))
    assert (cut["source.ip"], cut["source.port"]) == ("192.0.2.5", 4000)
    assert cut["tags"] == [FROM_PROCESS]
    assert cut["event.action"] == "ssh_max_auth_attempts"


def test_another_pid_or_host_gets_nothing() -> None:
    table = Connections()
    _, other_pid, other_host = run(table, line(OPENED), line(TOO_MANY, pid=701),
                                   line(TOO_MANY, host="db"))
    assert "source.ip" not in other_pid and "source.ip" not in other_host


def test_pid_reused_after_the_connection_closed_starts_fresh() -> None:
    table = Connections()
    *_, reused = run(table, line(OPENED), line("Connection closed by 192.0.2.5 port 4000 "
                                               "[preauth]"),
                     line("fatal: Read from socket failed: Connection reset by peer [preauth]",
                          at="03:20:00"))
    assert "source.ip" not in reused and len(table) == 0


def test_a_new_address_on_the_same_pid_replaces_the_old_one() -> None:
    *_, cut = run(Connections(), line(OPENED),
                  line("Invalid user x from 192.0.2.6 port 5"), line(TOO_MANY))
    assert cut["source.ip"] == "192.0.2.6"


def test_entries_expire_by_event_time() -> None:
    _, late = run(Connections(ttl_s=60), line(OPENED), line(TOO_MANY, at="03:13:10"))
    assert "source.ip" not in late


def test_table_is_bounded_least_recently_used_first() -> None:
    table = Connections(max_entries=2)
    run(table, line(OPENED, pid=1), line(OPENED, pid=2), line(OPENED, pid=3))
    assert len(table) == 2
    first, third = run(table, line(TOO_MANY, pid=1), line(TOO_MANY, pid=3))
    assert "source.ip" not in first and third["source.ip"] == "192.0.2.5"


def test_ambiguous_line_teaches_nothing_but_gets_its_process_address() -> None:
    ambiguous = ("Failed password for invalid user a from 6.6.6.6 port 1 ssh2: b from "
                 "192.0.2.9 port 2 ssh2")
    table = Connections()
    first, after = run(table, line(ambiguous, pid=9), line(TOO_MANY, pid=9))
    assert "source.ip" not in first and "source.ip" not in after
    _, second = run(table, line("Invalid user a from 192.0.2.7 port 3", pid=9),
                    line(ambiguous, pid=9))
    assert second["source.ip"] == "192.0.2.7"
    assert second["tags"] == ["ambiguous_fields", FROM_PROCESS]
    assert "user.name" not in second


def test_non_sshd_programs_are_left_alone() -> None:
    table = Connections()
    event = parse_line("Nov 23 03:12:09 gw su[700]: pam_unix(su:auth): authentication failure; "
                       "logname=bob uid=1000 euid=0 tty=pts/0 ruser=bob rhost=  user=root",
                       now=NOW)
    assert event is not None
    run(table, line(OPENED), event)
    assert "source.ip" not in event


def test_file_reading_attributes_across_lines(tmp_path: Path) -> None:
    log = tmp_path / "secure"
    log.write_text(f"Nov 23 03:12:09 gw sshd[700]: {OPENED}\n"
                   f"Nov 23 03:12:10 gw sshd[700]: {TOO_MANY}\n")
    events = list(read_events("secure", [log]))
    assert [e.get("source.ip") for e in events] == ["192.0.2.5", "192.0.2.5"]


def test_collector_attributes_across_batches(tmp_path: Path, redis_client: redis.Redis) -> None:
    log = tmp_path / "secure"
    log.write_text(f"Nov 23 03:12:09 gw sshd[700]: {OPENED}\n"
                   f"Nov 23 03:12:10 gw sshd[700]: {TOO_MANY}\n")
    collect_secure(redis_client, log, threading.Event(), from_start=True, once=True, batch=1)
    sent = [loads(fields[b"e"]) for _id, fields in redis_client.xrange(EVENTS)]
    assert [e.get("source.ip") for e in sent] == ["192.0.2.5", "192.0.2.5"]
    assert sent[1]["tags"] == [FROM_PROCESS]


def test_close_after_an_address_less_preauth_failure_is_a_preauth_failure() -> None:
    # What a port scanner leaves on current OpenSSH: the failure first, the address after.
    kex, closed = run(Connections(),
                      line("error: kex_exchange_identification: Connection closed by remote host"),
                      line("Connection closed by 192.0.2.8 port 4444"))
    assert "source.ip" not in kex
    assert (closed["source.ip"], closed["event.outcome"], closed["system.auth.ssh.preauth"]) == (
        "192.0.2.8", "failure", True)
    assert closed["tags"] == [PREAUTH_FROM_PROCESS]


def test_close_of_a_process_without_an_earlier_failure_stays_unknown() -> None:
    (closed,) = run(Connections(), line("Connection closed by 192.0.2.8 port 4444"))
    assert closed["event.outcome"] == "unknown" and "tags" not in closed


def test_preauth_close_of_a_guessing_session_says_a_user_was_tried() -> None:
    *_, bye = run(Connections(), line("Failed password for root from 192.0.2.9 port 1 ssh2"),
                  line("Received disconnect from 192.0.2.9 port 1:11: Bye Bye [preauth]"))
    assert bye["system.auth.ssh.user_tried"] is True
    (scan,) = run(Connections(),
                  line("Received disconnect from 192.0.2.9 port 1:11: Bye Bye [preauth]", pid=5))
    assert "system.auth.ssh.user_tried" not in scan
