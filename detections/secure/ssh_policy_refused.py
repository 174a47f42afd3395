"""An existing account refused by sshd's AllowUsers/DenyUsers/AllowGroups/DenyGroups."""

from __future__ import annotations

from socbot.core.events import Event
from socbot.detections.rule import Case, Match, rule
from socbot.detections.secure._common import line


@rule(
    id="secure.ssh_policy_refused",
    title="{user.name} refused by sshd policy on {host.name}",
    severity="medium",
    datasets=("secure",),
    actions=("ssh_not_allowed",),
    mitre=("T1078",),
    runbook="Someone tried an account that exists but may not log in here (a service account, "
            "a departed user). Ask the owner; block the address if it is not ours.",
    dedup_by="user.name",
    entity_type="user",
    tests=(
        Case("not listed in AllowUsers", fires=True,
             events=(line(0, "ssh_not_allowed", "failure", user="svc-backup",
                          fields={"system.auth.ssh.policy": "AllowUsers"}),)),
        Case("listed in DenyGroups", fires=True,
             events=(line(0, "ssh_not_allowed", "failure", user="bob",
                          fields={"system.auth.ssh.policy": "DenyGroups"}),)),
        Case("a locked account is not a policy refusal", fires=False,
             events=(line(0, "ssh_not_allowed", "failure", user="bob",
                          fields={"system.auth.ssh.reason": "account is locked"}),)),
    ),
)
def ssh_policy_refused(event: Event) -> Match | bool:
    """An existing account refused by AllowUsers, DenyUsers, AllowGroups or DenyGroups."""
    return bool(event.get("system.auth.ssh.policy"))
