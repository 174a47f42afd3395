"""FileTailer and PositionStore: complete lines, rotation, truncation, restart."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest
import redis

from socbot.collectors.tail import FileTailer, Position, PositionStore, file_id


def append(path: Path, data: str | bytes) -> None:
    with open(path, "ab") as fh:
        fh.write(data.encode() if isinstance(data, str) else data)


def texts(tailer: FileTailer, n: int = 500) -> list[str]:
    return [line.line for line in tailer.read_batch(n)]


def test_lines_carry_file_identity_and_byte_offset(tmp_path: Path) -> None:
    log = tmp_path / "secure"
    append(log, "é one\ntwo\n")
    lines = FileTailer(log, from_start=True).read_batch()
    ident = file_id(os.stat(log))
    assert lines == [("é one", ident, 0), ("two", ident, len("é one\n".encode()))]


def test_partial_last_line_waits_for_its_newline(tmp_path: Path) -> None:
    log = tmp_path / "secure"
    append(log, "done\nhalf")
    tailer = FileTailer(log, from_start=True)
    assert texts(tailer) == ["done"]
    assert texts(tailer) == []
    append(log, " and rest\n")
    assert texts(tailer) == ["half and rest"]


def test_invalid_utf8_is_replaced_not_fatal(tmp_path: Path) -> None:
    log = tmp_path / "secure"
    append(log, b"bad \xff\xfe byte\n")
    assert texts(FileTailer(log, from_start=True)) == ["bad \ufffd\ufffd byte"]


def test_new_file_is_read_from_its_end_by_default(tmp_path: Path) -> None:
    log = tmp_path / "secure"
    append(log, "old\n")
    tailer = FileTailer(log)
    assert texts(tailer) == []
    append(log, "new\n")
    assert texts(tailer) == ["new"]


def test_file_created_after_start_is_read_from_zero(tmp_path: Path) -> None:
    log = tmp_path / "secure"
    tailer = FileTailer(log)
    assert texts(tailer) == []
    append(log, "first\n")
    assert texts(tailer) == ["first"]


def test_max_lines_keeps_the_position_exact(tmp_path: Path) -> None:
    log = tmp_path / "secure"
    append(log, "".join(f"l{i}\n" for i in range(10)))
    tailer = FileTailer(log, from_start=True)
    assert texts(tailer, 3) == ["l0", "l1", "l2"]
    assert tailer.position == Position(file_id(os.stat(log)), 9)
    assert texts(tailer) == [f"l{i}" for i in range(3, 10)]


def test_rotation_by_rename_finishes_old_file_then_reads_new(tmp_path: Path) -> None:
    log = tmp_path / "secure"
    append(log, "a1\n")
    tailer = FileTailer(log, from_start=True)
    assert texts(tailer) == ["a1"]
    append(log, "a2\n")          # written just before rotation, not read yet
    log.rename(tmp_path / "secure.1")
    append(log, "b1\nb2\n")
    assert texts(tailer) == ["a2", "b1", "b2"]
    assert tailer.position == Position(file_id(os.stat(log)), 6)


def test_rotated_file_without_final_newline_gives_its_last_line(tmp_path: Path) -> None:
    log = tmp_path / "secure"
    append(log, "a1\na2")
    tailer = FileTailer(log, from_start=True)
    assert texts(tailer) == ["a1"]
    log.rename(tmp_path / "secure.1")
    append(log, "b1\n")
    assert texts(tailer) == ["a2", "b1"]


def test_truncation_restarts_at_zero_with_a_warning(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    log = tmp_path / "secure"
    append(log, "a1 long line\na2 long line\n")
    tailer = FileTailer(log, from_start=True)
    assert len(texts(tailer)) == 2
    with open(log, "wb") as fh:
        fh.write(b"c1\n")
    with caplog.at_level(logging.WARNING, logger="socbot.collectors.tail"):
        assert texts(tailer) == ["c1"]
    assert "truncated" in caplog.text


def test_overlong_line_is_capped_in_memory_and_skipped_whole(tmp_path: Path) -> None:
    log = tmp_path / "secure"
    append(log, "x" * 100_000 + "\nnext\n")
    lines = FileTailer(log, from_start=True, chunk_size=4096, max_line_bytes=9000).read_batch()
    assert [len(lines[0].line), lines[1].line, lines[1].offset] == [9001, "next", 100_001]


# --- positions in Redis --------------------------------------------------------------------

def commit(tailer: FileTailer, client: redis.Redis) -> None:
    pipe = client.pipeline(transaction=True)
    tailer.stage_position(pipe)
    pipe.execute()


def test_restart_resumes_at_the_saved_position(tmp_path: Path, redis_client: redis.Redis) -> None:
    log = tmp_path / "secure"
    store = PositionStore(redis_client)
    append(log, "a\nb\n")
    first = FileTailer(log, store, from_start=True)
    assert texts(first, 1) == ["a"]
    commit(first, redis_client)
    append(log, "c\n")
    assert texts(FileTailer(log, store), 10) == ["b", "c"]


def test_position_is_stored_per_absolute_path(tmp_path: Path, redis_client: redis.Redis) -> None:
    store = PositionStore(redis_client, key_prefix="t:pos:")
    store.save(tmp_path / "secure", Position("1:2", 42))
    assert redis_client.exists(f"t:pos:{tmp_path / 'secure'}")
    assert store.load(tmp_path / "secure") == Position("1:2", 42)
    assert store.load(tmp_path / "other") is None


def test_first_sight_from_end_is_saved_so_a_restart_misses_nothing(
        tmp_path: Path, redis_client: redis.Redis) -> None:
    log = tmp_path / "secure"
    store = PositionStore(redis_client)
    append(log, "before\n")
    assert texts(FileTailer(log, store)) == []
    append(log, "while down\n")
    assert texts(FileTailer(log, store)) == ["while down"]


def test_rotation_while_stopped_finishes_the_rotated_file_first(
        tmp_path: Path, redis_client: redis.Redis) -> None:
    log = tmp_path / "secure"
    store = PositionStore(redis_client)
    append(log, "a1\n")
    first = FileTailer(log, store, from_start=True)
    assert texts(first) == ["a1"]
    commit(first, redis_client)
    first.close()
    append(log, "a2\n")
    log.rename(tmp_path / "secure-20261123")
    append(log, "b1\n")
    assert texts(FileTailer(log, store)) == ["a2", "b1"]


def test_saved_file_gone_reads_current_from_zero(
        tmp_path: Path, redis_client: redis.Redis, caplog: pytest.LogCaptureFixture) -> None:
    log = tmp_path / "secure"
    store = PositionStore(redis_client)
    store.save(log, Position("0:1", 100))
    append(log, "b1\n")
    with caplog.at_level(logging.WARNING, logger="socbot.collectors.tail"):
        assert texts(FileTailer(log, store)) == ["b1"]
    assert "gone" in caplog.text
