"""Enrichment: each source answers from its real backend, is cached, and fails soft."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
import redis
from moto_server import ACCOUNT, REGION, MotoServer
from redis.backoff import NoBackoff
from redis.retry import Retry

from socbot.core.alerts import AlertStore, Signal
from socbot.core.config import Settings
from socbot.core.eventstore import EventStore
from socbot.enrichment import Enricher, SourceUnavailable, summary_lines
from socbot.enrichment.aws import LocalSessions

AWS_CONTEXT = {"cloud.account.id": ACCOUNT, "cloud.region": REGION}


class FixedHistory:
    """An event history that answers from a dict and records the questions."""

    def __init__(self, answers: dict[tuple[str, str], dict[str, Any]]) -> None:
        self.answers = answers
        self.asked: list[tuple[str, str]] = []

    def history(self, field: str, value: str, since: float) -> dict[str, Any]:
        self.asked.append((field, value))
        return self.answers.get((field, value), {"events_24h": 0, "first_seen": None})


class BrokenHistory:
    def history(self, field: str, value: str, since: float) -> dict[str, Any]:
        raise SourceUnavailable("event store unreachable")


def make(client: redis.Redis | None, settings: Settings | None = None,
         **kw: Any) -> Enricher:
    kw.setdefault("history", FixedHistory({}))
    return Enricher(client, settings or Settings(), **kw)


def seed_aws() -> dict[str, str]:
    iam = boto3.client("iam")
    iam.create_account_alias(AccountAlias="acme-prod")
    iam.create_user(UserName="alice")
    iam.create_group(GroupName="admins")
    iam.add_user_to_group(GroupName="admins", UserName="alice")
    key = iam.create_access_key(UserName="alice")["AccessKey"]["AccessKeyId"]
    serial = iam.create_virtual_mfa_device(VirtualMFADeviceName="alice")[
        "VirtualMFADevice"]["SerialNumber"]
    iam.enable_mfa_device(UserName="alice", SerialNumber=serial,
                          AuthenticationCode1="123456", AuthenticationCode2="654321")
    ec2 = boto3.client("ec2")
    vpc = ec2.describe_vpcs()["Vpcs"][0]["VpcId"]
    group = ec2.create_security_group(GroupName="web", Description="web", VpcId=vpc)["GroupId"]
    image = ec2.describe_images()["Images"][0]["ImageId"]
    instance = ec2.run_instances(
        ImageId=image, MinCount=1, MaxCount=1, SecurityGroupIds=[group],
        TagSpecifications=[{"ResourceType": "instance", "Tags": [
            {"Key": "Name", "Value": "web-1"}, {"Key": "Owner", "Value": "team-web"}]}],
    )["Instances"][0]["InstanceId"]
    return {"key": key, "group": group, "instance": instance}


def test_geoip_gives_country_and_as_offline(redis_client: redis.Redis) -> None:
    found = make(redis_client).enrich({}, {"type": "ip", "value": "8.8.8.8"})
    assert found["ip"] == "8.8.8.8"
    assert found["geoip"]["country_code"] == "US"
    assert found["geoip"]["as_org"] == "GOOGLE"
    assert found["unavailable"] == {}


def test_geoip_knows_ipv6_and_marks_private_addresses(redis_client: redis.Redis) -> None:
    enricher = make(redis_client)
    assert enricher.enrich({"source.ip": "2001:4860:4860::8888"}, {})["geoip"][
        "country_code"] == "US"
    assert enricher.enrich({"source.ip": "10.1.2.3"}, {})["geoip"] == {"scope": "private"}


@pytest.mark.parametrize("ip", ["203.0.113.7", "198.51.100.23", "192.0.2.1", "2001:db8::1"])
def test_documentation_range_addresses_are_not_called_private(
        redis_client: redis.Redis, ip: str) -> None:
    enricher = make(redis_client)
    assert enricher.enrich({"source.ip": ip}, {})["geoip"] == {"scope": "documentation-range"}


def test_office_and_vpn_ranges_are_labelled_most_specific_first(
        redis_client: redis.Redis) -> None:
    settings = Settings.model_validate({
        "office_cidrs": ["10.0.0.0/8"],
        "enrichment": {"vpn_cidrs": ["10.8.0.0/16"],
                       "network_labels": {"10.20.0.0/16": "Berlin office"}},
    })
    enricher = make(redis_client, settings)
    assert enricher.enrich({"source.ip": "10.8.1.1"}, {})["network"] == {
        "kind": "vpn", "label": "VPN", "cidr": "10.8.0.0/16"}
    assert enricher.enrich({"source.ip": "10.20.1.1"}, {})["network"]["label"] == "Berlin office"
    assert enricher.enrich({"source.ip": "10.9.1.1"}, {})["network"]["kind"] == "office"
    assert "network" not in enricher.enrich({"source.ip": "8.8.8.8"}, {})


def test_a_bad_cidr_in_the_config_says_what_to_write() -> None:
    with pytest.raises(ValueError, match="such as 10.20.0.0/16"):
        Settings.model_validate({"enrichment": {"vpn_cidrs": ["10.8.0.0/33"]}})


def test_aws_context_of_an_iam_user_and_an_instance(aws: MotoServer,
                                                    redis_client: redis.Redis) -> None:
    made = seed_aws()
    context = {**AWS_CONTEXT, "iam_user": "alice", "instance_id": made["instance"]}
    found = make(redis_client).enrich(context, {"type": "instance", "value": made["instance"]})
    assert found["unavailable"] == {}
    context_aws = found["aws"]
    assert context_aws["account_alias"] == "acme-prod"
    user = context_aws["iam_user"]
    assert user["mfa_devices"] == 1
    assert user["groups"] == ["admins"]
    assert [k["id"] for k in user["access_keys"]] == [made["key"]]
    assert user["access_keys"][0]["age_days"] == 0
    instance = context_aws["instance"]
    assert (instance["name"], instance["owner"]) == ("web-1", "team-web")
    assert [g["id"] for g in instance["security_groups"]] == [made["group"]]
    assert instance["public_ip"]


def test_an_access_key_leads_to_its_user(aws: MotoServer, redis_client: redis.Redis) -> None:
    made = seed_aws()
    found = make(redis_client).enrich({**AWS_CONTEXT, "access_key_id": made["key"]}, {})
    assert found["aws"]["iam_user"]["user"] == "alice"


def test_aws_answers_are_cached_until_their_ttl(aws: MotoServer,
                                                redis_client: redis.Redis) -> None:
    seed_aws()
    enricher = make(redis_client)
    context = {**AWS_CONTEXT, "iam_user": "alice"}
    assert enricher.enrich(context, {})["aws"]["iam_user"]["groups"] == ["admins"]
    boto3.client("iam").remove_user_from_group(GroupName="admins", UserName="alice")
    assert enricher.enrich(context, {})["aws"]["iam_user"]["groups"] == ["admins"]
    ttl = redis_client.ttl(enricher.cache.key("aws.user", f"{ACCOUNT}|alice"))
    assert 0 < ttl <= Settings().enrichment.aws_ttl_s
    for key in redis_client.scan_iter("{soc}:enrich:aws.user:*"):
        redis_client.delete(key)  # what expiry does
    assert enricher.enrich(context, {})["aws"]["iam_user"]["groups"] == []


def test_unreachable_aws_fails_soft_and_says_why(redis_client: redis.Redis,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # nothing listens there
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    settings = Settings.model_validate({"enrichment": {"aws_timeout_s": 1}})
    found = make(redis_client, settings).enrich(
        {**AWS_CONTEXT, "iam_user": "alice", "source.ip": "8.8.8.8"}, {})
    assert found["geoip"]["country_code"] == "US"
    assert "aws" not in found
    assert "EndpointConnectionError" in found["unavailable"]["aws.account"]
    assert "aws.iam_user" in found["unavailable"]


def test_a_failure_is_remembered_briefly(redis_client: redis.Redis) -> None:
    class Refusing(LocalSessions):
        calls = 0

        def session(self, account_id: str, region: str) -> boto3.Session:
            Refusing.calls += 1
            raise RuntimeError("AccessDenied on AssumeRole")

    enricher = make(redis_client, session_factory=Refusing())
    first = enricher.enrich(AWS_CONTEXT, {})
    second = enricher.enrich(AWS_CONTEXT, {})
    assert "AccessDenied on AssumeRole" in first["unavailable"]["aws.account"]
    assert second["unavailable"] == first["unavailable"]
    assert Refusing.calls == 1
    ttl = redis_client.ttl(enricher.cache.key("aws.account", ACCOUNT))
    assert 0 < ttl <= Settings().enrichment.failure_ttl_s


def test_fields_that_do_not_look_like_aws_ids_never_reach_aws(
        redis_client: redis.Redis) -> None:
    class Recording(LocalSessions):
        asked: list[str] = []

        def session(self, account_id: str, region: str) -> boto3.Session:
            Recording.asked.append(account_id)
            raise RuntimeError("no")

    enricher = make(redis_client, session_factory=Recording())
    found = enricher.enrich({"cloud.account.id": "12345678901x", "iam_user": "a b"}, {})
    assert Recording.asked == []
    assert "aws" not in found and found["unavailable"] == {}


def test_without_redis_enrichment_still_answers() -> None:
    # No retries: redis-py's default backoff would only make the test slow.
    dead = redis.Redis(host="127.0.0.1", port=9, socket_connect_timeout=0.2,
                       retry=Retry(NoBackoff(), 0))
    found = make(dead).enrich({"source.ip": "8.8.8.8"}, {})
    assert found["geoip"]["country_code"] == "US"


def test_badge_holder_from_the_directory(redis_client: redis.Redis) -> None:
    settings = Settings.model_validate({"detection": {"people": [
        {"name": "Ana Ruiz", "email": "ana@example.com", "badge_ids": ["4711", "4712"],
         "accounts": ["aruiz"], "status": "terminated"}]}})
    enricher = make(redis_client, settings)
    found = enricher.enrich({"event.dataset": "door", "door.badge_id": "4712"}, {})
    assert found["badge"] == {"name": "Ana Ruiz", "email": "ana@example.com",
                              "status": "terminated", "matched_on": "badge_id"}
    by_mail = enricher.enrich({"event.dataset": "door", "user.email": "ANA@example.com"}, {})
    assert by_mail["badge"]["matched_on"] == "email"
    unknown = enricher.enrich({"event.dataset": "door", "door.badge_id": "9"}, {})
    assert "badge" not in unknown and unknown["unavailable"] == {}


def test_door_alert_without_a_directory_says_so(redis_client: redis.Redis) -> None:
    found = make(redis_client).enrich({"door.badge_id": "4711"}, {})
    assert "badge directory" in found["unavailable"]["badge"]


def test_access_point_inventory_flags_an_evil_twin(redis_client: redis.Redis) -> None:
    settings = Settings.model_validate({"detection": {
        "authorized_aps": [{"ssid": "corp", "bssid": "AA:BB:CC:00:00:01"}],
        "corporate_ssids": ["corp-guest"]}})
    enricher = make(redis_client, settings)
    ours = enricher.enrich({"wifi.bssid": "aa:bb:cc:00:00:01", "wifi.ssid": "corp"}, {})
    assert ours["access_point"]["authorized"] is True
    assert ours["access_point"]["ssid_matches"] is True
    guest = enricher.enrich({"wifi.bssid": "de:ad:be:ef:00:02", "wifi.ssid": "corp-guest"}, {})
    assert guest["access_point"]["ssid_impersonated"] is True
    stranger = enricher.enrich({"wifi.bssid": "de:ad:be:ef:00:03", "wifi.ssid": "cafe"}, {})
    assert stranger["access_point"]["ssid_impersonated"] is False
    twin = enricher.enrich({"wifi.bssid": "de:ad:be:ef:00:01", "wifi.ssid": "corp"}, {})
    assert twin["access_point"]["authorized"] is False
    assert twin["access_point"]["ssid_impersonated"] is True


def test_entity_history_for_ip_user_and_host(redis_client: redis.Redis) -> None:
    history = FixedHistory({("source.ip", "8.8.8.8"): {"events_24h": 41,
                                                       "first_seen": 1763856000.0}})
    found = make(redis_client, history=history).enrich(
        {"source.ip": "8.8.8.8", "user.name": "root", "host.name": "web1"}, {})
    assert found["history"]["source.ip"] == {"events_24h": 41, "first_seen": 1763856000.0}
    assert set(found["history"]) == {"source.ip", "user.name", "host.name"}
    assert sorted(history.asked) == [("host.name", "web1"), ("source.ip", "8.8.8.8"),
                                     ("user.name", "root")]


def test_history_from_the_event_store(redis_client: redis.Redis) -> None:
    now = 1_763_900_000.0
    clock = [now - 30 * 3600]
    store = EventStore(redis_client, clock=lambda: clock[0])

    def event(n: int) -> dict[str, Any]:
        return {"@timestamp": "2025-11-23T10:00:00Z", "event.id": f"h{n}",
                "event.dataset": "secure", "event.action": "ssh_login",
                "event.outcome": "failure", "source.ip": "8.8.8.8", "user.name": "root"}

    store.add(event(0))  # 30 h ago: first seen, but not in the last 24 h
    for n in range(1, 4):
        clock[0] = now - n * 60
        store.add(event(n))
    enricher = Enricher(redis_client, Settings(), clock=lambda: now)
    found = enricher.enrich({"source.ip": "8.8.8.8", "user.name": "root"}, {})
    assert found["history"]["source.ip"]["events_24h"] == 3
    assert found["history"]["source.ip"]["first_seen"] == pytest.approx(now - 30 * 3600, abs=1)
    assert found["history"]["user.name"]["events_24h"] == 3
    never = enricher.enrich({"source.ip": "1.1.1.1"}, {})
    assert never["history"]["source.ip"] == {"events_24h": 0, "capped": False,
                                             "first_seen": None, "window_h": 72}


def test_missing_history_is_reported_not_raised(redis_client: redis.Redis) -> None:
    found = make(redis_client, history=BrokenHistory()).enrich({"source.ip": "8.8.8.8"}, {})
    assert found["unavailable"]["history"] == "event store unreachable"
    assert found["geoip"]["country_code"] == "US"


def test_an_alert_is_enriched_once_and_kept(aws: MotoServer, redis_client: redis.Redis) -> None:
    seed_aws()
    signal = Signal(rule_id="cloudtrail.test", title="t", severity="high", dedup_key="k",
                    entity={"type": "ip", "value": "8.8.8.8"}, event_ids=["e1"],
                    timestamp=1763856000.0, dataset="cloudtrail",
                    context={**AWS_CONTEXT, "iam_user": "alice"})
    alert_id, _ = AlertStore(redis_client).record(signal)
    alert = AlertStore(redis_client).get(alert_id)
    assert alert is not None
    enricher = make(redis_client)
    first = enricher.for_alert(alert)
    assert first["geoip"]["country_code"] == "US"
    assert first["aws"]["iam_user"]["user"] == "alice"
    stored = json.loads(redis_client.get(f"{{soc}}:enrich:alert:{alert_id}"))
    assert stored == first
    boto3.client("iam").remove_user_from_group(GroupName="admins", UserName="alice")
    for key in redis_client.scan_iter("{soc}:enrich:aws*"):
        redis_client.delete(key)
    assert enricher.for_alert(alert) == first


def test_summary_lines_name_each_source_and_what_was_missing(aws: MotoServer,
                                                             redis_client: redis.Redis) -> None:
    made = seed_aws()
    found = make(redis_client, history=BrokenHistory()).enrich(
        {**AWS_CONTEXT, "iam_user": "alice", "instance_id": made["instance"],
         "source.ip": "8.8.8.8"}, {})
    lines = dict(summary_lines(found))
    assert lines["GeoIP"].startswith("US (United States), GOOGLE")
    assert lines["AWS account"] == f"{ACCOUNT} (acme-prod)"
    assert lines["IAM user"].startswith("alice, MFA: 1, groups: admins, keys: AKIA")
    assert lines["Instance"].startswith(f'{made["instance"]} "web-1"; owner team-web')
    assert lines["Unavailable"] == "history: event store unreachable"


def test_turned_off_enrichment_does_nothing(redis_client: redis.Redis) -> None:
    settings = Settings.model_validate({"enrichment": {"enabled": False}})
    assert make(redis_client, settings).enrich({"source.ip": "8.8.8.8"}, {}) == {
        "unavailable": {}}
