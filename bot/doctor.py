"""``socbot doctor``: check what socbot depends on and say what to fix.

Checks the configuration, Redis (reachable; one server, Sentinel or Cluster; each node's
role and persistence: ``bot/doctor_redis.py``), Slack (``auth.test`` with the bot token), AWS
(credentials, and AssumeRole into each configured account with its ExternalId), fluentd and
the enrichment databases. Something not configured is reported as such, not as a
failure: a bot without Slack writes alerts to the terminal, one without AWS credentials
enriches and remediates nothing. The exit status is 1 when any check failed.

Example::

    $ socbot doctor
    ok              config     /etc/socbot/socbot.yml: valid
    ok              redis      redis://redis:6379/0: Redis 7.2.4, appendonly yes
    FAIL            slack      auth.test: invalid_auth
                               fix: SLACK_BOT_TOKEN is wrong or revoked: copy the Bot ...
    not configured  aws        no AWS credentials found
"""

from __future__ import annotations

import argparse
import difflib
import json
import os
import socket
import sys
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from socbot.core.config import Secrets, Settings

OK, FAIL, WARN, OFF = "ok", "FAIL", "warn", "not configured"


@dataclass
class Finding:
    """The result of one check; ``fix`` says what to do when it is not ``ok``."""

    check: str
    status: str
    detail: str
    fix: str = ""


def check_config(settings: Settings, path: str | None) -> Finding:
    """The configuration was loaded (``main`` validated it) and names only known rules."""
    where = path or os.environ.get("SOCBOT_CONFIG") or "(no file: defaults)"
    try:
        from socbot.detections.rule import load_all

        known = load_all()
        unknown = sorted(set(settings.rules) - set(known))
    except Exception as exc:  # the rules themselves failed to load
        return Finding("config", FAIL, f"cannot load the detection rules: {exc}",
                       "reinstall socbot; report the error if it persists")
    if unknown:
        close = difflib.get_close_matches(unknown[0], list(known), n=1)
        hint = f"did you mean {close[0]}? " if close else ""
        return Finding("config", FAIL, f"{where}: rules.{unknown[0]} is not a rule id",
                       f"{hint}fix the id (socbot rules list) or remove the entry")
    return Finding("config", OK, f"{where}: valid")


def check_redis(env: Mapping[str, str]) -> Finding:
    """Redis answers at ``REDIS_URL``; the topology (one server, Sentinel, Cluster), each
    node's role, and whether each keeps its data (AOF or snapshots)."""
    url = env.get("REDIS_URL", "")
    if not url:
        return Finding("redis", OFF, "REDIS_URL is unset: socbot would use an embedded Redis "
                       "in its state directory", "set REDIS_URL=redis://HOST:6379/0 for a "
                       "server that several processes share")
    import redis

    from socbot.bot.doctor_redis import survey
    from socbot.core import redisurl

    shown = redisurl.redact(url)
    try:
        target = redisurl.parse(url, env)
    except redisurl.RedisUrlError as exc:
        return Finding("redis", FAIL, str(exc), "fix REDIS_URL")
    try:
        topology, nodes = survey(target)
    except redis.RedisError as exc:
        return Finding("redis", FAIL, f"{shown}: {exc}",
                       "start Redis there or fix REDIS_URL (redis://HOST:PORT/DB, rediss:// "
                       "for TLS, unix:///path/redis.sock, redis+sentinel://HOST:PORT/SERVICE, "
                       "redis+cluster://HOST:PORT,...)")
    detail = f"{shown}: {topology}; " + "; ".join(n.describe() for n in nodes)
    if target.mode == "single" and not nodes[0].error:
        # the short form for the common case: "Redis 7.2.4, appendonly yes"
        detail = f"{shown}: Redis {nodes[0].version}, appendonly " + \
            ("yes" if nodes[0].aof else "no" + (" (snapshots only)" if nodes[0].rdb else ""))
    down = [n.address for n in nodes if n.error]
    if down:
        return Finding("redis", WARN, detail, f"bring back {', '.join(down)}: the next "
                       "failover has fewer copies to promote")
    if target.mode == "cluster" and not any(n.role == "replica" for n in nodes):
        return Finding("redis", WARN, detail, "give each master a replica (redis-cli --cluster "
                       "add-node --cluster-slave, or the managed service's replica count): "
                       "without one, a master that fails takes its slots' data with it")
    bare = [n.address for n in nodes if not n.aof]
    if bare:
        return Finding("redis", WARN, detail, f"turn on the append-only file on {', '.join(bare)}"
                       " (appendonly yes, appendfsync everysec) or a restart loses every event, "
                       "alert and approval since the last snapshot")
    return Finding("redis", OK, detail)


def check_slack(secrets: Secrets) -> Finding:
    """The bot token is accepted by ``auth.test``."""
    if not secrets.slack_bot_token:
        return Finding("slack", OFF, "SLACK_BOT_TOKEN is unset: alerts go to the terminal",
                       "set SLACK_BOT_TOKEN (xoxb-...) and SLACK_APP_TOKEN (xapp-...) to post "
                       "to Slack; README: Quickstart with Slack and AWS")
    from socbot.core.config import ConfigError

    try:
        secrets.check_slack()
    except ConfigError as exc:
        return Finding("slack", FAIL, "the Slack credentials are incomplete", str(exc))
    from slack_sdk.errors import SlackApiError

    from socbot.bot.notifier import make_web_client

    web = make_web_client(secrets, rate_limit_retries=1)
    web.timeout = 10
    try:
        answer = web.auth_test()
    except SlackApiError as exc:
        error = exc.response.get("error") if exc.response is not None else str(exc)
        fixes = {"invalid_auth": "SLACK_BOT_TOKEN is wrong or revoked: copy the Bot User OAuth "
                                 "Token again from the app's 'OAuth & Permissions' page",
                 "account_inactive": "the app was uninstalled or the token revoked: reinstall "
                                     "the app to the workspace",
                 "not_authed": "SLACK_BOT_TOKEN is empty or malformed"}
        return Finding("slack", FAIL, f"auth.test: {error}",
                       fixes.get(str(error), "check SLACK_BOT_TOKEN and that Slack is reachable"))
    except Exception as exc:
        return Finding("slack", FAIL, f"auth.test: {type(exc).__name__}: {exc}",
                       "check outbound HTTPS to slack.com (proxy, firewall) or SLACK_API_URL")
    mode = "Socket Mode" if secrets.slack_app_token else "HTTP mode"
    # The team (and enterprise) ids are what slack.workspace pins; show them to copy.
    where = f"team {answer.get('team_id')}" + (
        f", enterprise {answer['enterprise_id']}" if answer.get("enterprise_id") else "")
    return Finding("slack", OK, f"bot {answer.get('user')} ({answer.get('user_id')}) in "
                   f"{answer.get('team')} ({where}); {mode}")


def check_aws(settings: Settings, env: Mapping[str, str]) -> list[Finding]:
    """Credentials resolve and work (sts:GetCallerIdentity); each configured role can be
    assumed with its ExternalId."""
    import boto3
    from botocore.config import Config
    from botocore.exceptions import BotoCoreError, ClientError

    config = Config(connect_timeout=5, read_timeout=10, retries={"max_attempts": 2})
    region = settings.aws.default_region
    session = boto3.Session(region_name=region)
    try:
        found = session.get_credentials()
    except BotoCoreError as exc:
        return [Finding("aws", FAIL, f"credentials: {exc}", "fix the AWS profile or the "
                        "AWS_* variables")]
    if found is None:
        return [Finding("aws", OFF, "no AWS credentials found: enrichment and playbooks "
                        "cannot reach AWS", "give the process credentials: an instance or task "
                        "role, AWS_PROFILE, or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY")]
    sts = session.client("sts", config=config)
    try:
        identity = sts.get_caller_identity()
    except (ClientError, BotoCoreError) as exc:
        return [Finding("aws", FAIL, f"sts:GetCallerIdentity: {exc}",
                        "the credentials are invalid or expired, or STS is unreachable: "
                        "renew them or check outbound HTTPS to AWS")]
    own = str(identity["Account"])
    findings = [Finding("aws", OK, f"credentials of {identity['Arn']} (account {own}, "
                        f"{found.method})")]
    targets: dict[str, tuple[str, str]] = {}
    if settings.aws.role_name:
        targets[own] = (settings.aws.role_name, settings.aws.external_id_env)
    for account, override in settings.aws.accounts.items():
        targets[account] = (override.role_name or settings.aws.role_name,
                            override.external_id_env or settings.aws.external_id_env)
    for account, (role, id_env) in sorted(targets.items()):
        if not role:
            continue
        arn = f"arn:aws:iam::{account}:role/{role}"
        kwargs: dict[str, Any] = {"RoleArn": arn, "RoleSessionName": "socbot-doctor",
                                  "DurationSeconds": 900}
        external_id = env.get(id_env, "") if id_env else ""
        if external_id:
            kwargs["ExternalId"] = external_id
        try:
            sts.assume_role(**kwargs)
        except (ClientError, BotoCoreError) as exc:
            hint = (f"set {id_env} to the role's ExternalId; " if id_env and not external_id
                    else "")
            findings.append(Finding("aws role", FAIL, f"AssumeRole {arn}: {exc}",
                                    hint + f"check that {arn} exists and trusts {identity['Arn']}"
                                    " with that ExternalId"))
        else:
            findings.append(Finding("aws role", OK, f"AssumeRole {arn}"
                                    + (" with ExternalId" if external_id else "")))
    return findings


def check_fluentd(env: Mapping[str, str]) -> Finding:
    """fluentd accepts connections at ``FLUENTD_HOST``:``FLUENTD_PORT``."""
    from socbot.core.auditforward import fluentd_address

    try:
        address = fluentd_address(env)
    except ValueError:
        return Finding("fluentd", FAIL, f"FLUENTD_PORT={env.get('FLUENTD_PORT')!r} is not a port",
                       "write a number such as 24224")
    if address is None:
        return Finding("fluentd", OFF, "FLUENTD_HOST is unset: the audit trail stays in Redis",
                       "set FLUENTD_HOST (and FLUENTD_PORT, default 24224) to ship it")
    host, port = address
    try:
        with socket.create_connection(address, timeout=3):
            pass
    except OSError as exc:
        return Finding("fluentd", FAIL, f"{host}:{port}: {exc}",
                       "start fluentd with a forward input (deploy/fluentd/fluent.conf) or fix "
                       "FLUENTD_HOST/FLUENTD_PORT; entries are spooled meanwhile")
    return Finding("fluentd", OK, f"{host}:{port} accepts connections")


def check_enrichment(settings: Settings) -> Finding:
    """The GeoIP data loads and configured MaxMind databases exist."""
    config = settings.enrichment
    for label, path in (("maxmind_city_db", config.maxmind_city_db),
                        ("maxmind_asn_db", config.maxmind_asn_db)):
        if path and not Path(path).is_file():
            return Finding("enrichment", FAIL, f"enrichment.{label}: {path} not found",
                           "mount the .mmdb file there or remove the key (GeoIP then uses "
                           "the bundled country and AS data)")
    try:
        from socbot.enrichment.geoip import GeoIP

        found = GeoIP(config.maxmind_city_db, config.maxmind_asn_db).lookup("8.8.8.8")
    except Exception as exc:
        return Finding("enrichment", FAIL, f"GeoIP lookup failed: {exc}",
                       "reinstall socbot (geoip2fast ships the data) or fix the MaxMind paths")
    return Finding("enrichment", OK, f"GeoIP from {found.get('source')}")


def run(settings: Settings, secrets: Secrets, *, config_path: str | None = None,
        env: Mapping[str, str] | None = None) -> list[Finding]:
    """Every check, in order."""
    env = os.environ if env is None else env
    findings = [check_config(settings, config_path), check_redis(env), check_slack(secrets)]
    findings += check_aws(settings, env)
    findings += [check_fluentd(env), check_enrichment(settings)]
    return findings


def report(findings: list[Finding]) -> str:
    """The findings as aligned lines, each fix under its finding."""
    lines = []
    for item in findings:
        lines.append(f"{item.status:<15} {item.check:<10} {item.detail}")
        if item.fix and item.status != OK:
            lines.append(f"{'':<15} {'':<10} fix: {item.fix}")
    return "\n".join(lines)


def register(commands: Any) -> None:
    """Add ``socbot doctor``."""
    doctor = commands.add_parser("doctor", help="check Redis, Slack, AWS, fluentd and the "
                                 "configuration; say what to fix",
                                 description="Check what socbot depends on and say what to fix.")
    doctor.add_argument("--json", action="store_true", help="print the findings as JSON")
    doctor.set_defaults(handler=cmd_doctor)


def cmd_doctor(args: argparse.Namespace, settings: Settings, secrets: Secrets) -> int:
    """``socbot doctor``: exit 0 when nothing failed (unconfigured parts are not failures)."""
    findings = run(settings, secrets, config_path=getattr(args, "config", None))
    if getattr(args, "json", False):
        print(json.dumps([asdict(f) for f in findings], indent=2))
    else:
        print(report(findings))
    return 1 if any(f.status == FAIL for f in findings) else 0


if __name__ == "__main__":  # pragma: no cover
    from socbot.core.config import Secrets, load

    sys.exit(cmd_doctor(argparse.Namespace(json=False, config=None), load(),
                        Secrets.from_env()))
