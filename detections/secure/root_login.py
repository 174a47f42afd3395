"""A root login accepted over SSH."""

from __future__ import annotations

from socbot.core.events import Event
from socbot.detections.rule import Case, Match, rule
from socbot.detections.secure._common import line


@rule(
    id="secure.root_login",
    title="Root SSH login on {host.name} from {source.ip}",
    severity="high",
    datasets=("secure",),
    actions=("ssh_login",),
    outcomes=("success",),
    mitre=("T1078.003",),
    runbook="Direct root logins should be off (PermitRootLogin no). Find who holds the key; "
            "block the address if nobody does.",
    dedup_by="host.name",
    entity_type="host",
    playbooks=("block-ip-nacl",),
    tests=(
        Case("root accepted", fires=True, events=(line(0, "ssh_login", "success"),)),
        Case("root refused", fires=False, events=(line(0, "ssh_login", "failure"),)),
        Case("alice accepted", fires=False,
             events=(line(0, "ssh_login", "success", user="alice"),)),
    ),
)
def root_login(event: Event) -> Match | bool:
    """An accepted SSH login for ``root`` (any method)."""
    return event.get("event.outcome") == "success" and event.get("user.name") == "root"
