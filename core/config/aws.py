"""Sections the playbooks read: ``aws:`` (how to reach each account) and ``playbooks:``."""

from __future__ import annotations

import re
from typing import Any

from pydantic import Field, field_validator

from socbot.core.config._common import Section, account_id

_IAM_ROLE_NAME = re.compile(r"([A-Za-z0-9+=,.@_-]+/)*[A-Za-z0-9+=,.@_-]{1,64}", re.ASCII)
_ENV_NAME = re.compile(r"[A-Z_][A-Z0-9_]*", re.ASCII)


class AwsAccount(Section):
    """How to reach one account: its role name and the variable holding its ExternalId."""

    role_name: str = ""
    external_id_env: str = ""

    @field_validator("role_name")
    @classmethod
    def _role(cls, value: str) -> str:
        if value and not _IAM_ROLE_NAME.fullmatch(value):
            raise ValueError(f"{value!r} is not an IAM role name; write the name only, such as "
                             "socbot-remediation (not its ARN)")
        return value

    @field_validator("external_id_env")
    @classmethod
    def _env(cls, value: str) -> str:
        if value and not _ENV_NAME.fullmatch(value):
            raise ValueError(f"{value!r} is not an environment variable name; write one such as "
                             "SOCBOT_AWS_EXTERNAL_ID (the ExternalId itself is a secret: keep it "
                             "in the environment, not in this file)")
        return value


class AwsSettings(AwsAccount):
    """How playbooks reach AWS: a role assumed in the alert's account, or the local credentials.

    ``accounts`` overrides ``role_name`` and ``external_id_env`` per account id (the same
    fields and checks, inherited from :class:`AwsAccount`).
    """

    external_id_env: str = "SOCBOT_AWS_EXTERNAL_ID"
    default_region: str = "us-east-1"
    accounts: dict[str, AwsAccount] = Field(default_factory=dict)

    @field_validator("accounts")
    @classmethod
    def _account_ids(cls, value: dict[str, AwsAccount]) -> dict[str, AwsAccount]:
        for account in value:
            account_id(account)
        return value


class PlaybookSettings(Section):
    """What the remediation playbooks read besides the alert (README: configuration)."""

    # A run that takes longer fails (per playbook: timeouts.<name>).
    timeout_s: float = Field(default=120, gt=0, le=3600)
    timeouts: dict[str, float] = Field(default_factory=dict)
    # quarantine-instance: the security group (one per VPC) swapped onto the instance.
    isolation_group_name: str = Field(default="socbot-isolation", min_length=1, max_length=255)
    # block-ip-nacl and quarantine-instance: network ACL rule numbers socbot may use. Rules are
    # evaluated lowest first, so these must be below the numbers of your allow rules.
    nacl_rule_range: tuple[int, int] = (1, 99)
    # restart-cloudtrail-logging: known-good event selectors per trail name, restored when a
    # trail's selectors were emptied; a trail not listed gets all management events.
    trail_event_selectors: dict[str, list[dict[str, Any]]] = Field(default_factory=dict)
    # ssm-triage: how long to wait for the command's output.
    ssm_wait_s: float = Field(default=60, gt=0, le=600)
    # `socbot playbooks run --break-glass`: run without an approval (audited). Off by default.
    allow_break_glass: bool = False

    @field_validator("nacl_rule_range")
    @classmethod
    def _rule_range(cls, value: tuple[int, int]) -> tuple[int, int]:
        low, high = value
        if not 1 <= low <= high <= 32766:
            raise ValueError("write two rule numbers [low, high] with 1 <= low <= high <= "
                             "32766, below your own allow rules, such as [1, 99]")
        return value
