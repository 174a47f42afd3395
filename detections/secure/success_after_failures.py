"""An SSH login that succeeded after a run of failures from the same address."""

from __future__ import annotations

from socbot.core.events import Event
from socbot.detections.rule import Case, Match, Sequence, rule
from socbot.detections.secure._common import line

FAILURES = ("ssh_login", "ssh_invalid_user", "pam_auth_failure", "ssh_max_auth_attempts")


@rule(
    id="secure.success_after_failures",
    title="SSH login for {user.name} from {source.ip} after repeated failures",
    severity="high",
    datasets=("secure",),
    actions=FAILURES,
    mitre=("T1110", "T1078"),
    runbook="A guessing run may have worked. Ask the user; if it was not them, kill the "
            "session, lock the account and block the address.",
    state=Sequence(by="source.ip", within_s=900, count=5),
    entity_type="ip",
    dedup_by="source.ip",
    playbooks=("block-ip-nacl",),
    tests=(
        Case("five failures then a success", fires=True,
             events=(*(line(n, "ssh_login", "failure") for n in range(5)),
                     line(9, "ssh_login", "success"))),
        Case("a typo then a success", fires=False,
             events=(line(0, "ssh_login", "failure"), line(9, "ssh_login", "success"))),
        Case("failures from another address", fires=False,
             events=(*(line(n, "ssh_login", "failure", ip="198.51.100.1") for n in range(5)),
                     line(9, "ssh_login", "success"))),
    ),
)
def success_after_failures(event: Event) -> Match | None:
    """An accepted SSH login after at least 5 failures from the same address within 15
    minutes (on any host, for any user)."""
    if not event.get("source.ip"):
        return None
    if event.get("event.outcome") == "failure":
        return Match(step="first", context={"user": event.get("user.name")})
    if event["event.action"] == "ssh_login" and event.get("event.outcome") == "success":
        return Match(context={"host.name": event.get("host.name")})
    return None
