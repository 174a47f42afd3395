"""AWS context for an alert: the IAM user, the EC2 instance and the account alias.

Read-only calls, each answered by the alert's own account and region through a session
factory (the playbooks' :class:`playbooks.session.SessionFactory` fits: ``session(account,
region)``). The IAM permissions used: ``iam:ListAccountAliases``, ``iam:GetUser``,
``iam:ListMFADevices``, ``iam:ListGroupsForUser``, ``iam:ListAccessKeys``,
``iam:GetAccessKeyLastUsed`` and ``ec2:DescribeInstances``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Protocol

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

from socbot.enrichment.errors import SourceUnavailable

OWNER_TAGS = ("owner", "contact", "team", "created-by", "createdby")


class Sessions(Protocol):
    """Anything that hands out a boto3 session for an account and region."""

    def session(self, account_id: str, region: str) -> boto3.Session:
        """A session acting in ``account_id`` and ``region``."""
        ...


class LocalSessions:
    """The default: boto3's usual credential chain, in the region asked for."""

    def session(self, account_id: str, region: str) -> boto3.Session:
        """A plain session in ``region`` (``account_id`` is not checked)."""
        return boto3.Session(region_name=region)


class AwsContext:
    """Look up IAM users, EC2 instances and account aliases, failing with a readable reason."""

    def __init__(self, sessions: Sessions | None = None, *, timeout_s: float = 5.0,
                 now: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.sessions = sessions or LocalSessions()
        self.config = Config(connect_timeout=timeout_s, read_timeout=timeout_s,
                             retries={"max_attempts": 2, "mode": "standard"})
        self.now = now

    def _client(self, service: str, account: str, region: str) -> Any:
        try:
            session = self.sessions.session(account, region)
        except (ClientError, BotoCoreError) as exc:
            raise SourceUnavailable(_reason(exc)) from exc
        except Exception as exc:  # a factory's own errors (a role that cannot be assumed)
            raise SourceUnavailable(f"no AWS session for account {account}: {exc}") from exc
        return session.client(service, region_name=region, config=self.config)

    def account_alias(self, account: str, region: str) -> dict[str, Any]:
        """``{"alias": "prod-main"}`` (empty when the account has none)."""
        iam = self._client("iam", account, region)
        aliases = _call(iam.list_account_aliases)["AccountAliases"]
        return {"alias": aliases[0] if aliases else ""}

    def user_for_key(self, account: str, region: str, access_key_id: str) -> str:
        """The IAM user an access key belongs to ("" for a role's temporary key)."""
        iam = self._client("iam", account, region)
        return str(_call(iam.get_access_key_last_used, AccessKeyId=access_key_id)
                   .get("UserName") or "")

    def iam_user(self, account: str, region: str, user: str) -> dict[str, Any]:
        """MFA devices, groups, access keys with their ages, and the user's own age."""
        iam = self._client("iam", account, region)
        now = self.now()
        details = _call(iam.get_user, UserName=user)["User"]
        mfa = _call(iam.list_mfa_devices, UserName=user)["MFADevices"]
        groups = _call(iam.list_groups_for_user, UserName=user)["Groups"]
        keys = _call(iam.list_access_keys, UserName=user)["AccessKeyMetadata"]
        return {
            "user": user,
            "arn": details.get("Arn", ""),
            "age_days": _days(now, details.get("CreateDate")),
            "password_last_used": _iso(details.get("PasswordLastUsed")),
            "mfa_devices": len(mfa),
            "groups": sorted(g["GroupName"] for g in groups),
            "access_keys": [{"id": k["AccessKeyId"], "status": k.get("Status", ""),
                             "age_days": _days(now, k.get("CreateDate"))} for k in keys],
        }

    def instance(self, account: str, region: str, instance_id: str) -> dict[str, Any]:
        """Name and owner tags, addresses, security groups and state of one instance."""
        ec2 = self._client("ec2", account, region)
        reservations = _call(ec2.describe_instances, InstanceIds=[instance_id])["Reservations"]
        found = [i for r in reservations for i in r.get("Instances", [])]
        if not found:
            raise SourceUnavailable(f"instance {instance_id} not found in {account}/{region}")
        item = found[0]
        tags = {t["Key"]: t["Value"] for t in item.get("Tags", [])}
        owner = next((v for k, v in tags.items() if k.lower() in OWNER_TAGS), "")
        return {
            "id": instance_id,
            "name": tags.get("Name", ""),
            "owner": owner,
            "state": (item.get("State") or {}).get("Name", ""),
            "type": item.get("InstanceType", ""),
            "public_ip": item.get("PublicIpAddress", ""),
            "private_ip": item.get("PrivateIpAddress", ""),
            "vpc_id": item.get("VpcId", ""),
            "security_groups": [{"id": g["GroupId"], "name": g.get("GroupName", "")}
                                for g in item.get("SecurityGroups", [])],
            "launched": _iso(item.get("LaunchTime")),
        }


def _call(method: Callable[..., dict[str, Any]], **kwargs: Any) -> dict[str, Any]:
    try:
        return method(**kwargs)
    except (ClientError, BotoCoreError) as exc:
        raise SourceUnavailable(_reason(exc)) from exc


def _reason(exc: Exception) -> str:
    if isinstance(exc, NoCredentialsError):
        return "no AWS credentials: configure the environment, a profile or an instance role"
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        code = error.get("Code", "error")
        operation = getattr(exc, "operation_name", "")
        if code in ("AccessDenied", "AccessDeniedException", "UnauthorizedOperation"):
            return f"{code} on {operation}: grant the enrichment role read access"
        return f"{code} on {operation}: {error.get('Message', '')}".rstrip(": ")
    return f"{type(exc).__name__}: {exc}"


def _days(now: datetime, when: datetime | None) -> int | None:
    if when is None:
        return None
    return max((now - when.astimezone(UTC)).days, 0)


def _iso(when: datetime | None) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if when else ""
