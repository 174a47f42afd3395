"""The garbage collector as the long-running commands set it (core.process.tune_gc)."""

from __future__ import annotations

import gc
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
