"""``socbot parse`` over whole files: the same events on one process or several."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

import socbot.collectors.files as files
from socbot.collectors.base import BadRecord


def sequential(path: Path) -> tuple[list[str], int, int]:
    events, ignored, failed = [], 0, 0
    for item in files.read_secure(path):
        if item is None:
            ignored += 1
        elif isinstance(item, BadRecord):
            failed += 1
        else:
            events.append(item)
    return [e["event.id"] for e in events], ignored, failed


def test_parallel_parse_gives_the_same_events_in_the_same_order(
        tmp_path: Path, shared_data: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    lines = (shared_data / "authlog/wazuh/log-entries_sshd").read_text().splitlines()
    extra = ["Nov 23 03:12:09 h kernel: up", "not syslog", "é" * 10]
    log = tmp_path / "secure"
    log.write_text("\n".join((lines + extra) * 3))  # no newline at the end
    monkeypatch.setattr(files, "_CHUNK", 997)       # many small ranges, cut mid-file
    chunks = list(files.parse_secure_in_parallel([log], 2, summary=False))
    assert len(chunks) > 5
    ids = [json.loads(line)["event.id"] for c in chunks for line in c.lines]
    want_ids, ignored, failed = sequential(log)
    assert ids == want_ids and len(ids) == 345 * 3
    assert sum(c.ignored for c in chunks) == ignored == 3
    assert sum(c.failed for c in chunks) == failed == 6


def test_parallel_summary_counts_per_action_and_outcome(
        tmp_path: Path, shared_data: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    log = tmp_path / "secure"
    log.write_bytes((shared_data / "authlog/wazuh/log-entries_sshd").read_bytes())
    monkeypatch.setattr(files, "_CHUNK", 4000)
    total: Counter[tuple[str, str]] = Counter()
    for chunk in files.parse_secure_in_parallel([log], 2, summary=True):
        total.update(chunk.summary)
    seq = Counter(
        (e["event.action"], e["event.outcome"]) for e in files.read_secure(log)
        if isinstance(e, dict))
    assert total == seq and sum(total.values()) == 345


def test_ambiguous_lines_are_counted_in_the_report(tmp_path: Path) -> None:
    log = tmp_path / "secure"
    log.write_text("Nov 23 03:12:09 h sshd[7]: Failed password for invalid user x from 6.6.6.6 "
                   "port 1 ssh2: from 192.0.2.1 port 2 ssh2\n"
                   "Nov 23 03:12:09 h sshd[8]: Invalid user a from 192.0.2.2 port 1\n")
    reader = files.read_events("secure", [log])
    events = list(reader)
    assert [e.get("source.ip") for e in events] == [None, "192.0.2.2"]
    assert reader.ambiguous == 1 and "2 events (1 ambiguous" in reader.report()
    chunks = list(files.parse_secure_in_parallel([log], 1, summary=True))
    assert sum(c.ambiguous for c in chunks) == 1
