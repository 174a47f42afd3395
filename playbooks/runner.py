"""The playbook runner: runs approved remediation requests from ``{soc}:actions``.

Entries are ``{"action_id": ...}``, queued by the Slack app once a request is approved. Wired as
a consumer-group handler::

    runner = ActionRunner(redis, ActionStore(redis), AlertStore(redis), SessionFactory(...))
    Consumer(redis, ACTIONS, "respond", consumer_name("respond"), runner.handle).run(stop)

What the runner guarantees, whatever the caller checked before:

* only a request whose status is ``approved`` runs, and only with as many distinct approvers
  (none of them the requester) as both the request and the playbook's declaration require for
  the request's parameters (a destructive mode needs two);
* ``approved -> running`` is a compare-and-set, so two runners, or a redelivered entry, never
  run one request twice. A runner that dies mid-run leaves the request ``running``: running a
  remediation again after an unknown outcome is worse than asking a person to look;
* resource ids come from the alert's validated fields, before any AWS call;
* the outcome (result with before / after state and undo data, or a clear error with
  whatever the run changed before it failed) is stored on the request, then announced on
  ``{soc}:alerts`` as ``{"alert_id", "kind": "action_result", "action_id"}``;
* the time limit is ``playbooks.timeouts.<name>``, else the playbook's own, else
  ``playbooks.timeout_s``.

The one way to run without approvals is :meth:`ActionRunner.break_glass` (``socbot playbooks
run --break-glass``): off unless ``playbooks.allow_break_glass`` is set, never for a destructive
run, and audited before anything happens.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import Any

import redis

from socbot.core import metrics
from socbot.core.actions import Action, ActionStore
from socbot.core.alerts import AlertStore
from socbot.core.audit import audit
from socbot.core.config import Settings, load
from socbot.core.streams import ALERTS, Fields, Producer
from socbot.playbooks.base import Playbook, PlaybookError, PlaybookFailed, Result
from socbot.playbooks.registry import PlaybookRegistry, UnknownPlaybook
from socbot.playbooks.registry import registry as default_registry
from socbot.playbooks.session import SessionFactory

log = logging.getLogger(__name__)

GROUP = "respond"


class RunTimeout(Exception):
    """A playbook run took longer than its time limit."""


class ActionRunner:
    """Run approved actions, one per ``{soc}:actions`` entry; see the module docstring."""

    def __init__(self, client: redis.Redis, actions: ActionStore, alerts: AlertStore,
                 sessions: SessionFactory, timeout_s: float | None = None,
                 registry: PlaybookRegistry = default_registry,
                 settings: Settings | None = None) -> None:
        self.client = client
        self.actions = actions
        self.alerts = alerts
        self.sessions = sessions
        # Without settings, the configuration file named by SOCBOT_CONFIG (defaults if none).
        self.settings = settings if settings is not None else load()
        self.timeout_s = timeout_s if timeout_s is not None else self.settings.playbooks.timeout_s
        self.registry = registry
        self.producer = Producer(client)

    def timeout_for(self, playbook_cls: type[Playbook]) -> float:
        """The time limit of one run of ``playbook_cls``."""
        configured = self.settings.playbooks.timeouts.get(playbook_cls.name)
        return configured or playbook_cls.timeout_s or self.timeout_s

    def handle(self, entry_id: str, fields: Fields) -> None:
        """Consumer handler for one ``{"action_id": ...}`` entry."""
        action_id = fields.get("action_id", "")
        if not action_id:
            raise ValueError(f"entry {entry_id} has no action_id: {sorted(fields)}")
        action = self.actions.get(action_id)
        if action is None:
            log.warning("action %s (entry %s) does not exist (expired?); skipped",
                        action_id, entry_id)
            return
        if action.status in ("succeeded", "failed"):
            # Redelivered after the result was stored: announce again (the notifier posts
            # each result once), since the first announcement may not have been made.
            self._announce(action)
            return
        if action.status != "approved":
            log.info("action %s is %s, not approved; not run", action_id, action.status)
            return
        self._run(action)

    def _run(self, action: Action) -> None:
        try:
            playbook_cls = self.registry.get(action.playbook)
        except UnknownPlaybook as exc:
            self._refuse(action, str(exc))
            return
        missing = self._missing_approvals(action, playbook_cls)
        if missing:
            self._refuse(action, missing)
            return
        if not self.actions.move(action.id, "approved", "running"):
            log.info("action %s was taken by another runner; not run", action.id)
            return
        self._run_now(action, playbook_cls)

    def break_glass(self, alert_id: str, playbook: str, who: str, reason: str,
                    params: dict[str, Any] | None = None) -> Action:
        """Run ``playbook`` on an alert now, without approvals; return the finished action.

        Refused (PlaybookError, nothing recorded but the refusal in the audit trail) unless
        ``playbooks.allow_break_glass`` is set, ``reason`` is given and the run is reversible.
        The request is recorded as made by ``who`` and audited as ``break-glass`` before the
        run; the result goes to the alert's thread like any other.
        """
        playbook_cls = self.registry.get(playbook)
        refusal = ""
        if not self.settings.playbooks.allow_break_glass:
            refusal = ("break-glass runs are off; set playbooks.allow_break_glass: true, or "
                       "request the playbook in Slack and have it approved")
        elif not reason.strip():
            refusal = "say why with --break-glass REASON; it goes into the audit trail"
        elif playbook_cls.is_destructive(params):
            refusal = (f"{playbook} with {params} is destructive: it needs "
                       f"{playbook_cls.approvals_for(params)} approvals, never break-glass")
        elif self.alerts.get(alert_id) is None:
            refusal = f"alert {alert_id} does not exist"
        if refusal:
            audit(self.client, who=who, what=f"break-glass:{playbook}", alert_id=alert_id,
                  result=f"refused: {refusal}"[:500])
            raise PlaybookError(refusal)
        playbook_cls(params, self.settings)  # parameters checked before anything is recorded
        action = self.actions.create(alert_id, playbook, who,
                                     approvals_required=playbook_cls.approvals_for(params),
                                     params=params)
        audit(self.client, who=who, what=f"break-glass:{playbook}", alert_id=alert_id,
              action_id=action.id, result=f"reason: {reason}"[:500])
        if not self.actions.move(action.id, "requested", "running"):
            raise PlaybookError(f"action {action.id} changed state meanwhile; not run")
        self._run_now(action, playbook_cls)
        done = self.actions.get(action.id)
        assert done is not None
        return done

    def _run_now(self, action: Action, playbook_cls: type[Playbook]) -> None:
        """Run an action already moved to ``running`` and record how it ended."""
        log.info("running %s for action %s (alert %s)", action.playbook, action.id,
                 action.alert_id)
        audit(self.client, who="socbot", what=f"run:{action.playbook}", alert_id=action.alert_id,
              action_id=action.id, result="running")
        timeout = self.timeout_for(playbook_cls)
        started = time.monotonic()
        try:
            result = _with_timeout(lambda: self._execute(action, playbook_cls), timeout)
        except RunTimeout:
            metrics.playbook_run(action.playbook, "timeout", time.monotonic() - started)
            self._finish_failed(action, (
                f"{action.playbook} did not finish within {timeout:g} s; it may still complete "
                "in the background, so check the resource before trying again"))
        except PlaybookFailed as exc:
            metrics.playbook_run(action.playbook, "failed", time.monotonic() - started)
            partial = exc.partial.to_dict() if exc.partial is not None else {}
            self._finish_failed(action, str(exc), partial)
        except PlaybookError as exc:
            metrics.playbook_run(action.playbook, "failed", time.monotonic() - started)
            self._finish_failed(action, str(exc))
        except Exception as exc:  # recorded, logged with its traceback, and announced
            metrics.playbook_run(action.playbook, "error", time.monotonic() - started)
            log.exception("action %s: %s raised", action.id, action.playbook)
            self._finish_failed(action, f"{action.playbook} raised {type(exc).__name__}: {exc}")
        else:
            metrics.playbook_run(action.playbook, "succeeded", time.monotonic() - started)
            self.actions.finish(action.id, "succeeded", result.to_dict())
            log.info("action %s succeeded: %s", action.id, result.summary)
            audit(self.client, who="socbot", what=f"run:{action.playbook}",
                  alert_id=action.alert_id, action_id=action.id,
                  result=f"succeeded: {result.summary}"[:500])
            self._announce(action)

    def _execute(self, action: Action, playbook_cls: type[Playbook]) -> Result:
        alert = self.alerts.get(action.alert_id)
        if alert is None:
            raise PlaybookError(f"alert {action.alert_id} no longer exists; nothing to act on")
        playbook = playbook_cls(action.params, self.settings)
        target = playbook.target(alert.context)  # validated before any AWS call
        session = self.sessions.session(target.account_id, target.region)
        if action.undo_of:
            return playbook.undo(session, target, self._undo_data(action))
        return playbook.run(session, target)

    def _undo_data(self, action: Action) -> dict[str, Any]:
        """The undo data recorded by the run an undo request reverses."""
        original = self.actions.get(action.undo_of)
        if original is None or original.status != "succeeded" or original.alert_id != (
                action.alert_id) or original.playbook != action.playbook:
            raise PlaybookError(f"run {action.undo_of} of {action.playbook} on this alert did "
                                "not succeed or no longer exists; nothing to undo")
        undo = original.result.get("undo")
        if not isinstance(undo, dict) or not undo:
            raise PlaybookError(f"run {original.id} recorded no undo data; undo it by hand")
        return undo

    @staticmethod
    def _missing_approvals(action: Action, playbook_cls: type[Playbook]) -> str:
        # ActionStore enforces this when people click; checking again here means a request
        # created with too low a count, or edited in Redis, still cannot run.
        needed = max(action.approvals_required, playbook_cls.approvals_for(action.params))
        approvers = set(action.approvals) - {action.requested_by}
        if len(approvers) >= needed:
            return ""
        return (f"{action.playbook} needs {needed} approval(s) from people other than the "
                f"requester and has {len(approvers)}; not run. Request it again.")

    def _refuse(self, action: Action, reason: str) -> None:
        if self.actions.move(action.id, "approved", "failed"):
            log.warning("action %s refused: %s", action.id, reason)
            self._finish_failed(action, reason)

    def _finish_failed(self, action: Action, error: str,
                       result: dict[str, Any] | None = None) -> None:
        self.actions.finish(action.id, "failed", result or {}, error=error)
        log.warning("action %s failed: %s", action.id, error)
        audit(self.client, who="socbot", what=f"run:{action.playbook}", alert_id=action.alert_id,
              action_id=action.id, result=f"failed: {error}"[:500])
        self._announce(action)

    def _announce(self, action: Action) -> None:
        self.producer.add(ALERTS, {"alert_id": action.alert_id, "kind": "action_result",
                                   "action_id": action.id})


def _with_timeout(work: Callable[[], Result], timeout_s: float) -> Result:
    """Run ``work()`` in a daemon thread; raise RunTimeout if it has not returned in time.

    A thread cannot be killed, so a run that times out may still finish; its outcome is then
    only logged, and the stored error says so.
    """
    outcome: queue.Queue[tuple[bool, Any]] = queue.Queue(maxsize=1)
    abandoned = threading.Event()

    def target() -> None:
        try:
            outcome.put((True, work()))
        except BaseException as exc:  # handed to the waiting thread, which re-raises it
            outcome.put((False, exc))
        if abandoned.is_set():
            ok, value = outcome.get()
            log.warning("a timed-out playbook run finished late (%s): %s",
                        "ok" if ok else "error", getattr(value, "summary", value))

    threading.Thread(target=target, name="playbook-run", daemon=True).start()
    try:
        ok, value = outcome.get(timeout=timeout_s)
    except queue.Empty:
        abandoned.set()
        raise RunTimeout from None
    if not ok:
        raise value
    result: Result = value
    return result
