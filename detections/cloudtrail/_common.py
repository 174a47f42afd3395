"""Helpers shared by the CloudTrail rules: request fields, the alert context playbooks read,
and a compact way to write raw CloudTrail records for the rules' test cases."""

from __future__ import annotations

import itertools
import json
from typing import Any

from socbot.core.events import Event
from socbot.detections.rule import Match, RawRecord

_SEQ = itertools.count()
ACCOUNT = "111122223333"
REGION = "us-east-1"


def params(event: Event) -> dict[str, Any]:
    """``requestParameters`` (an empty dict when absent or null)."""
    value = (event.get("original") or {}).get("requestParameters")
    return value if isinstance(value, dict) else {}


def response(event: Event) -> dict[str, Any]:
    """``responseElements`` (an empty dict when absent or null)."""
    value = (event.get("original") or {}).get("responseElements")
    return value if isinstance(value, dict) else {}


def record(event: Event) -> dict[str, Any]:
    """The CloudTrail record itself."""
    value = event.get("original")
    return value if isinstance(value, dict) else {}


def items(value: Any) -> list[Any]:
    """CloudTrail wraps lists as ``{"items": [...]}``; tolerate a missing or odd value."""
    if isinstance(value, dict):
        value = value.get("items", [])
    return list(value) if isinstance(value, list) else []


def policy_document(value: Any) -> dict[str, Any]:
    """A policy document given as JSON text (IAM) or as an object (S3); {} if unreadable."""
    if isinstance(value, dict):
        return value
    if isinstance(value, str):
        try:
            loaded = json.loads(value)
        except ValueError:
            return {}
        return loaded if isinstance(loaded, dict) else {}
    return {}


def statements(document: dict[str, Any]) -> list[dict[str, Any]]:
    """The statements of a policy document."""
    found = document.get("Statement", [])
    found = [found] if isinstance(found, dict) else found
    return [s for s in found if isinstance(s, dict)] if isinstance(found, list) else []


def as_list(value: Any) -> list[Any]:
    """A policy value that may be one item or a list."""
    return value if isinstance(value, list) else [value]


def principals(statement: dict[str, Any]) -> list[str]:
    """Every principal a statement names ("*" for everyone)."""
    principal = statement.get("Principal")
    if principal == "*":
        return ["*"]
    if isinstance(principal, dict):
        return [str(p) for v in principal.values() for p in as_list(v)]
    return []


def account_of(principal: str) -> str | None:
    """The account id in a principal (``arn:aws:iam::123456789012:root`` or the bare id)."""
    if principal.isdigit() and len(principal) == 12:
        return principal
    parts = principal.split(":")
    if len(parts) > 4 and parts[0] == "arn" and parts[4].isdigit():
        return parts[4]
    return None


def outside_accounts(names: list[str], event: Event, trusted: frozenset[str]) -> list[str]:
    """Principals that are everyone or an account other than this one and the trusted ones."""
    own = event.get("cloud.account.id")
    found = []
    for name in names:
        if name == "*":
            found.append(name)
            continue
        account = account_of(name)
        if account and account != own and account not in trusted:
            found.append(name)
    return found


def aws_context(event: Event, **extra: Any) -> dict[str, Any]:
    """The context fields playbooks read, plus ``extra`` (empty values left out)."""
    context = {"actor": event.get("user.name"),
               "actor_type": event.get("aws.cloudtrail.user_identity.type"),
               "user_agent": event.get("user_agent.original"),
               "error.code": event.get("error.code")}
    context.update(extra)
    return {k: v for k, v in context.items() if v not in (None, "", [], {})}


def principal(event: Event) -> dict[str, str]:
    """The alert entity of a call: the calling principal (``user.name``, "" when unnamed)."""
    return {"type": "aws_principal", "value": str(event.get("user.name") or "")}


def actor_key(event: Event) -> str:
    """Who made a call, for counting per principal: ``user.name``, else the identity's ARN,
    access key or principal id (a caller from another account, or one CloudTrail names only
    by its key, has no user name but must still be counted); "" if the record names none."""
    name = event.get("user.name")
    if isinstance(name, str) and name:
        return name
    identity = record(event).get("userIdentity")
    identity = identity if isinstance(identity, dict) else {}
    for found in (identity.get("arn"), access_key(event), identity.get("principalId")):
        if isinstance(found, str) and found:
            return found
    return ""


def scope(event: Event, *parts: Any) -> str:
    """A dedup key: account, region and ``parts``."""
    return ":".join(str(p) for p in (event.get("cloud.account.id", ""),
                                      event.get("cloud.region", ""), *parts))


def ct(name: str, request: Any = None, *, error: str | None = None, user: str = "alice",
       identity: str = "IAMUser", response_elements: Any = None, additional: Any = None,
       ip: str = "198.51.100.7", source: str = "", at: str = "2026-11-23T03:00:00Z",
       **record_fields: Any) -> RawRecord:
    """A raw CloudTrail record made by ``user``, for a test case (the runner normalizes it)."""
    arn = (f"arn:aws:iam::{ACCOUNT}:root" if identity == "Root"
           else f"arn:aws:iam::{ACCOUNT}:user/{user}")
    ident: dict[str, Any] = {"type": identity, "accountId": ACCOUNT, "arn": arn,
                             "principalId": "AIDAEXAMPLE"}
    if identity == "IAMUser":
        ident["userName"] = user
    raw: dict[str, Any] = {
        "eventVersion": "1.08", "eventID": f"test-{name}-{next(_SEQ)}", "eventTime": at,
        "eventName": name, "eventSource": source or "iam.amazonaws.com",
        "awsRegion": REGION, "sourceIPAddress": ip, "userAgent": "aws-cli/2.15",
        "userIdentity": ident, "requestParameters": request,
        "responseElements": response_elements, "recipientAccountId": ACCOUNT,
        "eventType": "AwsApiCall",
    }
    if error:
        raw["errorCode"] = error
        raw["errorMessage"] = "denied"
    if additional is not None:
        raw["additionalEventData"] = additional
    raw.update(record_fields)
    return RawRecord("cloudtrail", raw)


def at(second: int) -> str:
    """A test timestamp ``second`` seconds after 03:00:00."""
    return f"2026-11-23T03:{second // 60:02d}:{second % 60:02d}Z"


def change(event: Event, what: str, entity_type: str = "", entity: str = "",
           **extra: Any) -> Match | None:
    """The Match of a CIS-style change rule: one alert per actor, account and region per
    window, titled by what changed; refused calls are not changes."""
    if event.get("event.outcome") != "success":
        return None
    actor = str(event.get("user.name", ""))
    title = f"{what}: {event['event.action']} by {actor or '?'}"
    return Match(dedup=scope(event, actor),
                 entity={"type": entity_type or "aws_principal", "value": entity or actor},
                 title=title, context=aws_context(event, **extra))


def access_key(event: Event) -> str | None:
    """The access key the caller used (AKIA... or ASIA...), if the record names one."""
    identity = record(event).get("userIdentity")
    key = identity.get("accessKeyId") if isinstance(identity, dict) else None
    return key if isinstance(key, str) and key[:4] in ("AKIA", "ASIA") else None


def iam_user(event: Event) -> str | None:
    """The caller's IAM user name when the caller is an IAM user (playbooks act on users)."""
    if event.get("aws.cloudtrail.user_identity.type") != "IAMUser":
        return None
    name = event.get("user.name")
    return name if isinstance(name, str) else None


ADMIN_POLICIES = ("AdministratorAccess", "IAMFullAccess", "PowerUserAccess")


def grants_admin(event: Event) -> str | None:
    """What makes this IAM call grant administrator rights, or None.

    A managed admin policy attached (``AdministratorAccess``, ``IAMFullAccess``,
    ``PowerUserAccess``), or an inline policy allowing ``*`` (or ``iam:*``) on ``*``.
    """
    request = params(event)
    arn = request.get("policyArn")
    if isinstance(arn, str) and arn.rsplit("/", 1)[-1] in ADMIN_POLICIES:
        return arn
    document = policy_document(request.get("policyDocument"))
    for statement in statements(document):
        if statement.get("Effect") != "Allow":
            continue
        actions = [str(a) for a in as_list(statement.get("Action", []))]
        resources = [str(r) for r in as_list(statement.get("Resource", []))]
        if any(a in ("*", "iam:*") for a in actions) and "*" in resources:
            return "inline policy allowing * on *"
    return None
