"""The one definition of "open to the world", shared by the detection rule and the playbook."""

from __future__ import annotations

import pytest

from socbot.core.netaddr import is_world
from socbot.detections.cloudtrail.sg_open_to_world import world_permissions
from socbot.playbooks.revoke_world_ingress import world_part

WORLD = ["0.0.0.0/0", "::/0", "10.0.0.1/0", "208.236.235.254/0", "2001:db8::1/0",
         " 0.0.0.0/0", "0.0.0.0/00"]
NOT_WORLD = ["0.0.0.0/1", "128.0.0.0/1", "10.0.0.0/8", "0.0.0.0/32", "::/1", "2001:db8::/32",
             "soon/0", "0/0", "1.2.3.4.5/0", "", "/0"]


@pytest.mark.parametrize("cidr", WORLD)
def test_any_slash_zero_is_open_to_the_world(cidr: str) -> None:
    assert is_world(cidr)


@pytest.mark.parametrize("cidr", NOT_WORLD)
def test_a_narrower_or_unreadable_range_is_not(cidr: str) -> None:
    assert not is_world(cidr)


@pytest.mark.parametrize("value", [None, 0, ["0.0.0.0/0"], {"cidrIp": "0.0.0.0/0"}])
def test_a_value_that_is_not_text_is_not_a_range(value: object) -> None:
    assert not is_world(value)


@pytest.mark.parametrize("cidr", WORLD + NOT_WORLD)
def test_the_rule_reports_exactly_the_ranges_the_playbook_revokes(cidr: str) -> None:
    v6 = ":" in cidr
    request = {"groupId": "sg-1", "ipPermissions": {"items": [{
        "ipProtocol": "tcp", "fromPort": 22, "toPort": 22,
        "ipRanges": {"items": [] if v6 else [{"cidrIp": cidr}]},
        "ipv6Ranges": {"items": [{"cidrIpv6": cidr}] if v6 else []}}]}}
    described = {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22,
                 "IpRanges": [] if v6 else [{"CidrIp": cidr}],
                 "Ipv6Ranges": [{"CidrIpv6": cidr}] if v6 else []}
    assert bool(world_permissions(request)) == (world_part(described) is not None)
