"""A Lambda function URL created or changed to need no authentication."""

from __future__ import annotations

from socbot.core.events import Event
from socbot.detections.cloudtrail._common import aws_context, ct, params, scope
from socbot.detections.rule import Case, Match, RawRecord, rule

ACTIONS = ("CreateFunctionUrlConfig", "UpdateFunctionUrlConfig")


def _url(name: str, auth: str) -> RawRecord:
    return ct(name, {"functionName": "billing-export", "authType": auth},
              source="lambda.amazonaws.com")


@rule(
    id="cloudtrail.lambda_url_public",
    title="Lambda function URL open to anyone",
    severity="high",
    datasets=("cloudtrail",),
    actions=ACTIONS,
    mitre=("T1190", "T1546"),
    runbook="Anyone on the Internet can now call the function without credentials. Set the "
            "URL's auth type to AWS_IAM or delete it unless it is meant to be public.",
    tests=(
        Case("a function URL without authentication", fires=True,
             events=(_url("CreateFunctionUrlConfig", "NONE"),)),
        Case("a function URL that needs IAM", fires=False,
             events=(_url("CreateFunctionUrlConfig", "AWS_IAM"),)),
    ),
)
def lambda_url_public(event: Event) -> Match | None:
    """A successful CreateFunctionUrlConfig or UpdateFunctionUrlConfig with ``authType``
    ``NONE``."""
    request = params(event)
    if event.get("event.outcome") != "success" or request.get("authType") != "NONE":
        return None
    function = str(request.get("functionName") or "?").rsplit(":", 1)[-1]
    return Match(dedup=scope(event, function), entity={"type": "lambda", "value": function},
                 title=f"Lambda {function} URL open to anyone, by {event.get('user.name', '?')}",
                 context=aws_context(event, function=function))
