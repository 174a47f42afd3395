"""Calls made by secret scanners validating leaked keys, or by attack distributions."""

from __future__ import annotations

import functools

from socbot.core.events import Event
from socbot.detections.cloudtrail._common import access_key, aws_context, ct, principal, scope
from socbot.detections.rule import Case, Match, RawRecord, rule

# Tools that try leaked keys against sts:GetCallerIdentity to see whether they still work.
VALIDATORS = ("trufflehog", "gitleaks", "noseyparker", "kingfisher", "keyhacks", "ggshield")
# Penetration-testing distributions and frameworks that leave their name in the agent.
OFFENSIVE = ("kali", "parrot", "pentoo", "pacu", "cloudfox", "aws_consoler", "weirdaal")


@functools.lru_cache(maxsize=4096)  # a handful of agents make most calls
def _tool(agent: str) -> tuple[str, str | None] | None:
    """(tool, severity override) named in a user agent, or None."""
    lowered = agent.lower()
    for names, severity in ((VALIDATORS, "high"), (OFFENSIVE, None)):
        for name in names:
            if name in lowered:
                return name, severity
    return None


def _who_am_i(agent: str) -> RawRecord:
    return ct("GetCallerIdentity", None, source="sts.amazonaws.com", userAgent=agent)


@rule(
    id="cloudtrail.offensive_tool_used",
    title="Leaked-key validation or attack tool",
    severity="medium",
    datasets=("cloudtrail",),
    actions=None,
    mitre=("T1078.004", "T1589.001"),
    runbook="A key is being tried by a scanner (often because it leaked to a public repository) "
            "or used from an attack toolkit. Disable the key, find where it leaked, and "
            "review everything it did since.",
    playbooks=("disable-access-key",),
    tests=(
        Case("TruffleHog verifying a key", fires=True,
             events=(_who_am_i("TruffleHog"),)),
        Case("a call from Kali Linux's AWS CLI", fires=True,
             events=(ct("ListBuckets", None, source="s3.amazonaws.com",
                        userAgent="aws-cli/2.15.0 Python/3.11.8 Linux/6.6.9-amd64 "
                                  "exe/x86_64.kali.2024 prompt/off command/s3.ls"),)),
        Case("the ordinary CLI", fires=False,
             events=(_who_am_i("aws-cli/2.15.0 Python/3.11.8 Linux/6.1.0 exe/x86_64.debian.12"),)),
    ),
)
def offensive_tool_used(event: Event) -> Match | None:
    """Any CloudTrail call whose user agent names a secret scanner (TruffleHog, Gitleaks, Nosey
    Parker, ...: high, they validate leaked keys) or an attack distribution or framework (Kali,
    Parrot, Pentoo, Pacu, CloudFox: medium)."""
    agent = event.get("user_agent.original")
    found = _tool(agent) if isinstance(agent, str) and agent else None
    if found is None:
        return None
    tool, severity = found
    key = access_key(event)
    return Match(dedup=scope(event, key or event.get("user.name"), tool),
                 entity=principal(event), severity=severity,
                 title=f"{tool} used {event['event.action']} as {event.get('user.name', '?')}",
                 context=aws_context(event, tool=tool, access_key_id=key,
                                     **{"source.ip": event.get("source.ip")}))
