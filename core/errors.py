"""Errors every part of socbot may raise, in a module light enough for the CLI to import
before it knows whether a command needs the configuration at all."""

from __future__ import annotations

__all__ = ["ConfigError"]


class ConfigError(Exception):
    """The configuration cannot be used; the message says where and how to fix it."""
