"""SSH brute force: many failed logins from one source address, across every host."""

from __future__ import annotations

from socbot.core.events import Event
from socbot.detections.rule import Case, Threshold, rule


def _failure(n: int, ip: str = "203.0.113.7", action: str = "ssh_login") -> Event:
    return {
        "@timestamp": f"2026-11-23T03:00:{n:02d}Z", "event.id": f"bf-{ip}-{n}",
        "event.dataset": "secure", "event.action": action, "event.outcome": "failure",
        "source.ip": ip, "user.name": "root", "host.name": f"web{n % 3}",
    }


@rule(
    id="secure.ssh_brute_force",
    title="SSH brute force from {source.ip}",
    severity="high",
    datasets=("secure",),
    actions=("ssh_login", "ssh_invalid_user"),
    mitre=("T1110.001",),
    runbook="Check whether any login from this address succeeded (socbot search ip=...); "
            "block it at the edge if it is not yours.",
    state=Threshold(by="source.ip", count=8, window_s=120),
    entity_type="ip",
    tests=(
        Case("eight failures from one address across hosts within 120 s", fires=True,
             events=tuple(_failure(n) for n in range(8))),
        Case("seven failures are not enough", fires=False,
             events=tuple(_failure(n) for n in range(7))),
        Case("failures from different addresses do not add up", fires=False,
             events=tuple(_failure(n, ip=f"203.0.113.{n}") for n in range(8))),
    ),
)
def ssh_brute_force(event: Event) -> bool:
    """Eight failed SSH authentications from one address within two minutes, on any hosts.

    Counts failure lines as Wazuh's rule 5712 does: an attempt on a non-existent user usually
    writes an "Invalid user" line and a "Failed password" line, and both count.
    """
    return event.get("event.outcome") == "failure" and bool(event.get("source.ip"))
