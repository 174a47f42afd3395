"""Who may approve a remediation (configured user ids plus the members of a Slack user group),
and who may respond to alerts (resolve, mark false positive, mute): approvers and the on-call
user group.

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

from socbot.core.config import Settings

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
        self.oncall = settings.slack.oncall_usergroup
        self.client = client
        self._clock = clock
        self._lock = threading.Lock()
        self._cache: dict[str, tuple[frozenset[str], float]] = {}

    def may_approve(self, user_id: str) -> bool:
        """True if ``user_id`` is a configured approver or a member of the approver group."""
        if user_id in self.configured:
            return True
        return bool(self.usergroup) and user_id in self.group_members()

    def may_respond(self, user_id: str) -> bool:
        """True if ``user_id`` may resolve, mark false positive or mute: an approver or a
        member of the on-call group."""
        return self.may_approve(user_id) or (
            bool(self.oncall) and user_id in self.members(self.oncall))

    def describe_responders(self) -> str:
        """Who may respond, for messages."""
        parts = [f"on-call group {self.oncall}"] if self.oncall else []
        return " or ".join(parts + ["approvers"])

    def group_members(self) -> frozenset[str]:
        """The approver group's members (cached; empty when no group is configured)."""
        return self.members(self.usergroup) if self.usergroup else frozenset()

    def members(self, usergroup: str) -> frozenset[str]:
        """A user group's members, cached for :data:`CACHE_S`."""
        # One lock so that concurrent clicks after expiry make one call, not several.
        with self._lock:
            now = self._clock()
            members, expires = self._cache.get(usergroup, (frozenset(), 0.0))
            if now >= expires:
                members, ttl = self._fetch(usergroup)
                self._cache[usergroup] = (members, now + ttl)
            return members

    def describe(self) -> str:
        """Who approves, for messages: "approver group S0123 or configured approvers"."""
        parts = []
        if self.usergroup:
            parts.append(f"approver group {self.usergroup}")
        if self.configured:
            parts.append(f"{len(self.configured)} configured approver(s)")
        return " or ".join(parts) or "no approvers are configured"

    def _fetch(self, usergroup: str) -> tuple[frozenset[str], float]:
        try:
            response = self.client.usergroups_users_list(usergroup=usergroup)
        except (SlackClientError, OSError) as exc:  # OSError: connection failures
            log.error("cannot list user group %s: %s; treating it as empty for %.0f s",
                      usergroup, exc, FAILURE_CACHE_S)
            return frozenset(), FAILURE_CACHE_S
        return frozenset(response.get("users") or ()), CACHE_S
