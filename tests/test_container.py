"""What the image does, without a Docker engine: build the wheel, install it into a clean
virtual environment, and run ``socbot --help`` and ``socbot doctor`` from there.

It catches a package or data file left out of the wheel, or a dependency left out of
pyproject.toml. Takes about half a minute (pip installs the dependencies from its index or
cache); deselect with ``-m 'not container'``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parents[1]

pytestmark = [pytest.mark.container, pytest.mark.timeout(600)]


def run(args: list[str], env: dict[str, str] | None = None,
        timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, timeout=timeout, env=env,
                          cwd=env.get("HOME") if env else None)


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A clean virtual environment with only the socbot wheel and its dependencies."""
    root = tmp_path_factory.mktemp("clean")
    built = run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w",
                 str(root / "dist"), str(PROJECT)])
    assert built.returncode == 0, built.stderr[-3000:]
    [wheel] = (root / "dist").glob("socbot-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    for package in ("core", "collectors", "detections", "bot", "bot/cli", "playbooks",
                    "enrichment"):
        assert f"socbot/{package}/__init__.py" in names, f"socbot.{package} is not in the wheel"
    assert "socbot/bot/samples/secure.log" in names  # data files the demo reads
    # One import package: nothing named core or bot lands in site-packages.
    assert {name.split("/")[0] for name in names if not name.startswith("socbot-")} == {"socbot"}
    [top_level] = [name for name in names if name.endswith(".dist-info/top_level.txt")]
    assert zipfile.ZipFile(wheel).read(top_level).decode().split() == ["socbot"]
    venv = root / "venv"
    base = getattr(sys, "_base_executable", sys.executable)
    made = run([base, "-m", "venv", str(venv)])
    assert made.returncode == 0, made.stderr
    install = run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q", str(wheel)])
    assert install.returncode == 0, install.stderr[-3000:]
    return venv


def clean_env(home: Path, **extra: str) -> dict[str, str]:
    """No Slack or AWS credentials, no configuration, no project on the path."""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home),
           "SOCBOT_STATE_DIR": str(home / "state"), "AWS_EC2_METADATA_DISABLED": "true",
           "AWS_CONFIG_FILE": str(home / "no-aws"), "AWS_SHARED_CREDENTIALS_FILE":
           str(home / "no-aws"), "LANG": "C.UTF-8"}
    env.update(extra)
    return env


def test_help_runs_from_the_clean_install(installed: Path, tmp_path: Path) -> None:
    result = run([str(installed / "bin" / "socbot"), "--help"], clean_env(tmp_path))
    assert result.returncode == 0, result.stderr
    assert "usage: socbot" in result.stdout
    # Imported from the installed wheel, not from the source tree.
    where = run([str(installed / "bin" / "python"), "-c",
                 "import socbot.enrichment, socbot.core; print(socbot.enrichment.__file__)"],
                clean_env(tmp_path))
    assert str(installed) in where.stdout, where.stderr


def test_doctor_without_slack_or_aws_reports_them_not_configured(
        installed: Path, tmp_path: Path, redis_url: str) -> None:
    env = clean_env(tmp_path, REDIS_URL=redis_url)
    result = run([str(installed / "bin" / "socbot"), "doctor"], env)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert any(line.startswith("not configured") and " slack " in line for line in lines)
    assert any(line.startswith("not configured") and " aws " in line for line in lines)
    assert any(line.split()[0] in ("ok", "warn") and " redis " in line for line in lines)
    assert any(line.startswith("ok") and "GeoIP from geoip2fast" in line for line in lines)


def test_the_healthcheck_command_reports_an_unhealthy_process(installed: Path,
                                                              tmp_path: Path) -> None:
    env = clean_env(tmp_path, SOCBOT_METRICS_LISTEN="127.0.0.1:9")  # nothing listens
    result = run([str(installed / "bin" / "python"), "-m", "socbot.core.health"], env)
    assert result.returncode == 1
    assert "no answer from http://127.0.0.1:9/healthz" in result.stdout
