"""Access to Bedrock foundation models switched on (LLMjacking starts here)."""

from __future__ import annotations

from socbot.core.events import Event
from socbot.detections.cloudtrail._common import aws_context, ct, params, principal, scope
from socbot.detections.rule import Case, Match, rule


@rule(
    id="cloudtrail.bedrock_model_access",
    title="Bedrock model access enabled",
    severity="low",
    datasets=("cloudtrail",),
    actions=("PutFoundationModelEntitlement", "CreateFoundationModelAgreement",
             "PutUseCaseForModelAccess"),
    mitre=("T1496",),
    runbook="Stolen keys are sold for model access; confirm the team using Bedrock asked for it.",
    tests=(
        Case("a model agreement", fires=True,
             events=(ct("CreateFoundationModelAgreement", {"modelId": "m"},
                        source="bedrock.amazonaws.com"),)),
        Case("a refused call", fires=False,
             events=(ct("PutFoundationModelEntitlement", {"modelId": "m"},
                        error="AccessDeniedException", source="bedrock.amazonaws.com"),)),
    ),
)
def bedrock_model_access(event: Event) -> Match | None:
    """A successful model entitlement, agreement or use-case form; grouped per actor."""
    if event.get("event.outcome") != "success":
        return None
    return Match(dedup=scope(event, event.get("user.name")),
                 entity=principal(event),
                 title=f"Bedrock model access enabled by {event.get('user.name', '?')}",
                 context=aws_context(event, model=params(event).get("modelId")))
