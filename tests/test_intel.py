"""Threat-intelligence feeds: plain lists, STIX 2 bundles and MISP CSV read into Redis, picked
up by the detect worker, and raising correlation.threat_intel_address on a listed address.

The STIX bundle follows the STIX 2.1 specification's indicator and ipv4-addr examples; the MISP
CSV has the columns of MISP's CSV export (uuid, event_id, category, type, value, ...)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import redis

from socbot.bot.cli import main
from socbot.core import keys
from socbot.core.config import DetectionIntelFeed, Settings
from socbot.core.events import dumps
from socbot.detections.engine import Engine
from socbot.detections.rule import load_all
from socbot.detections.worker import DetectionWorker
from socbot.enrichment.intel import parse_list, parse_misp, parse_stix, refresh

PLAIN = """# known scanners
203.0.113.66
198.51.100.128/25   # a hosting range
2001:db8::dead  22
not-an-address
"""
STIX = json.dumps({"type": "bundle", "id": "bundle--5d0092c5-5f74-4287-9642-33f4c354e56d",
                   "objects": [
                       {"type": "indicator", "spec_version": "2.1",
                        "id": "indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f",
                        "pattern": "[ipv4-addr:value = '192.0.2.44']", "pattern_type": "stix",
                        "valid_from": "2026-11-01T00:00:00Z"},
                       {"type": "indicator", "spec_version": "2.1",
                        "id": "indicator--0c2bb9a5-53f4-4c1c-9e69-6ac1bdbd3bd5",
                        "pattern": "[file:hashes.'SHA-256' = 'aec070645fe53ee3b3763059376134f0"
                                   "58cc337247c978add178b6ccdfb0019f']", "pattern_type": "stix",
                        "valid_from": "2026-11-01T00:00:00Z"},
                       {"type": "ipv4-addr", "spec_version": "2.1",
                        "id": "ipv4-addr--ff26c055-6336-5bc5-b98d-13d6226742dd",
                        "value": "192.0.2.45"}]})
MISP = """uuid,event_id,category,type,value,comment,to_ids,date,object_relation
5f1c2e50-0001,42,Network activity,ip-dst,192.0.2.77,C2,1,1763856000,
5f1c2e50-0002,42,Network activity,ip-src|port,192.0.2.78|443,,1,1763856000,
5f1c2e50-0003,42,Network activity,domain,evil.example,,1,1763856000,
"""


def test_each_format_yields_its_addresses() -> None:
    assert list(parse_list(PLAIN)) == ["203.0.113.66", "198.51.100.128/25", "2001:db8::dead"]
    assert list(parse_stix(STIX)) == ["192.0.2.44", "192.0.2.45"]
    assert list(parse_misp(MISP)) == ["192.0.2.77", "192.0.2.78"]


def _feeds(tmp_path: Path) -> list[DetectionIntelFeed]:
    for name, text in (("plain.txt", PLAIN), ("taxii.json", STIX), ("misp.csv", MISP)):
        (tmp_path / name).write_text(text)
    return [DetectionIntelFeed(name="scanners", path=str(tmp_path / "plain.txt")),
            DetectionIntelFeed(name="taxii", path=str(tmp_path / "taxii.json"), format="stix"),
            DetectionIntelFeed(name="misp", path=str(tmp_path / "misp.csv"), format="misp")]


def test_a_failing_feed_keeps_its_previous_entries(tmp_path: Path,
                                                   redis_client: redis.Redis) -> None:
    feeds = _feeds(tmp_path)
    first = refresh(redis_client, feeds)
    assert first.entries == {"scanners": 3, "taxii": 2, "misp": 2} and not first.failed
    (tmp_path / "taxii.json").write_text("{not json")
    second = refresh(redis_client, feeds)
    assert "taxii" in second.failed
    assert redis_client.hget(keys.INTEL_ADDRESSES, "192.0.2.44") == b"taxii"
    assert int(redis_client.get(keys.INTEL_VERSION) or 0) == 2


def test_the_detect_worker_picks_up_a_refresh(tmp_path: Path,
                                              redis_client: redis.Redis) -> None:
    worker = DetectionWorker(redis_client, Engine(redis_client, load_all(),
                                                  settings=Settings()))
    event = {"@timestamp": "2026-11-23T03:00:00Z", "event.id": "e1", "event.dataset": "secure",
             "event.action": "ssh_login", "event.outcome": "success", "user.name": "ann",
             "source.ip": "192.0.2.77", "host.name": "bastion", "message": "Accepted"}
    worker.handle_batch([("1-0", {"e": dumps(event)})])
    assert worker.engine.context.intel_feed("192.0.2.77") is None  # nothing refreshed yet
    refresh(redis_client, _feeds(tmp_path))
    engine = worker.engine
    worker.handle_batch([("2-0", {"e": dumps({**event, "event.id": "e2"})})])
    assert engine.context.intel_feed("192.0.2.77") == "misp"
    signals = engine.evaluate({**event, "event.id": "e3"})
    [hit] = [s for s in signals if s.rule_id == "correlation.threat_intel_address"]
    assert hit.severity == "high" and hit.context["feed"] == "misp"


def test_intel_refresh_command(tmp_path: Path, redis_url: str,
                               monkeypatch: pytest.MonkeyPatch,
                               capsys: pytest.CaptureFixture[str],
                               redis_client: redis.Redis) -> None:
    (tmp_path / "plain.txt").write_text(PLAIN)
    config = tmp_path / "socbot.yml"
    config.write_text("detection:\n  intel_feeds:\n    - name: scanners\n"
                      f"      path: {tmp_path / 'plain.txt'}\n")
    monkeypatch.setenv("REDIS_URL", redis_url)
    assert main(["--config", str(config), "intel", "refresh"]) == 0
    assert '"scanners": 3' in capsys.readouterr().err
    assert redis_client.hget(keys.INTEL_ADDRESSES, "203.0.113.66") == b"scanners"


def test_the_bot_refreshes_the_feeds_on_its_schedule(tmp_path: Path,
                                                     redis_client: redis.Redis) -> None:
    import io
    import time

    from socbot.bot.runtime import Runtime
    from socbot.core.config import Secrets

    (tmp_path / "plain.txt").write_text(PLAIN)
    settings = Settings.model_validate({"detection": {"intel_feeds": [
        {"name": "scanners", "path": str(tmp_path / "plain.txt")}]}})
    runtime = Runtime(redis_client, settings, Secrets(), roles=("detect",),
                      out=io.StringIO()).build()
    assert "intel" in [thread.name for thread in runtime.threads]
    runtime.start(health=False)
    try:
        deadline = time.monotonic() + 10
        while not redis_client.hexists(keys.INTEL_ADDRESSES, "203.0.113.66"):
            assert time.monotonic() < deadline, "the intel thread did not refresh"
            time.sleep(0.05)
    finally:
        runtime.close()
