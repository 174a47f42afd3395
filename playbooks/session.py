"""boto3 sessions for playbooks: a role assumed in the alert's account, or local credentials.

Playbooks never build sessions; the runner asks a :class:`SessionFactory` for one per run::

    sessions = SessionFactory.from_settings(settings)   # aws.role_name, aws.accounts, ...
    session = sessions.session("123456789012", "eu-west-1")

The role name and the ExternalId may differ per account (``aws.accounts.<id>.role_name`` and
``external_id_env``, the name of the environment variable holding that account's ExternalId).

Endpoints come from boto3's own configuration (``AWS_ENDPOINT_URL``), which is how tests point
playbooks at moto's server.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import boto3

from socbot.core.config import Settings
from socbot.playbooks.base import FIELD_SHAPES, PlaybookFailed, aws_call, check_field

ROLE_SESSION_NAME = "socbot-remediation"
# IAM role names (with an optional path) and STS external ids, as AWS documents them.
_ROLE_NAME = re.compile(r"([A-Za-z0-9+=,.@_-]+/)*[A-Za-z0-9+=,.@_-]{1,64}", re.ASCII)
_EXTERNAL_ID = re.compile(r"[A-Za-z0-9+=,.@:/_-]{2,1224}", re.ASCII)


@dataclass(frozen=True)
class AccountAccess:
    """How to enter one account: the role to assume and its ExternalId."""

    role_name: str | None
    external_id: str | None


@dataclass(frozen=True)
class _Credentials:
    access_key: str
    secret_key: str
    token: str
    expires: datetime


class SessionFactory:
    """Hand out boto3 sessions for an account and region.

    With ``role_name``, AssumeRole into ``arn:aws:iam::{account}:role/{role_name}`` with
    ``external_id`` and cache the credentials until ``refresh_margin_s`` before they expire.
    Without it, use ``base_session``'s credentials (default: boto3's usual chain), after
    checking that they belong to the account asked for, so an alert about another account
    never acts with the wrong credentials.
    """

    def __init__(self, role_name: str | None, external_id: str | None,
                 base_session: boto3.Session | None = None, *,
                 duration_s: int = 3600, refresh_margin_s: float = 300.0,
                 accounts: Mapping[str, AccountAccess] | None = None) -> None:
        self.accounts = dict(accounts or {})
        for access in (AccountAccess(role_name, external_id), *self.accounts.values()):
            if access.role_name and not _ROLE_NAME.fullmatch(access.role_name):
                raise ValueError(f"aws.role_name {access.role_name!r} is not an IAM role name")
            if access.external_id and not _EXTERNAL_ID.fullmatch(access.external_id):
                raise ValueError("an external id must be 2-1224 characters of "
                                 "[A-Za-z0-9+=,.@:/_-]")
        self.role_name = role_name or None
        self.external_id = external_id or None
        self.base_session = base_session or boto3.Session()
        self.duration_s = duration_s
        self.refresh_margin = timedelta(seconds=refresh_margin_s)
        self._cache: dict[str, _Credentials] = {}
        self._base_account: str | None = None
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Settings, env: Mapping[str, str] | None = None,
                      base_session: boto3.Session | None = None) -> SessionFactory:
        """The factory the configuration describes: ``aws.role_name`` with the ExternalId in
        the variable ``aws.external_id_env``, overridden per account by ``aws.accounts``."""
        env = os.environ if env is None else env
        aws = settings.aws
        accounts = {
            account: AccountAccess(
                access.role_name or aws.role_name or None,
                env.get(access.external_id_env or aws.external_id_env) or None)
            for account, access in aws.accounts.items()
        }
        return cls(aws.role_name or None, env.get(aws.external_id_env) or None, base_session,
                   accounts=accounts)

    def access(self, account_id: str) -> AccountAccess:
        """The role and ExternalId used for ``account_id``."""
        return self.accounts.get(account_id) or AccountAccess(self.role_name, self.external_id)

    def role_arn(self, account_id: str) -> str:
        """The ARN of the remediation role in ``account_id``."""
        return f"arn:aws:iam::{account_id}:role/{self.access(account_id).role_name}"

    def session(self, account_id: str, region: str) -> boto3.Session:
        """A session acting in ``account_id`` and ``region``."""
        # Ids reach an ARN and an endpoint name: validate them here too, whoever called.
        check_field("cloud.account.id", account_id, FIELD_SHAPES["cloud.account.id"])
        check_field("cloud.region", region, FIELD_SHAPES["cloud.region"])
        if self.access(account_id).role_name is None:
            return self._base(account_id, region)
        creds = self._assumed(account_id, region)
        return boto3.Session(aws_access_key_id=creds.access_key,
                             aws_secret_access_key=creds.secret_key,
                             aws_session_token=creds.token, region_name=region)

    def _assumed(self, account_id: str, region: str) -> _Credentials:
        with self._lock:
            cached = self._cache.get(account_id)
            if cached and cached.expires - self.refresh_margin > datetime.now(UTC):
                return cached
            sts = self.base_session.client("sts", region_name=region)
            kwargs: dict[str, object] = {
                "RoleArn": self.role_arn(account_id), "RoleSessionName": ROLE_SESSION_NAME,
                "DurationSeconds": self.duration_s,
            }
            external_id = self.access(account_id).external_id
            if external_id:
                kwargs["ExternalId"] = external_id
            raw = aws_call(sts.assume_role, **kwargs)["Credentials"]
            creds = _Credentials(raw["AccessKeyId"], raw["SecretAccessKey"],
                                 raw["SessionToken"], raw["Expiration"].astimezone(UTC))
            self._cache[account_id] = creds
            return creds

    def _base(self, account_id: str, region: str) -> boto3.Session:
        # Frozen per call: the runner asks for a session per run, so they are always fresh.
        found = self.base_session.get_credentials()
        if found is None:
            raise PlaybookFailed("no AWS credentials found: set aws.role_name or configure "
                                 "credentials (environment, profile or instance role)")
        frozen = found.get_frozen_credentials()
        session = boto3.Session(aws_access_key_id=frozen.access_key,
                                aws_secret_access_key=frozen.secret_key,
                                aws_session_token=frozen.token, region_name=region)
        if self._base_account is None:
            identity = aws_call(session.client("sts").get_caller_identity)
            self._base_account = str(identity["Account"])
        if self._base_account != account_id:
            raise PlaybookFailed(
                f"the alert is about account {account_id} but the local credentials belong to "
                f"{self._base_account}; set aws.role_name to act in other accounts"
            )
        return session
