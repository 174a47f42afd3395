"""Windows administrator passwords requested for many instances."""

from __future__ import annotations

from socbot.core.events import Event
from socbot.detections.cloudtrail._common import access_key, actor_key, aws_context, ct, params
from socbot.detections.rule import Case, Distinct, Match, RawRecord, rule


def _get(n: int) -> RawRecord:
    return ct("GetPasswordData", {"instanceId": f"i-{n:08x}"}, source="ec2.amazonaws.com",
              at=f"2026-11-23T03:00:{n:02d}Z", error="Client.UnauthorizedOperation")


@rule(
    id="cloudtrail.ec2_password_data",
    title="EC2 password data requested for many instances by {user.name}",
    severity="medium",
    datasets=("cloudtrail",),
    actions=("GetPasswordData",),
    mitre=("T1552.005",),
    runbook="Someone is after RDP passwords. Check the principal; disable its key if it is "
            "not an admin tool.",
    state=Distinct(by="user.name", field="instance", count=5, window_s=600),
    entity_type="aws_principal",
    playbooks=("disable-access-key",),
    tests=(
        Case("five instances, allowed or not", fires=True,
             events=tuple(_get(n) for n in range(5))),
        Case("five instances by a session known only by its access key", fires=True,
             events=tuple(ct("GetPasswordData", {"instanceId": f"i-{n:08x}"},
                             source="ec2.amazonaws.com", at=f"2026-11-23T03:00:{n:02d}Z",
                             userIdentity={"type": "Unknown",
                                           "accessKeyId": "ASIAEXAMPLE000000001"})
                          for n in range(5))),
        Case("one instance five times", fires=False, events=tuple(_get(1) for _ in range(5))),
    ),
)
def ec2_password_data(event: Event) -> Match | None:
    """GetPasswordData for at least 5 distinct instances by one principal within 10 minutes,
    refused or not (the attempt is the signal)."""
    instance = params(event).get("instanceId")
    actor = actor_key(event)
    if not instance or not actor:
        return None
    return Match(value=str(instance), key=actor, entity={"type": "aws_principal", "value": actor},
                 title=f"EC2 password data requested for many instances by {actor}",
                 context=aws_context(event, access_key_id=access_key(event)))
