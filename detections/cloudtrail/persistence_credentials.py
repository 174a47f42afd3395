"""Long-lived ways in that bypass IAM users: Roles Anywhere trust anchors, federation tokens."""

from __future__ import annotations

from socbot.core.events import Event
from socbot.detections.cloudtrail._common import (
    access_key,
    as_list,
    aws_context,
    ct,
    params,
    policy_document,
    principal,
    scope,
    statements,
)
from socbot.detections.rule import Case, Match, rule


def _allows_everything(event: Event) -> bool:
    for statement in statements(policy_document(params(event).get("policy"))):
        if statement.get("Effect") == "Allow" and "*" in as_list(statement.get("Action")):
            return True
    return False


@rule(
    id="cloudtrail.persistence_credentials",
    title="Alternative credentials created",
    severity="medium",
    datasets=("cloudtrail",),
    actions=("CreateTrustAnchor", "GetFederationToken"),
    mitre=("T1098.001", "T1550.001"),
    runbook="A trust anchor lets whoever holds its CA sign in as your roles; a federation "
            "token outlives the key that made it. Confirm with the cloud team; delete the "
            "anchor or disable the key.",
    playbooks=("disable-access-key",),
    tests=(
        Case("a Roles Anywhere trust anchor", fires=True,
             events=(ct("CreateTrustAnchor", {"name": "anchor", "enabled": True},
                        source="rolesanywhere.amazonaws.com"),)),
        Case("a federation token with every permission", fires=True,
             events=(ct("GetFederationToken", {"name": "x", "policy":
                        '{"Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}'},
                        source="sts.amazonaws.com"),)),
        Case("a refused call", fires=False,
             events=(ct("CreateTrustAnchor", {"name": "a"}, error="AccessDeniedException",
                        source="rolesanywhere.amazonaws.com"),)),
    ),
)
def persistence_credentials(event: Event) -> Match | None:
    """A successful CreateTrustAnchor (high) or GetFederationToken (medium; high when its
    policy allows every action)."""
    if event.get("event.outcome") != "success":
        return None
    action = event["event.action"]
    name = str(params(event).get("name", ""))
    high = action == "CreateTrustAnchor" or _allows_everything(event)
    what = "Roles Anywhere trust anchor" if action == "CreateTrustAnchor" else "Federation token"
    return Match(dedup=scope(event, action, name), severity="high" if high else None,
                 entity=principal(event),
                 title=f"{what} {name} created by {event.get('user.name', '?')}",
                 context=aws_context(event, name=name, access_key_id=access_key(event)))
