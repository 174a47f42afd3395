"""journald: entries in ``journalctl -o json``'s shape (``data/journal_auth.json``: the fields
journald writes for sshd, sudo, a ``logger -t sshd`` forgery and a non-UTF-8 message), read
from files and from a stand-in ``journalctl`` executable on PATH (systemd cannot run here)
that answers the arguments the real one takes: ``--after-cursor``, ``--lines``, ``--follow``
and matches."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import redis

from socbot.collectors.journald import (
    DEFAULT_MATCHES,
    collect_journald,
    journalctl_command,
    read_path,
    record_event,
)
from socbot.collectors.secure_connections import FROM_PROCESS
from socbot.core.events import loads
from socbot.core.streams import EVENTS

RECORDED = Path(__file__).parent / "data" / "journal_auth.json"

STAND_IN = '''#!{python}
"""A stand-in for journalctl: prints the recorded entries the arguments ask for."""
import json, os, sys, time
args = sys.argv[1:]
with open(os.environ["JOURNAL_ARGV"], "a") as out:
    out.write(json.dumps(args) + "\\n")
assert "--output=json" in args, args
path = os.environ["JOURNAL_RECORDS"]
after = next((a.split("=", 1)[1] for a in args if a.startswith("--after-cursor=")), None)
matches = [a.split("=", 1) for a in args if not a.startswith("-")]

def wanted(record):
    fields = {{}}
    for field, value in matches:
        fields.setdefault(field, set()).add(value)
    return all(record.get(f) in values for f, values in fields.items())

def entries(skip_to):
    with open(path) as handle:
        records = [json.loads(line) for line in handle if line.strip()]
    start = 0
    if skip_to is not None:
        cursors = [r["__CURSOR"] for r in records]
        start = cursors.index(skip_to) + 1
    return records, start

records, start = entries(after)
if after is None and "--lines=0" in args:
    start = len(records)
for record in records[start:]:
    if wanted(record):
        print(json.dumps(record), flush=True)
seen = len(records)
if "--follow" in args:
    deadline = time.monotonic() + 20   # ends by itself
    while time.monotonic() < deadline:
        time.sleep(0.05)
        records, _ = entries(None)
        for record in records[seen:]:
            if wanted(record):
                print(json.dumps(record), flush=True)
        seen = len(records)
'''


def recorded() -> list[dict]:
    return [json.loads(line) for line in RECORDED.read_text().splitlines()]


@pytest.fixture
def journal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A stand-in journalctl first on PATH, serving ``records.json`` (empty at first)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    tool = bin_dir / "journalctl"
    tool.write_text(STAND_IN.format(python=sys.executable))
    tool.chmod(0o755)
    records = tmp_path / "records.json"
    records.write_text("")
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("JOURNAL_RECORDS", str(records))
    monkeypatch.setenv("JOURNAL_ARGV", str(tmp_path / "argv.jsonl"))
    return records


def append(path: Path, records: list[dict]) -> None:
    with path.open("a") as handle:
        handle.write("".join(json.dumps(r) + "\n" for r in records))


def sent(client: redis.Redis) -> list[dict]:
    return [loads(fields[b"e"]) for _id, fields in client.xrange(EVENTS)]


def argv_seen(journal: Path) -> list[list[str]]:
    return [json.loads(line) for line in
            (journal.parent / "argv.jsonl").read_text().splitlines()]


# --- one entry ------------------------------------------------------------------------------

def test_entry_fields_become_the_events_header() -> None:
    event = record_event(recorded()[1])
    assert event is not None
    assert (event["@timestamp"], event["host.name"], event["process.name"],
            event["process.pid"]) == ("2026-11-23T03:12:10.000137Z", "bastion", "sshd", 4101)
    assert (event["event.action"], event["source.ip"], event["user.name"]) == (
        "ssh_invalid_user", "203.0.113.50", "oracle")
    assert event["event.id"] != record_event(recorded()[3])["event.id"]  # type: ignore[index]


def test_a_process_that_only_claims_to_be_sshd_is_not_read_as_sshd() -> None:
    forged = recorded()[7]
    assert (forged["SYSLOG_IDENTIFIER"], forged["_COMM"]) == ("sshd", "logger")
    assert record_event(forged) is None
    genuine = {**forged, "_COMM": "sshd"}
    assert record_event(genuine) is not None


def test_message_as_bytes_is_decoded_with_replacement() -> None:
    event = record_event(recorded()[9])
    assert event is not None and event["user.name"] == "\ufffdadmin"


def test_entry_without_a_timestamp_is_refused() -> None:
    from socbot.collectors.secure import ParseError

    with pytest.raises(ParseError, match="__REALTIME_TIMESTAMP"):
        record_event({"MESSAGE": "Invalid user a from 192.0.2.1", "_COMM": "sshd"})


# --- exported files ----------------------------------------------------------------------

def test_exported_file_is_read_with_per_process_correlation() -> None:
    items = list(read_path(RECORDED))
    events = [i for i in items if isinstance(i, dict)]
    assert len(items) == 11 and len(events) == 9
    too_many = next(e for e in events if e["event.action"] == "ssh_max_auth_attempts")
    assert too_many["source.ip"] == "203.0.113.50" and too_many["tags"] == [FROM_PROCESS]


def test_parse_command_reads_journal_exports(tmp_path: Path) -> None:
    bad = tmp_path / "export.json"
    bad.write_text(RECORDED.read_text() + "{not json\n")
    done = subprocess.run([sys.executable, "-m", "socbot.bot.cli", "parse", "--source",
                           "journald", "--summary", str(bad)], capture_output=True, text=True,
                          check=True)
    assert "ssh_invalid_user" in done.stdout
    assert "9 events, 2 of no interest, 1 unparsed" in done.stderr


# --- following journalctl ------------------------------------------------------------------

def test_command_is_an_argument_list_with_the_cursor() -> None:
    argv = journalctl_command(cursor="s=1;i=2", from_start=False, follow=True)
    assert argv == ["journalctl", "--output=json", "--no-pager", "--follow",
                    "--after-cursor=s=1;i=2", *DEFAULT_MATCHES]


def test_a_match_that_is_not_field_equals_value_is_refused() -> None:
    with pytest.raises(ValueError, match="FIELD=VALUE"):
        journalctl_command(cursor=None, from_start=True, follow=False,
                           matches=["--output=cat"])


def test_restart_resumes_after_the_saved_cursor_nothing_lost_nothing_repeated(
        journal: Path, redis_client: redis.Redis) -> None:
    records = recorded()
    append(journal, records[:4])
    first = collect_journald(redis_client, threading.Event(), once=True, from_start=True,
                             matches=(), batch=2)
    assert first.parsed == 4
    append(journal, records[4:])
    second = collect_journald(redis_client, threading.Event(), once=True, from_start=True,
                              matches=(), batch=3)
    events = sent(redis_client)
    assert second.parsed + second.ignored == len(records) - 4
    assert len({e["event.id"] for e in events}) == len(events) == 9
    argvs = argv_seen(journal)
    assert "--lines=all" in argvs[0]
    assert f"--after-cursor={records[3]['__CURSOR']}" in argvs[1]


def test_follow_sends_new_entries_until_stopped(journal: Path, redis_client: redis.Redis
                                               ) -> None:
    stop = threading.Event()
    result: dict[str, object] = {}

    def run() -> None:
        result["stats"] = collect_journald(redis_client, stop, poll_interval=0.05)

    thread = threading.Thread(target=run)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not (journal.parent / "argv.jsonl").exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        append(journal, recorded()[:2])
        while redis_client.xlen(EVENTS) < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        stop.set()
        thread.join(15)
    assert not thread.is_alive()
    assert [e["event.action"] for e in sent(redis_client)] == ["ssh_connection_opened",
                                                               "ssh_invalid_user"]
    argv = argv_seen(journal)[0]
    assert "--follow" in argv and "--lines=0" in argv
    assert [a for a in argv if not a.startswith("-")] == list(DEFAULT_MATCHES)


def test_a_failing_journalctl_is_reported(tmp_path: Path, redis_client: redis.Redis) -> None:
    tool = tmp_path / "journalctl"
    tool.write_text("#!/bin/sh\necho 'Failed to open journal' >&2\nexit 1\n")
    tool.chmod(0o755)
    with pytest.raises(RuntimeError, match="status 1"):
        collect_journald(redis_client, threading.Event(), once=True, executable=str(tool))
