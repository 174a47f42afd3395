"""The Redis boundary: key names built in core/keys.py only, replies decoded in one place."""

from __future__ import annotations

import io
import tokenize
from pathlib import Path

import pytest
import redis

from socbot.core import keys, keyupgrade
from socbot.core.redisconn import connect
from socbot.core.streams import decode, decode_fields, entries, read_reply, texts

PROJECT = Path(__file__).resolve().parent.parent
PACKAGES = ("core", "bot", "collectors", "detections", "enrichment", "playbooks")
# The rule state kinds still spell their keys themselves; keys.rule_state and
# keys.rule_window give the same names for when they use them.
NOT_YET = {"detections/state/base.py", "detections/state/threshold.py"}


def test_key_names_keep_the_layout_stored_data_uses() -> None:
    # Existing Redis data outlives an upgrade: a renamed key would orphan it (the one rename
    # so far, soc: -> {soc}:, is carried out by core.keyupgrade).
    assert [keys.EVENTS, keys.ALERTS, keys.ACTIONS, keys.DEAD_LETTERS, keys.AUDIT] == [
        "{soc}:events", "{soc}:alerts", "{soc}:actions", "{soc}:dead", "{soc}:audit"]
    assert keys.alert("A1") == "{soc}:alert:A1"
    assert keys.alert_events("A1") == "{soc}:alert:A1:events"
    assert keys.alert_signals("A1") == "{soc}:alert:A1:signals"
    assert keys.alert_actions("A1") == "{soc}:alert:A1:actions"
    assert keys.dedup("r.x", "k") == "{soc}:dedup:r.x:k"
    assert keys.action("R1") == "{soc}:action:R1"
    assert keys.action_approvers("R1") == "{soc}:action:R1:approvers"
    assert keys.action_log("R1") == "{soc}:action:R1:log"
    assert keys.mute("r.x", "*") == "{soc}:mute:r.x:*"
    assert keys.event_index("ip", "203.0.113.7") == "{soc}:es:ix:ip:203.0.113.7"
    assert keys.cloudtrail_seen("e-1") == "{soc}:seen:ct:e-1"
    assert keys.spool_done("secure", "ab12") == "{soc}:spool:done:secure:ab12"
    assert keys.rule_state("r.x", "k", "seen") == "{soc}:st:r.x:k:seen"
    assert keys.rule_window("r.x", "k") == "{soc}:win:r.x:k"
    assert keys.notify_result("R1", "succeeded") == "{soc}:notify:result:R1:succeeded"
    assert keys.verify("A1") == "{soc}:verify:A1"


def test_every_key_is_in_the_one_slot_of_the_soc_hash_tag() -> None:
    from redis.crc import key_slot

    built = [keys.EVENTS, keys.ALERTS, keys.alert("A1"), keys.alert_signals("A1"),
             keys.dedup("r.x", "k"), keys.action("R1"), keys.mute("r.x", "*"),
             keys.event_index("user", "{evil}"), keys.rule_window("r.x", "{k}"),
             keys.rule_state("r.x", "k", "seen"), keys.cloudtrail_seen("e-1"),
             keys.enrichment("aws.user", "a{b}c"), keys.slack_click("U1", "ack", "1.2"),
             keys.rollup_members("R1"), keys.TAIL_POSITION_PREFIX + "/var/log/{x}"]
    # Text from a log may hold braces: only the first {...} of a key is its hash tag.
    assert {key_slot(key.encode()) for key in built} == {key_slot(b"{soc}")}


def _old_layout(client: redis.Redis) -> None:
    client.xadd("soc:events", {"e": "{}"})
    client.xgroup_create("soc:events", "detect", id="0")
    client.hset("soc:alert:A1", "count", 3)
    client.expire("soc:alert:A1", 600)
    client.hset("soc:pos:/var/log/secure", mapping={"file_id": "1:2", "offset": 4096})


def test_an_upgrade_renames_the_earlier_layout_keeping_groups_and_expiry(
        redis_client: redis.Redis) -> None:
    _old_layout(redis_client)
    done = keyupgrade.upgrade(redis_client)
    assert (done.renamed, done.kept) == (3, [])
    assert not list(redis_client.scan_iter("soc:*"))
    assert redis_client.xinfo_groups(keys.EVENTS)[0]["name"] == b"detect"
    assert 0 < redis_client.ttl(keys.alert("A1")) <= 600
    assert redis_client.hget(keys.TAIL_POSITION_PREFIX + "/var/log/secure", "offset") == b"4096"
    assert keyupgrade.upgrade(redis_client).renamed == 0  # a current database: nothing to do


def test_an_upgrade_keeps_a_key_whose_new_name_is_taken_and_says_so(
        redis_client: redis.Redis, caplog: pytest.LogCaptureFixture) -> None:
    _old_layout(redis_client)
    redis_client.hset(keys.alert("A1"), "count", 9)  # written by the new version already
    done = keyupgrade.upgrade(redis_client)
    assert done.kept == ["soc:alert:A1"]
    assert redis_client.hget(keys.alert("A1"), "count") == b"9"
    assert redis_client.hget("soc:alert:A1", "count") == b"3"
    assert "kept 1 soc:... keys" in caplog.text and "soc:alert:A1" in caplog.text


def test_connect_upgrades_an_earlier_database(redis_url: str,
                                              redis_client: redis.Redis) -> None:
    _old_layout(redis_client)
    connect(redis_url, env={})
    assert redis_client.xlen(keys.EVENTS) == 1 and not redis_client.exists("soc:events")


def test_an_enrichment_key_from_long_or_odd_text_is_hashed() -> None:
    assert keys.enrichment("aws.user", "alice") == "{soc}:enrich:aws.user:alice"
    long_key = keys.enrichment("aws.user", "a" * 500)
    odd_key = keys.enrichment("aws.user", "alice\nbob")
    assert long_key.startswith("{soc}:enrich:aws.user:h:") and len(long_key) < 100
    assert odd_key.startswith("{soc}:enrich:aws.user:h:") and "\n" not in odd_key


# Python 3.12 splits an f-string into tokens; its text parts are FSTRING_MIDDLE.
_FSTRING_MIDDLE = getattr(tokenize, "FSTRING_MIDDLE", tokenize.STRING)


def _key_literals(source: str) -> list[int]:
    """Lines with a string starting with ``{soc}:`` (or the earlier ``soc:``), or holding Lua
    code that quotes one."""
    found = []
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type in (tokenize.STRING, _FSTRING_MIDDLE):
            body = token.string.lstrip("rbfRBF").lstrip("'\"")
            if body.startswith(("soc:", "{soc}:")) or any(
                    quote + root in body for quote in "'\"" for root in ("soc:", "{soc}:")):
                found.append(token.start[0])
    return found


def test_no_module_but_core_keys_spells_a_key_name() -> None:
    spelled = []
    for package in PACKAGES:
        for path in sorted((PROJECT / package).rglob("*.py")):
            name = str(path.relative_to(PROJECT))
            if name not in ("core/keys.py", *NOT_YET):
                source = path.read_text(encoding="utf-8")
                spelled += [f"{name}:{line}" for line in _key_literals(source)]
    assert not spelled, f"build these key names with socbot.core.keys: {spelled}"


def test_the_literal_check_finds_a_key_in_code_and_in_lua() -> None:
    source = "\n".join([
        'A = "soc:x"',
        'B = f"soc:{A}:y"',
        "LUA = 'local k = \\'soc:alert:\\' .. id'",
        'C = "/soc: usage"',
        'E = "{soc}:events"',
        'D = "soc"',
    ]) + "\n"
    assert _key_literals(source) == [1, 2, 3, 5]


def test_replies_decode_the_same_whether_or_not_the_client_decodes(redis_url: str) -> None:
    for decoded in (False, True):
        client = redis.Redis.from_url(redis_url, decode_responses=decoded)
        try:
            client.delete("test:keys:s", "test:keys:l")
            first = client.xadd("test:keys:s", {"e": "é"})
            client.rpush("test:keys:l", "a", 2)
            assert entries(client.xrange("test:keys:s")) == [(decode(first), {"e": "é"})]
            assert texts(client.lrange("test:keys:l", 0, -1)) == ["a", "2"]
            batches = read_reply(client.xread({"test:keys:s": "0-0"}))
            assert batches == [("test:keys:s", [(decode(first), {"e": "é"})])]
            assert decode_fields({b"k": b"v"}) == {"k": "v"}
        finally:
            client.delete("test:keys:s", "test:keys:l")
            client.close()


def test_a_scored_reply_is_refused_where_a_flat_list_is_expected() -> None:
    with pytest.raises(TypeError, match="flat list"):
        texts([(b"member", 1.0)])


def test_entries_trimmed_while_pending_are_left_out() -> None:
    assert entries([(b"1-0", None), (b"2-0", {b"k": b"v"})]) == [("2-0", {"k": "v"})]
    assert entries(None) == []
