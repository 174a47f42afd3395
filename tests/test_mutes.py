"""Mutes end by themselves and silence exactly what they name."""

from __future__ import annotations

import time

import pytest
import redis

from socbot.core.mutes import MuteStore


def test_an_entity_mute_silences_that_entity_only(redis_client: redis.Redis) -> None:
    mutes = MuteStore(redis_client)
    mutes.mute("r", "203.0.113.7", seconds=60, by="U1", reason="our scanner")
    muted = mutes.is_muted("r", "203.0.113.7")
    assert muted is not None and muted.by == "U1" and muted.reason == "our scanner"
    assert mutes.is_muted("r", "203.0.113.8") is None
    assert mutes.is_muted("other", "203.0.113.7") is None


def test_a_rule_mute_silences_every_entity(redis_client: redis.Redis) -> None:
    mutes = MuteStore(redis_client)
    mutes.mute("r", None, seconds=60, by="U1")
    assert mutes.is_muted("r", "anything") is not None


def test_a_mute_expires_by_itself(redis_client: redis.Redis) -> None:
    mutes = MuteStore(redis_client)
    mutes.mute("r", "x", seconds=1, by="U1")
    assert [m.entity for m in mutes.active()] == ["x"]
    time.sleep(1.1)
    assert mutes.is_muted("r", "x") is None
    assert mutes.active() == []


def test_unmute_and_bounds(redis_client: redis.Redis) -> None:
    mutes = MuteStore(redis_client)
    mutes.mute("r", "x", seconds=60, by="U1")
    assert mutes.unmute("r", "x") and mutes.is_muted("r", "x") is None
    with pytest.raises(ValueError, match="30 days"):
        mutes.mute("r", "x", seconds=31 * 86400, by="U1")
