"""Repeated console authentication failures from one address (CIS 4.6)."""

from __future__ import annotations

from socbot.core.events import Event
from socbot.detections.cloudtrail._common import aws_context, ct
from socbot.detections.rule import Case, Match, RawRecord, Threshold, rule


def _failed(n: int, ip: str = "203.0.113.5") -> RawRecord:
    return ct("ConsoleLogin", None, response_elements={"ConsoleLogin": "Failure"},
              error=None, ip=ip, source="signin.amazonaws.com",
              at=f"2026-11-23T03:0{n}:00Z", errorMessage="Failed authentication")


@rule(
    id="cloudtrail.console_auth_failures",
    title="Console sign-in failures from {source.ip}",
    severity="medium",
    datasets=("cloudtrail",),
    actions=("ConsoleLogin",),
    mitre=("T1110",),
    runbook="Password guessing against the console. Check which users were tried; block the "
            "address if it is not a colleague with a forgotten password.",
    state=Threshold(by="source.ip", count=3, window_s=900),
    entity_type="ip",
    playbooks=("block-ip-nacl",),
    tests=(
        Case("three failures in fifteen minutes", fires=True,
             events=tuple(_failed(n) for n in range(3))),
        Case("two failures", fires=False, events=tuple(_failed(n) for n in range(2))),
    ),
)
def console_auth_failures(event: Event) -> Match | bool:
    """CIS 4.6: failed ConsoleLogin; three from one address within 15 minutes."""
    if event.get("event.outcome") != "failure":
        return False
    return Match(context=aws_context(event, **{"source.ip": event.get("source.ip")}))
