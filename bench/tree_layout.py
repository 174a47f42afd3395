"""A source tree measured as installed: its top-level folders laid out as the ``socbot``
package, so that a benchmark can import one tree (this one, or a checkout of an earlier commit
given as ``--baseline``) rather than whatever is installed."""

from __future__ import annotations

import sys
from pathlib import Path

FOLDERS = ("core", "collectors", "detections", "enrichment", "playbooks", "bot")


def lay_out(tree: Path, scratch: Path) -> Path:
    """Link ``tree``'s folders under ``scratch/socbot``; return ``scratch``, the folder to put
    on the import path (``sys.path`` or ``PYTHONPATH``)."""
    package = scratch / "socbot"
    package.mkdir(parents=True)
    for folder in FOLDERS:
        (package / folder).symlink_to(tree / folder)
    return scratch


def use_tree(tree: Path, scratch: Path) -> None:
    """Import ``socbot`` from ``tree`` in this process."""
    sys.path.insert(0, str(lay_out(tree, scratch)))
