"""Findings of AWS's own detectors as events: GuardDuty, Security Hub (ASFF), IAM Access
Analyzer and Macie.

A finding arrives in an EventBridge event (``detail-type`` "GuardDuty Finding", "Security Hub
Findings - Imported", "Access Analyzer Finding", "Macie Finding"; directly, through SNS or SQS),
in an API response (``{"findings": [...]}`` or ``{"Findings": [...]}``), as a JSON array or
JSON Lines, or bare. :func:`normalize` turns one into an event of dataset ``finding``::

    event.id        <provider>:<finding id>@<updatedAt>  (a finding updated later is a new
                    event; the same update delivered twice is dropped as a duplicate)
    event.action    guardduty_finding | securityhub_finding | access_analyzer_finding |
                    macie_finding
    finding.id / .type / .title / .updated_at / .active / .severity / .severity_original
    cloud.account.id, cloud.region, and what the finding names: instance_id, vpc_id,
    group_id, access_key_id, user.name, iam_user, source.ip, bucket, object_key,
    aws.resource.type, aws.resource.id

Severity (``finding.severity``, socbot's scale):

============================  =========================================================
GuardDuty ``severity``        9.0-10 critical, 7.0-8.9 high, 4.0-6.9 medium, 1.0-3.9 low,
                              below 1 info
Security Hub ``Severity``     ``Label`` CRITICAL, HIGH, MEDIUM, LOW, INFORMATIONAL; without a
                              label ``Normalized`` 90-100, 70-89, 40-69, 1-39, 0
Macie ``severity``            ``description`` High, Medium, Low
Access Analyzer               public (``isPublic``) high; another account medium; unused
                              access low
============================  =========================================================

A finding that is archived, resolved or suppressed is still an event (``finding.active``
false), so its history is kept; the finding rule raises nothing for it.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

from socbot.collectors.base import BadRecord, admitted, capped, files_under
from socbot.core import edge
from socbot.core.events import Event, format_timestamp

DETAIL_TYPES = {"GuardDuty Finding": "guardduty",
                "Security Hub Findings - Imported": "securityhub",
                "Security Hub Findings - Custom Action": "securityhub",
                "Access Analyzer Finding": "access_analyzer",
                "Unused Access Finding for IAM entities": "access_analyzer",
                "Macie Finding": "macie"}
LABELS = {"CRITICAL": "critical", "HIGH": "high", "MEDIUM": "medium", "LOW": "low",
          "INFORMATIONAL": "info"}


class FindingError(ValueError):
    """A document is not a finding of a known detector, or lacks its id or time."""


def _get(value: Any, *path: str) -> Any:
    for name in path:
        value = value.get(name) if isinstance(value, dict) else None
    return value


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def kind_of(finding: Any) -> str | None:
    """Which detector wrote a bare finding, from its shape; None if none did."""
    if not isinstance(finding, dict):
        return None
    if "SchemaVersion" in finding and "ProductArn" in finding:
        return "securityhub"
    if _text(finding.get("type")) and isinstance(finding.get("service"), dict) and (
            finding["service"].get("serviceName") == "guardduty"):
        return "guardduty"
    if isinstance(finding.get("resourcesAffected"), dict) or str(
            finding.get("category", "")) in ("CLASSIFICATION", "POLICY"):
        return "macie"
    if "resourceType" in finding and ("isPublic" in finding or "principal" in finding
                                      or "findingType" in finding):
        return "access_analyzer"
    return None


def is_finding_envelope(document: Any) -> bool:
    """True for an EventBridge event that carries findings of a known detector."""
    return isinstance(document, dict) and document.get("detail-type") in DETAIL_TYPES


def _from_score(score: float, bands: tuple[float, float, float, float]) -> str:
    critical, high, medium, low = bands
    return ("critical" if score >= critical else "high" if score >= high
            else "medium" if score >= medium else "low" if score >= low else "info")


def severity_of(kind: str, finding: dict[str, Any]) -> tuple[str, str]:
    """(socbot severity, the detector's own value as text) of a finding (see the table)."""
    if kind == "guardduty":
        score = finding.get("severity")
        if isinstance(score, int | float):
            return _from_score(float(score), (9.0, 7.0, 4.0, 1.0)), str(score)
    elif kind == "securityhub":
        label = str(_get(finding, "Severity", "Label") or "").upper()
        if label in LABELS:
            return LABELS[label], label
        normalized = _get(finding, "Severity", "Normalized")
        if isinstance(normalized, int | float):
            return _from_score(float(normalized), (90, 70, 40, 1)), str(normalized)
    elif kind == "macie":
        label = str(_get(finding, "severity", "description") or "")
        if label.lower() in ("high", "medium", "low"):
            return label.lower(), label
    elif kind == "access_analyzer":
        if finding.get("isPublic") is True:
            return "high", "public"
        if finding.get("findingType") or "Unused" in str(finding.get("type", "")):
            return "low", "unused access"
        return "medium", "external access"
    return "medium", "unknown"


def _active(kind: str, finding: dict[str, Any]) -> bool:
    if kind == "guardduty":
        return _get(finding, "service", "archived") is not True
    if kind == "securityhub":
        return (str(_get(finding, "Workflow", "Status") or "NEW").upper()
                not in ("RESOLVED", "SUPPRESSED")
                and str(finding.get("RecordState") or "ACTIVE").upper() != "ARCHIVED")
    if kind == "macie":
        return finding.get("archived") is not True
    return (str(finding.get("status") or "ACTIVE").upper() == "ACTIVE"
            and finding.get("isDeleted") is not True)


def _ip(value: Any) -> str | None:
    return edge.ip_text(value) if isinstance(value, str) else None


def _guardduty_fields(finding: dict[str, Any]) -> dict[str, Any]:
    resource = finding.get("resource") or {}
    instance = _get(resource, "instanceDetails") or {}
    interfaces = instance.get("networkInterfaces") if isinstance(instance, dict) else None
    first = interfaces[0] if isinstance(interfaces, list) and interfaces else {}
    groups = first.get("securityGroups") if isinstance(first, dict) else None
    key = _get(resource, "accessKeyDetails") or {}
    action = _get(finding, "service", "action") or {}
    remote = None
    if isinstance(action, dict):
        for detail in action.values():
            remote = remote or _get(detail, "remoteIpDetails", "ipAddressV4")
    buckets = _get(resource, "s3BucketDetails")
    bucket = buckets[0].get("name") if isinstance(buckets, list) and buckets and isinstance(
        buckets[0], dict) else None
    user_type = _get(key, "userType")
    return {"aws.resource.type": _text(resource.get("resourceType")),
            "instance_id": _text(_get(instance, "instanceId")),
            "vpc_id": _text(_get(first, "vpcId")),
            "group_id": _text(groups[0].get("groupId")) if isinstance(groups, list) and groups
            and isinstance(groups[0], dict) else None,
            "access_key_id": _text(_get(key, "accessKeyId")),
            "user.name": _text(_get(key, "userName")),
            "iam_user": _text(_get(key, "userName")) if user_type == "IAMUser" else None,
            "source.ip": _ip(remote), "bucket": _text(bucket)}


def _securityhub_fields(finding: dict[str, Any]) -> dict[str, Any]:
    resources = finding.get("Resources")
    first = resources[0] if isinstance(resources, list) and resources else {}
    kind = _text(_get(first, "Type"))
    rid = _text(_get(first, "Id")) or ""
    short = rid.rsplit("/", 1)[-1].rsplit(":", 1)[-1]
    key_details = _get(first, "Details", "AwsIamAccessKey") or {}
    return {"aws.resource.type": kind, "aws.resource.id": rid or None,
            "instance_id": short if kind == "AwsEc2Instance" else None,
            "group_id": short if kind == "AwsEc2SecurityGroup" else None,
            "bucket": short if kind == "AwsS3Bucket" else None,
            "access_key_id": _text(_get(key_details, "AccessKeyId")) or (
                short if kind == "AwsIamAccessKey" and short.startswith(("AKIA", "ASIA"))
                else None),
            "iam_user": _text(_get(key_details, "PrincipalName")) or (
                short if kind == "AwsIamUser" else None),
            "source.ip": _ip(_get(finding, "Network", "SourceIpV4"))}


def _macie_fields(finding: dict[str, Any]) -> dict[str, Any]:
    affected = finding.get("resourcesAffected") or {}
    return {"aws.resource.type": "AwsS3Bucket",
            "bucket": _text(_get(affected, "s3Bucket", "name")),
            "object_key": _text(_get(affected, "s3Object", "key"))}


def _analyzer_fields(finding: dict[str, Any]) -> dict[str, Any]:
    resource = _text(finding.get("resource")) or ""
    kind = _text(finding.get("resourceType"))
    return {"aws.resource.type": kind, "aws.resource.id": resource or None,
            "bucket": resource.rsplit(":", 1)[-1] if kind == "AWS::S3::Bucket" else None}


_FIELDS = {"guardduty": _guardduty_fields, "securityhub": _securityhub_fields,
           "macie": _macie_fields, "access_analyzer": _analyzer_fields}


def normalize(finding: dict[str, Any], envelope: dict[str, Any] | None = None) -> Event:
    """One finding as an event; raise :class:`FindingError` if it cannot be read.

    A bare finding may also be given inside its EventBridge ``envelope`` (one finding)."""
    if envelope is None and is_finding_envelope(finding):
        envelope, inner = finding, finding.get("detail")
        findings = inner.get("findings") if isinstance(inner, dict) else None
        if isinstance(findings, list):
            if len(findings) != 1:
                raise FindingError("an envelope of several findings: read it with "
                                   "iter_findings()")
            inner = findings[0]
        finding = inner  # type: ignore[assignment]
    kind = kind_of(finding)
    if kind is None:
        raise FindingError("not a GuardDuty, Security Hub (ASFF), Access Analyzer or Macie "
                           "finding")
    upper = kind == "securityhub"
    finding_id = _text(finding.get("Id" if upper else "id"))
    updated = (_text(finding.get("UpdatedAt" if upper else "updatedAt"))
               or _text(finding.get("analyzedAt")) or _text(_get(envelope, "time")))
    if not finding_id or not updated:
        raise FindingError("finding has no id or no updatedAt")
    try:
        timestamp = format_timestamp(edge.moment(updated))
    except ValueError:
        raise FindingError(f"updatedAt {updated!r} is not a timestamp") from None
    severity, original = severity_of(kind, finding)
    if kind == "securityhub":
        types = finding.get("Types")
        ftype = _text(types[0]) if isinstance(types, list) and types else None
        title = _text(finding.get("Title"))
        account, region = finding.get("AwsAccountId"), finding.get("Region")
    else:
        ftype = _text(finding.get("type")) or _text(finding.get("findingType")) or (
            f"{finding.get('resourceType', 'Resource')}/ExternalAccess")
        title = _text(finding.get("title")) or (
            f"{finding.get('resource', '?')} is reachable from "
            f"{'everyone' if finding.get('isPublic') else 'another account'}")
        account, region = finding.get("accountId"), finding.get("region")
    event: Event = {
        "@timestamp": timestamp, "event.id": f"{kind}:{finding_id}@{updated}",
        "event.dataset": "finding", "event.action": f"{kind}_finding",
        "event.outcome": "unknown", "event.provider": kind,
        "finding.id": finding_id, "finding.type": ftype or "?", "finding.title": title or "?",
        "finding.updated_at": updated, "finding.active": _active(kind, finding),
        "finding.severity": severity, "finding.severity_original": original,
        "cloud.account.id": _text(account) or _text(_get(envelope, "account")),
        "cloud.region": _text(region) or _text(_get(envelope, "region")),
        **_FIELDS[kind](finding),
        "message": f"{kind} finding {ftype}: {title or '?'}",
        "original": finding,
    }
    return {k: v for k, v in event.items() if v is not None}


def iter_findings(document: Any) -> Iterator[tuple[dict[str, Any], dict[str, Any] | None]]:
    """(finding, envelope) for each finding in a parsed document; a document that holds none
    is yielded as itself, for :func:`normalize` to refuse."""
    if isinstance(document, list):
        for item in document:
            yield from iter_findings(item)
        return
    if is_finding_envelope(document):
        detail = document.get("detail")
        inner = detail.get("findings") if isinstance(detail, dict) else None
        for finding in inner if isinstance(inner, list) else [detail]:
            yield finding, document
        return
    if isinstance(document, dict):
        for name in ("findings", "Findings"):
            if isinstance(document.get(name), list):
                for finding in document[name]:
                    yield finding, None
                return
    yield document, None


def events_of(document: Any, name: str) -> Iterator[Event | BadRecord]:
    """Events (and bad records) of one parsed document (``name`` says where it came from)."""
    for index, (finding, envelope) in enumerate(iter_findings(document)):
        yield admitted(partial(normalize, finding, envelope), name, index, finding)


def read_file(path: Path) -> Iterator[Event | BadRecord]:
    """Events of a ``.json`` file (one document) or JSON Lines file (one document a line)."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        yield BadRecord(str(path), None, f"unreadable file: {type(exc).__name__}: {exc}", "")
        return
    try:
        whole = edge.loads(text)
    except ValueError:  # not one document (JSON Lines), or too deep
        pass
    else:
        yield from events_of(whole, str(path))
        return
    for number, line in enumerate(text.splitlines()):
        if not line.strip():
            continue
        try:
            document = edge.loads(line)
        except ValueError as exc:
            yield BadRecord(str(path), number, f"not JSON: {exc}", capped(line))
            continue
        yield from events_of(document, f"{path}:{number + 1}")


def read_path(path: str | Path) -> Iterator[Event | BadRecord]:
    """Like :func:`read_file`, for a file or a directory (``.json``/``.jsonl``, sorted)."""
    for file in files_under(Path(path), lambda p: p.suffix in (".json", ".jsonl")):
        yield from read_file(file)
