"""Sections the Slack side reads: ``slack:`` (routing, escalation, mutes, "was this you?") and
``approvals:``."""

from __future__ import annotations

from pydantic import Field, field_validator

from socbot.core.alerts import SEVERITIES
from socbot.core.config._common import Section, account_id


def _is_user_id(text: str) -> bool:
    return text[:1] in ("U", "W") and text[1:].isalnum()


class Routing(Section):
    """Which channel an alert goes to: rule, account, dataset, severity, then default."""

    default: str = "#security-alerts"
    by_severity: dict[str, str] = Field(default_factory=dict)
    by_dataset: dict[str, str] = Field(default_factory=dict)
    by_rule: dict[str, str] = Field(default_factory=dict)
    by_account: dict[str, str] = Field(default_factory=dict)

    @field_validator("by_account")
    @classmethod
    def _account_ids(cls, value: dict[str, str]) -> dict[str, str]:
        for account in value:
            account_id(account)
        return value

    @field_validator("by_severity")
    @classmethod
    def _known_severities(cls, value: dict[str, str]) -> dict[str, str]:
        unknown = sorted(set(value) - set(SEVERITIES))
        if unknown:
            raise ValueError(f"unknown severity {unknown[0]!r}; use one of {', '.join(SEVERITIES)}")
        return value

    def channel(self, *, rule_id: str, dataset: str, severity: str, account: str = "") -> str:
        """The channel for an alert: by rule, account, dataset, severity, then the default.

        >>> Routing(by_severity={"critical": "#sec-critical"}).channel(
        ...     rule_id="r", dataset="secure", severity="critical")
        '#sec-critical'
        """
        return (self.by_rule.get(rule_id) or (account and self.by_account.get(account))
                or self.by_dataset.get(dataset) or self.by_severity.get(severity)
                or self.default)


class VerifyUser(Section):
    """"Was this you?": DM the person an alert names and let them confirm or deny it."""

    # rule id -> alert context field naming the person (user.name, user.email, ...)
    rules: dict[str, str] = Field(default_factory=dict)
    # person (as the field names them) -> Slack user id; otherwise users.lookupByEmail
    users: dict[str, str] = Field(default_factory=dict)
    email_domain: str = ""  # "example.com": look up "alice" as alice@example.com
    timeout_minutes: int = Field(default=120, ge=1, le=7 * 24 * 60)
    quiet_hours: int = Field(default=21, ge=1, le=30 * 24)

    @field_validator("users")
    @classmethod
    def _user_ids(cls, value: dict[str, str]) -> dict[str, str]:
        for name, user in value.items():
            if not _is_user_id(user):
                raise ValueError(f"{name}: {user!r} is not a Slack user id (U0123ABCD); copy it "
                                 "from the person's profile, 'Copy member ID'")
        return value


class WorkspaceSettings(Section):
    """Which Slack workspace(s) may act: by default the install's own team and enterprise
    (read once from ``auth.test``)."""

    team_ids: list[str] = Field(default_factory=list)  # T0123ABCD; empty: the install's team
    enterprise_id: str = ""  # E0123ABCD; empty: the install's (none outside Enterprise Grid)
    # Slack Connect: people of another organisation in a shared channel see the alerts; they
    # may click the buttons only when this is true.
    allow_external_members: bool = False

    @field_validator("team_ids")
    @classmethod
    def _team_ids(cls, value: list[str]) -> list[str]:
        for team in value:
            if not (team[:1] == "T" and team[1:].isalnum()):
                raise ValueError(f"{team!r} is not a team id; write T0123ABCD (the workspace's "
                                 "id, shown by `socbot doctor` or auth.test)")
        return value

    @field_validator("enterprise_id")
    @classmethod
    def _enterprise_id(cls, value: str) -> str:
        if value and not (value[:1] == "E" and value[1:].isalnum()):
            raise ValueError(f"{value!r} is not an enterprise id; write E0123ABCD")
        return value


class Rollup(Section):
    """Storm rollup: when ``alerts`` alerts of one rule open in one channel within
    ``window_seconds``, the channel gets one message listing them all, updated in place."""

    enabled: bool = True
    alerts: int = Field(default=5, ge=2, le=1000)
    window_seconds: int = Field(default=60, ge=1, le=24 * 3600)


class SlackSettings(Section):
    """Slack behaviour; tokens come from the environment, never from this file."""

    routing: Routing = Field(default_factory=Routing)
    oncall_usergroup: str = ""
    # severity -> minutes an alert may stay unacknowledged before the on-call group is paged
    # in its thread (again every as many minutes, at most escalation_repeats times)
    escalate_after_minutes: dict[str, int] = Field(
        default_factory=lambda: {"critical": 10, "high": 30, "medium": 120})
    escalation_repeats: int = Field(default=3, ge=1, le=20)
    mute_hours: list[int] = Field(default_factory=lambda: [1, 24], min_length=1, max_length=4)
    verify_user: VerifyUser = Field(default_factory=VerifyUser)
    workspace: WorkspaceSettings = Field(default_factory=WorkspaceSettings)
    rollup: Rollup = Field(default_factory=Rollup)

    @field_validator("oncall_usergroup")
    @classmethod
    def _usergroup(cls, value: str) -> str:
        if value and not (value.startswith("S") and value[1:].isalnum()):
            raise ValueError(f"{value!r} is not a user group id; write the group's id "
                             "(S0123ABCD, from the group's page), not its @handle")
        return value

    @field_validator("escalate_after_minutes")
    @classmethod
    def _escalation(cls, value: dict[str, int]) -> dict[str, int]:
        for severity, minutes in value.items():
            if severity not in SEVERITIES:
                raise ValueError(f"unknown severity {severity!r}; use one of "
                                 f"{', '.join(SEVERITIES)}")
            if not 1 <= minutes <= 7 * 24 * 60:
                raise ValueError(f"{severity}: {minutes} minutes; write 1 to 10080 "
                                 "(leave the severity out to never escalate it)")
        return value

    @field_validator("mute_hours")
    @classmethod
    def _mute_hours(cls, value: list[int]) -> list[int]:
        for hours in value:
            if not 1 <= hours <= 30 * 24:
                raise ValueError(f"{hours}: a mute button lasts 1 to 720 hours")
        return value


class Approvals(Section):
    """Who may approve remediation, and for how long a request stays open."""

    approvers: list[str] = Field(default_factory=list)
    approver_usergroup: str = ""
    expire_minutes: int = Field(default=30, ge=1, le=24 * 60)

    @field_validator("approvers")
    @classmethod
    def _user_ids(cls, value: list[str]) -> list[str]:
        for user in value:
            if not _is_user_id(user):
                raise ValueError(
                    f"{user!r} is not a Slack user id; approvers are checked by id (U0123ABCD), "
                    "never by name: copy it from the user's profile, 'Copy member ID'"
                )
        return value
