"""Event time: ``epoch`` remembers each timestamp text and answers as parsing it would."""

from __future__ import annotations

import pytest

from socbot.core import events
from socbot.core.events import epoch, parse_timestamp


def test_epoch_answers_as_parsing_does_and_remembers_each_text() -> None:
    texts = ["2026-11-23T03:00:00Z", "2026-11-23T03:00:00.250Z", "2026-11-23T04:00:00+01:00",
             "2026-11-23T03:00:00Z"]
    for text in texts:
        assert epoch({"@timestamp": text}) == parse_timestamp(text).timestamp()
    assert epoch({"@timestamp": texts[2]}) == epoch({"@timestamp": texts[0]})  # same instant
    assert events._EPOCHS["2026-11-23T03:00:00.250Z"] == parse_timestamp(texts[1]).timestamp()


def test_the_remembered_times_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(events, "_EPOCHS", {})
    monkeypatch.setattr(events, "_EPOCHS_MAX", 10)
    for second in range(25):
        epoch({"@timestamp": f"2026-11-23T03:00:{second:02d}Z"})
    assert 0 < len(events._EPOCHS) <= 10


def test_a_timestamp_that_is_not_text_or_not_a_time_raises() -> None:
    with pytest.raises((ValueError, AttributeError)):
        epoch({"@timestamp": ["2026-11-23T03:00:00Z"]})
    with pytest.raises(ValueError):
        epoch({"@timestamp": "yesterday"})
