"""An event from an address a threat-intelligence feed lists as known bad."""

from __future__ import annotations

from socbot.core.events import Event
from socbot.detections.cloudtrail._common import access_key, aws_context, ct
from socbot.detections.context import RuleContext
from socbot.detections.rule import Case, Match, rule
from socbot.detections.secure._common import line

CONFIG = {"detection": {"intel_addresses": ["203.0.113.66", "198.51.100.128/25"]}}


@rule(
    id="correlation.threat_intel_address",
    title="Known-bad address {source.ip}",
    severity="high",
    datasets=("cloudtrail", "secure"),
    actions=None,
    mitre=("T1078", "T1110"),
    runbook="A threat-intelligence feed lists this address. Read what it did (the event and "
            "/soc search ip=); block it if it got anywhere, and check the credentials it used.",
    dedup_by="source.ip",
    entity_type="ip",
    dedup_window_s=86400,
    playbooks=("block-ip-nacl", "disable-access-key"),
    tests=(
        Case("an SSH attempt from a listed address", fires=True, config=CONFIG,
             events=(line(0, "ssh_login", "failure", ip="203.0.113.66"),)),
        Case("a CloudTrail call from a listed range", fires=True, config=CONFIG,
             events=(ct("ListBuckets", ip="198.51.100.200", source="s3.amazonaws.com"),)),
        Case("an address no feed lists", fires=False, config=CONFIG,
             events=(line(0, "ssh_login", "failure", ip="203.0.113.67"),)),
    ),
)
def threat_intel_address(event: Event, ctx: RuleContext) -> Match | None:
    """Any CloudTrail call or auth-log event whose source address is on a feed of
    ``detection.intel_feeds`` (refreshed by ``socbot intel refresh``) or in
    ``detection.intel_addresses``; high when it succeeded, medium otherwise."""
    feed = ctx.intel_feed(event.get("source.ip"))
    if feed is None:
        return None
    ok = event.get("event.outcome") == "success"
    return Match(severity=None if ok else "medium",
                 title=f"Known-bad address {event['source.ip']} ({feed}): "
                       f"{event['event.action']} {'succeeded' if ok else 'failed'}",
                 context=aws_context(event, feed=feed, access_key_id=access_key(event))
                 if event.get("event.dataset")
                 == "cloudtrail" else {"feed": feed})
