"""Address ranges: the one definition of "open to the world".

A range admits every address when its prefix length is 0, whatever address is written before
the slash: ``0.0.0.0/0``, ``::/0``, but also ``10.0.0.1/0`` or ``2001:db8::1/0``. EC2 accepts
such a range in a security group rule and canonicalizes it (the EC2 API reference, ``IpRange``:
``100.68.0.18/18`` is stored and described as ``100.68.0.0/18``), so a CloudTrail request for
``10.0.0.1/0`` leaves a rule that DescribeSecurityGroups reports as ``0.0.0.0/0``. moto 5
(the tests' AWS) stores and describes the text as written instead, and revokes it only under
that same text. The detection rule (``cloudtrail.sg_open_to_world``) and the
``revoke-world-ingress`` playbook both ask :func:`is_world`, and the playbook revokes the ranges
exactly as DescribeSecurityGroups names them, so every rule the detection reports is one the
playbook closes, on AWS and on moto alike.

Example::

    >>> is_world("10.0.0.1/0"), is_world("::/0"), is_world("10.0.0.0/8"), is_world("soon/0")
    (True, True, False, False)
"""

from __future__ import annotations

import ipaddress


def network(cidr: object) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    """``cidr`` as a network (host bits allowed, surrounding spaces ignored), or None when it
    is not text naming an IPv4 or IPv6 range."""
    if not isinstance(cidr, str):
        return None
    try:
        return ipaddress.ip_network(cidr.strip(), strict=False)
    except ValueError:
        return None


def is_world(cidr: object) -> bool:
    """True when ``cidr`` admits every IPv4 or every IPv6 address (any ``/0``)."""
    found = network(cidr)
    return found is not None and found.prefixlen == 0
