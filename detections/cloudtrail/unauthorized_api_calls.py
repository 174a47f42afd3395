"""A burst of refused API calls (AccessDenied / UnauthorizedOperation) by one principal."""

from __future__ import annotations

from socbot.core.events import Event
from socbot.detections.cloudtrail._common import (
    access_key,
    actor_key,
    aws_context,
    ct,
    iam_user,
)
from socbot.detections.rule import Case, Match, RawRecord, Threshold, rule

DENIED = ("AccessDenied", "UnauthorizedOperation", "Client.UnauthorizedOperation",
          "AccessDeniedException", "UnauthorizedAccess", "Client.AccessDenied")


def _denied(n: int, user: str = "mallory") -> RawRecord:
    return ct("GetPasswordData", {"instanceId": f"i-{n:017x}"},
              error="Client.UnauthorizedOperation", user=user, source="ec2.amazonaws.com",
              at=f"2026-11-23T03:00:{n:02d}Z")


@rule(
    id="cloudtrail.unauthorized_api_calls",
    title="Burst of refused API calls by {user.name}",
    severity="medium",
    datasets=("cloudtrail",),
    actions=None,
    mitre=("T1526", "T1078.004"),
    runbook="Someone is probing what these credentials may do. Check the calls (event.action) "
            "and where from; disable the key if the principal should not be doing this.",
    state=Threshold(by="user.name", count=10, window_s=300),
    entity_type="aws_principal",
    playbooks=("disable-access-key",),
    tests=(
        Case("ten refusals within five minutes", fires=True,
             events=tuple(_denied(n) for n in range(10))),
        Case("ten refusals of a caller with no user name (another account's principal)",
             fires=True, events=tuple(
                 ct("ListBuckets", error="AccessDenied", source="s3.amazonaws.com",
                    at=f"2026-11-23T03:00:{n:02d}Z",
                    userIdentity={"type": "AWSAccount", "principalId": "AIDAEXAMPLEOUTSIDE01",
                                  "accountId": "999988887777"}) for n in range(10))),
        Case("nine are not a burst", fires=False, events=tuple(_denied(n) for n in range(9))),
        Case("throttling is not a refusal", fires=False,
             events=tuple(ct("DescribeParameters", error="ThrottlingException",
                             at=f"2026-11-23T03:00:{n:02d}Z") for n in range(12))),
    ),
)
def unauthorized_api_calls(event: Event) -> Match | bool:
    """CIS 4.1: at least 10 calls refused with AccessDenied or UnauthorizedOperation by one
    principal within 5 minutes (a principal without a user name is counted by its ARN,
    access key or principal id)."""
    if event.get("error.code") not in DENIED:
        return False
    actor = actor_key(event)
    if not actor:
        return False
    return Match(key=actor, entity={"type": "aws_principal", "value": actor},
                 title=f"Burst of refused API calls by {actor}",
                 context=aws_context(event, access_key_id=access_key(event),
                                     iam_user=iam_user(event)))
