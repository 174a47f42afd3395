"""A WAF web ACL taken off the resource it protects, or deleted."""

from __future__ import annotations

from socbot.core.events import Event
from socbot.detections.cloudtrail._common import aws_context, ct, params, scope
from socbot.detections.rule import Case, Match, rule

WAF = ("wafv2.amazonaws.com", "waf-regional.amazonaws.com", "waf.amazonaws.com")


@rule(
    id="cloudtrail.waf_acl_disassociated",
    title="WAF web ACL removed",
    severity="medium",
    datasets=("cloudtrail",),
    actions=("DisassociateWebACL", "DeleteWebACL"),
    mitre=("T1562.001",),
    runbook="The application's web firewall is off. Re-associate the web ACL unless a change "
            "ticket says otherwise, and watch the application's logs meanwhile.",
    tests=(
        Case("a web ACL disassociated from a load balancer", fires=True,
             events=(ct("DisassociateWebACL", {"resourceArn":
                        "arn:aws:elasticloadbalancing:us-east-1:111122223333:"
                        "loadbalancer/app/shop/50dc6c495c0c9188"},
                        source="wafv2.amazonaws.com"),)),
        Case("a web ACL deleted", fires=True,
             events=(ct("DeleteWebACL", {"name": "shop", "scope": "REGIONAL", "id": "a1"},
                        source="wafv2.amazonaws.com"),)),
        Case("a refused attempt", fires=False,
             events=(ct("DisassociateWebACL", {"resourceArn": "arn:x"}, error="AccessDenied",
                        source="wafv2.amazonaws.com"),)),
    ),
)
def waf_acl_disassociated(event: Event) -> Match | None:
    """A successful DisassociateWebACL (the resource is unprotected) or DeleteWebACL, in WAF
    classic, regional or v2."""
    if event.get("event.outcome") != "success" or event.get("event.provider") not in (None, *WAF):
        return None
    request = params(event)
    target = str(request.get("resourceArn") or request.get("name") or request.get("webACLId")
                 or "?")
    short = target.rsplit("/", 2)[-2] if target.count("/") >= 2 else target
    verb = ("disassociated from" if event["event.action"] == "DisassociateWebACL"
            else "deleted:")
    return Match(dedup=scope(event, target), entity={"type": "aws_resource", "value": target},
                 title=f"WAF web ACL {verb} {short} by {event.get('user.name', '?')}",
                 context=aws_context(event, resource_arn=target))
