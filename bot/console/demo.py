"""The console's demo: the bot with moto's AWS behind it, fed the bundled samples.

:func:`start` runs, in this process, an embedded Redis, the console (the bot's Slack), the
bot's stages (detect, index, notify, respond, escalate, and the Bolt app in HTTP mode on
loopback) and, with the ``demo`` extra, moto's server holding a VPC, a security group open to
the world on port 22, an instance launched from an unapproved AMI and an IAM user with an
access key. CloudTrail records of those changes go in beside the bundled samples, so their
alerts carry the revoke-world-ingress, quarantine-instance and disable-access-key buttons and
approving one changes the resource in moto.
"""

from __future__ import annotations

import json
import os
import secrets as tokens
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from socbot.bot.console.interactions import Bot
from socbot.bot.console.server import ConsoleServer
from socbot.bot.console.workspace import ONCALL_GROUP, PEOPLE, Workspace

SAMPLES = Path(__file__).resolve().parents[1] / "samples"
ACCOUNT, REGION = "123456789012", "eu-west-1"  # moto's default account
CHANNEL = "#security-alerts"
APPROVED_AMI, UNAPPROVED_AMI = "ami-0a11c0ffee0000000", "ami-0bad1dea000000000"


def settings_document() -> dict[str, Any]:
    """The demo's configuration: one alert channel, the on-call group, three approvers."""
    return {"slack": {"routing": {"default": CHANNEL}, "oncall_usergroup": ONCALL_GROUP},
            "approvals": {"approvers": [p.user_id for p in PEOPLE
                                        if p.key in ("oncall", "approver", "approver2")]},
            "approved_amis": [APPROVED_AMI]}


@dataclass
class AwsResources:
    """What the demo made in moto."""

    vpc: str
    group: str
    instance: str
    user: str
    access_key: str


def start_moto() -> str:
    """Start moto's server on loopback and point boto3 in this process at it; its URL."""
    try:
        from moto.server import ThreadedMotoServer
    except ImportError as exc:
        raise RuntimeError("the AWS part of the demo needs moto's server: pip install "
                           "'socbot[demo]' (or run the console with --no-aws)") from exc
    import logging

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per AWS call otherwise
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    os.environ.update({"AWS_ENDPOINT_URL": endpoint, "AWS_ACCESS_KEY_ID": "console",
                       "AWS_SECRET_ACCESS_KEY": "console", "AWS_DEFAULT_REGION": REGION,
                       "AWS_EC2_METADATA_DISABLED": "true"})
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ROLE_ARN"):
        os.environ.pop(name, None)
    return endpoint


def seed_aws() -> AwsResources:
    """The resources the demo's alerts are about (in whatever AWS boto3 reaches: moto)."""
    import boto3

    ec2 = boto3.client("ec2", region_name=REGION)
    vpc = ec2.create_vpc(CidrBlock="10.42.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.42.1.0/24")["Subnet"]["SubnetId"]
    group = ec2.create_security_group(GroupName="web-admin", Description="admin access",
                                      VpcId=vpc)["GroupId"]
    ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22,
         "IpRanges": [{"CidrIp": "0.0.0.0/0"}, {"CidrIp": "10.42.0.0/16"}]}])
    instance = ec2.run_instances(
        ImageId=UNAPPROVED_AMI, MinCount=1, MaxCount=1, InstanceType="t3.micro",
        SubnetId=subnet, SecurityGroupIds=[group],
        TagSpecifications=[{"ResourceType": "instance",
                            "Tags": [{"Key": "Name", "Value": "crypto-miner-maybe"}]}],
    )["Instances"][0]["InstanceId"]
    iam = boto3.client("iam", region_name=REGION)
    iam.create_user(UserName="backup-svc")
    key = iam.create_access_key(UserName="backup-svc")["AccessKey"]["AccessKeyId"]
    return AwsResources(vpc, group, instance, "backup-svc", key)


def trail_records(made: AwsResources, actor: str = "mallory") -> list[dict[str, Any]]:
    """CloudTrail records of the changes :func:`seed_aws` made, as ``actor`` did them."""
    def record(n: int, name: str, source: str, request: Any, response: Any = None) -> dict[
            str, Any]:
        return {"eventVersion": "1.08", "eventID": f"c0501e00-0000-4000-8000-{n:012d}",
                "eventTime": f"2026-11-23T03:1{n}:09Z", "eventName": name,
                "eventSource": source, "awsRegion": REGION, "sourceIPAddress": "8.8.8.8",
                "userAgent": "aws-cli/2.15.0", "eventType": "AwsApiCall",
                "recipientAccountId": ACCOUNT,
                "userIdentity": {"type": "IAMUser", "principalId": "AIDACONSOLE",
                                 "accountId": ACCOUNT, "userName": actor,
                                 "arn": f"arn:aws:iam::{ACCOUNT}:user/{actor}"},
                "requestParameters": request, "responseElements": response}

    return [
        record(1, "AuthorizeSecurityGroupIngress", "ec2.amazonaws.com",
               {"groupId": made.group, "ipPermissions": {"items": [{
                   "ipProtocol": "tcp", "fromPort": 22, "toPort": 22,
                   "ipRanges": {"items": [{"cidrIp": "0.0.0.0/0"}]}}]}}),
        record(2, "RunInstances", "ec2.amazonaws.com",
               {"instancesSet": {"items": [{"imageId": UNAPPROVED_AMI}]},
                "instanceType": "t3.micro"},
               {"instancesSet": {"items": [{"instanceId": made.instance,
                                            "imageId": UNAPPROVED_AMI, "vpcId": made.vpc}]}}),
        record(3, "CreateAccessKey", "iam.amazonaws.com", {"userName": made.user},
               {"accessKey": {"accessKeyId": made.access_key, "userName": made.user,
                              "status": "Active"}}),
    ]


@dataclass
class Console:
    """A running console with its bot; :meth:`close` stops everything it started."""

    server: ConsoleServer
    runtime: Any
    client: Any
    aws: AwsResources | None = None
    _tmp: tempfile.TemporaryDirectory[str] | None = None
    owns_redis: bool = True
    _closed: bool = field(default=False)

    @property
    def url(self) -> str:
        """The page's address."""
        return self.server.url

    def feed(self, records: list[dict[str, Any]] | None = None, samples: bool = True) -> int:
        """Collect the bundled samples (``samples``) and ``records`` (CloudTrail); the count
        of events sent."""
        from socbot.collectors.pipeline import collect_cloudtrail, collect_secure

        sent = 0
        if samples:
            sent += collect_secure(self.client, SAMPLES / "secure.log", threading.Event(),
                                   from_start=True, once=True).sent
            sent += collect_cloudtrail(self.client, SAMPLES / "cloudtrail.json").sent
        if records:
            assert self._tmp is not None
            path = Path(self._tmp.name) / f"trail-{tokens.token_hex(4)}.json"
            path.write_text(json.dumps({"Records": records}))
            sent += collect_cloudtrail(self.client, path).sent
        return sent

    def close(self) -> None:
        """Stop the bot, the console and the embedded Redis."""
        if self._closed:
            return
        self._closed = True
        from socbot.core.redisconn import discard

        self.runtime.close()
        self.server.close()
        if self.owns_redis:
            discard(self.client)
        if self._tmp is not None:
            self._tmp.cleanup()


def start(host: str = "127.0.0.1", port: int = 0, *, aws: bool = True,
          redis_client: Any = None) -> Console:
    """Start the console and the bot behind it (nothing fed yet: see :meth:`Console.feed`).

    ``aws``: start moto and make the demo's resources (needs the ``demo`` extra), unless
    boto3 already points at an endpoint (``AWS_ENDPOINT_URL``, as in the tests). ``redis_client``:
    use this Redis instead of a fresh embedded one.
    """
    from socbot.bot.runtime import Runtime
    from socbot.core.config import Secrets, Settings
    from socbot.core.redisconn import embedded

    workspace = Workspace()
    server = ConsoleServer(host, port, workspace)  # a wrong address fails before anything runs
    tmp = tempfile.TemporaryDirectory(prefix="socbot-console-")
    made = None
    try:
        if aws:
            if not os.environ.get("AWS_ENDPOINT_URL"):
                start_moto()
            made = seed_aws()
    except Exception:
        server.server_close()
        tmp.cleanup()
        raise
    client = redis_client if redis_client is not None else embedded(Path(tmp.name) / "redis.db")
    server.start()
    secret = tokens.token_hex(16)
    secrets = Secrets(slack_bot_token="xoxb-console", slack_signing_secret=secret,
                      slack_api_url=server.api_url)
    settings = Settings.model_validate(settings_document())
    runtime = Runtime(client, settings, secrets, listen=("127.0.0.1", 0), aws_enrichment=aws)
    try:
        runtime.build().start(health=False)
    except Exception:
        server.close()
        raise
    assert runtime.http_server is not None
    bot_url = f"http://127.0.0.1:{runtime.http_server.server_port}/slack/events"
    server.bot = Bot(bot_url, secret, workspace, server.url)
    return Console(server, runtime, client, made, tmp, owns_redis=redis_client is None)
