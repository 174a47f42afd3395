"""Amazon SES readied for sending by someone: identities verified, sending enabled, or the
sandbox left (spam and phishing from stolen keys)."""

from __future__ import annotations

from socbot.core.events import Event
from socbot.detections.cloudtrail._common import aws_context, ct, params, principal, scope
from socbot.detections.rule import Case, Match, RawRecord, rule

ACTIONS = ("VerifyEmailIdentity", "VerifyDomainIdentity", "CreateEmailIdentity",
           "UpdateAccountSendingEnabled", "PutAccountSendingAttributes", "PutAccountDetails",
           "DeleteIdentity", "DeleteEmailIdentity")
SOURCES = ("ses.amazonaws.com", "email.amazonaws.com")


def _ses(name: str, request: dict[str, object]) -> RawRecord:
    return ct(name, request, source="ses.amazonaws.com")


@rule(
    id="cloudtrail.ses_abuse",
    title="SES set up for sending",
    severity="medium",
    datasets=("cloudtrail",),
    actions=ACTIONS,
    mitre=("T1496", "T1566"),
    runbook="Stolen keys are often used to send mail through SES. Check the identities and "
            "the production-access request with the account owner; disable sending if "
            "nobody asked.",
    tests=(
        Case("a sender address verified", fires=True,
             events=(_ses("VerifyEmailIdentity", {"emailAddress": "billing@example.net"}),)),
        Case("sending enabled", fires=True,
             events=(_ses("UpdateAccountSendingEnabled", {"enabled": True}),)),
        Case("sending paused", fires=False,
             events=(_ses("UpdateAccountSendingEnabled", {"enabled": False}),)),
    ),
)
def ses_abuse(event: Event) -> Match | None:
    """A successful SES identity verified, created or deleted, account sending enabled, or a
    production-access request (PutAccountDetails), grouped per actor."""
    if event.get("event.outcome") != "success" or event.get("event.provider") not in (
            None, *SOURCES):
        return None
    request = params(event)
    action = event["event.action"]
    if action in ("UpdateAccountSendingEnabled", "PutAccountSendingAttributes") and (
            request.get("enabled") is False or request.get("sendingEnabled") is False):
        return None
    actor = event.get("user.name", "?")
    what = request.get("emailAddress") or request.get("domain") or request.get(
        "emailIdentity") or request.get("identity") or ""
    return Match(dedup=scope(event, actor), entity=principal(event),
                 title=f"SES: {action} {what} by {actor}".replace("  ", " "),
                 context=aws_context(event, identity=what or None))
