"""The playbook registry: every remediation the bot can run, keyed by its kebab-case name.

Adding a playbook is adding one module to this package; it is found and imported when the
registry is first read. A minimal one::

    from socbot.playbooks.base import Playbook, Plan, Result, Target, aws_call
    from socbot.playbooks.registry import register

    @register
    class StopInstance(Playbook):
        \"\"\"Stop the instance an alert names (reversible: start it again).\"\"\"

        name = "stop-instance"
        description = "Stop the EC2 instance"
        required_fields = ("instance_id", "cloud.region", "cloud.account.id")
        permissions = ("ec2:DescribeInstances", "ec2:StopInstances")

        def preview(self, session, target: Target) -> Plan:
            ...  # read the instance; Plan(changes=[] if already stopped else [...], ...)

        def apply(self, session, target: Target, plan: Plan) -> Result:
            aws_call(session.client("ec2").stop_instances, InstanceIds=[target["instance_id"]])
            return Result(changed=True, summary=..., undo={"start": target["instance_id"]})

The declaration is checked at registration: a bad one fails at import, not during an incident.
"""

from __future__ import annotations

import re
from typing import TypeVar

from socbot.core.modules import PackageModules
from socbot.playbooks.base import Playbook

P = TypeVar("P", bound=type[Playbook])

NAME = re.compile(r"[a-z][a-z0-9]*(-[a-z0-9]+)*", re.ASCII)
# An exact IAM action: service prefix and action name, no wildcard.
PERMISSION = re.compile(r"[a-z0-9-]+:[A-Za-z0-9]+", re.ASCII)
# Modules of this package that hold machinery, not playbooks.
_NOT_PLAYBOOKS = frozenset({"base", "registry", "session", "runner", "cli", "policy",
                            "ec2util"})


class RegistryError(Exception):
    """A playbook declaration is invalid, or two playbooks share a name."""


class UnknownPlaybook(KeyError):
    """No playbook has the requested name; the message lists those that exist."""

    def __str__(self) -> str:
        return str(self.args[0])


def declaration_problems(cls: type[Playbook]) -> list[str]:
    """What is wrong with a playbook class's declaration (empty when it is fine)."""
    problems = []
    if not NAME.fullmatch(cls.name or ""):
        problems.append(f"name {cls.name!r} is not kebab-case")
    if not (cls.__doc__ or "").strip():
        problems.append("no docstring")
    if not cls.description:
        problems.append("no description")
    schema = cls.schema
    if schema.get("type") != "object" or schema.get("additionalProperties") is not False:
        problems.append("schema must be an object with additionalProperties: false")
    if not cls.permissions:
        problems.append("no permissions declared")
    problems += [f"permission {p!r} is not an exact IAM action (service:Action)"
                 for p in cls.permissions if not PERMISSION.fullmatch(p)]
    if cls.approvals_required < 1:
        problems.append("approvals_required must be at least 1")
    if cls.destructive and cls.approvals_required < 2:
        problems.append("a destructive playbook needs approvals_required >= 2")
    for needed in ("cloud.account.id", "cloud.region"):
        if needed not in cls.required_fields:
            problems.append(f"required_fields must include {needed!r}")
    problems += [f"field {f!r} has no shape (add it to field_shapes)"
                 for f in (*cls.required_fields, *cls.optional_fields) if cls.shape_of(f) is None]
    problems += [f"resources name {action!r}, which is not in permissions"
                 for action in cls.resources if action not in cls.permissions]
    properties = schema.get("properties", {})
    for param, values in cls.destructive_params.items():
        allowed = properties.get(param, {}).get("enum")
        if allowed is None or not set(values) <= set(allowed):
            problems.append(f"destructive_params {param!r} must name enum values of the schema")
    return problems


class PlaybookRegistry:
    """Playbook classes by name. The module-level :data:`registry` is the one the bot uses."""

    def __init__(self, package: str | None = None) -> None:
        self._playbooks: dict[str, type[Playbook]] = {}
        self._modules = PackageModules(package, _NOT_PLAYBOOKS)

    def register(self, cls: P) -> P:
        """Class decorator: check ``cls``'s declaration and add it under ``cls.name``."""
        problems = declaration_problems(cls)
        if problems:
            raise RegistryError(f"playbook {cls.__qualname__}: {'; '.join(problems)}")
        existing = self._playbooks.get(cls.name)
        if existing is not None and existing is not cls:
            raise RegistryError(
                f"playbook name {cls.name!r} is taken by {existing.__module__}."
                f"{existing.__qualname__}; pick another name for {cls.__qualname__}"
            )
        self._playbooks[cls.name] = cls
        return cls

    def get(self, name: str) -> type[Playbook]:
        """The playbook class called ``name``; UnknownPlaybook lists the valid names."""
        self._load()
        try:
            return self._playbooks[name]
        except KeyError:
            valid = ", ".join(sorted(self._playbooks)) or "none"
            raise UnknownPlaybook(f"unknown playbook {name!r:.80}; valid: {valid}") from None

    def all_playbooks(self) -> list[type[Playbook]]:
        """Every registered playbook class, sorted by name."""
        self._load()
        return [self._playbooks[name] for name in sorted(self._playbooks)]

    def _load(self) -> None:
        self._modules.load()


registry = PlaybookRegistry("socbot.playbooks")
register = registry.register
get = registry.get
all_playbooks = registry.all_playbooks
