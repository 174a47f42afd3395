"""The detection stage: ``soc:events`` (group ``detect``) -> engine -> alerts -> ``soc:alerts``.

Mutes are honoured here: a signal whose rule is muted for its entity (or for every entity) is
counted (:meth:`core.mutes.MuteStore.count_muted`) and never becomes or updates an alert.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import redis

from socbot.core import metrics
from socbot.core.alerts import AlertStore, Signal
from socbot.core.events import EventError, loads, validate
from socbot.core.mutes import MuteStore
from socbot.core.streams import ALERTS, Fields, Producer
from socbot.detections.engine import Engine

log = logging.getLogger(__name__)


class DetectionWorker:
    """Consumer handler: evaluate one event and group its signals into alerts.

    Idempotent by event id: window counts use the event id as member and the alert store
    counts a signal once, so a redelivered event changes nothing.
    ``on_signal(signal, alert_id, outcome)`` sees every signal; a muted one has alert id ``""``
    and outcome ``"muted"``.
    """

    def __init__(self, client: redis.Redis, engine: Engine,
                 on_signal: Callable[[Signal, str, str], None] | None = None) -> None:
        self.engine = engine
        self.alerts = AlertStore(client)
        self.mutes = MuteStore(client)
        self.producer = Producer(client, maxlen=100_000)
        self.on_signal = on_signal

    def handle(self, entry_id: str, fields: Fields) -> None:
        """Handle one ``soc:events`` entry (field ``e``: the serialized event)."""
        try:
            event = validate(loads(fields["e"]))
        except (KeyError, ValueError, EventError) as exc:
            # Malformed entries cannot succeed on a retry: fail loudly so that the consumer
            # moves them to the dead-letter stream after its retries.
            raise EventError(f"entry {entry_id} holds no valid event: {exc}") from exc
        for signal in self.engine.evaluate(event):
            self.deliver(signal)

    def deliver(self, signal: Signal) -> tuple[str, str]:
        """Group one signal into an alert unless a mute silences it."""
        entity = str(signal.entity.get("value", ""))
        mute = self.mutes.is_muted(signal.rule_id, entity)
        if mute is None and signal.dedup_key != entity:
            mute = self.mutes.is_muted(signal.rule_id, signal.dedup_key)
        if mute is not None:
            self.mutes.count_muted(signal.rule_id, mute.entity)
            if self.on_signal is not None:
                self.on_signal(signal, "", "muted")
            return "", "muted"
        alert_id, outcome = self.alerts.record(signal)
        if self.on_signal is not None:
            self.on_signal(signal, alert_id, outcome)
        if outcome != "duplicate":
            self.producer.add(ALERTS, {"alert_id": alert_id, "kind": outcome})
            metrics.alert(signal.severity, outcome)
        return alert_id, outcome
