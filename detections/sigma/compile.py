"""Sigma rules as socbot rules: parsed by pySigma, evaluated on socbot's events.

pySigma reads the rule (its YAML, modifiers, placeholders, condition); :func:`compile_rule`
walks the condition tree pySigma builds and turns it into a matcher over socbot's events,
reading fields through the mapping in ``fields.json`` (data: for CloudTrail a Sigma field is a
dotted path into the record under ``original``; for Linux auth logs keywords are searched in
the line). The socbot rule keeps the Sigma rule's id, title, level, tags (MITRE), author,
licence and references; its id is ``sigma.<Sigma id>`` and its origin ``sigma:<Sigma id>``.

What cannot be evaluated faithfully is refused with the reason (:class:`SigmaRefused`): a
log source socbot has no events for, placeholders (``|expand``), field references, temporal
or correlation rules, unknown value types. Example::

    rule = compile_rule(Path("aws_cloudtrail_disable_logging.yml").read_text())
    rule.function(event)  # Match | None
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Callable, Mapping
from functools import cache
from pathlib import Path
from typing import Any

from socbot.core.events import Event
from socbot.detections.rule import Match, Rule

LICENCE = "DRL-1.1"  # the Sigma rules' Detection Rule License: keep author and references
LEVELS = {"informational": "info", "low": "low", "medium": "medium", "high": "high",
          "critical": "critical"}
Matcher = Callable[[Event], bool]


class SigmaRefused(ValueError):
    """A Sigma rule socbot cannot evaluate as written; the message says why."""


@cache
def field_map() -> dict[str, dict[str, Any]]:
    """The field mapping per socbot dataset (``fields.json``)."""
    data = json.loads((Path(__file__).with_name("fields.json")).read_text())
    return {k: v for k, v in data.items() if not k.startswith("_")}


def dataset_of(product: str, service: str, category: str) -> str:
    """The socbot dataset whose events a Sigma log source describes; SigmaRefused if none."""
    if category:
        raise SigmaRefused(f"log source category {category!r}: socbot has no such events "
                           "(it reads CloudTrail and Linux auth logs)")
    for dataset, spec in field_map().items():
        if [product, service] in spec["logsources"]:
            return dataset
    raise SigmaRefused(f"log source {product}/{service or '-'}: socbot has no such events")


def _path(value: Any, dotted: str) -> Any:
    for part in dotted.split("."):
        if isinstance(value, Mapping):
            value = value.get(part)
        else:
            return None
    return value


def _reader(dataset: str, field: str) -> Callable[[Event], Any]:
    spec = field_map()[dataset]
    if field in spec["fields"]:
        name = spec["fields"][field]
        return lambda event: event.get(name)
    if spec["record"] is None:
        raise SigmaRefused(f"field {field!r}: the {dataset} events have no such field "
                           f"(known: {', '.join(sorted(spec['fields']))})")
    record = spec["record"]
    return lambda event: _path(event.get(record), field)


def _string_pattern(value: Any, contains: bool) -> re.Pattern[str]:
    from sigma.types import SigmaCasedString, SpecialChars

    if value.contains_placeholder():
        raise SigmaRefused("placeholders (|expand) need values socbot does not have")
    parts = []
    for part in value.s:
        if part is SpecialChars.WILDCARD_MULTI:
            parts.append(".*")
        elif part is SpecialChars.WILDCARD_SINGLE:
            parts.append(".")
        else:
            parts.append(re.escape(str(part)))
    body = "".join(parts)
    flags = re.DOTALL | (0 if isinstance(value, SigmaCasedString) else re.IGNORECASE)
    return re.compile(body if contains else f"(?:{body})\\Z", flags)


def _value_test(value: Any, keyword: bool = False) -> Callable[[Any], bool]:
    """A test of one field value (or of the keyword text) against one Sigma value."""
    from sigma import types

    if isinstance(value, types.SigmaString):
        pattern = _string_pattern(value, contains=keyword)
        find = pattern.search if keyword else pattern.match
        return lambda found: found is not None and not isinstance(found, (dict, list)) \
            and find(_text(found)) is not None
    if isinstance(value, types.SigmaBool):
        return lambda found: found is value.boolean or _text(found) == str(value.boolean).lower()
    if isinstance(value, types.SigmaNumber):
        return lambda found: _number(found) == value.number
    if isinstance(value, types.SigmaNull):
        return lambda found: found is None or found == ""
    if isinstance(value, types.SigmaExists):
        return lambda found: (found is not None) is value.exists
    if isinstance(value, types.SigmaRegularExpression):
        flags = 0
        for flag in value.flags:
            flags |= {"IGNORECASE": re.IGNORECASE, "MULTILINE": re.MULTILINE,
                      "DOTALL": re.DOTALL}.get(getattr(flag, "name", ""), 0)
        pattern = re.compile(str(value.regexp), flags)
        return lambda found: found is not None and pattern.search(_text(found)) is not None
    if isinstance(value, types.SigmaCIDRExpression):
        network = value.network

        def in_network(found: Any) -> bool:
            try:
                return ipaddress.ip_address(str(found)) in network
            except ValueError:
                return False
        return in_network
    if isinstance(value, types.SigmaCompareExpression):
        ops = {"LT": float.__lt__, "LTE": float.__le__, "GT": float.__gt__, "GTE": float.__ge__}
        compare = ops[value.op.name]
        limit = float(value.number.number)
        return lambda found: _number(found) is not None and compare(float(_number(found) or 0),
                                                                    limit)
    raise SigmaRefused(f"value type {type(value).__name__} is not supported")


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


def _number(value: Any) -> float | None:
    try:
        return float(value) if not isinstance(value, bool) else None
    except (TypeError, ValueError):
        return None


def _matcher(node: Any, dataset: str) -> Matcher:
    """The matcher of one node of pySigma's parsed condition tree."""
    from sigma import conditions as c

    if isinstance(node, c.ConditionAND):
        parts = [_matcher(a, dataset) for a in node.args]
        return lambda event: all(p(event) for p in parts)
    if isinstance(node, c.ConditionOR):
        parts = [_matcher(a, dataset) for a in node.args]
        return lambda event: any(p(event) for p in parts)
    if isinstance(node, c.ConditionNOT):
        [inner] = [_matcher(a, dataset) for a in node.args]
        return lambda event: not inner(event)
    if isinstance(node, c.ConditionFieldEqualsValueExpression):
        read = _reader(dataset, node.field)
        test = _value_test(node.value)

        def field_matches(event: Event) -> bool:
            found = read(event)
            if isinstance(found, list):
                return any(test(item) for item in found) if found else test(None)
            return test(found)
        return field_matches
    if isinstance(node, c.ConditionValueExpression):
        name = field_map()[dataset]["keywords"]
        test = _value_test(node.value, keyword=True)
        return lambda event: test(event.get(name))
    raise SigmaRefused(f"condition element {type(node).__name__} is not supported")


def _mitre(tags: list[Any]) -> tuple[str, ...]:
    found = []
    for tag in tags:
        if getattr(tag, "namespace", "") == "attack" and re.fullmatch(r"t\d{4}(\.\d{3})?",
                                                                       str(tag.name)):
            found.append(str(tag.name).upper())
    return tuple(found) or ("TA0001",)


def compile_rule(text: str) -> Rule:
    """A socbot rule from one Sigma rule's YAML; :class:`SigmaRefused` says why not."""
    from sigma.exceptions import SigmaError
    from sigma.rule import SigmaRule

    try:
        sigma = SigmaRule.from_yaml(text)
    except SigmaError as exc:
        raise SigmaRefused(f"not a valid Sigma rule: {exc}") from None
    if sigma.id is None:
        raise SigmaRefused("the rule has no id (socbot keys imported rules by it)")
    logsource = sigma.logsource
    dataset = dataset_of(str(logsource.product or ""), str(logsource.service or ""),
                         str(logsource.category or ""))
    try:
        trees = [condition.parse() for condition in sigma.detection.parsed_condition]
    except SigmaError as exc:
        raise SigmaRefused(f"condition cannot be read: {exc}") from None
    matchers = [_matcher(tree, dataset) for tree in trees]
    rule_id = f"sigma.{sigma.id}"
    references = [str(r) for r in sigma.references or []]
    context = {"sigma.id": str(sigma.id), "sigma.author": str(sigma.author or ""),
               "sigma.licence": LICENCE, "sigma.references": " ".join(references),
               "rule.origin": f"sigma:{sigma.id}"}
    title = str(sigma.title)

    def sigma_rule(event: Event) -> Match | None:
        """One imported Sigma rule."""
        if not any(m(event) for m in matchers):
            return None
        return Match(context=context)

    level = str(getattr(sigma.level, "name", sigma.level) or "medium").lower()
    description = str(sigma.description or title).strip()
    return Rule(id=rule_id, title=title, severity=LEVELS.get(level, "medium"),
                datasets=(dataset,), function=sigma_rule, actions=None,
                mitre=_mitre(list(sigma.tags or [])),
                runbook=f"{description} (Sigma rule by {sigma.author or 'unknown'}; "
                        f"{LICENCE}; references: {' '.join(references) or 'none'})",
                description=description, dedup_window_s=3600, origin=f"sigma:{sigma.id}",
                # one alert per rule and caller (CloudTrail) or address (logs)
                dedup_by="user.name" if dataset == "cloudtrail" else "source.ip",
                entity_type="aws_principal" if dataset == "cloudtrail" else "ip")
