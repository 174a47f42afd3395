"""The playbook contract: registry meta-tests, declarations, AWS error handling, sessions."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto_server import ACCOUNT, REGION, MotoServer

from socbot.playbooks.base import Playbook, PlaybookFailed, PlaybookInputError, Retry, Target
from socbot.playbooks.registry import (
    NAME,
    PlaybookRegistry,
    RegistryError,
    UnknownPlaybook,
    all_playbooks,
    get,
)
from socbot.playbooks.session import ROLE_SESSION_NAME, SessionFactory

PLAYBOOKS = all_playbooks()


def test_the_registry_finds_the_builtin_playbooks() -> None:
    assert "revoke-world-ingress" in [cls.name for cls in PLAYBOOKS]


@pytest.mark.parametrize("cls", PLAYBOOKS, ids=lambda cls: cls.name)
def test_every_playbook_declares_the_contract(cls: type[Playbook]) -> None:
    assert NAME.fullmatch(cls.name)
    assert get(cls.name) is cls
    assert (cls.__doc__ or "").strip() and cls.description
    assert cls.schema["type"] == "object" and cls.schema["additionalProperties"] is False
    assert cls.permissions
    for permission in cls.permissions:
        service, _, action = permission.partition(":")
        assert service and action and "*" not in permission and "?" not in permission
    assert cls.approvals_required >= 1
    assert not cls.destructive or cls.approvals_required >= 2
    assert {"cloud.account.id", "cloud.region"} <= set(cls.required_fields)
    assert all(cls.shape_of(field) for field in cls.required_fields)


def test_playbook_names_are_unique() -> None:
    names = [cls.name for cls in PLAYBOOKS]
    assert len(names) == len(set(names))


def test_unknown_name_lists_the_valid_ones() -> None:
    with pytest.raises(UnknownPlaybook) as unknown:
        get("revoke-everything")
    assert "'revoke-everything'" in str(unknown.value)
    assert "revoke-world-ingress" in str(unknown.value)


def _declare(**overrides: Any) -> type[Playbook]:
    attributes: dict[str, Any] = {
        "__doc__": "A test playbook.", "name": "test-playbook", "description": "test",
        "required_fields": ("cloud.account.id", "cloud.region"),
        "permissions": ("ec2:DescribeSecurityGroups",),
    }
    attributes.update(overrides)
    return type("TestPlaybook", (Playbook,), attributes)


def test_a_duplicate_name_is_an_error() -> None:
    registry = PlaybookRegistry()
    registry.register(_declare())
    with pytest.raises(RegistryError, match="'test-playbook' is taken"):
        registry.register(_declare())


@pytest.mark.parametrize("overrides, problem", [
    ({"name": "Test_Playbook"}, "not kebab-case"),
    ({"__doc__": None}, "no docstring"),
    ({"permissions": ()}, "no permissions"),
    ({"permissions": ("ec2:*",)}, "not an exact IAM action"),
    ({"permissions": ("ec2:Revoke*",)}, "not an exact IAM action"),
    ({"schema": {"type": "object", "properties": {}}}, "additionalProperties: false"),
    ({"approvals_required": 0}, "at least 1"),
    ({"destructive": True}, "destructive playbook needs approvals_required >= 2"),
    ({"required_fields": ("cloud.region",)}, "must include 'cloud.account.id'"),
    ({"required_fields": ("cloud.account.id", "cloud.region", "user.name")}, "'user.name' has"),
])
def test_an_invalid_declaration_is_refused_at_registration(
        overrides: dict[str, Any], problem: str) -> None:
    with pytest.raises(RegistryError, match=problem):
        PlaybookRegistry().register(_declare(**overrides))


def test_parameters_outside_the_schema_are_refused() -> None:
    with pytest.raises(PlaybookInputError, match="unknown parameter.*force"):
        get("revoke-world-ingress")({"force": True})


def test_parameters_are_checked_against_their_declared_types() -> None:
    schema = {"type": "object", "additionalProperties": False, "required": ["days"],
              "properties": {"days": {"type": "integer"}, "mode": {"enum": ["disable"]}}}
    cls = _declare(schema=schema)
    assert cls({"days": 3}).params == {"days": 3}
    for bad in ({}, {"days": "3"}, {"days": True}, {"days": 3, "mode": "delete"}):
        with pytest.raises(PlaybookInputError):
            cls(bad)


def _client_error(code: str, operation: str = "RevokeSecurityGroupIngress") -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": f"{code} message"}}, operation)


class Flaky:
    """A callable that raises the given errors in turn, then returns "done"."""

    def __init__(self, *errors: ClientError) -> None:
        self.errors = list(errors)
        self.calls = 0

    def __call__(self, **kwargs: Any) -> str:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return "done"


def test_a_resource_of_another_account_is_refused() -> None:
    target = Target(ACCOUNT, REGION)
    target.check_owner("sg-0123456789abcdef0", ACCOUNT)
    target.check_owner("sg-0123456789abcdef0", None)  # no owner reported: accepted
    with pytest.raises(PlaybookFailed, match="sg-0123456789abcdef0 belongs to account "
                                             "210987654321, not to the alert's account"):
        target.check_owner("sg-0123456789abcdef0", "210987654321")


def test_throttling_is_retried_with_jittered_waits() -> None:
    waits: list[float] = []
    retry = Retry(attempts=4, base_s=0.25, cap_s=4.0, sleep=waits.append)
    flaky = Flaky(_client_error("Throttling"), _client_error("RequestLimitExceeded"),
                  _client_error("ThrottlingException"))
    assert retry.call(flaky) == "done"
    assert flaky.calls == 4
    assert len(waits) == 3 and all(0 <= w <= 0.25 * 2 ** n for n, w in enumerate(waits, 1))


def test_throttling_past_the_last_try_fails_clearly() -> None:
    retry = Retry(attempts=3, sleep=lambda _: None)
    with pytest.raises(PlaybookFailed, match="throttled .RequestLimitExceeded. 3 times"):
        retry.call(Flaky(*[_client_error("RequestLimitExceeded")] * 3))


@pytest.mark.parametrize("code", ["InvalidGroup.NotFound", "InvalidPermission.NotFound",
                                  "UnauthorizedOperation", "AccessDenied"])
def test_named_aws_errors_become_playbook_failures(code: str) -> None:
    with pytest.raises(PlaybookFailed) as failed:
        Retry(sleep=lambda _: None).call(Flaky(_client_error(code)))
    assert failed.value.code == code
    assert str(failed.value).startswith(f"RevokeSecurityGroupIngress failed with {code}: ")


def test_other_aws_errors_are_reraised_unchanged() -> None:
    error = _client_error("InternalError")
    flaky = Flaky(error)
    with pytest.raises(ClientError) as raised:
        Retry(sleep=lambda _: None).call(flaky)
    assert raised.value is error and flaky.calls == 1


def _keys(session: boto3.Session) -> tuple[str, str]:
    frozen = session.get_credentials().get_frozen_credentials()
    return frozen.access_key, frozen.secret_key


def test_assume_role_gives_the_role_credentials_in_the_alert_account(aws: MotoServer) -> None:
    base = boto3.Session()
    sessions = SessionFactory("socbot-remediation", "ext-id-1", base)
    session = sessions.session("111122223333", "us-west-2")
    assert _keys(session) != _keys(base)
    assert session.region_name == "us-west-2"
    identity = session.client("sts").get_caller_identity()
    assert identity["Account"] == "111122223333"
    assert identity["Arn"].endswith(f":assumed-role/socbot-remediation/{ROLE_SESSION_NAME}")


def test_assumed_credentials_are_cached_until_near_expiry(aws: MotoServer) -> None:
    cached = SessionFactory("socbot-remediation", "ext-id-1")
    first = _keys(cached.session("111122223333", REGION))
    assert _keys(cached.session("111122223333", REGION)) == first
    # A margin longer than the credentials live makes every use "near expiry".
    expiring = SessionFactory("socbot-remediation", "ext-id-1", duration_s=900,
                              refresh_margin_s=1000)
    first = _keys(expiring.session("111122223333", REGION))
    assert _keys(expiring.session("111122223333", REGION)) != first


def test_without_a_role_the_base_credentials_are_used_in_the_region(aws: MotoServer) -> None:
    session = SessionFactory(None, None).session(ACCOUNT, "ap-southeast-2")
    assert _keys(session) == ("testing", "testing")
    assert session.region_name == "ap-southeast-2"


def test_without_a_role_another_account_is_refused(aws: MotoServer) -> None:
    with pytest.raises(PlaybookFailed, match="account 111122223333 but the local credentials"):
        SessionFactory(None, None).session("111122223333", REGION)


def test_session_ids_are_validated_before_they_reach_an_arn() -> None:
    with pytest.raises(PlaybookInputError):
        SessionFactory("socbot-remediation", "ext-id-1").session("1234/../x", REGION)


CONTRACT_FIELDS = ("group_id", "instance_id", "image_id", "access_key_id", "iam_user",
                   "trail_name", "bucket", "object_key", "version_id", "vpc_id", "source.ip")


def test_every_alert_field_of_the_contract_has_a_shape() -> None:
    from socbot.playbooks.base import FIELD_SHAPES

    assert set(CONTRACT_FIELDS) <= set(FIELD_SHAPES)


def test_the_registry_holds_the_playbooks_the_rules_may_name() -> None:
    assert {cls.name for cls in PLAYBOOKS} >= {
        "revoke-world-ingress", "quarantine-instance", "contain-unapproved-ami",
        "disable-access-key", "disable-console-login", "restart-cloudtrail-logging",
        "block-ip-nacl", "restore-s3-object", "ssm-triage"}


@pytest.mark.parametrize("cls", PLAYBOOKS, ids=lambda cls: cls.name)
def test_destructive_modes_need_two_approvals_and_resources_are_declared_permissions(
        cls: type[Playbook]) -> None:
    for param, values in cls.destructive_params.items():
        for value in values:
            assert value in cls.schema["properties"][param]["enum"]
            assert cls.is_destructive({param: value}) and cls.approvals_for({param: value}) >= 2
    assert set(cls.resources) <= set(cls.permissions)
    if cls.undoable:
        assert cls.undo is not Playbook.undo


@pytest.mark.parametrize("overrides, problem", [
    ({"destructive_params": {"mode": ("terminate",)}}, "destructive_params 'mode'"),
    ({"resources": {"ec2:StopInstances": ("*",)}}, "not in permissions"),
    ({"optional_fields": ("user.name",)}, "'user.name' has no shape"),
])
def test_invalid_modes_resources_and_optional_fields_are_refused(
        overrides: dict[str, Any], problem: str) -> None:
    with pytest.raises(RegistryError, match=problem):
        PlaybookRegistry().register(_declare(**overrides))


def test_per_account_roles_and_external_ids_come_from_the_configuration(
        aws: MotoServer) -> None:
    from socbot.core.config import Settings

    settings = Settings.model_validate({"aws": {
        "role_name": "socbot-remediation",
        "accounts": {"111122223333": {"role_name": "soc-responder",
                                      "external_id_env": "EXT_B"}}}})
    sessions = SessionFactory.from_settings(
        settings, env={"SOCBOT_AWS_EXTERNAL_ID": "ext-default", "EXT_B": "ext-for-b"})
    assert sessions.access("111122223333").role_name == "soc-responder"
    assert sessions.access("111122223333").external_id == "ext-for-b"
    assert sessions.access("444455556666").external_id == "ext-default"
    identity = sessions.session("111122223333", REGION).client("sts").get_caller_identity()
    assert ":assumed-role/soc-responder/" in identity["Arn"]
