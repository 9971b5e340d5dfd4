"""Locust users that speak SIP over UDP to an edge (loadtest/locust/sipua.py).

Devices come from `edgectl loadtest csv devices` (tenant;extension;auth
username;password); each tenant's first half of devices call its second half,
as the SIPp call files do (edgectl.loadkit.call_pairs).

* ``RegisterUser`` -- one device that re-registers (REGISTER, 401, REGISTER
  with credentials, 200) after each think time.
* ``CallUser`` -- a caller and its callee: the callee registers an answering
  socket of this process, the caller calls it (INVITE, 407, ACK, INVITE with
  credentials, 180/200, ACK), holds, hangs up (BYE, 200), thinks.

Statistics per request type: REGISTER (the whole digest exchange), INVITE
(the setup, first INVITE to 200), BYE. Each user takes its own device(s);
when there are more users than devices, the extra users stop with a message.
Several locust processes must not share devices: split the file
(`edgectl loadtest csv devices --split K -o devices.txt`) and name it
``devices.{worker}.txt``.

    # web UI on http://127.0.0.1:8089 (ramp-up: users and spawn rate there)
    locust -f loadtest/locust/locustfile.py --host EDGE:5060 --devices-csv devices.csv \
        --web-host 127.0.0.1
    # headless: 50 users, 5 new per second, 60 s, CSV statistics out_stats.csv ...
    locust -f loadtest/locust/locustfile.py --host EDGE:5060 --devices-csv devices.csv \
        --headless -u 50 -r 5 -t 60s --csv out [RegisterUser|CallUser]
"""

from __future__ import annotations

import csv
import logging
import random
import sys
import time
from pathlib import Path
from typing import Any, Callable, Iterator, TypeVar

import gevent
from locust import User, events, task
from locust.exception import StopUser

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from edgectl.loadkit import DEVICES_HEADER, Row, call_pairs  # noqa: E402
from sipua import Answerer, Device, SipError  # noqa: E402

log = logging.getLogger("sip")
T = TypeVar("T")


@events.init_command_line_parser.add_listener
def _options(parser: Any) -> None:
    parser.add_argument("--devices-csv", default="devices.csv", include_in_web_ui=True,
                        help="credentials from `edgectl loadtest csv devices`; with several "
                             "locust processes, {worker} in the name becomes the worker's "
                             "index (files from `--split`)")
    parser.add_argument("--sip-local-ip", default="127.0.0.1", include_in_web_ui=True,
                        help="address of this host as the edge reaches it")
    parser.add_argument("--think-min", type=float, default=1.0, include_in_web_ui=True,
                        help="seconds between a user's requests, at least")
    parser.add_argument("--think-max", type=float, default=3.0, include_in_web_ui=True)
    parser.add_argument("--hold", type=float, default=1.0, include_in_web_ui=True,
                        help="seconds a call lasts before BYE")
    parser.add_argument("--register-expires", type=int, default=600, include_in_web_ui=True)
    parser.add_argument("--sip-timeout", type=float, default=8.0,
                        help="seconds a transaction may take")


class Devices:
    """The device file, read once; devices and pairs handed out one by one."""

    _loaded: dict[str, "Devices"] = {}

    def __init__(self, path: str):
        with open(path, newline="") as fh:
            lines = [ln for ln in fh if ln.strip()]
        if not lines or lines[0].strip() != DEVICES_HEADER:
            raise SystemExit(f"{path}: not a devices file (edgectl loadtest csv devices)")
        self.passwords: dict[str, str] = {}
        rows: list[Row] = []
        for t, x, au, pw in csv.reader(lines[1:], delimiter=";"):
            rows.append((t, x, au))
            self.passwords[au] = pw
        pairs = call_pairs(rows)
        self.callers: Iterator[Row] = iter([c for c, _ in pairs] or rows)
        self.pairs: Iterator[tuple[Row, Row]] = iter(pairs)

    @classmethod
    def get(cls, path: str) -> "Devices":
        if path not in cls._loaded:
            cls._loaded[path] = cls(path)
        return cls._loaded[path]


def _edge(host: str | None) -> tuple[str, int]:
    h = (host or "").removeprefix("sip:").strip("/")
    name, _, port = h.partition(":")
    if not name:
        raise SystemExit("give the edge with --host HOST[:PORT]")
    return name, int(port or 5060)


class SipUser(User):
    abstract = True

    def on_start(self) -> None:
        o = self.environment.parsed_options
        self.opts = o
        self.edge = _edge(self.host)
        worker = getattr(self.environment.runner, "worker_index", 0)
        self.devices = Devices.get(o.devices_csv.replace("{worker}", str(worker)))
        self.sockets: list[Device] = []

    def on_stop(self) -> None:
        for ua in getattr(self, "sockets", []):
            ua.close()

    def take(self, items: Iterator[T], what: str) -> T | None:
        """This user's own device(s): the next ones nobody has taken."""
        item = next(items, None)
        if item is None:
            log.warning("no %s left for another %s: give more devices", what,
                        type(self).__name__)
        return item

    def require(self, attribute: str) -> None:
        """A user left without devices (or whose start failed) stops quietly."""
        if not hasattr(self, attribute):
            raise StopUser()

    def wait_time(self) -> float:
        return random.uniform(self.opts.think_min, max(self.opts.think_min, self.opts.think_max))

    def device(self, row: Row, cls: type[Device] = Device) -> Any:
        ua = cls(self.edge, row[2], self.devices.passwords[row[2]], self.opts.sip_local_ip,
                 self.opts.sip_timeout)
        self.sockets.append(ua)
        return ua

    def timed(self, request_type: str, name: str, fn: Callable[[], Any]) -> Any:
        """Run one SIP exchange and report it to locust's statistics."""
        t0 = time.perf_counter()
        exc: Exception | None = None
        result = None
        try:
            result = fn()
        except (SipError, OSError) as e:
            exc = e
        self.environment.events.request.fire(
            request_type=request_type, name=name, response_time=(time.perf_counter() - t0) * 1000,
            response_length=len(getattr(result, "raw", "") or ""), exception=exc, context={})
        return None if exc else (result if result is not None else True)


class RegisterUser(SipUser):
    """A device that keeps re-registering."""
    weight = 3

    def on_start(self) -> None:
        super().on_start()
        row = self.take(self.devices.callers, "device")
        if row is not None:
            self.ua = self.device(row)

    @task
    def register(self) -> None:
        self.require("ua")
        self.timed("REGISTER", "digest register",
                   lambda: self.ua.register(self.opts.register_expires))


class CallUser(SipUser):
    """A caller and its answering callee."""
    weight = 1

    def on_start(self) -> None:
        super().on_start()
        pair = self.take(self.devices.pairs, "caller/callee pair")
        if pair is None:
            return
        caller, callee = pair
        self.dialled = callee[1]
        self.ua = self.device(caller)
        self.callee: Answerer = self.device(callee, Answerer)
        if self.timed("REGISTER", "callee register",
                      lambda: self.callee.register(max(60, self.opts.register_expires))):
            self.server = gevent.spawn(self.callee.serve)

    @task
    def call(self) -> None:
        self.require("server")
        dialog = self.timed("INVITE", "call setup", lambda: self.ua.invite(self.dialled))
        if not dialog:
            return
        gevent.sleep(self.opts.hold)
        self.timed("BYE", "hangup", lambda: self.ua.bye(dialog))

    def on_stop(self) -> None:
        server = getattr(self, "server", None)
        if server is not None:
            self.callee.running = False
            server.kill()
            try:                  # leave no binding to a closed socket behind
                self.callee.register(0)
            except (SipError, OSError):
                pass
        super().on_stop()

