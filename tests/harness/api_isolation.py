"""The requests a tenant admin makes at another tenant's objects, for the
tenant-isolation test of the API (tests/integration/test_api.py): each must be
answered as if the object did not exist."""

from __future__ import annotations

from typing import Any


def foreign_requests(t: str) -> list[tuple[str, str, dict[str, Any] | None, dict[str, str]]]:
    """Every endpoint that names a tenant or its objects, aimed at tenant t."""
    return [
        ("GET", f"/tenants/{t}", None, {}),
        ("PATCH", f"/tenants/{t}", {"name": "mine now"}, {}),
        ("DELETE", f"/tenants/{t}", None, {"cascade": "true"}),
        ("GET", f"/tenants/{t}/overview", None, {}),
        ("GET", "/ranges", None, {"tenant": t}),
        ("POST", f"/tenants/{t}/ranges", {"first": "7100", "last": "7199"}, {}),
        ("DELETE", f"/tenants/{t}/ranges/7000/7099", None, {}),
        ("GET", "/devices", None, {"tenant": t}),
        ("POST", f"/tenants/{t}/devices", {"extension": "7009", "password": "long-enough-pw"},
         {}),
        ("GET", f"/tenants/{t}/devices/7001", None, {}),
        ("PATCH", f"/tenants/{t}/devices/7001", {"display_name": "x"}, {}),
        ("PUT", f"/tenants/{t}/devices/7001/password", {"password": "long-enough-pw"}, {}),
        ("POST", f"/tenants/{t}/devices/7001/password/rotate", None, {}),
        ("DELETE", f"/tenants/{t}/devices/7001", None, {}),
        ("GET", "/ringgroups", None, {"tenant": t}),
        ("POST", f"/tenants/{t}/ringgroups", {"number": "7059", "name": "x"}, {}),
        ("GET", f"/tenants/{t}/ringgroups/7050", None, {}),
        ("PATCH", f"/tenants/{t}/ringgroups/7050", {"name": "x"}, {}),
        ("POST", f"/tenants/{t}/ringgroups/7050/members", {"extensions": ["7001"]}, {}),
        ("DELETE", f"/tenants/{t}/ringgroups/7050/members/7001", None, {}),
        ("DELETE", f"/tenants/{t}/ringgroups/7050", None, {}),
        ("GET", "/exceptions", None, {"tenant": t}),
        ("POST", "/exceptions", {"from_tenant": t, "to_tenant": t}, {}),
        ("DELETE", f"/exceptions/{t}/{t}", None, {}),
        ("GET", "/registrations", None, {"tenant": t}),
        ("GET", "/cdrs", None, {"tenant": t}),
        ("GET", "/recordings", None, {"tenant": t}),
        ("GET", "/audit", None, {"tenant": t}),
        ("GET", "/explain", None, {"caller": f"{t}:7001", "dialled": "7001"}),
        ("GET", "/explain", None, {"caller": f"{t}7001", "dialled": "7001"}),
    ]
