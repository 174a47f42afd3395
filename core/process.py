"""Process helpers shared by the long-running commands."""

from __future__ import annotations

import gc
import signal
import sys
import threading
from typing import Any

# Allocations of container objects (net of those freed) between two collections of the youngest
# generation (CPython's default: 700). A full detect batch of an SSH storm holds 50,000 to
# 100,000 of them until it is written: at 50,000 each batch was walked once more (50 collections,
# about 8% of the detect stage's time per 100,000 storm lines); at 200,000, none.
GC_YOUNG_THRESHOLD = 200_000
# How long a thread running Python keeps the interpreter lock before another may take it
# (CPython's default: 5 ms). ``socbot run``'s stages are threads of one process: with the
# default, a stage waiting on Redis or Slack could wait up to 5 ms for the lock after each reply
# while the detect stage ran Python, a dozen times per message it delivered.
SWITCH_INTERVAL_S = 0.001


def stop_on_signals() -> threading.Event:
    """An event set by SIGTERM or SIGINT, so that a command stops cleanly and flushes."""
    stop = threading.Event()

    def handle(signum: int, frame: Any) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, handle)
    signal.signal(signal.SIGINT, handle)
    return stop


def tune_gc(young: int = GC_YOUNG_THRESHOLD) -> None:
    """Set the garbage collector for a command that handles many events (``socbot run``,
    ``collect``, ``replay``); call it once start-up is done.

    What start-up built (modules, rules, configuration) is frozen: full collections no longer
    walk it. The youngest generation is collected every ``young`` allocations instead of 700:
    a batch of the detect stage holds tens of thousands of objects (events, matches, signals)
    until it is written, and the default collected them again and again while they were alive
    (about a third of the detect stage's CPU during an SSH storm: 2,177 collections per
    60,000 storm lines; none with this setting). Objects freed by reference counting, nearly all
    of them, never wait for a collection; only reference cycles live up to ``young``
    allocations longer. Once per process: a later call changes nothing.
    """
    global _gc_tuned
    if _gc_tuned:
        return
    _gc_tuned = True
    gc.collect()
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(young, middle, old)


_gc_tuned = False


def tune_threads(interval_s: float = SWITCH_INTERVAL_S) -> None:
    """Let a thread that waited on I/O take the interpreter lock sooner (``socbot run``, whose
    stages share one process): the notifier's and the Slack listener's replies are not held
    behind the detect stage's Python for a whole default switch interval."""
    sys.setswitchinterval(interval_s)
