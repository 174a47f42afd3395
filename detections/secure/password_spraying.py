"""Password spraying: one address trying many real accounts."""

from __future__ import annotations

from socbot.core.events import Event
from socbot.detections.rule import Case, Distinct, Match, rule
from socbot.detections.secure._common import line


@rule(
    id="secure.password_spraying",
    title="Password spraying from {source.ip}",
    severity="high",
    datasets=("secure",),
    actions=("ssh_login", "ssh_auth_failure", "ssh_not_allowed", "ssh_root_refused",
             "pam_auth_failure"),
    mitre=("T1110.003",),
    runbook="One address tried many existing accounts: it knows your user names. Block it, and "
            "check every account it tried for a success (/soc search ip=ADDRESS in Slack).",
    state=Distinct(by="source.ip", field="user.name", count=5, window_s=900),
    entity_type="ip",
    playbooks=("block-ip-nacl",),
    tests=(
        Case("five real accounts from one address", fires=True,
             events=tuple(line(n, "ssh_login", "failure", user=f"user{n}") for n in range(5))),
        Case("one account many times is brute force, not spraying", fires=False,
             events=tuple(line(n, "ssh_login", "failure") for n in range(10))),
        Case("made-up user names are a dictionary attack", fires=False,
             events=tuple(line(n, "ssh_login", "failure", user=f"guess{n}",
                               fields={"system.auth.ssh.invalid_user": True}) for n in range(8))),
        Case("accounts refused by AllowUsers and PAM failures of other services count",
             fires=True, events=(
                 *(line(n, "ssh_not_allowed", "failure", user=f"svc{n}") for n in range(3)),
                 line(3, "pam_auth_failure", "failure", user="ftpuser"),
                 line(4, "ssh_auth_failure", "failure", user="carol"))),
    ),
)
def password_spraying(event: Event) -> Match | bool:
    """Failed SSH (or other PAM) passwords for at least 5 distinct existing accounts from one
    address within 15 minutes, refusals by AllowUsers/DenyUsers and root refusals included.
    Attempts on names that do not exist (``invalid user``) are left to
    ``secure.ssh_brute_force``: spraying is the attacker who knows the user list."""
    return (event.get("event.outcome") == "failure" and bool(event.get("source.ip"))
            and bool(event.get("user.name"))
            and not event.get("system.auth.ssh.invalid_user"))
