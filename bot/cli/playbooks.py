"""``socbot playbooks``: list, show, policy, run.

``run`` outside Slack keeps the approval rule:

* ``--dry-run`` previews (read-only calls only) and needs no approval; it is audited;
* without it, ``run`` executes a request already approved in Slack (``--action ID``, or the
  alert's only approved request for that playbook) through the same runner, with the same
  checks, and posts the result to the alert's thread;
* ``--break-glass REASON`` runs without approval only when ``playbooks.allow_break_glass`` is
  true, never for a destructive run, and is audited (who, reason) before anything happens.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
from typing import TYPE_CHECKING, Any

from socbot.playbooks import describe

if TYPE_CHECKING:
    from socbot.core.config import Secrets, Settings

EXIT_REFUSED = 2


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the playbook subcommands to the ``socbot`` parser."""
    playbooks = commands.add_parser(
        "playbooks", help="list, inspect and run the remediation playbooks",
        description="The remediation playbooks: list, show, the IAM policy they need, and run "
                    "(preview, or an approved request) outside Slack.")
    sub = playbooks.add_subparsers(dest="playbooks_command", metavar="ACTION")
    sub.required = True
    listing = sub.add_parser("list", help="every playbook with its approvals")
    listing.set_defaults(handler=cmd_list)
    show = sub.add_parser("show", help="what a playbook does, reads, needs and may call")
    show.add_argument("name")
    show.set_defaults(handler=cmd_show)
    policy = sub.add_parser("policy", help="the least-privilege IAM policy of the remediation "
                                           "role, built from the playbooks' declarations")
    policy.add_argument("--format", choices=("json", "cloudformation"), default="json",
                        help="the IAM policy (default) or the role's CloudFormation template")
    policy.set_defaults(handler=cmd_policy)
    run = sub.add_parser(
        "run", help="preview a playbook on an alert, or run an approved request",
        description="Without --dry-run this runs only a request approved in Slack (or, if "
                    "playbooks.allow_break_glass is set, --break-glass REASON, audited).")
    run.add_argument("name")
    run.add_argument("--alert", required=True, metavar="ID", help="the alert to act on")
    run.add_argument("--dry-run", action="store_true",
                     help="preview only: read-only AWS calls, no approval needed")
    run.add_argument("--action", metavar="ID", help="the approved request to run")
    run.add_argument("--break-glass", metavar="REASON",
                     help="run without approval (off unless playbooks.allow_break_glass; never "
                          "for a destructive run); the reason goes to the audit trail")
    run.add_argument("--param", action="append", default=[], metavar="KEY=VALUE",
                     help="a playbook parameter for --dry-run or --break-glass (JSON value, "
                          "e.g. stop=true, mode=terminate); repeatable")
    run.set_defaults(handler=cmd_run)


def cmd_list(args: argparse.Namespace, settings: Settings, secrets: Secrets) -> int:
    """``socbot playbooks list``: one line each, the same words as ``/soc playbooks``."""
    from socbot.playbooks.describe import line
    from socbot.playbooks.registry import all_playbooks

    for cls in all_playbooks():
        print(line(cls))
    return 0


def cmd_show(args: argparse.Namespace, settings: Settings, secrets: Secrets) -> int:
    """``socbot playbooks show NAME``."""
    from socbot.playbooks.registry import UnknownPlaybook, get

    try:
        cls = get(args.name)
    except UnknownPlaybook as exc:
        print(f"socbot: {exc}", file=sys.stderr)
        return EXIT_REFUSED
    import inspect

    print(f"{cls.name}: {cls.description}\n")
    print(inspect.cleandoc(cls.__doc__ or ""), "\n")
    print(f"kind:             {describe.kind(cls)}")
    print(f"approvals:        {describe.approvals(cls)} (never the requester)")
    print(f"alert fields:     {', '.join(cls.required_fields)}")
    if cls.optional_fields:
        print(f"optional fields:  {', '.join(cls.optional_fields)}")
    params = [f"{name} ({'|'.join(map(str, spec['enum'])) if 'enum' in spec else spec['type']})"
              for name, spec in cls.schema.get("properties", {}).items()]
    limit = (settings.playbooks.timeouts.get(cls.name) or cls.timeout_s
             or settings.playbooks.timeout_s)
    print(f"parameters:       {', '.join(params) or 'none'}")
    print(f"undo:             {describe.undo(cls)}")
    print(f"time limit:       {limit:g} s")
    print("IAM permissions:  " + ", ".join(cls.permissions))
    for action, arns in cls.resources.items():
        print(f"  {action} only on: {', '.join(arns)}")
    return 0


def cmd_policy(args: argparse.Namespace, settings: Settings, secrets: Secrets) -> int:
    """``socbot playbooks policy``."""
    from socbot.playbooks.policy import (
        actions,
        policy_document,
        render_policy,
        render_role_template,
    )

    if args.format == "cloudformation":
        sys.stdout.write(render_role_template())
    else:
        sys.stdout.write(render_policy())
    document = policy_document()
    print(f"{len(actions(document))} actions in {len(document['Statement'])} statements, "
          "no wildcard action", file=sys.stderr)
    return 0


def _who() -> str:
    user = getpass.getuser()
    sudo = os.environ.get("SUDO_USER")
    return f"cli:{user}" + (f"(sudo by {sudo})" if sudo and sudo != user else "")


def _params(pairs: list[str]) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key:
            raise ValueError(f"--param {pair!r}: write KEY=VALUE, such as stop=true")
        try:
            params[key] = json.loads(raw)
        except json.JSONDecodeError:
            params[key] = raw
    return params


def _print_result(payload: dict[str, Any]) -> None:
    print(json.dumps(payload, indent=2, default=str))


def cmd_run(args: argparse.Namespace, settings: Settings, secrets: Secrets) -> int:
    """``socbot playbooks run NAME --alert ID [--dry-run | --action ID | --break-glass R]``."""
    from socbot.core.actions import ActionStore
    from socbot.core.alerts import AlertStore
    from socbot.core.audit import audit
    from socbot.core.redisconn import connect
    from socbot.playbooks.base import PlaybookError
    from socbot.playbooks.registry import UnknownPlaybook, get
    from socbot.playbooks.runner import ActionRunner
    from socbot.playbooks.session import SessionFactory

    def refuse(message: str) -> int:
        print(f"socbot: {message}", file=sys.stderr)
        return EXIT_REFUSED

    if sum(map(bool, (args.dry_run, args.action, args.break_glass is not None))) > 1:
        return refuse("use one of --dry-run, --action and --break-glass")
    try:
        cls = get(args.name)
        params = _params(args.param)
    except (UnknownPlaybook, ValueError) as exc:
        return refuse(str(exc))
    if args.param and not (args.dry_run or args.break_glass is not None):
        return refuse("--param goes with --dry-run or --break-glass; an approved request "
                      "runs with the parameters it was approved with")
    client = connect()
    alerts, actions = AlertStore(client), ActionStore(client)
    alert = alerts.get(args.alert)
    if alert is None:
        return refuse(f"alert {args.alert!r:.40} does not exist (or has expired)")
    who = _who()
    sessions = SessionFactory.from_settings(settings)

    if args.dry_run:
        try:
            playbook = cls(params, settings)
            target = playbook.target(alert.context)
            result = playbook.run(sessions.session(target.account_id, target.region), target,
                                  dry_run=True)
        except PlaybookError as exc:
            audit(client, who=who, what=f"dry-run:{cls.name}", alert_id=alert.id,
                  result=f"failed: {exc}"[:500])
            return refuse(str(exc))
        audit(client, who=who, what=f"dry-run:{cls.name}", alert_id=alert.id,
              result=result.summary[:500])
        _print_result(result.to_dict())
        return 0

    runner = ActionRunner(client, actions, alerts, sessions, settings=settings)
    if args.break_glass is not None:
        if cls.name not in alert.playbooks:
            return refuse(f"alert {alert.id} does not offer {cls.name}; break-glass runs only "
                          f"what the alert offers ({', '.join(alert.playbooks) or 'nothing'})")
        try:
            done = runner.break_glass(alert.id, cls.name, who, args.break_glass, params)
        except PlaybookError as exc:
            return refuse(str(exc))
        _print_result(done.to_dict() | {"token": "(hidden)"})
        return 0 if done.status == "succeeded" else 1

    candidates = [a for a in actions.for_alert(alert.id) if a.playbook == cls.name]
    if args.action:
        chosen = next((a for a in candidates if a.id == args.action), None)
        if chosen is None:
            return refuse(f"request {args.action!r:.40} is not a {cls.name} request of alert "
                          f"{alert.id}")
    else:
        approved = [a for a in candidates if a.status == "approved"]
        if len(approved) > 1:
            return refuse("several approved requests: name one with --action "
                          + ", ".join(a.id for a in approved))
        if not approved:
            return refuse(
                f"no approved {cls.name} request on alert {alert.id}: request it from the "
                "alert in Slack and have it approved "
                f"({describe.approvals(cls)}, not by the requester); or preview with --dry-run")
        chosen = approved[0]
    if chosen.status != "approved":
        return refuse(f"request {chosen.id} is {chosen.status}, not approved; nothing run")
    audit(client, who=who, what=f"cli-run:{cls.name}", alert_id=alert.id,
          action_id=chosen.id, result="started from the command line")
    runner.handle("cli", {"action_id": chosen.id})
    ran = actions.get(chosen.id)
    assert ran is not None
    _print_result(ran.to_dict() | {"token": "(hidden)"})
    if ran.status == "approved":  # refused before running, e.g. approvals
        return EXIT_REFUSED
    return 0 if ran.status == "succeeded" else 1
