"""The playbook contract: what a remediation declares, what it returns, how it meets AWS errors.

A playbook takes resource ids only from validated alert fields (never from free text), reads
before it writes, and is idempotent: :meth:`Playbook.run` previews first and changes nothing
when the preview finds nothing to do, so a second run reports "nothing to do" instead of
failing or acting again. Dry-run stops after the preview, so it cannot make a mutating call.

Exceptions::

    PlaybookError
     ├── PlaybookInputError   the alert or the parameters do not name valid resources
     └── PlaybookFailed       AWS refused (named error code, or throttled too often)

Any other exception (a botocore error with an unexpected code, a bug) propagates unchanged.
"""

from __future__ import annotations

import ipaddress
import random
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar, TypeGuard, TypeVar

import boto3
from botocore.exceptions import ClientError

from socbot.core.config import Settings

T = TypeVar("T")


class PlaybookError(Exception):
    """Base of the errors a playbook raises on purpose."""


class PlaybookInputError(PlaybookError, ValueError):
    """An alert field or a parameter is missing or not of the shape the playbook accepts."""


class PlaybookFailed(PlaybookError):
    """AWS refused the remediation for a known reason; ``code`` is AWS's error code."""

    def __init__(self, message: str, code: str = "", partial: Result | None = None) -> None:
        super().__init__(message)
        self.code = code
        # What a run changed before it failed (with its undo data), so nothing done is lost.
        self.partial = partial


@dataclass(frozen=True)
class FieldShape:
    """How a resource id in an alert field must look, and how to say so to a person.

    ``check``, when set, must also accept the value (for shapes a regex states badly, such as
    an IP address, which :mod:`ipaddress` parses).
    """

    pattern: re.Pattern[str]
    expected: str
    check: Callable[[str], bool] | None = None

    def accepts(self, value: object) -> TypeGuard[str]:
        """True when ``value`` is a string of this shape."""
        return (isinstance(value, str) and self.pattern.fullmatch(value) is not None
                and (self.check is None or self.check(value)))


def shape(regex: str, expected: str, check: Callable[[str], bool] | None = None) -> FieldShape:
    """Compile a field shape. ASCII-only, because ``\\d`` would otherwise accept any digit."""
    return FieldShape(re.compile(regex, re.ASCII), expected, check)


def _is_ip(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def _printable(value: str) -> bool:
    return value.isprintable() and len(value.encode()) <= 1024


# Alert fields a playbook may take resource ids from. Matching uses fullmatch, so a trailing
# newline (which ``$`` tolerates) or a second id after a space is refused.
FIELD_SHAPES: dict[str, FieldShape] = {
    "cloud.account.id": shape(r"\d{12}", "a 12-digit AWS account id such as 123456789012"),
    "cloud.region": shape(r"[a-z]{2}(-[a-z]+)+-\d+", "an AWS region such as eu-west-1"),
    "group_id": shape(r"sg-[0-9a-f]{8,17}", "a security group id such as sg-0123456789abcdef0"),
    "instance_id": shape(r"i-[0-9a-f]{8,17}", "an instance id such as i-0123456789abcdef0"),
    "image_id": shape(r"ami-[0-9a-f]{8,17}", "an AMI id such as ami-0123456789abcdef0"),
    "vpc_id": shape(r"vpc-[0-9a-f]{8,17}", "a VPC id such as vpc-0123456789abcdef0"),
    "access_key_id": shape(r"(AKIA|ASIA)[A-Z0-9]{16}",
                           "an access key id such as AKIAIOSFODNN7EXAMPLE"),
    "iam_user": shape(r"[A-Za-z0-9+=,.@_-]{1,64}", "an IAM user name such as alice"),
    "trail_name": shape(
        r"[A-Za-z0-9][A-Za-z0-9._-]{1,126}[A-Za-z0-9]"
        r"|arn:aws(-[a-z]+)*:cloudtrail:[a-z]{2}(-[a-z]+)+-\d+:\d{12}:trail/"
        r"[A-Za-z0-9][A-Za-z0-9._-]{1,126}[A-Za-z0-9]",
        "a trail name such as management-events, or its ARN"),
    "bucket": shape(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]", "an S3 bucket name such as my-logs"),
    # Object keys are free-form by nature; they reach S3 as an API parameter, never a shell.
    "object_key": shape(r"[^\x00-\x1f\x7f]{1,1024}",
                        "an S3 object key (1-1024 bytes, no control characters)", _printable),
    "version_id": shape(r"[A-Za-z0-9._+/=-]{1,1024}", "an S3 version id"),
    "source.ip": shape(r"[0-9A-Fa-f.:]{2,45}", "an IPv4 or IPv6 address such as 203.0.113.7",
                       _is_ip),
}


def check_field(name: str, value: object, field_shape: FieldShape) -> str:
    """Return ``value`` if it is a string of ``field_shape``, else raise PlaybookInputError."""
    if not field_shape.accepts(value):
        raise PlaybookInputError(
            f"alert field {name!r} must be {field_shape.expected}; got {value!r:.80}"
        )
    return value


@dataclass(frozen=True)
class Target:
    """The validated resources one run acts on: an account, a region and resource ids."""

    account_id: str
    region: str
    resources: Mapping[str, str] = field(default_factory=dict)

    def __getitem__(self, name: str) -> str:
        return self.resources[name]

    def check_owner(self, resource: str, owner: object) -> None:
        """Refuse ``resource`` when AWS says another account owns it (no owner: accepted)."""
        if owner and owner != self.account_id:
            raise PlaybookFailed(f"{resource} belongs to account {owner}, "
                                 f"not to the alert's account {self.account_id}")


@dataclass
class Plan:
    """What a run would change (read-only preview): ``changes`` as data, plus a summary."""

    changes: list[dict[str, Any]]
    summary: str
    before: Any = None
    after: Any = None

    @property
    def empty(self) -> bool:
        """True when there is nothing to change."""
        return not self.changes


@dataclass
class Result:
    """What a run did. ``undo`` holds what is needed to reverse it (empty if nothing changed)."""

    changed: bool
    summary: str
    before: Any = None
    after: Any = None
    undo: dict[str, Any] = field(default_factory=dict)
    dry_run: bool = False
    # Facts for the alert's thread (instance details, command output), already in the summary.
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready view, as stored on the action."""
        return asdict(self)


class Playbook:
    """Base of every remediation. Subclass, declare, implement ``preview`` and ``apply``.

    Declarations are checked when the class is registered (see :mod:`playbooks.registry`).
    ``params`` are validated against ``schema`` on construction. Subclasses implement:

    * ``preview(session, target) -> Plan``: read-only; what would change, as data;
    * ``apply(session, target, plan) -> Result``: make exactly the changes in ``plan``.

    :meth:`run` ties them together, so dry-run and idempotency hold for every playbook.
    """

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    required_fields: ClassVar[tuple[str, ...]] = ("cloud.account.id", "cloud.region")
    # Alert fields used when present (validated the same way), absent otherwise.
    optional_fields: ClassVar[tuple[str, ...]] = ()
    schema: ClassVar[dict[str, Any]] = {
        "type": "object", "properties": {}, "additionalProperties": False,
    }
    permissions: ClassVar[tuple[str, ...]] = ()
    # Actions allowed only on these resources (ARN patterns with ${AWS::Partition} and
    # ${AWS::AccountId}); the other permissions are granted on "*".
    resources: ClassVar[Mapping[str, tuple[str, ...]]] = {}
    approvals_required: ClassVar[int] = 1
    destructive: ClassVar[bool] = False
    # Parameter values that make a run destructive (irreversible), e.g. {"mode": ("terminate",)}.
    # Such a run needs at least two approvals whatever approvals_required says.
    destructive_params: ClassVar[Mapping[str, tuple[Any, ...]]] = {}
    # Whether :meth:`undo` can reverse a run from its undo data.
    undoable: ClassVar[bool] = False
    # True for a playbook that only reads (it still needs approval: it runs on a resource).
    read_only: ClassVar[bool] = False
    # Seconds a run may take; None leaves it to the runner's default.
    timeout_s: ClassVar[float | None] = None
    # Shapes of fields only this playbook reads, added to FIELD_SHAPES.
    field_shapes: ClassVar[Mapping[str, FieldShape]] = {}

    def __init__(self, params: Mapping[str, Any] | None = None,
                 settings: Settings | None = None) -> None:
        self.params: dict[str, Any] = validate_params(self.name, self.schema, params or {})
        self.settings = settings or Settings()

    @classmethod
    def is_destructive(cls, params: Mapping[str, Any] | None = None) -> bool:
        """True when a run with ``params`` cannot be undone."""
        params = params or {}
        return cls.destructive or any(params.get(name) in values
                                      for name, values in cls.destructive_params.items())

    @classmethod
    def approvals_for(cls, params: Mapping[str, Any] | None = None) -> int:
        """Distinct approvers (not the requester) a run with ``params`` needs."""
        needed = cls.approvals_required
        return max(needed, 2) if cls.is_destructive(params) else needed

    @classmethod
    def shape_of(cls, field_name: str) -> FieldShape | None:
        """The shape an alert field must have for this playbook, if one is known."""
        return cls.field_shapes.get(field_name) or FIELD_SHAPES.get(field_name)

    def target(self, alert_context: Mapping[str, Any]) -> Target:
        """Validate and extract the resource ids this playbook needs from the alert's fields."""
        values: dict[str, str] = {}
        for name in self.required_fields:
            field_shape = self.shape_of(name)
            if field_shape is None:  # caught at registration; kept for unregistered subclasses
                raise PlaybookInputError(f"{self.name}: no known shape for alert field {name!r}")
            if name not in alert_context:
                raise PlaybookInputError(
                    f"{self.name} needs alert field {name!r} ({field_shape.expected}); "
                    "the alert does not have it"
                )
            values[name] = check_field(name, alert_context[name], field_shape)
        for name in self.optional_fields:
            field_shape = self.shape_of(name)
            if field_shape is None:
                raise PlaybookInputError(f"{self.name}: no known shape for alert field {name!r}")
            if alert_context.get(name) not in (None, ""):
                values[name] = check_field(name, alert_context[name], field_shape)
        account = values.pop("cloud.account.id", None)
        region = values.pop("cloud.region", None)
        if account is None or region is None:
            raise PlaybookInputError(
                f"{self.name} must list cloud.account.id and cloud.region in required_fields"
            )
        return Target(account_id=account, region=region, resources=values)

    def optional(self, target: Target, name: str) -> str | None:
        """An optional alert field of ``target`` (validated), or None."""
        return target.resources.get(name)

    def preview(self, session: boto3.Session, target: Target) -> Plan:
        """Read the current state and return what :meth:`apply` would change. No writes."""
        raise NotImplementedError

    def apply(self, session: boto3.Session, target: Target, plan: Plan) -> Result:
        """Make the changes of a non-empty ``plan`` and return what happened."""
        raise NotImplementedError

    def undo(self, session: boto3.Session, target: Target, undo: Mapping[str, Any]) -> Result:
        """Reverse a run from its recorded ``undo`` data (only where ``undoable`` is True)."""
        raise PlaybookError(f"{self.name} cannot be undone automatically; its undo data says "
                            "what was changed")

    def run(self, session: boto3.Session, target: Target, *, dry_run: bool = False) -> Result:
        """Preview, then apply unless there is nothing to do or this is a dry run."""
        plan = self.preview(session, target)
        if plan.empty:
            return Result(changed=False, summary=plan.summary, before=plan.before,
                          after=plan.before, dry_run=dry_run)
        if dry_run:
            return Result(changed=False, summary=f"dry run: {plan.summary}", before=plan.before,
                          after=plan.after, dry_run=True)
        return self.apply(session, target, plan)


_JSON_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,), "integer": (int,), "number": (int, float), "boolean": (bool,),
    "array": (list, tuple), "object": (dict,),
}


def validate_params(playbook: str, schema: Mapping[str, Any],
                    params: Mapping[str, Any]) -> dict[str, Any]:
    """Check ``params`` against the small JSON-schema subset playbooks declare.

    Supported: ``properties`` with ``type`` and ``enum``, ``required``, and
    ``additionalProperties: false`` (every playbook declares it).
    """
    properties: Mapping[str, Any] = schema.get("properties", {})
    unknown = sorted(set(params) - set(properties))
    if unknown and schema.get("additionalProperties") is False:
        allowed = ", ".join(sorted(properties)) or "none"
        raise PlaybookInputError(
            f"{playbook}: unknown parameter(s) {', '.join(unknown)}; allowed: {allowed}"
        )
    for name in schema.get("required", ()):
        if name not in params:
            raise PlaybookInputError(f"{playbook}: parameter {name!r} is required")
    for name, value in params.items():
        spec = properties.get(name, {})
        expected = _JSON_TYPES.get(spec.get("type", ""))
        # bool is an int in Python; a schema "integer" must not accept True.
        if expected and (not isinstance(value, expected) or
                         (isinstance(value, bool) and spec["type"] != "boolean")):
            raise PlaybookInputError(f"{playbook}: parameter {name!r} must be {spec['type']}")
        if "enum" in spec and value not in spec["enum"]:
            raise PlaybookInputError(
                f"{playbook}: parameter {name!r} must be one of {spec['enum']}")
    return dict(params)


# AWS error codes that mean "this cannot work as asked": turned into PlaybookFailed with advice.
FAILURE_CODES: dict[str, str] = {
    "InvalidGroup.NotFound": "the security group does not exist in this account and region",
    "InvalidGroupId.Malformed": "AWS did not accept the security group id",
    "InvalidInstanceID.NotFound": "the instance does not exist in this account and region",
    "InvalidPermission.NotFound": "the rule is already gone; run again to re-read the group",
    "UnauthorizedOperation": "the remediation role lacks this permission; grant the "
                             "playbook's declared permissions",
    "AccessDenied": "access denied: check the remediation role, its trust policy and ExternalId",
    "AccessDeniedException": "access denied: check the remediation role's permissions",
    "AuthFailure": "AWS did not accept the credentials",
    "ExpiredToken": "the credentials have expired",
    "InvalidClientTokenId": "AWS does not know these credentials",
    "InvalidInstanceID.Malformed": "AWS did not accept the instance id",
    "IncorrectInstanceState": "the instance is not in a state that allows this; re-read it",
    "OperationNotPermitted": "AWS does not allow this on the resource (termination protection?)",
    "UnsupportedOperation": "AWS does not support this operation on the resource",
    "InvalidVpcID.NotFound": "the VPC does not exist in this account and region",
    "InvalidNetworkAclID.NotFound": "the network ACL does not exist",
    "NetworkAclEntryAlreadyExists": "another rule took that number meanwhile; run again",
    "NetworkAclEntryLimitExceeded": "the network ACL has no room for another rule",
    "InvalidAMIID.NotFound": "the AMI does not exist or is not visible to this account",
    "InvalidParameterValue": "AWS refused a parameter value",
    "NoSuchEntity": "the IAM user, key or profile does not exist",
    "LimitExceeded": "an IAM limit was reached (inline policy size?)",
    "NoSuchBucket": "the bucket does not exist",
    "NoSuchKey": "the object does not exist",
    "NoSuchVersion": "the object version does not exist",
    "TrailNotFoundException": "the trail does not exist in this account and region",
    "InvalidTrailNameException": "AWS did not accept the trail name",
    "InsufficientS3BucketPolicyException": "the trail's bucket policy does not let CloudTrail "
                                           "write; fix the bucket policy, then run again",
    "InvalidInstanceId": "SSM cannot reach the instance: it is not running, has no SSM agent "
                         "or no instance profile allowing SSM",
    "InvalidDocument": "the SSM document does not exist in this region: deploy "
                       "deploy/aws/remediation-role.yml there",
}
THROTTLING_CODES = frozenset({"Throttling", "ThrottlingException", "RequestLimitExceeded",
                              "TooManyRequestsException", "SlowDown"})


def error_code(exc: ClientError) -> str:
    """The AWS error code of a botocore ClientError ("" if AWS sent none)."""
    return str(exc.response.get("Error", {}).get("Code", ""))


@dataclass(frozen=True)
class Retry:
    """Call AWS, retrying throttling with full jitter and naming known refusals.

    ``sleep`` is injectable so tests need not wait.
    """

    attempts: int = 4
    base_s: float = 0.25
    cap_s: float = 4.0
    sleep: Callable[[float], None] = time.sleep

    def call(self, method: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
        """Return ``method(*args, **kwargs)``; see the module docstring for errors."""
        for attempt in range(1, self.attempts + 1):
            try:
                return method(*args, **kwargs)
            except ClientError as exc:
                code = error_code(exc)
                operation = getattr(exc, "operation_name", "") or "the AWS call"
                message = exc.response.get("Error", {}).get("Message", "")
                if code in THROTTLING_CODES:
                    if attempt == self.attempts:
                        raise PlaybookFailed(
                            f"{operation} was throttled ({code}) {attempt} times in a row; "
                            "try again in a minute", code) from exc
                    # Full jitter spreads retries of several runners hitting the same limit.
                    self.sleep(random.uniform(0, min(self.cap_s, self.base_s * 2 ** attempt)))
                    continue
                if code in FAILURE_CODES:
                    raise PlaybookFailed(
                        f"{operation} failed with {code}: {FAILURE_CODES[code]} ({message})",
                        code) from exc
                raise
        raise AssertionError("unreachable: the loop returns or raises")  # pragma: no cover


DEFAULT_RETRY = Retry()


def aws_call(method: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
    """Call a boto3 client method with the default :class:`Retry` policy."""
    return DEFAULT_RETRY.call(method, *args, **kwargs)
