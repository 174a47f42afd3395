"""What an Approve / Deny click that changed nothing is told: what actually happened to the
request, by whom and when ("Already approved by @bob at 10:02 UTC and run at 10:03 UTC:
succeeded"), never a guess such as "replayed or double click".
"""

from __future__ import annotations

import time

from socbot.bot.blocks import mention, utc
from socbot.bot.escape import escape, escape_truncate
from socbot.core.actions import Action, Decision

SUMMARY_MAX = 300


def explain(decision: Decision, action: Action, user: str, now: float | None = None) -> str:
    """The ephemeral answer to ``user``'s approve/deny click that was not accepted."""
    now = time.time() if now is None else now
    outcome = decision.outcome
    if outcome == "own":
        return "You requested this; another approver must approve it. Nothing changed."
    if outcome == "expired" or (action.status == "requested" and now > action.expires_at):
        return (f"This request expired at {utc(action.expires_at)}; "
                "request again from the alert. Nothing changed.")
    if outcome == "missing":
        return "This request no longer exists; nothing changed."
    if action.status == "requested":
        waiting = max(action.approvals_required - len(action.approvals), 0)
        if user in action.approvals:
            return f"You already approved; waiting for {waiting} more approval(s)."
        # The token moved on: someone approved since this message was drawn.
        return (f"This request changed since your screen showed it: {_approvals(action)}, "
                f"waiting for {waiting} more. The message is refreshed; click again there.")
    return history(action, user) + " Nothing changed."


def history(action: Action, user: str = "") -> str:
    """What happened to a closed request, in one line (mrkdwn)."""
    if action.status == "denied":
        if action.decided_by == action.requested_by:
            return f"Already cancelled by {_who(action.decided_by, user)}{_at(action.decided_at)}."
        return f"Already denied by {_who(action.decided_by, user)}{_at(action.decided_at)}."
    if action.status == "expired":
        return f"This request expired at {utc(action.expires_at)}."
    approved = (f"Already approved by {', '.join(_who(u, user) for u in action.approvals)}"
                f"{_at(action.decided_at)}")
    if action.status == "approved":
        return f"{approved}; queued to run."
    if action.status == "running":
        return f"{approved}; running now."
    if action.status in ("succeeded", "failed"):
        summary = action.result.get("summary") or action.error or ""
        text = f"{approved} and run{_at(action.finished_at)}: {action.status}"
        return text + (f" ({escape_truncate(str(summary), SUMMARY_MAX)})." if summary else ".")
    return f"This request is {escape(action.status)}."


def _approvals(action: Action) -> str:
    if not action.approvals:
        return f"0 of {action.approvals_required} approvals"
    return (f"{len(action.approvals)} of {action.approvals_required} approvals "
            f"({', '.join(mention(u) for u in action.approvals)})")


def _who(approver: str, user: str) -> str:
    return "you" if approver and approver == user else mention(approver)


def _at(ts: float) -> str:
    return f" at {utc(ts)}" if ts else ""
