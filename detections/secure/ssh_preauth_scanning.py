"""SSH scanning: many connections from one address that end before any user is tried."""

from __future__ import annotations

from socbot.core.events import Event
from socbot.detections.rule import Case, Match, Threshold, rule
from socbot.detections.secure._common import line

PREAUTH = ("ssh_connection_closed", "ssh_connection_reset", "ssh_disconnected",
           "ssh_disconnect_received", "ssh_negotiation_failed", "ssh_no_identification",
           "ssh_bad_protocol_version", "ssh_protocol_error", "ssh_timeout")


def _cut(n: int, action: str = "ssh_connection_closed", user: str = "") -> Event:
    return line(n, action, "failure", user=user, fields={"system.auth.ssh.preauth": True})


@rule(
    id="secure.ssh_preauth_scanning",
    title="SSH scanning from {source.ip}",
    severity="low",
    datasets=("secure",),
    actions=PREAUTH,
    mitre=("T1595", "T1046"),
    runbook="Connections that end before authentication: a scanner fingerprinting sshd, or a "
            "client with no common cipher. Block the address if it is not yours; check "
            "whether any login from it followed (/soc search ip=ADDRESS in Slack).",
    state=Threshold(by="source.ip", count=20, window_s=300),
    entity_type="ip",
    playbooks=("block-ip-nacl",),
    tests=(
        Case("twenty pre-auth disconnects, resets and negotiation failures", fires=True,
             events=tuple(_cut(n, a, user="") for n, a in enumerate(
                 ("ssh_connection_closed", "ssh_connection_reset", "ssh_negotiation_failed",
                  "ssh_no_identification") * 5))),
        Case("nineteen are not enough", fires=False,
             events=tuple(_cut(n, user="") for n in range(19))),
        Case("disconnects of sessions after login are not scanning", fires=False,
             events=tuple(line(n, "ssh_disconnected", "unknown", user="")
                          for n in range(25))),
        Case("closes after a user was tried are brute force's, not this rule's", fires=False,
             events=tuple(_cut(n, user="root") for n in range(25))),
        Case("disconnects that end guessing sessions are not scanning", fires=False,
             events=tuple(line(n, "ssh_disconnect_received", "failure", user="", fields={
                 "system.auth.ssh.preauth": True, "system.auth.ssh.user_tried": True})
                 for n in range(25))),
    ),
)
def ssh_preauth_scanning(event: Event) -> Match | bool:
    """At least 20 connections from one address within 5 minutes that ended before
    authentication without trying a user: pre-auth disconnects, resets, timeouts, no or bad
    identification, negotiation and protocol failures (a close whose process tried a user
    earlier, ``system.auth.ssh.user_tried``, belongs to brute force)."""
    return (event.get("event.outcome") == "failure" and bool(event.get("source.ip"))
            and bool(event.get("system.auth.ssh.preauth")) and not event.get("user.name")
            and not event.get("system.auth.ssh.user_tried"))
