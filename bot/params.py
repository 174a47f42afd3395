"""Playbook parameters from the message: a modal built from the playbook's schema, then a
preview of the request before anything is requested.

Run on an alert, for a playbook whose schema has properties, opens :func:`params_modal`: one
input per property (a choice for an ``enum``, yes / no for a ``boolean``, a number for an
``integer``, text for a ``string``), each starting at the schema's ``default`` (else the
playbook's own default: the first choice, no). Its submission is checked with
:func:`parse_submission` (the playbook's own validation: a wrong value is shown under its
field) and answered with :func:`preview_modal`: what will be requested, on what, and how many
approvals that takes (two for a destructive choice such as ``mode=terminate``). Only the
preview's submission opens the approval request.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from slack_sdk.models.blocks import (
    Block,
    ContextBlock,
    InputBlock,
    NumberInputElement,
    Option,
    PlainTextInputElement,
    PlainTextObject,
    SectionBlock,
    StaticSelectElement,
)
from slack_sdk.models.views import View

from socbot.bot.blocks import _mrkdwn, entity_text, truncate
from socbot.bot.escape import escape
from socbot.playbooks import describe
from socbot.playbooks.base import PlaybookError

PARAMS_VIEW = "playbook_params"
PREVIEW_VIEW = "playbook_preview"
VALUE = "value"
BLOCK_PREFIX = "param:"
YES, NO = "yes", "no"

Playbook = Any  # a playbook class: name, description, schema, approvals_for, is_destructive


def has_params(playbook: Playbook) -> bool:
    """True when the playbook takes parameters (the modal is needed)."""
    return bool(playbook.schema.get("properties"))


def params_modal(playbook: Playbook, alert: Any, origin: Mapping[str, str]) -> dict[str, Any]:
    """The modal asking for ``playbook``'s parameters; ``origin`` (alert id, channel, home)
    travels in ``private_metadata``."""
    blocks: list[Block] = [SectionBlock(text=_mrkdwn(
        f"*{escape(playbook.name)}* on {entity_text(alert)}: {escape(playbook.description)}"))]
    required = set(playbook.schema.get("required", ()))
    for name, spec in playbook.schema.get("properties", {}).items():
        blocks.append(InputBlock(
            block_id=BLOCK_PREFIX + name, label=PlainTextObject(text=truncate(name, 2000)),
            element=_element(spec), optional=name not in required,
            hint=PlainTextObject(text=truncate(spec.get("description") or _hint(spec), 2000))))
    blocks.append(ContextBlock(elements=[_mrkdwn(
        f"Approvals: {escape(describe.approvals(playbook))}, never the requester. Next: a "
        "preview; nothing is requested before it.")]))
    return View(type="modal", callback_id=PARAMS_VIEW, private_metadata=json.dumps(origin),
                title=PlainTextObject(text=truncate("Playbook options", 24)),
                submit=PlainTextObject(text="Preview"), close=PlainTextObject(text="Cancel"),
                blocks=blocks).to_dict()


def _element(spec: Mapping[str, Any]) -> Any:
    kind, default = spec.get("type"), spec.get("default")
    if "enum" in spec:
        options = [Option(value=str(v), text=truncate(str(v), 75)) for v in spec["enum"]]
        chosen = next((o for o, v in zip(options, spec["enum"], strict=True) if v == default),
                      options[0])
        return StaticSelectElement(action_id=VALUE, options=options, initial_option=chosen)
    if kind == "boolean":
        options = [Option(value=NO, text="no"), Option(value=YES, text="yes")]
        return StaticSelectElement(action_id=VALUE, options=options,
                                   initial_option=options[1 if default is True else 0])
    if kind in ("integer", "number"):
        return NumberInputElement(action_id=VALUE, is_decimal_allowed=kind == "number",
                                  initial_value=default, min_value=spec.get("minimum"),
                                  max_value=spec.get("maximum"))
    return PlainTextInputElement(action_id=VALUE, initial_value=default, max_length=200)


def _hint(spec: Mapping[str, Any]) -> str:
    if "enum" in spec:
        return "one of " + ", ".join(map(str, spec["enum"]))
    return {"boolean": "yes or no", "integer": "a whole number"}.get(spec.get("type", ""),
                                                                     "text")


class ParamError(ValueError):
    """A submitted value the playbook refuses; ``block_id`` is the field to show it under."""

    def __init__(self, block_id: str, message: str) -> None:
        super().__init__(message)
        self.block_id = block_id


def parse_submission(playbook: Playbook, values: Mapping[str, Any],
                     settings: Any = None) -> dict[str, Any]:
    """The parameters a submitted modal chose, checked as the playbook checks them; raises
    :class:`ParamError` naming the field. An empty optional field is left out (the
    playbook's default applies)."""
    params: dict[str, Any] = {}
    properties: Mapping[str, Any] = playbook.schema.get("properties", {})
    for name, spec in properties.items():
        block = BLOCK_PREFIX + name
        state = (values.get(block) or {}).get(VALUE) or {}
        raw = (state.get("selected_option") or {}).get("value") if "selected_option" in state \
            else state.get("value")
        if raw in (None, ""):
            continue
        params[name] = _convert(block, name, spec, str(raw))
    try:
        playbook(params, settings)  # the playbook's own checks (schema, and any of its own)
    except (PlaybookError, ValueError) as exc:
        field = next((BLOCK_PREFIX + n for n in properties if f"'{n}'" in str(exc)),
                     BLOCK_PREFIX + next(iter(properties)))
        raise ParamError(field, str(exc)) from exc
    return params


def _convert(block: str, name: str, spec: Mapping[str, Any], raw: str) -> Any:
    kind = spec.get("type")
    if "enum" in spec:
        for value in spec["enum"]:
            if str(value) == raw:
                return value
        raise ParamError(block, f"choose one of {', '.join(map(str, spec['enum']))}")
    if kind == "boolean":
        if raw not in (YES, NO):
            raise ParamError(block, "choose yes or no")
        return raw == YES
    if kind == "integer":
        if not (raw.lstrip("-").isascii() and raw.lstrip("-").isdigit()) or len(raw) > 12:
            raise ParamError(block, f"{name} is a whole number")
        return int(raw)
    return raw


def preview_modal(playbook: Playbook, alert: Any, params: Mapping[str, Any],
                  origin: Mapping[str, str], dry_run: str = "") -> dict[str, Any]:
    """What will be requested, shown before the request: the playbook, its options, the
    target, the approvals it takes, a warning for a destructive choice, and ``dry_run``
    (what a read-only run found it would change; plain text, escaped here)."""
    chosen = ", ".join(f"{k}={_plain(v)}" for k, v in params.items()) or "defaults"
    needed = playbook.approvals_for(params)
    lines = [f"Request *{escape(playbook.name)}* ({escape(chosen)}) on {entity_text(alert)} "
             f"(alert `{escape(alert.id)}`).",
             f"It needs {needed} approval(s) from people other than you; nothing changes "
             "before that."]
    if playbook.is_destructive(params):
        lines.append(":warning: *Destructive*: this cannot be undone.")
    if dry_run:
        lines.append(f"*Dry run now* (read-only): {escape(truncate(dry_run, 1500))}")
    metadata = json.dumps({**origin, "params": params})
    return View(type="modal", callback_id=PREVIEW_VIEW, private_metadata=metadata,
                title=PlainTextObject(text="Preview"),
                submit=PlainTextObject(text="Request approval"),
                close=PlainTextObject(text="Cancel"),
                blocks=[SectionBlock(text=_mrkdwn("\n".join(lines)))]).to_dict()


def _plain(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
