"""Console sign-in by an IAM user without MFA."""

from __future__ import annotations

from socbot.core.events import Event
from socbot.detections.cloudtrail._common import (
    ACCOUNT,
    aws_context,
    ct,
    iam_user,
    record,
    response,
)
from socbot.detections.rule import Case, Match, RawRecord, rule

_OK = {"ConsoleLogin": "Success"}
SAML_PROVIDER = f"arn:aws:iam::{ACCOUNT}:saml-provider/Okta"


def _login(mfa: str, identity: str = "IAMUser") -> RawRecord:
    return ct("ConsoleLogin", None, response_elements=_OK, identity=identity,
              additional={"MFAUsed": mfa, "LoginTo": "https://console.aws.amazon.com/"},
              source="signin.amazonaws.com", eventType="AwsConsoleSignIn")


@rule(
    id="cloudtrail.console_login_without_mfa",
    title="Console sign-in without MFA by {user.name}",
    severity="medium",
    datasets=("cloudtrail",),
    actions=("ConsoleLogin",),
    mitre=("T1078.004",),
    runbook="Check that the user has an MFA device and that this sign-in was theirs; enforce "
            "MFA with an IAM policy condition; disable the login if it was not them.",
    dedup_by="user.name",
    entity_type="iam_user",
    playbooks=("disable-console-login",),
    tests=(
        Case("password only", fires=True, events=(_login("No"),)),
        Case("with MFA", fires=False, events=(_login("Yes"),)),
        Case("a SAML sign-in (MFA is the identity provider's)", fires=False,
             events=(ct("ConsoleLogin", None, response_elements=_OK,
                        additional={"MFAUsed": "No", "LoginTo": "https://console.aws.amazon.com/",
                                    "SamlProviderArn": SAML_PROVIDER},
                        source="signin.amazonaws.com", eventType="AwsConsoleSignIn"),)),
        Case("federated (MFA is the identity provider's)", fires=False,
             events=(_login("No", identity="AssumedRole"),)),
    ),
)
def console_login_without_mfa(event: Event) -> Match | None:
    """CIS 4.2: a successful ConsoleLogin of an IAM user (or root) with ``MFAUsed: No``.
    Federated sign-ins (role sessions, or ``SamlProviderArn`` set) are left out: their MFA
    happens at the identity provider."""
    if response(event).get("ConsoleLogin") != "Success":
        return None
    if event.get("aws.cloudtrail.user_identity.type") not in ("IAMUser", "Root"):
        return None
    extra = record(event).get("additionalEventData") or {}
    if not isinstance(extra, dict) or extra.get("MFAUsed") != "No" or extra.get(
            "SamlProviderArn"):
        return None
    root = event.get("aws.cloudtrail.user_identity.type") == "Root"
    return Match(severity="high" if root else None,
                 context=aws_context(event, iam_user=iam_user(event),
                                     **{"source.ip": event.get("source.ip")}))
