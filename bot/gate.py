"""The gate every Slack request passes before a listener runs: whose workspace, and whether
this delivery was seen before.

1. **Workspace.** A request from another team or enterprise, or a click by an external member
   of a shared channel, is refused (see :mod:`bot.workspace`): audited, answered with an
   ephemeral message where Slack allows one, and never handed to a listener.
2. **Exactly once per delivery.** Slack re-delivers an event whose answer was late (same
   ``event_id``, header ``X-Slack-Retry-Num``); Slack's signature has no nonce, so a captured
   request can be replayed for five minutes. Kept in Redis, each with an expiry:

   * ``{soc}:slack:event:{event_id}``: an Events API delivery (either transport);
   * ``{soc}:slack:click:{user}:{action_id}:{action_ts}``: one click (either transport);
   * ``{soc}:slack:trigger:{trigger_id}``: one slash command or modal submission (either);
   * ``{soc}:slack:sig:{sha256 of X-Slack-Signature}``: one signed HTTP request, for as long as
     its timestamp is accepted.

   A second delivery is answered 200 with ``X-Slack-No-Retry: 1`` and does nothing; a repeated
   click is audited as ``refused:replay``. The first delivery's own answer stands, so the person
   who clicked first is never told that "someone" already did it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

import redis
from slack_bolt.middleware import Middleware
from slack_bolt.request import BoltRequest
from slack_bolt.response import BoltResponse
from slack_sdk import WebClient
from slack_sdk.errors import SlackClientError

from socbot.bot.workspace import REFUSALS, Workspace
from socbot.core import keys
from socbot.core.audit import audit

log = logging.getLogger(__name__)

Body = dict[str, Any]

EVENT_TTL_S = 3600  # Slack's retries of one event end within minutes
CLICK_TTL_S = 3600
# Bolt refuses a timestamp more than 300 s away; 60 s more covers clock skew.
SIGNATURE_TTL_S = 360


def _no_retry() -> dict[str, str | Sequence[str]]:
    """Headers asking Slack not to deliver this request again."""
    return {"X-Slack-No-Retry": "1"}


class Gate(Middleware):
    """Bolt middleware: refuse foreign workspaces and repeated deliveries."""

    def __init__(self, workspace: Workspace, redis_client: redis.Redis, client: WebClient) -> None:
        self.workspace = workspace
        self.redis = redis_client
        self.client = client

    def process(self, *, req: BoltRequest, resp: BoltResponse,
                next: Callable[[], BoltResponse]) -> BoltResponse:
        """Run the request's listener, or answer for it when it must not run."""
        body: Body = req.body
        reason = self.workspace.refusal(body)
        if reason:
            return self._refuse(body, reason)
        _log_retry(req)
        duplicate = self._duplicate(req, body)
        if duplicate:
            who = _user(body)
            log.info("ignoring a repeated Slack delivery (%s) from %s", duplicate, who or "-")
            if _kind(body) == "click":
                audit(self.redis, who=who, what=_action_id(body)[:80], result="refused:replay")
            return BoltResponse(status=200, body="", headers=_no_retry())
        return next()

    # --- workspace -----------------------------------------------------------------------

    def _refuse(self, body: Body, reason: str) -> BoltResponse:
        who = _user(body)
        kind = _kind(body)
        what = _action_id(body) or str(body.get("command") or "")[:40] or kind
        audit(self.redis, who=who or "unknown", what=what[:80], result=f"refused:{reason}")
        log.warning("refused a Slack %s from %s: %s", kind, who or "unknown", reason)
        text = REFUSALS[reason]
        if kind == "command":
            return BoltResponse(status=200, body={"response_type": "ephemeral", "text": text})
        if kind == "click":
            self._ephemeral(body, who, text)
        if kind == "submission":
            blocks = list(((body.get("view") or {}).get("state") or {}).get("values") or {})
            if blocks:
                return BoltResponse(status=200, body={"response_action": "errors",
                                                      "errors": {blocks[0]: text}})
        return BoltResponse(status=200, body="", headers=_no_retry())

    def _ephemeral(self, body: Body, user: str, text: str) -> None:
        channel = (body.get("channel") or {}).get("id")
        if not (channel and user):
            return  # a click on a Home tab: nowhere to say it
        try:
            self.client.chat_postEphemeral(channel=channel, user=user, text=text)
        except (SlackClientError, OSError) as exc:  # another workspace's channel, most likely
            log.info("could not tell %s why the click was refused: %s", user, exc)

    # --- deliveries ----------------------------------------------------------------------

    def _duplicate(self, req: BoltRequest, body: Body) -> str:
        """The key of the first repeat found among this request's delivery keys, or ``""``."""
        marks = delivery_keys(req, body)
        if not marks:
            return ""
        pipe = self.redis.pipeline(transaction=False)
        for key, ttl in marks:
            pipe.set(key, "1", nx=True, ex=ttl)
        fresh = pipe.execute()
        for (key, _ttl), was_set in zip(marks, fresh, strict=True):
            if not was_set:
                return key
        return ""


def delivery_keys(req: BoltRequest, body: Body) -> list[tuple[str, int]]:
    """The Redis keys (with expiry) naming this delivery; a repeat finds one already set."""
    found = []
    event_id = body.get("event_id")
    if body.get("type") == "event_callback" and isinstance(event_id, str) and event_id:
        found.append((keys.slack_event(event_id), EVENT_TTL_S))
    if body.get("type") == "block_actions":
        action = (body.get("actions") or [{}])[0]
        ts = str(action.get("action_ts") or "")
        if ts:
            found.append((keys.slack_click(_user(body), str(action.get("action_id") or ""), ts),
                          CLICK_TTL_S))
    trigger = body.get("trigger_id")
    # A slash command or a modal submission: its trigger_id is new for every one a person
    # makes and the same in every re-delivery of it (over Socket Mode too, with no signature).
    if (body.get("command") or body.get("type") == "view_submission") and isinstance(
            trigger, str) and trigger:
        found.append((keys.slack_trigger(trigger), CLICK_TTL_S))
    signature = _header(req, "x-slack-signature")
    if signature:
        found.append((keys.slack_signature(signature), SIGNATURE_TTL_S))
    return found


def _log_retry(req: BoltRequest) -> None:
    attempt = _header(req, "x-slack-retry-num")
    if attempt:
        log.info("Slack re-delivery %s (reason %s)", attempt[:8],
                 _header(req, "x-slack-retry-reason")[:40] or "unknown")


def _header(req: BoltRequest, name: str) -> str:
    values = (req.headers or {}).get(name) or []
    return str(values[0]) if values else ""


def _kind(body: Body) -> str:
    if body.get("command"):
        return "command"
    kind = body.get("type")
    if kind == "block_actions":
        return "click"
    if kind == "view_submission":
        return "submission"
    if kind == "event_callback":
        return "event"
    return str(kind or "request")[:40]


def _user(body: Body) -> str:
    user = body.get("user")
    if isinstance(user, dict):
        return str(user.get("id") or "")[:40]
    event = body.get("event")
    if isinstance(event, dict) and isinstance(event.get("user"), str):
        return str(event["user"])[:40]
    return str(body.get("user_id") or "")[:40]


def _action_id(body: Body) -> str:
    actions = body.get("actions")
    if isinstance(actions, list) and actions and isinstance(actions[0], dict):
        return str(actions[0].get("action_id") or "")
    return ""

