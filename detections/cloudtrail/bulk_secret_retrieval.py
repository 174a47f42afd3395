"""Many secrets or secure parameters read by one principal in a short time."""

from __future__ import annotations

from socbot.core.events import Event
from socbot.detections.cloudtrail._common import access_key, actor_key, aws_context, ct, params
from socbot.detections.rule import Case, Distinct, Match, RawRecord, rule

REFUSED = ("AccessDenied", "Client.AccessDenied", "UnauthorizedOperation")


def _get(n: int, user: str = "mallory") -> RawRecord:
    return ct("GetSecretValue", {"secretId": f"arn:aws:secretsmanager:us-east-1:1:secret:s{n}"},
              user=user, source="secretsmanager.amazonaws.com",
              at=f"2026-11-23T03:00:{n:02d}Z")


@rule(
    id="cloudtrail.bulk_secret_retrieval",
    title="Bulk secret retrieval by {user.name}",
    severity="high",
    datasets=("cloudtrail",),
    actions=("GetSecretValue", "BatchGetSecretValue", "GetParameter", "GetParameters",
             "GetParametersByPath"),
    mitre=("T1555.006", "T1552"),
    runbook="Someone is collecting credentials. Confirm the principal is a deployment tool "
            "that reads these secrets; if not, disable its key and rotate the secrets read.",
    state=Distinct(by="user.name", field="secret", count=10, window_s=600),
    entity_type="aws_principal",
    playbooks=("disable-access-key",),
    tests=(
        Case("ten distinct secrets in ten minutes", fires=True,
             events=tuple(_get(n) for n in range(10))),
        Case("ten distinct secrets refused (an enumeration attempt)", fires=True,
             events=tuple(ct("GetSecretValue", {"secretId": f"prod/db-{n}"},
                             error="AccessDeniedException", user="mallory",
                             source="secretsmanager.amazonaws.com",
                             at=f"2026-11-23T03:00:{n:02d}Z") for n in range(10))),
        Case("five read and five refused are two separate counts", fires=False,
             events=tuple(ct("GetSecretValue", {"secretId": f"prod/db-{n}"},
                             error="AccessDeniedException" if n % 2 else None, user="mallory",
                             source="secretsmanager.amazonaws.com",
                             at=f"2026-11-23T03:00:{n:02d}Z") for n in range(10))),
        Case("one secret read ten times", fires=False,
             events=tuple(_get(0) for _ in range(10))),
        Case("one batch call counts every secret it names", fires=True,
             events=(ct("BatchGetSecretValue", {"secretIdList": [f"s{n}" for n in range(10)]},
                        source="secretsmanager.amazonaws.com"),)),
        Case("parameters read without decryption", fires=False,
             events=(ct("GetParameters", {"names": [f"/p/{n}" for n in range(12)]},
                        source="ssm.amazonaws.com"),)),
    ),
)
def bulk_secret_retrieval(event: Event) -> Match | None:
    """At least 10 distinct Secrets Manager secrets or decrypted SSM parameters read by one
    principal within 10 minutes (BatchGetSecretValue and GetParameters count each name);
    reads refused for access are counted apart and fire as an attempt of the same size."""
    refused = str(event.get("error.code") or "").startswith(REFUSED)
    if event.get("event.outcome") != "success" and not refused:
        return None
    actor = actor_key(event)
    if not actor:
        return None
    request = params(event)
    action = event["event.action"]
    if action.startswith("GetParameter"):
        if request.get("withDecryption") is not True:
            return None
        names = request.get("names") or [request.get("name") or request.get("path")]
    elif action == "BatchGetSecretValue":
        names = request.get("secretIdList") or []
        if not names:  # a filter: every matching secret; count the call as ten
            names = [f"{event['event.id']}#{n}" for n in range(10)]
    else:
        names = [request.get("secretId")]
    names = [str(n) for n in names if n]
    if not names:
        return None
    what = "refused secret reads" if refused else "secret retrieval"
    return Match(value=tuple(names), key=f"{actor}:refused" if refused else actor,
                 entity={"type": "aws_principal", "value": actor},
                 title=f"Bulk {what} by {actor}",
                 context=aws_context(event, access_key_id=access_key(event),
                                     refused=refused or None))
