"""What every configuration section shares: the error, the base model and the field checks."""

from __future__ import annotations

import ipaddress
import zoneinfo

from pydantic import BaseModel, ConfigDict

from socbot.core.errors import ConfigError


class Section(BaseModel):
    """A configuration section: unknown keys are refused, values never change after loading."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def account_id(account: str) -> str:
    """An AWS account id (12 ASCII digits), or a ValueError saying how to write one."""
    if not (len(account) == 12 and account.isascii() and account.isdigit()):
        raise ValueError(f"{account!r} is not an AWS account id; write the 12 digits "
                         "in quotes, such as '123456789012'")
    return account


def network(cidr: str) -> str:
    """An address range (host bits allowed), or a ValueError with an example."""
    try:
        ipaddress.ip_network(cidr, strict=False)
    except ValueError:
        raise ValueError(f"{cidr!r} is not a network; write an address range such as "
                         "10.20.0.0/16 or 2001:db8::/32") from None
    return cidr


def time_zone(name: str) -> str:
    """An IANA time zone name, or a ValueError with an example."""
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"time zone {name!r} is unknown; write an IANA name such as "
                         "'Europe/Berlin' or 'America/New_York'") from None
    return name


def host_port(text: str, what: str, example: str = "0.0.0.0:3000") -> tuple[str, int]:
    """Parse ``HOST:PORT`` (``[::1]:3000`` too) or raise ConfigError naming ``what``."""
    host, _, port = text.strip().rpartition(":")
    if not port.isdigit() or not 0 <= int(port) < 65536:
        raise ConfigError(f"{what} {text!r}: write HOST:PORT, such as {example}")
    return host.strip("[]") or "0.0.0.0", int(port)
