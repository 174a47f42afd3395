"""Who may approve a remediation: configured user ids plus the members of a Slack user group.

Authorization is by Slack user id only (``user.id`` of the click), never by a display name,
which anyone can change. ``usergroups.users.list`` is a Tier 2 method (about 20 calls a
minute), so the group's members are cached for five minutes; a failed lookup is cached for a
short while as "no members" (fail closed) so a Slack outage does not become a flood of calls.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from slack_sdk import WebClient
from slack_sdk.errors import SlackClientError

from core.config import Settings

log = logging.getLogger(__name__)

CACHE_S = 300.0
FAILURE_CACHE_S = 30.0


class Approvers:
    """Answer "may this user approve?" from config and the approver user group.

    Example::

        approvers = Approvers(settings, client)
        if not approvers.may_approve(body["user"]["id"]):
            ...
    """

    def __init__(self, settings: Settings, client: WebClient, *,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.configured = frozenset(settings.approvals.approvers)
        self.usergroup = settings.approvals.approver_usergroup
        self.client = client
        self._clock = clock
        self._lock = threading.Lock()
        self._members: frozenset[str] = frozenset()
        self._expires = 0.0

    def may_approve(self, user_id: str) -> bool:
        """True if ``user_id`` is a configured approver or a member of the approver group."""
        if user_id in self.configured:
            return True
        return bool(self.usergroup) and user_id in self.group_members()

    def group_members(self) -> frozenset[str]:
        """The approver group's members (cached; empty when no group is configured)."""
        if not self.usergroup:
            return frozenset()
        # One lock so that concurrent clicks after expiry make one call, not several.
        with self._lock:
            now = self._clock()
            if now >= self._expires:
                self._members, ttl = self._fetch()
                self._expires = now + ttl
            return self._members

    def describe(self) -> str:
        """Who approves, for messages: "approver group S0123 or configured approvers"."""
        parts = []
        if self.usergroup:
            parts.append(f"approver group {self.usergroup}")
        if self.configured:
            parts.append(f"{len(self.configured)} configured approver(s)")
        return " or ".join(parts) or "no approvers are configured"

    def _fetch(self) -> tuple[frozenset[str], float]:
        try:
            response = self.client.usergroups_users_list(usergroup=self.usergroup)
        except (SlackClientError, OSError) as exc:  # OSError: connection failures
            log.error("cannot list approver group %s: %s; treating it as empty for %.0f s",
                      self.usergroup, exc, FAILURE_CACHE_S)
            return frozenset(), FAILURE_CACHE_S
        return frozenset(response.get("users") or ()), CACHE_S
