"""Whose workspace: the install's identity (one ``auth.test`` per process) and the check that
every request comes from the allowed team(s) and enterprise.

Slack signs requests with the app's secret, not the workspace's: an app installed in a second
workspace, or a Slack Connect channel shared with another organisation, delivers signed
requests from people who must not act on this workspace's alerts. Every payload names its
workspace (``team.id`` / ``team_id``, ``enterprise.id`` / ``enterprise_id``) and a click names
the clicking person's own team (``user.team_id``); :meth:`Workspace.refusal` compares them with
``slack.workspace`` in the configuration (by default the install's own team and enterprise).

Example::

    workspace = Workspace(settings.slack.workspace, client)
    app = App(signing_secret=..., authorize=workspace.authorizer())
    reason = workspace.refusal(body)   # "" when the request may go on
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from slack_bolt.authorization import AuthorizeResult
from slack_sdk import WebClient

from socbot.core.config import WorkspaceSettings

log = logging.getLogger(__name__)

Body = dict[str, Any]


@dataclass(frozen=True)
class Install:
    """Who this app is, as ``auth.test`` tells it."""

    team_id: str
    enterprise_id: str
    bot_user_id: str
    bot_id: str
    is_enterprise_install: bool = False


@dataclass(frozen=True)
class Origin:
    """Where a request comes from, as its payload says (empty where it says nothing)."""

    team_id: str
    enterprise_id: str
    user_team_id: str

    @classmethod
    def of(cls, body: Body) -> Origin:
        """Read the team, enterprise and clicking user's team of any Slack payload: events
        (``team_id``, ``enterprise_id``), slash commands (the same, form fields) and
        interactions (``team.id``, ``enterprise.id``, ``user.team_id``)."""
        team = _id(body.get("team")) or _text(body.get("team_id"))
        enterprise = _id(body.get("enterprise")) or _text(body.get("enterprise_id"))
        user = body.get("user")
        user_team = _text(user.get("team_id")) if isinstance(user, dict) else ""
        if not user_team:
            # Events about a person of another organisation name their team in the event.
            event = body.get("event")
            if isinstance(event, dict):
                user_team = _text(event.get("user_team"))
        return cls(team, enterprise, user_team)


class Workspace:
    """The install's identity, read once, and the allowed-workspace check."""

    def __init__(self, config: WorkspaceSettings, client: WebClient) -> None:
        self.config = config
        self.client = client
        self._lock = threading.Lock()
        self._install: Install | None = None

    def install(self) -> Install:
        """The install's identity; ``auth.test`` is called once per process, even when many
        requests arrive together."""
        with self._lock:
            if self._install is None:
                found = self.client.auth_test()
                self._install = Install(
                    team_id=_text(found.get("team_id")),
                    enterprise_id=_text(found.get("enterprise_id")),
                    bot_user_id=_text(found.get("user_id")), bot_id=_text(found.get("bot_id")),
                    is_enterprise_install=bool(found.get("is_enterprise_install")))
                log.info("Slack install: team %s, enterprise %s, bot user %s",
                         self._install.team_id, self._install.enterprise_id or "none",
                         self._install.bot_user_id)
            return self._install

    def authorizer(self) -> Callable[..., AuthorizeResult]:
        """Bolt's ``authorize`` function: the bot token and identity, without an ``auth.test``
        per request (Bolt's default calls it from every thread until one call has returned).
        A plain function, as Bolt passes arguments by the names it declares."""

        def authorize(user_id: str | None = None) -> AuthorizeResult:
            install = self.install()
            return AuthorizeResult(enterprise_id=install.enterprise_id or None,
                                   team_id=install.team_id or None,
                                   bot_user_id=install.bot_user_id, bot_id=install.bot_id,
                                   bot_token=self.client.token, user_id=user_id)

        return authorize

    def allowed_teams(self) -> frozenset[str]:
        """The team ids whose people may act: configured, else the install's own."""
        configured = frozenset(self.config.team_ids)
        return configured or frozenset({self.install().team_id})

    def allowed_enterprise(self) -> str:
        """The enterprise id requests may come from: configured, else the install's own
        (empty outside Enterprise Grid)."""
        return self.config.enterprise_id or self.install().enterprise_id

    def refusal(self, body: Body) -> str:
        """Why a request must be refused (``foreign_enterprise``, ``foreign_team``,
        ``external_member``), or ``""`` when it comes from the allowed workspace."""
        origin = Origin.of(body)
        enterprise = self.allowed_enterprise()
        if origin.enterprise_id and origin.enterprise_id != enterprise:
            return "foreign_enterprise"
        teams = self.allowed_teams()
        org_wide = bool(enterprise) and origin.enterprise_id == enterprise and (
            self.install().is_enterprise_install and not self.config.team_ids)
        if origin.team_id and origin.team_id not in teams and not org_wide:
            return "foreign_team"
        if (origin.user_team_id and origin.user_team_id not in teams and not org_wide
                and not self.config.allow_external_members):
            return "external_member"
        return ""


REFUSALS = {
    "foreign_enterprise": "This bot serves another Slack organisation; nothing changed.",
    "foreign_team": "This bot serves another Slack workspace; nothing changed.",
    "external_member": "People from outside this workspace can see alerts in a shared channel "
                       "but cannot act on them; nothing changed.",
}


def _id(value: Any) -> str:
    return _text(value.get("id")) if isinstance(value, dict) else ""


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""
