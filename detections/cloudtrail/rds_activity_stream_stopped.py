"""An RDS database activity stream stopped."""

from __future__ import annotations

from socbot.core.events import Event
from socbot.detections.cloudtrail._common import aws_context, ct, params, scope
from socbot.detections.rule import Case, Match, rule

ARN = "arn:aws:rds:us-east-1:111122223333:cluster:orders"


@rule(
    id="cloudtrail.rds_activity_stream_stopped",
    title="RDS activity stream stopped",
    severity="high",
    datasets=("cloudtrail",),
    actions=("StopActivityStream",),
    mitre=("T1562.008",),
    runbook="The database's audit trail is off. Start it again and ask why it stopped; what "
            "happens in the database meanwhile is not recorded.",
    tests=(
        Case("stopped", fires=True,
             events=(ct("StopActivityStream", {"resourceArn": ARN, "applyImmediately": True},
                        source="rds.amazonaws.com"),)),
        Case("refused", fires=False,
             events=(ct("StopActivityStream", {"resourceArn": ARN}, error="AccessDenied",
                        source="rds.amazonaws.com"),)),
    ),
)
def rds_activity_stream_stopped(event: Event) -> Match | None:
    """A successful StopActivityStream."""
    if event.get("event.outcome") != "success" or event.get("event.provider") not in (
            None, "rds.amazonaws.com"):
        return None
    database = str(params(event).get("resourceArn") or "?").rsplit(":", 1)[-1]
    return Match(dedup=scope(event, database), entity={"type": "rds", "value": database},
                 title=f"RDS {database} activity stream stopped by {event.get('user.name', '?')}",
                 context=aws_context(event, db_identifier=database))
