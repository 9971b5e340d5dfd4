"""Request bodies of the administration API (pydantic: they are the
OpenAPI document's schemas). Shapes and bounds only; the rules themselves
(number formats, ranges, duplicates, quotas) are the service layer's, so the
API and edgectl refuse the same input with the same words."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Login(Body):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=256)
    totp: str | None = Field(None, max_length=10, description="the TOTP code, if the account has one")


class PasswordIn(Body):
    password: str = Field(max_length=256)


class TenantIn(Body):
    id: str = Field(max_length=10, description="5 digits, e.g. 00003")
    name: str = Field(max_length=200)
    global_access: bool = False
    recording: bool = True
    recording_required: bool = Field(False, description="refuse calls (503) rather than "
                                                        "connect them unrecorded")
    domain: str | None = Field(None, max_length=253)
    max_calls: int | None = Field(None, ge=0, le=1_000_000)
    max_devices: int | None = Field(None, ge=0, le=10_000_000)
    max_ring_groups: int | None = Field(None, ge=0, le=10_000_000)


class TenantPatch(Body):
    name: str | None = Field(None, max_length=200)
    global_access: bool | None = None
    recording: bool | None = None
    recording_required: bool | None = None
    domain: str | None = Field(None, max_length=253, description="'' clears it")
    max_calls: int | None = Field(None, ge=-1, le=1_000_000, description="-1 clears it")
    max_devices: int | None = Field(None, ge=-1, le=10_000_000, description="-1 clears it")
    max_ring_groups: int | None = Field(None, ge=-1, le=10_000_000, description="-1 clears it")


class RangeIn(Body):
    first: str = Field(max_length=20)
    last: str = Field(max_length=20)
    scope: Literal["local", "global"] | None = None


class DeviceIn(Body):
    extension: str = Field(max_length=20)
    password: str | None = Field(None, max_length=256, description="stored as HA1 only")
    ha1: str | None = Field(None, max_length=64)
    auth_username: str | None = Field(None, max_length=64)
    display_name: str | None = Field(None, max_length=100)
    max_calls: int | None = Field(None, ge=0, le=1_000_000)


class DevicePatch(Body):
    display_name: str | None = Field(None, max_length=100, description="'' clears it")
    max_calls: int | None = Field(None, ge=-1, le=1_000_000, description="-1 clears it")


class RingGroupIn(Body):
    number: str = Field(max_length=20)
    name: str = Field(max_length=200)
    strategy: Literal["ringall", "sequential"] = "ringall"
    ring_timeout: int = Field(30, ge=5, le=600)
    members: list[str] = Field(default_factory=list, max_length=500)


class RingGroupPatch(Body):
    name: str | None = Field(None, max_length=200)
    strategy: Literal["ringall", "sequential"] | None = None
    ring_timeout: int | None = Field(None, ge=5, le=600)
    members: list[str] | None = Field(None, max_length=500,
                                      description="replaces the members, in ring order")


class MembersIn(Body):
    extensions: list[str] = Field(min_length=1, max_length=500)


class ExceptionIn(Body):
    from_tenant: str = Field(max_length=10)
    to_tenant: str = Field(max_length=10)
    both_ways: bool = False


class PoolIn(Body):
    uri: str = Field(max_length=200)
    weight: int = Field(1, ge=1, le=100)
    description: str | None = Field(None, max_length=200)


class PoolPatch(Body):
    state: Literal["active", "draining"] | None = None
    weight: int | None = Field(None, ge=1, le=100)


class BanIn(Body):
    target: str = Field(max_length=64, description="an IP address or an auth username")
    seconds: int = Field(3600, ge=1, le=365 * 86400)
    reason: str = Field("banned by an operator", max_length=200)


class UserIn(Body):
    username: str = Field(max_length=64)
    password: str = Field(max_length=256)
    role: Literal["provider_admin", "tenant_admin", "read_only"]
    tenant: str | None = Field(None, max_length=10)
    totp: bool = False


class TotpIn(Body):
    enabled: bool
