"""sudo refused: the user is not in sudoers."""

from __future__ import annotations

from socbot.core.events import Event
from socbot.detections.rule import Case, Match, rule
from socbot.detections.secure._common import line


@rule(
    id="secure.not_in_sudoers",
    title="{user.name} is not in sudoers on {host.name}",
    severity="medium",
    datasets=("secure",),
    actions=("sudo",),
    mitre=("T1548.003",),
    runbook="Someone without rights tried sudo: a confused new user or an intruder on their "
            "account. Ask them.",
    dedup_by="user.name",
    entity_type="user",
    tests=(
        Case("not in sudoers", fires=True,
             events=(line(0, "sudo", "failure", ip=None, user="bob",
                          fields={"system.auth.sudo.error": "user NOT in sudoers"}),)),
        Case("a wrong password", fires=False,
             events=(line(0, "sudo", "failure", ip=None, user="bob",
                          fields={"system.auth.sudo.error": "3 incorrect password attempts"}),)),
    ),
)
def not_in_sudoers(event: Event) -> Match | bool:
    """A sudo line with ``user NOT in sudoers``."""
    return "not in sudoers" in str(event.get("system.auth.sudo.error", "")).lower()
