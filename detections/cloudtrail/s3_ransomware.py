"""S3 ransomware patterns: objects re-encrypted with an outside or client-held key, copied to
another account, or a ransom note uploaded."""

from __future__ import annotations

import re
from typing import Any

from socbot.core.events import Event
from socbot.detections.cloudtrail._common import account_of, aws_context, ct, params, scope
from socbot.detections.context import RuleContext
from socbot.detections.rule import Case, Match, RawRecord, rule

NOTE = re.compile(
    r"(?i)(^|/)[^/]*(ransom|(how|help)[_ -]?to[_ -]?(decrypt|restore|recover)|decrypt[_ -]?"
    r"(instructions?|your[_ -]?files)|(files|data)[_ -]?(are|have[_ -]?been|been)?[_ -]?"
    r"(encrypted|locked)|restore[_ -]?instructions?|unlock[_ -]?(instructions?|files))"
    r"[^/]*\.(txt|html?|md)$")
KMS_KEY = "x-amz-server-side-encryption-aws-kms-key-id"
CUSTOMER_KEY = "x-amz-server-side-encryption-customer-algorithm"


def _s3(name: str, request: dict[str, Any], resources: list[dict[str, str]] | None = None
        ) -> RawRecord:
    extra: dict[str, Any] = {"resources": resources} if resources is not None else {}
    return ct(name, {"bucketName": "ledger", "key": "2026/q3.csv", **request},
              source="s3.amazonaws.com", eventType="AwsApiCall", **extra)


def _bucket_accounts(event: Event) -> set[str]:
    resources = (event.get("original") or {}).get("resources")
    return {str(r["accountId"]) for r in resources or [] if isinstance(r, dict)
            and r.get("type") == "AWS::S3::Bucket" and r.get("accountId")}


def _pattern(event: Event, trusted: frozenset[str]) -> str | None:
    request = params(event)
    own = event.get("cloud.account.id")
    if event["event.action"] == "PutObject":
        return "ransom note uploaded" if NOTE.search(str(request.get("key") or "")) else None
    if request.get(CUSTOMER_KEY):
        return "re-encrypted with a key held by the caller (SSE-C)"
    key_account = account_of(str(request.get(KMS_KEY) or ""))
    if key_account and key_account != own and key_account not in trusted:
        return f"re-encrypted with a KMS key of account {key_account}"
    outside = _bucket_accounts(event) - {own, *trusted}
    if outside:
        return f"copied to a bucket of account {sorted(outside)[0]}"
    return None


@rule(
    id="cloudtrail.s3_ransomware",
    title="S3 ransomware pattern",
    severity="high",
    datasets=("cloudtrail",),
    actions=("CopyObject", "PutObject"),
    mitre=("T1486", "T1537"),
    runbook="Objects are being made unreadable to their owner or taken away. Stop the "
            "principal (disable its key), keep versioning on, and restore the previous object "
            "versions; do not pay before reading what the note claims.",
    playbooks=("disable-access-key", "restore-s3-object"),
    tests=(
        Case("objects re-encrypted with SSE-C", fires=True,
             events=(_s3("CopyObject", {CUSTOMER_KEY: "AES256",
                                        "x-amz-copy-source": "ledger/2026/q3.csv"}),)),
        Case("objects re-encrypted with another account's KMS key", fires=True,
             events=(_s3("CopyObject", {KMS_KEY: "arn:aws:kms:us-east-1:999988887777:key/k",
                                        "x-amz-copy-source": "ledger/2026/q3.csv"}),)),
        Case("objects copied to another account's bucket", fires=True,
             events=(_s3("CopyObject", {"bucketName": "loot"}, resources=[
                 {"type": "AWS::S3::Bucket", "ARN": "arn:aws:s3:::loot",
                  "accountId": "999988887777"},
                 {"type": "AWS::S3::Bucket", "ARN": "arn:aws:s3:::ledger",
                  "accountId": "111122223333"}]),)),
        Case("a ransom note uploaded", fires=True,
             events=(_s3("PutObject", {"key": "HOW_TO_DECRYPT_YOUR_FILES.txt"}),)),
        Case("an ordinary copy with the account's key", fires=False,
             events=(_s3("CopyObject", {KMS_KEY: "arn:aws:kms:us-east-1:111122223333:key/k"}),)),
        Case("an ordinary upload", fires=False,
             events=(_s3("PutObject", {"key": "reports/restore-plan.pdf"}),)),
    ),
)
def s3_ransomware(event: Event, ctx: RuleContext) -> Match | None:
    """A successful CopyObject re-encrypting with SSE-C or a KMS key of an account other than
    this one and ``detection.trusted_accounts``, or into such an account's bucket; or a
    PutObject whose name reads like a ransom note (needs S3 data events)."""
    if event.get("event.outcome") != "success":
        return None
    why = _pattern(event, ctx.trusted_accounts)
    if why is None:
        return None
    request = params(event)
    bucket = str(request.get("bucketName") or "?")
    return Match(dedup=scope(event, bucket, why.split(" ")[0]),
                 entity={"type": "s3_bucket", "value": bucket},
                 title=f"S3 {bucket}: {why} by {event.get('user.name', '?')}",
                 context=aws_context(event, bucket=bucket, key=request.get("key")))
