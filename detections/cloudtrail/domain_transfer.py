"""A Route 53 domain's transfer lock removed, or the domain given to another account."""

from __future__ import annotations

from socbot.core.events import Event
from socbot.detections.cloudtrail._common import aws_context, ct, params, scope
from socbot.detections.rule import Case, Match, RawRecord, rule

SOURCE = "route53domains.amazonaws.com"


def _domains(name: str, request: dict[str, object], error: str | None = None) -> RawRecord:
    return ct(name, request, error=error, source=SOURCE)


@rule(
    id="cloudtrail.domain_transfer",
    title="Domain transfer lock removed or domain transferred",
    severity="high",
    datasets=("cloudtrail",),
    actions=("DisableDomainTransferLock", "TransferDomainToAnotherAwsAccount",
             "TransferDomain"),
    mitre=("T1098", "T1584.001"),
    runbook="Losing the domain means losing mail, sign-in and the web site. Re-enable the "
            "transfer lock now and cancel any pending transfer with the registrar.",
    tests=(
        Case("transfer lock disabled", fires=True,
             events=(_domains("DisableDomainTransferLock", {"domainName": "example.com"}),)),
        Case("domain transferred to another account (critical)", fires=True,
             events=(_domains("TransferDomainToAnotherAwsAccount",
                              {"domainName": "example.com", "accountId": "999988887777"}),)),
        Case("refused", fires=False,
             events=(_domains("DisableDomainTransferLock", {"domainName": "example.com"},
                              error="AccessDeniedException"),)),
    ),
)
def domain_transfer(event: Event) -> Match | None:
    """A successful DisableDomainTransferLock (high), or a domain transferred out or to
    another AWS account (critical)."""
    if event.get("event.outcome") != "success" or event.get("event.provider") not in (
            None, SOURCE):
        return None
    request = params(event)
    domain = str(request.get("domainName") or "?")
    lock = event["event.action"] == "DisableDomainTransferLock"
    what = "transfer lock removed" if lock else (
        f"transferred to account {request.get('accountId')}" if request.get("accountId")
        else "transfer started")
    return Match(dedup=scope(event, domain), entity={"type": "domain", "value": domain},
                 severity=None if lock else "critical",
                 title=f"Domain {domain} {what} by {event.get('user.name', '?')}",
                 context=aws_context(event, domain=domain))
