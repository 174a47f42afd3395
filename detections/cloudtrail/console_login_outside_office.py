"""Console sign-in from an address outside the configured office ranges."""

from __future__ import annotations

from socbot.core.events import Event
from socbot.detections.cloudtrail._common import aws_context, ct, iam_user, response
from socbot.detections.context import RuleContext
from socbot.detections.rule import Case, Match, rule

CONFIG = {"office_cidrs": ["192.0.2.0/24"]}
_OK = {"ConsoleLogin": "Success"}


@rule(
    id="cloudtrail.console_login_outside_office",
    title="Console sign-in by {user.name} from outside the office ({source.ip})",
    severity="medium",
    datasets=("cloudtrail",),
    actions=("ConsoleLogin",),
    mitre=("T1078.004",),
    runbook="Ask the user whether it was them (travel, home without VPN); if not, disable their "
            "console login and block the address.",
    dedup_by="user.name",
    entity_type="iam_user",
    playbooks=("disable-console-login", "block-ip-nacl"),
    tests=(
        Case("from a hotel", fires=True, config=CONFIG,
             events=(ct("ConsoleLogin", None, response_elements=_OK, ip="203.0.113.9",
                        source="signin.amazonaws.com"),)),
        Case("from the office", fires=False, config=CONFIG,
             events=(ct("ConsoleLogin", None, response_elements=_OK, ip="192.0.2.44",
                        source="signin.amazonaws.com"),)),
        Case("no office ranges configured", fires=False,
             events=(ct("ConsoleLogin", None, response_elements=_OK, ip="203.0.113.9",
                        source="signin.amazonaws.com"),)),
    ),
)
def console_login_outside_office(event: Event, ctx: RuleContext) -> Match | None:
    """A successful ConsoleLogin from a source address outside ``office_cidrs`` (quiet when
    no office ranges are configured)."""
    if not ctx.office_networks or response(event).get("ConsoleLogin") != "Success":
        return None
    ip = event.get("source.ip")
    if not ip or ctx.in_office(ip):
        return None
    return Match(context=aws_context(event, iam_user=iam_user(event), **{"source.ip": ip}))
