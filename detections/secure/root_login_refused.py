"""A root login refused by sshd (PermitRootLogin no)."""

from __future__ import annotations

from socbot.core.events import Event
from socbot.detections.rule import Case, Match, rule
from socbot.detections.secure._common import line


@rule(
    id="secure.root_login_refused",
    title="Root SSH login refused on {host.name} from {source.ip}",
    severity="low",
    datasets=("secure",),
    actions=("ssh_root_refused",),
    mitre=("T1110", "T1078.003"),
    runbook="Root logins are off, and someone tried anyway: usually a scanner. Block the "
            "address if it keeps trying (secure.ssh_brute_force counts these too).",
    dedup_by="source.ip",
    entity_type="ip",
    tests=(
        Case("ROOT LOGIN REFUSED", fires=True, events=(line(0, "ssh_root_refused", "failure"),)),
        Case("a failed root password is not a refusal by configuration", fires=False,
             events=(line(0, "ssh_login", "failure"),)),
    ),
)
def root_login_refused(event: Event) -> Match | bool:
    """A root login refused by sshd's configuration (``ROOT LOGIN REFUSED FROM``)."""
    return event.get("event.outcome") == "failure"
