"""Repeated sudo or su failures by one user."""

from __future__ import annotations

from socbot.core.events import Event
from socbot.detections.rule import Case, Match, Threshold, rule
from socbot.detections.secure._common import line


@rule(
    id="secure.privilege_failures",
    title="Repeated sudo/su failures by {user.name}",
    severity="medium",
    datasets=("secure",),
    actions=("sudo", "su"),
    mitre=("T1548.003", "T1110"),
    runbook="Guessing a password to become root. Ask the user; lock the account if it was "
            "not them.",
    state=Threshold(by="user.name", count=3, window_s=600),
    entity_type="user",
    tests=(
        Case("three su failures", fires=True,
             events=tuple(line(n, "su", "failure", ip=None, user="bob",
                               fields={"user.effective.name": "root"}) for n in range(3))),
        Case("two failures", fires=False,
             events=tuple(line(n, "sudo", "failure", ip=None, user="bob") for n in range(2))),
        Case("successes do not count", fires=False,
             events=tuple(line(n, "sudo", "success", ip=None, user="bob") for n in range(5))),
    ),
)
def privilege_failures(event: Event) -> Match | bool:
    """At least 3 failed sudo or su attempts by one user within 10 minutes (a sudo line
    reporting several incorrect passwords counts once)."""
    return event.get("event.outcome") == "failure" and bool(event.get("user.name"))
