"""A Lambda function opened to others, or its code or layers replaced."""

from __future__ import annotations

from socbot.core.events import Event
from socbot.detections.cloudtrail._common import (
    aws_context,
    ct,
    outside_accounts,
    params,
    response,
    scope,
)
from socbot.detections.context import RuleContext
from socbot.detections.rule import Case, Match, rule

PERMISSION = ("AddPermission20150331", "AddPermission20150331v2")
CODE = ("UpdateFunctionCode20150331v2", "UpdateFunctionCode20150331")
CONFIGURATION = ("UpdateFunctionConfiguration20150331v2", "UpdateFunctionConfiguration20150331")


def _function(event: Event) -> str:
    request = params(event)
    name = request.get("functionName")
    if not name:
        relative = (request.get("fullyQualifiedArn") or {}).get("relativeId") or {}
        name = relative.get("functionName") if isinstance(relative, dict) else None
    return str(name or "?").rsplit(":", 1)[-1]


def _layers(event: Event) -> list[str]:
    """Layer ARNs set by the call: the request names them as text, the response (what real
    records reliably carry) as ``{"arn": ...}`` objects."""
    found: list[str] = []
    for source in (params(event), response(event)):
        value = source.get("layers")
        for layer in value if isinstance(value, list) else []:
            arn = layer.get("arn") if isinstance(layer, dict) else layer
            if isinstance(arn, str) and arn and arn not in found:
                found.append(arn)
    return found


@rule(
    id="cloudtrail.lambda_backdoor",
    title="Lambda function backdoor",
    severity="medium",
    datasets=("cloudtrail",),
    actions=(*PERMISSION, *CODE, *CONFIGURATION),
    mitre=("T1546", "T1098"),
    runbook="Check the function's resource policy, code and layers against its repository; "
            "deployments from CI are expected, changes from a person's key are not.",
    tests=(
        Case("invoke permission for everyone", fires=True,
             events=(ct("AddPermission20150331v2", {"functionName": "f", "principal": "*",
                                                    "action": "lambda:InvokeFunction"},
                        source="lambda.amazonaws.com"),)),
        Case("a layer added", fires=True,
             events=(ct("UpdateFunctionConfiguration20150331v2", {"functionName": "f",
                        "layers": ["arn:aws:lambda:us-east-1:999988887777:layer:x:1"]},
                        source="lambda.amazonaws.com"),)),
        Case("layers read from responseElements, as real records carry them", fires=True,
             events=(ct("UpdateFunctionConfiguration20150331v2", {"functionName": "api"},
                        response_elements={"functionName": "api", "layers": [
                            {"arn": "arn:aws:lambda:us-east-1:999988887777:layer:x:1",
                             "codeSize": 258}]},
                        source="lambda.amazonaws.com"),)),
        Case("a permission for an AWS service", fires=False,
             events=(ct("AddPermission20150331v2", {"functionName": "f",
                                                    "principal": "s3.amazonaws.com"},
                        source="lambda.amazonaws.com"),)),
        Case("memory size changed", fires=False,
             events=(ct("UpdateFunctionConfiguration20150331v2", {"functionName": "f",
                                                                  "memorySize": 256},
                        source="lambda.amazonaws.com"),)),
    ),
)
def lambda_backdoor(event: Event, ctx: RuleContext) -> Match | None:
    """AddPermission for everyone or an outside account (high), code replaced (medium) or
    layers set (medium; high when a layer is from another account); succeeded."""
    if event.get("event.outcome") != "success":
        return None
    request = params(event)
    action = event["event.action"]
    function = _function(event)
    severity, title = None, ""
    if action in PERMISSION:
        outside = outside_accounts([str(request.get("principal", ""))], event,
                                   ctx.trusted_accounts)
        if not outside:
            return None
        severity, title = "high", f"Lambda {function} may be invoked by {outside[0]}"
    elif action in CODE:
        title = f"Lambda {function} code replaced by {event.get('user.name')}"
    else:
        layers = _layers(event)
        if not layers:
            return None
        foreign = [x for x in layers if x.split(":")[4:5] != [event.get("cloud.account.id")]]
        severity = "high" if foreign else None
        title = f"Lambda {function} layers set ({len(layers)})"
    return Match(dedup=scope(event, function), entity={"type": "lambda", "value": function},
                 severity=severity, title=title, context=aws_context(event, function=function))
