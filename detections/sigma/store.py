"""Imported Sigma rules in Redis: their YAML, which are promoted, and what staged ones counted.

An imported rule starts staged: the detect stage evaluates it and counts its signals
(:func:`count_staged`) but raises no alert, until ``socbot rules promote ID``. Every detect
worker compiles the stored YAML when it starts (:func:`load`), so an import reaches them at
their next start. Example::

    rule = save(client, Path("aws_guardduty_disruption.yml").read_text())
    promote(client, rule.id)
"""

from __future__ import annotations

import logging

import redis

from socbot.core import keys
from socbot.detections.rule import Rule
from socbot.detections.sigma.compile import SigmaRefused, compile_rule

log = logging.getLogger(__name__)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def save(client: redis.Redis, text: str) -> Rule:
    """Compile one Sigma rule and keep it (staged); :class:`SigmaRefused` if it cannot be."""
    rule = compile_rule(text)
    client.hset(keys.SIGMA_RULES, rule.id, text)
    return rule


def load(client: redis.Redis) -> dict[str, Rule]:
    """Every stored Sigma rule, compiled; one that no longer compiles is logged and left out."""
    rules: dict[str, Rule] = {}
    stored = client.hgetall(keys.SIGMA_RULES)
    for rule_id, text in stored.items():
        try:
            rule = compile_rule(_text(text))
        except (SigmaRefused, ImportError) as exc:
            log.error("imported Sigma rule %s is left out: %s", _text(rule_id), exc)
            continue
        rules[rule.id] = rule
    return rules


def promote(client: redis.Redis, rule_id: str) -> None:
    """Let an imported rule raise alerts; ValueError naming the imported ids if unknown."""
    if not client.hexists(keys.SIGMA_RULES, rule_id):
        known = sorted(_text(k) for k in client.hkeys(keys.SIGMA_RULES))
        raise ValueError(f"no imported Sigma rule {rule_id!r}; imported: "
                         f"{', '.join(known[:10]) or 'none'}"
                         + (" ..." if len(known) > 10 else ""))
    client.sadd(keys.SIGMA_PROMOTED, rule_id)


def promoted(client: redis.Redis) -> set[str]:
    """The imported rule ids promoted so far."""
    return {_text(m) for m in client.smembers(keys.SIGMA_PROMOTED)}


def count_staged(client: redis.Redis, rule_id: str, signals: int = 1) -> None:
    """Count ``signals`` signals of a staged rule."""
    client.hincrby(keys.SIGMA_STAGED, rule_id, signals)


def staged_counts(client: redis.Redis) -> dict[str, int]:
    """Signals counted per staged rule."""
    return {_text(k): int(v) for k, v in client.hgetall(keys.SIGMA_STAGED).items()}


def origins(client: redis.Redis) -> dict[str, str]:
    """``staged`` or ``promoted`` per imported rule id."""
    done = promoted(client)
    return {_text(k): "promoted" if _text(k) in done else "staged"
            for k in client.hkeys(keys.SIGMA_RULES)}
