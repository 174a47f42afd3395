"""Remediation requests: who may approve, one-shot tokens, expiry."""

from __future__ import annotations

import redis

from socbot.core.actions import ActionStore
from socbot.core.streams import ACTIONS


def test_the_requester_cannot_approve_their_own_request(redis_client: redis.Redis) -> None:
    store = ActionStore(redis_client)
    action = store.create("A1", "revoke-world-ingress", "UREQ")
    decision = store.decide(action.id, "UREQ", action.token, "approve")
    assert decision.outcome == "own" and not decision.accepted
    assert store.get(action.id).status == "requested"  # type: ignore[union-attr]


def test_a_second_person_approves_and_the_token_is_spent(redis_client: redis.Redis) -> None:
    store = ActionStore(redis_client)
    action = store.create("A1", "revoke-world-ingress", "UREQ")
    decision = store.decide(action.id, "UBOSS", action.token, "approve")
    assert decision.outcome == "approved"
    assert decision.action is not None and decision.action.approvals == ["UBOSS"]
    replay = store.decide(action.id, "UBOSS", action.token, "approve")
    assert replay.outcome == "stale"


def test_a_destructive_request_needs_two_different_approvers(redis_client: redis.Redis) -> None:
    store = ActionStore(redis_client)
    action = store.create("A1", "terminate", "UREQ", approvals_required=2)
    first = store.decide(action.id, "U1", action.token, "approve")
    assert first.outcome == "partial"
    token = first.action.token  # type: ignore[union-attr]
    assert store.decide(action.id, "U1", token, "approve").outcome == "already"
    final = store.decide(action.id, "U2", token, "approve")
    assert final.outcome == "approved"
    assert final.action.approvals == ["U1", "U2"]  # type: ignore[union-attr]


def test_an_expired_request_cannot_be_approved(redis_client: redis.Redis) -> None:
    store = ActionStore(redis_client)
    action = store.create("A1", "revoke-world-ingress", "UREQ", expiry_s=60, now=1000)
    decision = store.decide(action.id, "U2", action.token, "approve", now=1061)
    assert decision.outcome == "expired"
    assert store.get(action.id).status == "expired"  # type: ignore[union-attr]


def test_a_forged_token_changes_nothing(redis_client: redis.Redis) -> None:
    store = ActionStore(redis_client)
    action = store.create("A1", "revoke-world-ingress", "UREQ")
    assert store.decide(action.id, "U2", "guess", "approve").outcome == "stale"
    assert store.decide("RNOPE", "U2", action.token, "approve").outcome == "missing"
    assert store.get(action.id).status == "requested"  # type: ignore[union-attr]


def test_a_decided_request_stays_decided(redis_client: redis.Redis) -> None:
    store = ActionStore(redis_client)
    action = store.create("A1", "revoke-world-ingress", "UREQ")
    denied = store.decide(action.id, "U2", action.token, "deny")
    assert denied.outcome == "denied"
    later = store.decide(action.id, "U3", denied.action.token, "approve")  # type: ignore[union-attr]
    assert later.outcome == "closed"


def test_move_is_compare_and_set(redis_client: redis.Redis) -> None:
    store = ActionStore(redis_client)
    action = store.create("A1", "revoke-world-ingress", "UREQ")
    assert not store.move(action.id, "approved", "running")
    store.decide(action.id, "U2", action.token, "approve")
    assert store.move(action.id, "approved", "running")
    assert not store.move(action.id, "approved", "running")


def test_the_completing_approval_queues_the_run_atomically(redis_client: redis.Redis) -> None:
    store = ActionStore(redis_client)
    action = store.create("A1", "terminate", "UREQ", approvals_required=2)
    first = store.decide(action.id, "U1", action.token, "approve")
    assert redis_client.xlen(ACTIONS) == 0
    store.decide(action.id, "U2", first.action.token, "approve")  # type: ignore[union-attr]
    entries = redis_client.xrange(ACTIONS)
    assert [fields[b"action_id"].decode() for _, fields in entries] == [action.id]
