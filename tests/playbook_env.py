"""Helpers for the playbook tests: sessions on moto, resources to act on, a call recorder."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import boto3
from moto_server import ACCOUNT, REGION

from socbot.core.config import Settings
from socbot.playbooks.base import Playbook
from socbot.playbooks.registry import get
from socbot.playbooks.session import SessionFactory

# Operations that only read: what a dry run may call.
READ_ONLY_PREFIXES = ("Describe", "Get", "List", "Head")


def session() -> boto3.Session:
    """What the runner hands a playbook: local (moto) credentials in the alert's region."""
    return SessionFactory(None, None).session(ACCOUNT, REGION)


def playbook(name: str, params: dict[str, Any] | None = None, **settings: Any) -> Playbook:
    """The registered playbook ``name`` with ``params`` and settings built from ``settings``."""
    return get(name)(params or {}, Settings.model_validate(settings))


def context(**fields: str) -> dict[str, str]:
    """Alert fields in moto's account and region, plus ``fields`` (dots written as ``__``)."""
    base = {"cloud.account.id": ACCOUNT, "cloud.region": REGION}
    return base | {name.replace("__", "."): value for name, value in fields.items()}


@contextmanager
def recorded_calls(session: boto3.Session) -> Iterator[list[str]]:
    """Record the name of every AWS operation called through clients of ``session``."""
    calls: list[str] = []

    def record(model: Any, **_: Any) -> None:
        calls.append(model.name)

    session.events.register("before-call.*.*", record)
    try:
        yield calls
    finally:
        session.events.unregister("before-call.*.*", record)


def mutating(calls: list[str]) -> list[str]:
    """The calls that are not read-only."""
    return [c for c in calls if not c.startswith(READ_ONLY_PREFIXES)]


# moto launches any well-formed AMI id (looking one up costs seconds per test).
AMI = "ami-0123456789abcdef0"


def network(ec2: Any, cidr: str = "10.0.0.0/16") -> tuple[str, str]:
    """A VPC and one subnet in it."""
    vpc = ec2.create_vpc(CidrBlock=cidr)["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock=cidr.replace("0.0/16", "1.0/24"))
    return vpc, subnet["Subnet"]["SubnetId"]


def instance(ec2: Any, *, image_id: str | None = None, interfaces: int = 1,
             volumes: int = 1) -> dict[str, Any]:
    """A running instance in a new VPC with ``interfaces`` ENIs (each in group "app") and
    ``volumes`` extra EBS volumes attached besides the root one."""
    vpc, subnet = network(ec2)
    group = ec2.create_security_group(GroupName="app", Description="app", VpcId=vpc)["GroupId"]
    ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])
    made = ec2.run_instances(ImageId=image_id or AMI, MinCount=1, MaxCount=1,
                             InstanceType="t3.micro", SubnetId=subnet, SecurityGroupIds=[group],
                             TagSpecifications=[{"ResourceType": "instance",
                                                 "Tags": [{"Key": "Name", "Value": "web-1"}]}])
    instance_id = made["Instances"][0]["InstanceId"]
    for index in range(1, interfaces):
        eni = ec2.create_network_interface(SubnetId=subnet, Groups=[group])
        ec2.attach_network_interface(NetworkInterfaceId=eni["NetworkInterface"]
                                     ["NetworkInterfaceId"], InstanceId=instance_id,
                                     DeviceIndex=index)
    zone = made["Instances"][0]["Placement"]["AvailabilityZone"]
    for index in range(volumes):
        volume = ec2.create_volume(AvailabilityZone=zone, Size=1)["VolumeId"]
        ec2.attach_volume(VolumeId=volume, InstanceId=instance_id, Device=f"/dev/sd{'fgh'[index]}")
    return {"instance_id": instance_id, "vpc_id": vpc, "subnet_id": subnet, "group_id": group}


def describe(ec2: Any, instance_id: str) -> dict[str, Any]:
    """The instance as EC2 reports it now."""
    found: dict[str, Any] = ec2.describe_instances(InstanceIds=[instance_id])[
        "Reservations"][0]["Instances"][0]
    return found


def interface_groups(ec2: Any, instance_id: str) -> dict[str, list[str]]:
    """Each network interface of the instance and its group ids."""
    return {eni["NetworkInterfaceId"]: [g["GroupId"] for g in eni["Groups"]]
            for eni in describe(ec2, instance_id)["NetworkInterfaces"]}


def acl_entries(ec2: Any, vpc_id: str) -> dict[str, list[tuple[int, bool, str, str]]]:
    """(number, egress, action, cidr) of every rule of every ACL of the VPC."""
    acls = ec2.describe_network_acls(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])
    return {a["NetworkAclId"]: sorted((e["RuleNumber"], e["Egress"], e["RuleAction"],
                                       e.get("CidrBlock") or e.get("Ipv6CidrBlock", ""))
                                      for e in a["Entries"])
            for a in acls["NetworkAcls"]}
