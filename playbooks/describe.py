"""How a playbook is described to people, in one place: ``/soc playbooks``, the App Home tab
and ``socbot playbooks list|show`` all read these, so they cannot disagree.

Example (``contain-unapproved-ami``)::

    kind(cls)       -> "undo in Slack; mode=terminate is destructive"
    approvals(cls)  -> "1 approval; mode=terminate: 2"
"""

from __future__ import annotations

from typing import Any


def kind(cls: Any) -> str:
    """What a run does to the resource: ``read-only``, ``destructive``, ``undo in Slack``
    (an Undo button on the finished run) or ``undo by hand``; plus any destructive mode."""
    if cls.read_only:
        text = "read-only"
    elif cls.destructive:
        text = "destructive"
    elif cls.undoable:
        text = "undo in Slack"
    else:
        text = "undo by hand"
    for param, values in cls.destructive_params.items():
        text += "; " + ", ".join(f"{param}={value}" for value in values) + " is destructive"
    return text


def approvals(cls: Any) -> str:
    """The approvals a run needs, and more for a destructive mode: ``1 approval;
    mode=terminate: 2``."""
    needed = cls.approvals_required
    text = f"{needed} approval" + ("s" if needed != 1 else "")
    for param, values in cls.destructive_params.items():
        for value in values:
            text += f"; {param}={value}: {cls.approvals_for({param: value})}"
    return text


def undo(cls: Any) -> str:
    """How a run is reversed."""
    if cls.read_only:
        return "none needed (read-only)"
    if cls.undoable:
        return "the Undo button on the finished run (approved like the run); undo data recorded"
    return "by hand, from the recorded undo data"


def line(cls: Any) -> str:
    """One line: ``name: kind · approvals · description`` (plain text, not escaped)."""
    return f"{cls.name}: {kind(cls)} · {approvals(cls)} · {cls.description}"
