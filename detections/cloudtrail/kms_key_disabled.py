"""A KMS key disabled or scheduled for deletion (CIS 4.7)."""

from __future__ import annotations

from socbot.core.events import Event
from socbot.detections.cloudtrail._common import aws_context, ct, params, scope
from socbot.detections.rule import Case, Match, rule


@rule(
    id="cloudtrail.kms_key_disabled",
    title="KMS key disabled or scheduled for deletion",
    severity="high",
    datasets=("cloudtrail",),
    actions=("DisableKey", "ScheduleKeyDeletion"),
    mitre=("T1485", "T1486"),
    runbook="Data encrypted under this key becomes unreadable. Cancel the deletion "
            "(CancelKeyDeletion) or re-enable the key unless the owner planned it.",
    tests=(
        Case("deletion scheduled", fires=True,
             events=(ct("ScheduleKeyDeletion", {"keyId": "k-1", "pendingWindowInDays": 7},
                        source="kms.amazonaws.com"),)),
        Case("a refused call", fires=False,
             events=(ct("DisableKey", {"keyId": "k-1"}, error="AccessDeniedException",
                        source="kms.amazonaws.com"),)),
    ),
)
def kms_key_disabled(event: Event) -> Match | None:
    """A successful DisableKey or ScheduleKeyDeletion."""
    if event.get("event.outcome") != "success":
        return None
    key = str(params(event).get("keyId", ""))
    return Match(dedup=scope(event, key), entity={"type": "kms_key", "value": key},
                 title=f"KMS key {key} {event['event.action']}",
                 context=aws_context(event, key_id=key,
                                     pending_days=params(event).get("pendingWindowInDays")))
