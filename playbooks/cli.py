"""``socbot playbooks``."""

from __future__ import annotations

import argparse

from core.config import Secrets, Settings


def register(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add the playbook subcommands to the ``socbot`` parser."""
    playbooks = commands.add_parser("playbooks", help="list the remediation playbooks")
    playbooks.set_defaults(handler=cmd_playbooks)
    playbooks.add_argument("action", choices=("list",))


def cmd_playbooks(args: argparse.Namespace, settings: Settings, secrets: Secrets) -> int:
    """``socbot playbooks list``."""
    from playbooks.registry import all_playbooks

    for playbook in all_playbooks():
        approvals = f"{playbook.approvals_required} approval(s)"
        kind = "destructive" if playbook.destructive else "reversible"
        print(f"{playbook.name:<28} {kind:<12} {approvals:<14} {playbook.description}")
    return 0
