"""An RDS master password changed."""

from __future__ import annotations

from socbot.core.events import Event
from socbot.detections.cloudtrail._common import aws_context, ct, params, scope
from socbot.detections.rule import Case, Match, RawRecord, rule


def _modify(request: dict[str, object]) -> RawRecord:
    return ct("ModifyDBInstance", request, source="rds.amazonaws.com")


@rule(
    id="cloudtrail.rds_master_password_changed",
    title="RDS master password changed",
    severity="medium",
    datasets=("cloudtrail",),
    actions=("ModifyDBInstance", "ModifyDBCluster"),
    mitre=("T1098",),
    runbook="Whoever set the master password now owns the database. Confirm with its owner; "
            "rotate it through Secrets Manager if not, and check who connected since.",
    tests=(
        Case("master password set", fires=True,
             events=(_modify({"dBInstanceIdentifier": "orders",
                              "masterUserPassword": "HIDDEN_DUE_TO_SECURITY_REASONS"}),)),
        Case("another setting changed", fires=False,
             events=(_modify({"dBInstanceIdentifier": "orders", "allocatedStorage": 200}),)),
    ),
)
def rds_master_password_changed(event: Event) -> Match | None:
    """A successful ModifyDBInstance or ModifyDBCluster that sets ``masterUserPassword``
    (CloudTrail shows it as HIDDEN_DUE_TO_SECURITY_REASONS)."""
    request = params(event)
    if event.get("event.outcome") != "success" or "masterUserPassword" not in request:
        return None
    database = str(request.get("dBInstanceIdentifier") or request.get("dBClusterIdentifier")
                   or "?")
    return Match(dedup=scope(event, database), entity={"type": "rds", "value": database},
                 title=f"RDS {database} master password changed by "
                       f"{event.get('user.name', '?')}",
                 context=aws_context(event, db_identifier=database))
