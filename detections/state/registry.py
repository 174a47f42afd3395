"""The state kinds a rule can declare, keyed by the code of their Lua step.

Adding a kind is adding one module to this package (a :class:`StateKind` subclass decorated
with :func:`register`) and its ``.lua`` file of the same name beside it; both are found when the
registry is first read. The Lua steps of every kind are joined, once per process, into the one
script the engine runs per batch (:func:`script`).
"""

from __future__ import annotations

import dataclasses
import re
from importlib import resources
from typing import TypeVar

from socbot.core.modules import PackageModules
from socbot.detections.state.base import StateKind

K = TypeVar("K", bound=type[StateKind])

CODE = re.compile(r"[A-Z]{1,3}", re.ASCII)
PACKAGE = "socbot.detections.state"
# Modules of this package that hold machinery, not kinds.
_NOT_KINDS = frozenset({"base", "registry"})
_KINDS_MARK = "-- (the steps of every kind go here)"


class RegistryError(Exception):
    """A state kind's declaration is invalid, or two kinds share a code."""


def lua_of(cls: type[StateKind]) -> str:
    """The Lua step of ``cls``: the ``.lua`` file named like its module."""
    package, _, module = cls.__module__.rpartition(".")
    if not package:
        raise FileNotFoundError(f"{module}.lua: a kind's module must be inside a package")
    return (resources.files(package) / f"{module}.lua").read_text(encoding="utf-8")


def declaration_problems(cls: type[StateKind]) -> list[str]:
    """What is wrong with a state kind's declaration (empty when it is fine)."""
    problems = []
    if not CODE.fullmatch(cls.code or ""):
        problems.append(f"code {cls.code!r} is not 1 to 3 capital letters")
    if not (cls.__doc__ or "").strip():
        problems.append("no docstring")
    params = getattr(cls, "__dataclass_params__", None)
    if not dataclasses.is_dataclass(cls) or params is None or not params.frozen:
        problems.append("not a frozen dataclass")
    try:
        lua = lua_of(cls)
    except OSError:
        problems.append(f"no Lua file {cls.__module__.rpartition('.')[2]}.lua beside it")
    else:
        if f"ops.{cls.code} = function(op)" not in lua:
            problems.append(f"its Lua file does not define ops.{cls.code} = function(op)")
    return problems


class StateRegistry:
    """State kind classes by code. The module-level :data:`registry` is the one rules use."""

    def __init__(self, package: str | None = None) -> None:
        self._kinds: dict[str, type[StateKind]] = {}
        self._modules = PackageModules(package, _NOT_KINDS)
        self._script: str | None = None

    def register(self, cls: K) -> K:
        """Class decorator: check ``cls``'s declaration and add it under ``cls.code``."""
        problems = declaration_problems(cls)
        existing = self._kinds.get(cls.code)
        if existing is not None and (existing.__module__, existing.__qualname__) != (
                cls.__module__, cls.__qualname__):
            problems.insert(0, f"state code {cls.code!r} is taken by {existing.__module__}."
                               f"{existing.__qualname__}; pick another code")
        if problems:
            raise RegistryError(f"state kind {cls.__qualname__}: {'; '.join(problems)}")
        self._kinds[cls.code] = cls
        self._script = None
        return cls

    def all_kinds(self) -> list[type[StateKind]]:
        """Every registered kind, sorted by code."""
        self._load()
        return [self._kinds[code] for code in sorted(self._kinds)]

    def script(self) -> str:
        """The batch script: the shared prelude, every kind's step, the loop over the ops."""
        if self._script is None:
            kinds = self.all_kinds()
            frame = (resources.files(PACKAGE) / "script.lua").read_text(encoding="utf-8")
            steps = "\n".join(f"-- {cls.__name__}\n{cls.lua_prelude}{lua_of(cls)}"
                              for cls in kinds)
            self._script = frame.replace(_KINDS_MARK, steps)
        return self._script

    def _load(self) -> None:
        self._modules.load()


registry = StateRegistry(PACKAGE)
register = registry.register
all_kinds = registry.all_kinds
script = registry.script
