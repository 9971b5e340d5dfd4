"""A KEMI worker whose read model is a dict (no Redis), for route tests."""

from __future__ import annotations

from edgecore import readmodel as rm
from edgecore.cache import Unavailable
from edgecore.config import Config
from kemi import context


class FakeWorker(context.Worker):
    def __init__(self, cfg: Config | None = None):
        super().__init__(cfg or Config(), client=None, version=lambda: 1)
        self.devices: dict[str, tuple[rm.Device, rm.Tenant]] = {}
        self.calls: dict[tuple[str, str], rm.CallData] = {}
        self.down = False
        self.ns: dict[str, rm.Namespace] = {}      # legacy namespaces by address/host
        self.last_namespaces: dict[str, rm.Namespace] = {}

    def add(self, tenant: rm.Tenant, ext: str, ha1: str = "a" * 32) -> rm.Device:
        d = rm.Device(f"{tenant.id}{ext}", tenant.id, ext, ha1)
        self.devices[d.auth_username.lower()] = (d, tenant)
        return d

    def device(self, authuser: str) -> tuple[rm.Device | None, rm.Tenant | None]:
        if self.down:
            raise Unavailable("test: read model down")
        return self.devices.get(authuser.lower(), (None, None))

    def namespaces(self) -> dict[str, rm.Namespace]:
        if self.down:
            raise Unavailable("test: read model down")
        self.last_namespaces = self.ns
        return self.ns

    def call(self, authuser: str, dialled: str) -> rm.CallData:
        if self.down:
            raise Unavailable("test: read model down")
        return self.calls[(authuser, dialled)]


def use(worker: FakeWorker) -> FakeWorker:
    context.WORKER = worker
    return worker
