"""The detection stage: ``{soc}:events`` (group ``detect``) -> engine -> alerts -> ``{soc}:alerts``.

A batch of entries is handled at once (:meth:`DetectionWorker.handle_batch`, the consumer's
batch handler): the engine evaluates its events (stateful rules in a few pipelined script
calls), the signals are folded per alert (:func:`socbot.core.grouping.fold`) and every alert is
written once, with the batch's news on ``{soc}:alerts``, in one more script call
(:class:`AlertWriter`), which Redis runs while Python passes the signals through the entity-risk
rules (their alerts, when there are any, are written after).

Idempotent by event id: window counts use the event id as member and an alert counts a signal
(rule and event id) once, so a redelivered batch changes nothing. Mutes are honoured in the
same write: a group whose rule is muted for its entity (or for every entity) is counted
(``{soc}:mutes:counts``) and never becomes or updates an alert. Signals of an imported Sigma rule
not yet promoted are counted (``{soc}:sigma:staged``) and go no further.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import redis

from socbot.core import keys, metrics
from socbot.core.alerts import Signal
from socbot.core.events import Event, EventError, loads, validate
from socbot.core.grouping import AlertWriter, Recorded, fold
from socbot.core.scriptcalls import ScriptCalls
from socbot.core.streams import Fields
from socbot.detections.engine import Engine
from socbot.detections.sigma import store as sigma_store

log = logging.getLogger(__name__)


class DetectionWorker:
    """Consumer handler: evaluate a batch of events and group their signals into alerts."""

    def __init__(self, client: redis.Redis, engine: Engine) -> None:
        self.engine = engine
        self.client = client
        self.writer = AlertWriter(client)
        self.intel_version = -1
        # The rules imported from Sigma: their signals stay staged until promoted.
        self._imported = frozenset(rule_id for rule_id, rule in engine.rules.items()
                                   if rule.origin.startswith("sigma:"))

    def reload_intel(self) -> None:
        """Hand the rules the known-bad addresses when a refresh moved ``{soc}:intel:version``
        (one GET per batch; the table itself only when it changed)."""
        version = int(self.client.get(keys.INTEL_VERSION) or 0)
        if version == self.intel_version:
            return
        table = {(k.decode() if isinstance(k, bytes) else str(k)):
                 (v.decode() if isinstance(v, bytes) else str(v))
                 for k, v in self.client.hgetall(keys.INTEL_ADDRESSES).items()}
        self.engine.context.set_intel(table)
        self.intel_version = version

    def handle_batch(self, entries: Sequence[tuple[str, Fields]]) -> dict[str, Exception]:
        """Handle ``{soc}:events`` entries (field ``e``: the serialized event) together; the
        error of each entry that holds no valid event (the consumer retries, then dead-letters
        it). A Redis failure raises: nothing of the batch is acknowledged."""
        failures: dict[str, Exception] = {}
        events: list[Event] = []
        for entry_id, fields in entries:
            try:
                events.append(validate(loads(fields["e"])))
            except (KeyError, ValueError, EventError) as exc:
                # Malformed entries cannot succeed on a retry: fail loudly so that the
                # consumer moves them to the dead-letter stream after its retries.
                failures[entry_id] = EventError(f"entry {entry_id} holds no valid event: {exc}")
        if events:
            self.reload_intel()
            self._detect(events)
        return failures

    def _detect(self, events: list[Event]) -> None:
        """Evaluate ``events`` and record their signals: the alerts of the events' own signals
        are written while those signals go through the entity-risk (``signal``) rules, whose
        alerts follow in a second write when there are any."""
        out = self.engine.evaluate_events(events, merge=True)
        places = {id(s): place for place, found in enumerate(out) for s in found}
        groups = fold(self._unstaged([s for found in out for s in found]), places)
        with ScriptCalls(self.client, self.writer.script) as calls:
            if groups:
                self.writer.send(calls, groups)
            later = self.engine.signal_stage(events, out)
            if groups:
                self._count(self.writer.receive(calls))
        if later:
            self.record(later)

    def _unstaged(self, signals: Sequence[Signal]) -> Sequence[Signal]:
        if not self._imported:  # no imported Sigma rule: nothing to look for per signal
            return signals
        imported = [s for s in signals if s.rule_id in self._imported]
        if not imported:
            return signals
        staged = {s.rule_id for s in imported} - sigma_store.promoted(self.client)
        for signal in imported:
            if signal.rule_id in staged:
                sigma_store.count_staged(self.client, signal.rule_id, 1 + len(signal.merged))
        return [s for s in signals if s.rule_id not in staged]

    def handle(self, entry_id: str, fields: Fields) -> None:
        """Handle one entry on its own."""
        failures = self.handle_batch([(entry_id, fields)])
        if failures:
            raise failures[entry_id]

    def record(self, signals: Sequence[Signal]) -> list[Recorded]:
        """Fold ``signals`` per alert and write them in one round trip; signals of imported
        Sigma rules not yet promoted are only counted (staged)."""
        recorded = self.writer.write(fold(self._unstaged(signals)))
        self._count(recorded)
        return recorded

    @staticmethod
    def _count(recorded: Sequence[Recorded]) -> None:
        for item in recorded:
            if item.outcome in ("new", "severity", "updated"):
                metrics.alert(item.group.signals[item.group.top].severity, item.outcome)
