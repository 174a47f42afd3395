"""Registries that find their members by importing every module of a package, once.

A playbook or a rule state kind registers itself when its module is imported, so adding one is
adding a file: :class:`PackageModules` imports the package's modules the first time a registry
is asked for its members (thread-safe; modules named in ``skip`` or starting with ``_`` are
left out).

Example::

    modules = PackageModules("socbot.playbooks", skip=frozenset({"base", "registry"}))
    modules.load()          # imports socbot.playbooks.<every module> the first time only
"""

from __future__ import annotations

import importlib
import pkgutil
import threading

__all__ = ["PackageModules"]


class PackageModules:
    """Imports every module of ``package`` once; ``package`` None imports nothing."""

    def __init__(self, package: str | None, skip: frozenset[str]) -> None:
        self.package = package
        self.skip = skip
        self._loaded = package is None
        self._lock = threading.Lock()

    def load(self) -> None:
        """Import the package's modules unless done already."""
        if self._loaded:
            return
        with self._lock:
            if self._loaded or self.package is None:
                return
            package = importlib.import_module(self.package)
            for module in pkgutil.iter_modules(package.__path__):
                if module.name not in self.skip and not module.name.startswith("_"):
                    importlib.import_module(f"{self.package}.{module.name}")
            self._loaded = True
