"""RuleContext's address lookups: the same answers whether or not anything is configured, and
memory that a flood of new addresses cannot grow without bound."""

from __future__ import annotations

import pytest

from socbot.core.config import Settings
from socbot.detections import context as context_module
from socbot.detections.context import RuleContext

CONFIGURED = Settings.model_validate({
    "office_cidrs": ["192.0.2.0/24"],
    "detection": {
        "home_countries": ["DE"],
        "ip_locations": [{"cidr": "203.0.113.0/24", "country": "ru", "lat": 55.7, "lon": 37.6}],
        "sites": {"berlin": {"country": "de", "lat": 52.5, "lon": 13.4,
                             "wifi_subnets": ["10.50.0.0/16"]}},
    },
})
ADDRESSES = ("192.0.2.9", "203.0.113.4", "10.50.3.4", "8.8.8.8", "10.9.9.9", "::1",
             "not an address", "", None, 7, ["192.0.2.9"])


def test_nothing_configured_places_no_address() -> None:
    ctx = RuleContext()
    for ip in ADDRESSES:
        assert ctx.where(ip) is None
        assert ctx.site_of_ip(ip) is None
        assert ctx.in_office(ip) is False
        assert ctx.remote_reason(ip) is None
        assert ctx.intel_feed(ip) is None


def test_configured_places_answer_per_address() -> None:
    ctx = RuleContext(CONFIGURED)
    answers = {ip: (ctx.where(ip), ctx.site_of_ip(ip), ctx.in_office(ip), ctx.remote_reason(ip))
               for ip in ADDRESSES if isinstance(ip, str)}
    assert answers["192.0.2.9"] == (None, None, True, None)
    assert answers["203.0.113.4"] == ({"country": "RU", "lat": 55.7, "lon": 37.6}, None, False,
                                      "from RU")
    assert answers["10.50.3.4"] == ({"country": "DE", "lat": 52.5, "lon": 13.4,
                                     "site": "berlin"}, "berlin", False, None)
    assert answers["8.8.8.8"] == (None, None, False, "from outside the offices")
    assert answers["10.9.9.9"] == (None, None, False, None)  # private: internal
    assert answers["not an address"] == (None, None, False, None)
    # Asked again, from what the context remembers: the same.
    assert ctx.where("203.0.113.4") == answers["203.0.113.4"][0]


def test_only_locations_without_home_countries_make_nothing_remote() -> None:
    ctx = RuleContext(Settings.model_validate({"detection": {"ip_locations": [
        {"cidr": "203.0.113.0/24", "country": "RU"}]}}))
    assert ctx.where("203.0.113.4") == {"country": "RU", "lat": None, "lon": None}
    assert ctx.remote_reason("203.0.113.4") is None


def test_a_flood_of_new_addresses_does_not_grow_the_remembered_places(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(context_module, "_CACHE_MAX", 50)
    ctx = RuleContext(CONFIGURED)
    for n in range(1000):
        ctx.where(f"198.18.{n // 250}.{n % 250}")
    assert len(ctx._ip_cache) <= 51
    assert ctx.where("203.0.113.4") == {"country": "RU", "lat": 55.7, "lon": 37.6}
