"""An MFA device deactivated or deleted."""

from __future__ import annotations

from socbot.core.events import Event
from socbot.detections.cloudtrail._common import aws_context, ct, params, scope
from socbot.detections.rule import Case, Match, rule


@rule(
    id="cloudtrail.mfa_device_removed",
    title="MFA device removed ({event.action})",
    severity="high",
    datasets=("cloudtrail",),
    actions=("DeactivateMFADevice", "DeleteVirtualMFADevice"),
    mitre=("T1556.006",),
    runbook="Confirm with the user that they removed their own device; if not, disable their "
            "console login and keys and re-enrol MFA.",
    playbooks=("disable-console-login", "disable-access-key"),
    tests=(
        Case("device deactivated", fires=True,
             events=(ct("DeactivateMFADevice", {"userName": "bob",
                                                "serialNumber": "arn:aws:iam::1:mfa/bob"}),)),
        Case("a refused attempt", fires=False,
             events=(ct("DeactivateMFADevice", {"userName": "bob"}, error="AccessDenied"),)),
    ),
)
def mfa_device_removed(event: Event) -> Match | None:
    """DeactivateMFADevice or DeleteVirtualMFADevice that succeeded."""
    if event.get("event.outcome") != "success":
        return None
    request = params(event)
    user = request.get("userName") or event.get("user.name") or ""
    return Match(dedup=scope(event, user), entity={"type": "iam_user", "value": str(user)},
                 title=f"MFA device removed from {user}",
                 context=aws_context(event, iam_user=user,
                                     serial=request.get("serialNumber")))
