"""The process settings of the long-running commands (core.process): the garbage collector
and the interpreter lock's switch interval."""

from __future__ import annotations

import gc
import sys
import threading
from collections.abc import Iterator

import pytest

from socbot.core import process
from socbot.core.process import GC_YOUNG_THRESHOLD, tune_gc


@pytest.fixture
def restored_gc(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """CPython's defaults while the test runs (a command run in this process may have tuned
    it already), and the process's own settings back afterwards."""
    threshold = gc.get_threshold()
    monkeypatch.setattr(process, "_gc_tuned", False)
    gc.set_threshold(700, 10, 10)
    yield
    gc.unfreeze()
    gc.set_threshold(*threshold)


@pytest.mark.usefixtures("restored_gc")
def test_start_up_objects_are_frozen_and_the_young_generation_waits_longer() -> None:
    gc.unfreeze()
    built_at_start_up = [{"rule": n} for n in range(1000)]
    tune_gc()
    assert gc.get_freeze_count() >= len(built_at_start_up)  # full collections skip them
    assert gc.get_threshold()[0] == GC_YOUNG_THRESHOLD


@pytest.mark.usefixtures("restored_gc")
def test_a_batch_of_live_objects_is_not_collected_over_and_over() -> None:
    def collections_while_building() -> int:
        before = sum(s["collections"] for s in gc.get_stats())
        batch = [{"event.id": str(n), "context": {"n": n}} for n in range(50_000)]
        after = sum(s["collections"] for s in gc.get_stats())
        del batch
        return after - before

    default = collections_while_building()
    tune_gc()
    tuned = collections_while_building()
    # 100,000 containers, as a storm's detect batch holds: 700 apart, then not even once
    assert default >= 100 and tuned == 0


@pytest.mark.usefixtures("restored_gc")
def test_tuning_happens_once_per_process() -> None:
    tune_gc()
    gc.set_threshold(700, 10, 10)  # changed since by someone else
    tune_gc()
    assert gc.get_threshold()[0] == 700


def test_socbot_run_lets_waiting_threads_take_the_interpreter_lock_sooner(
        monkeypatch: pytest.MonkeyPatch, redis_url: str) -> None:
    """``socbot run`` (its stages are threads of one process) hands the lock over every
    millisecond instead of CPython's 5, from before its stages start."""
    from socbot.bot import cli
    from socbot.bot.runtime import Runtime

    before = sys.getswitchinterval()
    monkeypatch.setenv("REDIS_URL", redis_url)
    # Not this test process's collector or signal handlers.
    monkeypatch.setattr(process, "tune_gc", lambda: None)
    monkeypatch.setattr(process, "stop_on_signals", threading.Event)
    started: list[tuple[Runtime, float]] = []

    class Started(Exception):
        pass

    def start(self: Runtime) -> None:  # built for real; stopped before any stage runs
        started.append((self, sys.getswitchinterval()))
        raise Started

    monkeypatch.setattr(Runtime, "start", start)
    try:
        with pytest.raises(Started):
            cli.main(["run", "--role", "index"])
        [(runtime, interval)] = started
        runtime.close()
        assert interval == pytest.approx(process.SWITCH_INTERVAL_S) and interval < before
    finally:
        sys.setswitchinterval(before)
