"""moto's server mode on loopback, for tests that use real HTTP and real botocore.

One server per test process (started on first use, on a free port). ``tests/conftest.py``
registers the fixtures for every test module::

    def test_something(aws: MotoServer) -> None:
        ec2 = boto3.client("ec2")   # talks to moto through AWS_ENDPOINT_URL

``aws`` points boto3 at the server through the environment, with fake credentials and a
region, and resets moto's state first, so every test starts from an empty AWS.
"""

from __future__ import annotations

import threading
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from moto.server import ThreadedMotoServer


def _replace_interface_groups() -> None:
    """Make ModifyNetworkInterfaceAttribute(Groups=...) replace an interface's groups.

    AWS replaces them (the instance's groups are its primary interface's). moto 5.x keeps
    reporting the groups the instance was launched with beside the new ones, which would make a
    correct quarantine look leaky; the server runs in this process, so its model is fixed here.
    """
    from moto.ec2.models.elastic_network_interfaces import (
        NetworkInterface,
        NetworkInterfaceBackend,
    )

    original_groups = NetworkInterface.group_set
    original_modify = NetworkInterfaceBackend.modify_network_interface_attribute

    def group_set(self: NetworkInterface) -> object:
        if getattr(self, "_groups_replaced", False):
            return self._group_set
        return original_groups.fget(self)  # type: ignore[attr-defined]

    def modify(self: NetworkInterfaceBackend, eni_id: str, group_ids: list[str],
               *args: object, **kwargs: object) -> None:
        original_modify(self, eni_id, group_ids, *args, **kwargs)
        if group_ids:
            self.get_network_interface(eni_id)._groups_replaced = True

    NetworkInterface.group_set = property(group_set)  # type: ignore[method-assign,assignment]
    NetworkInterfaceBackend.modify_network_interface_attribute = modify  # type: ignore[method-assign]


_replace_interface_groups()

# moto's default account: what the fake credentials below belong to.
ACCOUNT = "123456789012"
REGION = "eu-west-1"


@dataclass(frozen=True)
class MotoServer:
    """A running moto server and how to reach it."""

    endpoint: str

    def reset(self) -> None:
        """Forget every resource in every account and region."""
        request = urllib.request.Request(f"{self.endpoint}/moto-api/reset", method="POST")
        with urllib.request.urlopen(request, timeout=10) as response:
            response.read()


_server: MotoServer | None = None
_lock = threading.Lock()


def _shared_server() -> MotoServer:
    # Module-level rather than only session-scoped: fixture functions imported into several
    # test modules are separate fixture definitions to pytest, which would start one each.
    global _server
    with _lock:
        if _server is None:
            server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
            server.start()
            host, port = server.get_host_and_port()
            _server = MotoServer(f"http://{host}:{port}")
        return _server


# Fixtures are registered under short names (``aws``, ``moto_server``) but defined under long
# ones, so a test module that imports them can name them as arguments without shadowing.
@pytest.fixture(scope="session", name="moto_server")
def moto_server_fixture() -> MotoServer:
    """The moto server of this test process (a daemon thread; it ends with the process)."""
    return _shared_server()


@pytest.fixture(name="aws")
def aws_fixture(moto_server: MotoServer, monkeypatch: pytest.MonkeyPatch,
        tmp_path: Path) -> Iterator[MotoServer]:
    """An empty moto, and an environment in which boto3 reaches only it."""
    moto_server.reset()
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN",
                 "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "AWS_ROLE_ARN",
                 "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_CONTAINER_CREDENTIALS_FULL_URI",
                 "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"):
        monkeypatch.delenv(name, raising=False)
    # A developer's ~/.aws files must not change where calls go or whose credentials they use.
    missing = tmp_path / "no-aws-config"
    monkeypatch.setenv("AWS_CONFIG_FILE", str(missing))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(missing))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_server.endpoint)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    yield moto_server
