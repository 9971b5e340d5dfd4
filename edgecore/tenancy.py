"""Which tenant a request belongs to, whatever domain the phone put in it.

The tenant of a device is decided by its authenticated digest identity
(auth usernames are unique edge-wide), never by the request's domain: many
desk phones register to an IP address, or to the edge's own name, instead of
their tenant's domain. The domain is still checked so a device cannot act in
*another* tenant's domain. A REGISTER's domain is accepted when it is

* the device's own tenant domain;
* one of the edge's domains or aliases (config ``node.domain``/``aliases``),
  or an address the node itself listens on;
* any IP address literal (the phone may know the edge by a public or NATed
  address that is not bound locally).

Pure functions of plain values.
"""

from __future__ import annotations

import ipaddress
import re

from edgecore.readmodel import Device, Tenant


# digits and dots (three groups or more), or anything with a colon: meant as
# an address, whatever its values (999.1.1.1 is a bad address, not a name)
_IP_SHAPED = re.compile(r"^\[?(\d+(\.\d+){2,}|[0-9A-Za-z]*:[0-9A-Za-z:.%]*)\]?$")


def looks_like_ip(value: str) -> bool:
    return bool(_IP_SHAPED.match(value.strip()))


def is_ip_literal(host: str) -> bool:
    h = host.strip()
    if h.startswith("[") and h.endswith("]"):
        h = h[1:-1]
    try:
        ipaddress.ip_address(h)
        return True
    except ValueError:
        return False


def domain_acceptable(domain: str, tenant: Tenant, edge_domains: frozenset[str],
                      is_local: bool) -> bool:
    d = domain.strip().lower().rstrip(".")
    if tenant.domain and d == tenant.domain.lower():
        return True
    return is_local or d in edge_domains or is_ip_literal(d)


def identity_matches(user: str | None, device: Device) -> bool:
    """The user part a device registers (To) or calls from (From) must be its
    own: its auth username or its extension."""
    if not user:
        return False
    return user.lower() == device.auth_username.lower() or user == device.extension
