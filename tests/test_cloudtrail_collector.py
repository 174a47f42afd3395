"""CloudTrail normalization and reading, over the real samples in ../shared/data/cloudtrail."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from socbot.collectors.cloudtrail import BadRecord, RecordError, normalize, read_file, read_path
from socbot.core.events import validate


def split(items: list) -> tuple[list[dict], list[BadRecord]]:
    events = [i for i in items if isinstance(i, dict)]
    bad = [i for i in items if isinstance(i, BadRecord)]
    assert len(events) + len(bad) == len(items)
    return events, bad


@pytest.fixture(scope="module")
def invictus(shared_data: Path) -> Path:
    return shared_data / "cloudtrail/invictus-ir-aws-dataset/CloudTrail"


def test_invictus_recording_reads_all_2900_events(invictus: Path) -> None:
    # The data README says 54 files; the folder holds 55 (2,900 records either way).
    assert len(list(invictus.glob("*.json"))) == 55
    events, bad = split(list(read_path(invictus)))
    assert (len(events), len(bad)) == (2900, 0)
    for event in events:
        validate(event)
    assert len({e["event.id"] for e in events}) == 2900


def test_invictus_events_keep_their_record_fields(invictus: Path) -> None:
    events, _ = split(list(read_path(invictus)))
    stop = next(e for e in events if e["event.action"] == "StopLogging")
    record = stop["original"]
    assert stop["event.id"] == record["eventID"]
    assert stop["event.provider"] == "cloudtrail.amazonaws.com"
    assert stop["cloud.account.id"] == record["recipientAccountId"]
    assert stop["cloud.region"] == record["awsRegion"]
    assert stop["source.ip"] == record["sourceIPAddress"]
    assert stop["message"] == f"StopLogging by {stop['user.name']} from {record['sourceIPAddress']}"
    actions = {e["event.action"] for e in events}
    assert {"DeleteTrail", "PutEventSelectors", "CreateAccessKey", "LeaveOrganization",
            "ModifySnapshotAttribute", "DeleteFlowLogs"} <= actions


def test_service_source_goes_to_source_domain(invictus: Path) -> None:
    events, _ = split(list(read_path(invictus)))
    services = [e for e in events if e["source.address"].endswith(".amazonaws.com")]
    assert services
    assert all(e["source.domain"] == e["source.address"] and "source.ip" not in e
               for e in services)
    internal = [e for e in events if e["source.address"] == "AWS Internal"]
    assert internal and all("source.ip" not in e and "source.domain" not in e for e in internal)


def test_stratus_detonation_arrays_all_parse(shared_data: Path) -> None:
    folder = shared_data / "cloudtrail/stratus-red-team/detonation-logs"
    index = [json.loads(line) for line in
             (shared_data / "cloudtrail/stratus-red-team/stratus_detonation_index.jsonl")
             .read_text().splitlines()]
    events, bad = split(list(read_path(folder)))
    assert bad == []
    assert len(events) == sum(t["n_events"] for t in index) == 310


def test_stratus_anonymised_addresses_are_not_made_into_ips_or_names(shared_data: Path) -> None:
    folder = shared_data / "cloudtrail/stratus-red-team/detonation-logs"
    events, _ = split(list(read_path(folder)))
    odd = [e for e in events if e["source.address"] == "253.252.51.07"]
    assert odd and all("source.ip" not in e and "source.domain" not in e for e in odd)


def test_error_code_makes_a_failure(shared_data: Path) -> None:
    path = shared_data / "cloudtrail/stratus-red-team/detonation-logs/" \
        "aws.credential-access.ec2-get-password-data.json"
    events, _ = split(list(read_file(path)))
    denied = [e for e in events if e["event.action"] == "GetPasswordData"]
    assert len(denied) == 30
    assert all(e["event.outcome"] == "failure" and
               e["error.code"] == "Client.UnauthorizedOperation" and e["error.message"]
               for e in denied)


def _aws_docs_records(shared_data: Path) -> list[dict]:
    records = []
    path = shared_data / "cloudtrail/aws-docs/awsdocs_cloudtrail_examples.jsonl"
    for line in path.read_text().splitlines():
        example = json.loads(line)
        if example["parses_as_json"] and any(example["event_names"] or []):
            document = example["json"]
            records += document.get("Records", [document])
    return records


def test_aws_docs_examples_normalize_or_say_what_is_missing(shared_data: Path) -> None:
    good, missing = [], []
    for record in _aws_docs_records(shared_data):
        try:
            good.append(validate(normalize(record)))
        except RecordError as exc:
            assert "eventID" in str(exc)
            missing.append(record["eventName"])
    assert len(good) == 14
    assert sorted(missing) == ["AddUserToGroup", "CreateKeyPair", "CreateUser",
                               "StartInstances", "StopInstances"]


def test_console_login_failure_without_error_code_is_a_failure(shared_data: Path) -> None:
    logins = [normalize(r) for r in _aws_docs_records(shared_data)
              if r["eventName"] == "ConsoleLogin" and "eventID" in r]
    failed = [e for e in logins if e["original"]["responseElements"]["ConsoleLogin"] == "Failure"]
    assert failed and all(e["event.outcome"] == "failure" for e in failed)
    assert any(e["event.outcome"] == "success" for e in logins)


def test_root_user_name_comes_from_the_arn(shared_data: Path) -> None:
    root = next(normalize(r) for r in _aws_docs_records(shared_data)
                if (r.get("userIdentity") or {}).get("type") == "Root" and "eventID" in r)
    assert root["user.name"] == "root"
    assert root["aws.cloudtrail.user_identity.type"] == "Root"


def test_assumed_role_user_name_is_the_session_issuer() -> None:
    record = {
        "eventID": "e1", "eventTime": "2023-07-10T12:00:00Z", "eventName": "GetSecretValue",
        "sourceIPAddress": "2001:db8::7",
        "userIdentity": {"type": "AssumedRole", "principalId": "AROAX:sess",
                         "arn": "arn:aws:sts::111122223333:assumed-role/Admin/sess",
                         "accountId": "111122223333",
                         "sessionContext": {"sessionIssuer": {"userName": "Admin"}}},
    }
    event = normalize(record)
    assert (event["user.name"], event["user.id"], event["cloud.account.id"], event["source.ip"]) \
        == ("Admin", "AROAX:sess", "111122223333", "2001:db8::7")
    record["userIdentity"]["sessionContext"] = {}
    assert normalize(record)["user.name"] == "sess"


@pytest.mark.parametrize("drop", ["eventID", "eventTime", "eventName"])
def test_record_without_a_required_field_raises(drop: str) -> None:
    record = {"eventID": "e1", "eventTime": "2023-07-10T12:00:00Z", "eventName": "X"}
    del record[drop]
    with pytest.raises(RecordError, match=drop):
        normalize(record)


def test_gzip_delivery_file_reads_like_the_plain_one(invictus: Path, tmp_path: Path) -> None:
    source = min(invictus.glob("*.json"))
    packed = tmp_path / (source.name + ".gz")
    packed.write_bytes(gzip.compress(source.read_bytes()))
    plain, _ = split(list(read_file(source)))
    zipped, bad = split(list(read_path(tmp_path)))
    assert bad == [] and zipped == plain and plain


def test_bad_records_are_yielded_in_place_and_reading_goes_on(tmp_path: Path) -> None:
    path = tmp_path / "mixed.json"
    path.write_text("\n".join([
        json.dumps({"eventID": "a", "eventTime": "2023-07-10T12:00:00Z", "eventName": "A"}),
        "{not json",
        json.dumps({"eventTime": "2023-07-10T12:00:00Z", "eventName": "B"}),
        json.dumps({"eventID": "c", "eventTime": "2023-07-10T12:00:01Z", "eventName": "C"}),
    ]))
    items = list(read_path(path))
    assert [type(i).__name__ for i in items] == ["dict", "BadRecord", "BadRecord", "dict"]
    assert items[1].index == 1 and items[1].raw == "{not json" and "not JSON" in str(items[1])
    assert "eventID" in str(items[2]) and json.loads(items[2].raw)["eventName"] == "B"


def test_unreadable_file_is_one_bad_record(tmp_path: Path) -> None:
    path = tmp_path / "broken.json.gz"
    path.write_bytes(b"\x1f\x8b not really gzip")
    [bad] = list(read_path(tmp_path))
    assert isinstance(bad, BadRecord) and bad.index is None and "unreadable" in bad.error


def test_every_recording_under_shared_cloudtrail_parses_completely(shared_data: Path) -> None:
    # Directories are read for CloudTrail delivery names (.json, .json.gz); the aws-docs
    # catalogue (.jsonl of documentation examples) is not a delivery file.
    events, bad = split(list(read_path(shared_data / "cloudtrail")))
    assert (len(events), bad) == (2900 + 310, [])


def test_eventbridge_events_in_a_file_and_json_lines(tmp_path: Path, invictus: Path) -> None:
    records = json.loads(min(invictus.glob("*.json")).read_text())["Records"][:3]
    envelopes = [{"detail-type": "AWS API Call via CloudTrail", "account": "1", "region": "r",
                  "detail": r} for r in records]
    (tmp_path / "eb.json").write_text(json.dumps(envelopes))
    (tmp_path / "lines.json").write_text("\n".join(json.dumps(r) for r in records))
    from_array, bad = split(list(read_file(tmp_path / "eb.json")))
    from_lines, bad2 = split(list(read_file(tmp_path / "lines.json")))
    assert bad == bad2 == []
    assert [e["event.id"] for e in from_array] == [e["event.id"] for e in from_lines] == [
        r["eventID"] for r in records]
    assert [e["cloud.account.id"] for e in from_array] == [
        r.get("recipientAccountId") or "1" for r in records]


def test_eventbridge_envelope_is_read_by_its_detail_not_its_detail_type(
        tmp_path: Path, invictus: Path) -> None:
    # Rules on a custom bus, or input transformers, rename detail-type; the record inside is
    # still a CloudTrail record and must not be refused.
    record = json.loads(min(invictus.glob("*.json")).read_text())["Records"][0]
    renamed = {"version": "0", "detail-type": "Security audit: IAM change", "source": "aws.iam",
               "account": "1", "region": "r", "detail": record}
    (tmp_path / "eb.json").write_text(json.dumps([renamed]))
    events, bad = split(list(read_file(tmp_path / "eb.json")))
    assert bad == [] and [e["event.id"] for e in events] == [record["eventID"]]


def test_eventbridge_envelope_without_a_cloudtrail_record_is_set_aside(tmp_path: Path) -> None:
    state_change = {"version": "0", "detail-type": "EC2 Instance State-change Notification",
                    "source": "aws.ec2", "account": "1", "region": "r",
                    "detail": {"instance-id": "i-0123456789abcdef0", "state": "running"}}
    (tmp_path / "eb.json").write_text(json.dumps(state_change))
    events, bad = split(list(read_file(tmp_path / "eb.json")))
    assert events == [] and len(bad) == 1 and "eventID" in bad[0].error
