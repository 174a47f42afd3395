"""An SSH login from an address never seen before for that user."""

from __future__ import annotations

from socbot.core.events import Event
from socbot.detections.rule import Case, FirstSeen, Match, rule
from socbot.detections.secure._common import line


@rule(
    id="secure.new_source_for_user",
    title="{user.name} logged in from a new address {source.ip}",
    severity="low",
    datasets=("secure",),
    actions=("ssh_login",),
    outcomes=("success",),
    mitre=("T1078",),
    runbook="Often a new laptop or network; ask the user if the address is not one of ours.",
    state=FirstSeen(by="user.name", field="source.ip", require_history=True),
    entity_type="user",
    dedup_by="user.name",
    tests=(
        Case("a second address for alice", fires=True, events=(
            line(0, "ssh_login", "success", user="alice", ip="192.0.2.10"),
            line(1, "ssh_login", "success", user="alice", ip="198.51.100.77"))),
        Case("the same address again", fires=False, events=(
            line(0, "ssh_login", "success", user="alice", ip="192.0.2.10"),
            line(1, "ssh_login", "success", user="alice", ip="192.0.2.10"))),
        Case("a user's very first login is not new-from-somewhere", fires=False,
             events=(line(0, "ssh_login", "success", user="carol", ip="192.0.2.10"),)),
    ),
)
def new_source_for_user(event: Event) -> Match | bool:
    """An accepted SSH login whose source address this user never logged in from (in the
    last 90 days); a user's first login ever only teaches the baseline."""
    return event.get("event.outcome") == "success" and bool(event.get("source.ip"))
