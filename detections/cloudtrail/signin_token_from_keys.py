"""A console session made from API keys (GetSigninToken), as aws_consoler and kin do."""

from __future__ import annotations

from socbot.core.events import Event
from socbot.detections.cloudtrail._common import (
    ACCOUNT,
    access_key,
    aws_context,
    ct,
    principal,
    scope,
)
from socbot.detections.rule import Case, Match, RawRecord, rule

# The IAM Identity Center portal asks for sign-in tokens with this agent: ordinary SSO use.
PORTAL_AGENTS = ("Jersey/",)


def _token(agent: str, error: str | None = None) -> RawRecord:
    return ct("GetSigninToken", None, source="signin.amazonaws.com", error=error,
              identity="FederatedUser", userAgent=agent, eventType="AwsConsoleSignIn",
              userIdentity={"type": "FederatedUser", "accountId": ACCOUNT,
                            "principalId": f"{ACCOUNT}:alice",
                            "arn": f"arn:aws:sts::{ACCOUNT}:federated-user/alice",
                            "accessKeyId": "ASIAEXAMPLE00000001"})


@rule(
    id="cloudtrail.signin_token_from_keys",
    title="Console session made from API keys",
    severity="medium",
    datasets=("cloudtrail",),
    actions=("GetSigninToken",),
    mitre=("T1550.001", "T1078.004"),
    runbook="Stolen access keys are turned into a console session this way. Ask the key's "
            "owner; if it was not them, disable the key and revoke its sessions.",
    playbooks=("disable-access-key",),
    tests=(
        Case("a sign-in token from a script", fires=True,
             events=(_token("python-requests/2.31.0"),)),
        Case("the Identity Center portal", fires=False,
             events=(_token("Jersey/${project.version}"),)),
        Case("refused", fires=False,
             events=(_token("python-requests/2.31.0", error="AccessDenied"),)),
    ),
)
def signin_token_from_keys(event: Event) -> Match | None:
    """A successful GetSigninToken not asked for by the IAM Identity Center portal: a
    federated or role session's keys exchanged for a console sign-in link."""
    if event.get("event.outcome") != "success":
        return None
    agent = str(event.get("user_agent.original") or "")
    if any(agent.startswith(p) for p in PORTAL_AGENTS):
        return None
    actor = event.get("user.name", "?")
    return Match(dedup=scope(event, actor), entity=principal(event),
                 title=f"Console session made from API keys by {actor}",
                 context=aws_context(event, access_key_id=access_key(event),
                                     **{"source.ip": event.get("source.ip")}))
