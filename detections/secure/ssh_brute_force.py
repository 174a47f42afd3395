"""SSH brute force: many failed logins from one source address, across every host."""

from __future__ import annotations

from socbot.core.events import Event
from socbot.detections.rule import Case, Match, Threshold, rule
from socbot.detections.secure._common import line

SSHD = ("sshd", "sshd-session", "sshd-auth")
# Lines that each stand for a refused authentication attempt (sshd, dropbear, PAM).
FAILURES = ("ssh_login", "ssh_invalid_user", "ssh_auth_failure", "ssh_not_allowed",
            "ssh_root_refused", "pam_auth_failure")


def _failure(n: int, ip: str = "203.0.113.7", action: str = "ssh_login") -> Event:
    return line(n, action, "failure", ip=ip, host=f"web{n % 3}")


@rule(
    id="secure.ssh_brute_force",
    title="SSH brute force from {source.ip}",
    severity="high",
    datasets=("secure",),
    actions=FAILURES,
    mitre=("T1110.001",),
    runbook="Check whether any login from this address succeeded (/soc search ip=ADDRESS in "
            "Slack); block it at the edge if it is not yours.",
    state=Threshold(by="source.ip", count=8, window_s=120),
    entity_type="ip",
    tests=(
        Case("eight failures from one address across hosts within 120 s", fires=True,
             events=tuple(_failure(n) for n in range(8))),
        Case("seven failures are not enough", fires=False,
             events=tuple(_failure(n) for n in range(7))),
        Case("failures from different addresses do not add up", fires=False,
             events=tuple(_failure(n, ip=f"203.0.113.{n}") for n in range(8))),
        Case("refusals by policy, root refusals and sshd's PAM errors count", fires=True,
             events=tuple(_failure(n, action=a) for n, a in enumerate(
                 ("ssh_not_allowed", "ssh_root_refused", "ssh_auth_failure") * 3))[:8]),
        Case("one line repeated 8 times is eight failures", fires=True,
             events=(line(0, "ssh_login", "failure", fields={"system.auth.count": 8}),)),
        Case("an FTP server's PAM failures count, '7 more' seven times", fires=True,
             events=(line(0, "ssh_login", "failure"),
                     line(1, "pam_auth_failure", "failure", fields={
                         "process.name": "vsftpd", "system.auth.count": 7}))),
        Case("sshd's own PAM lines repeat its Failed lines and add nothing", fires=False,
             events=(*(line(n, "ssh_login", "failure") for n in range(4)),
                     *(line(4 + n, "pam_auth_failure", "failure", fields={
                         "process.name": "sshd", "system.auth.pam.service": "sshd"})
                       for n in range(4)))),
    ),
)
def ssh_brute_force(event: Event) -> Match | bool:
    """Eight failed SSH authentications from one address within two minutes, on any hosts.

    Counts failure lines as Wazuh's rule 5712 does: an attempt on a non-existent user usually
    writes an "Invalid user" line and a "Failed password" line, and both count; so do refusals
    by AllowUsers/DenyUsers, refused root logins, sshd's PAM errors, dropbear's failures and
    PAM failures of other services (sshd's pam_unix lines repeat its Failed lines and are left
    out). A line that stands for N attempts (``message repeated N times``, an FTP server's
    ``N more authentication failures``) counts N times.
    """
    if event.get("event.outcome") != "failure" or not event.get("source.ip"):
        return False
    if event["event.action"] == "pam_auth_failure" and (
            event.get("process.name") in SSHD or event.get("system.auth.pam.service") == "sshd"):
        return False  # sshd writes a Failed line (or "message repeated") for the same attempt
    count = event.get("system.auth.count")
    return Match(weight=count) if isinstance(count, int) and count > 1 else True
