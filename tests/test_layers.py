"""The layers hold: every import of socbot points down, never up or sideways.

core imports nothing else of socbot; collectors, detections, enrichment and playbooks import
core and their own modules only; bot (the Slack app, the notifier, the CLI, the doctor) sits on
top and may import anything. Imports inside functions and under ``TYPE_CHECKING`` count too: a
deferred import is still an arrow.
"""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((PROJECT / "pyproject.toml").read_text())

# What each top-level package may import besides itself.
ALLOWED: dict[str, set[str]] = {
    "core": set(),
    "collectors": {"core"},
    "detections": {"core"},
    "enrichment": {"core"},
    "playbooks": {"core"},
    "bot": {"core", "collectors", "detections", "enrichment", "playbooks"},
}


def folders() -> dict[str, Path]:
    """Each top-level package (``core``, ``bot``, ...) and its folder, from pyproject."""
    mapping = PYPROJECT["tool"]["setuptools"]["package-dir"]
    return {name.split(".")[1]: PROJECT / folder for name, folder in mapping.items()}


def module_name(path: Path, package: str, folder: Path) -> str:
    parts = list(path.relative_to(folder).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(["socbot", package, *parts])


def imported(tree: ast.Module, module: str, is_package: bool) -> list[tuple[int, str]]:
    """(line, absolute module name) of every import in the file, at any depth."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")
                base = base[:len(base) - node.level + (1 if is_package else 0)]
                name = ".".join(base + ([node.module] if node.module else []))
            else:
                name = node.module or ""
            found.append((node.lineno, name))
    return found


def arrows() -> list[tuple[str, int, str, str, str]]:
    """(module, line, imported name, its layer, the imported layer) for every socbot import."""
    result = []
    for package, folder in folders().items():
        for path in sorted(folder.rglob("*.py")):
            module = module_name(path, package, folder)
            tree = ast.parse(path.read_text(), filename=str(path))
            for line, name in imported(tree, module, path.name == "__init__.py"):
                parts = name.split(".")
                if parts[0] == "socbot" and len(parts) > 1:
                    result.append((module, line, name, package, parts[1]))
    return result


def test_every_import_points_down_the_layers() -> None:
    wrong = [f"{module} (line {line}) imports {name}: {layer} may import only "
             f"{', '.join(sorted(ALLOWED[layer])) or 'nothing else of socbot'}"
             for module, line, name, layer, target in arrows()
             if target != layer and target not in ALLOWED[layer]]
    assert not wrong, "imports that point up or sideways:\n" + "\n".join(wrong)


def test_the_walk_sees_function_level_and_relative_imports() -> None:
    source = ("from .rule import Rule\n"
              "def f():\n    from socbot.bot.render import post_arguments\n")
    names = [name for _, name in imported(ast.parse(source), "socbot.detections.engine", False)]
    assert names == ["socbot.detections.rule", "socbot.bot.render"]
    in_package = imported(ast.parse("from . import blocks\n"), "socbot.bot", True)
    assert [name for _, name in in_package] == ["socbot.bot"]


def test_the_walk_covers_every_layer() -> None:
    seen = {layer for _, _, _, layer, _ in arrows()}
    assert seen == set(ALLOWED), "a layer the walk found no imports in: check package-dir"


def test_pyproject_lists_every_package_folder() -> None:
    listed = set(PYPROJECT["tool"]["setuptools"]["packages"])
    on_disk = {module_name(init, package, folder)
               for package, folder in folders().items()
               for init in folder.rglob("__init__.py")}
    assert listed == on_disk, (f"add to [tool.setuptools] packages: {sorted(on_disk - listed)}; "
                               f"listed without an __init__.py: {sorted(listed - on_disk)}")
