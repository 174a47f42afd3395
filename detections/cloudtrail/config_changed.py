"""AWS Config recorder or delivery channel changed (CIS 4.9)."""

from __future__ import annotations

from socbot.core.events import Event
from socbot.detections.cloudtrail._common import change, ct
from socbot.detections.rule import Case, Match, rule

STOPPING = ("StopConfigurationRecorder", "DeleteDeliveryChannel", "DeleteConfigurationRecorder")


@rule(
    id="cloudtrail.config_changed",
    title="AWS Config changed",
    severity="low",
    datasets=("cloudtrail",),
    actions=(*STOPPING, "PutDeliveryChannel", "PutConfigurationRecorder"),
    mitre=("T1562.008",),
    runbook="Config records resource history for investigations; restart the recorder unless "
            "the change was planned.",
    tests=(
        Case("recorder stopped", fires=True,
             events=(ct("StopConfigurationRecorder", {"configurationRecorderName": "default"},
                        source="config.amazonaws.com"),)),
        Case("a refused stop", fires=False,
             events=(ct("StopConfigurationRecorder", {}, error="AccessDenied",
                        source="config.amazonaws.com"),)),
    ),
)
def config_changed(event: Event) -> Match | None:
    """Successful Stop/DeleteConfigurationRecorder or DeleteDeliveryChannel (high) and
    Put* of either (low)."""
    found = change(event, "AWS Config changed")
    if found is None or event["event.action"] not in STOPPING:
        return found
    from dataclasses import replace

    return replace(found, severity="high")
