"""Several thousand malformed messages (tests/harness/fuzz.py), over UDP and
TCP, and the edge afterwards: every original Kamailio process alive, shared
memory back where it was, no crash- or leak-type error in the log, and
registrations and calls still served. Malformed requests get a 4xx or are
dropped -- never a 5xx from a failing step. The one 5xx allowed is the one
RFC 3261 section 21.5.11 prescribes for a request too large to process (513),
which the security step sends for the oversized-header mutations."""

from __future__ import annotations

import collections
import re
import select
import socket
import time
from concurrent.futures import ThreadPoolExecutor

from harness import fuzz, sipp
from testkit.edge import Edge, wait_for
from testkit.sipmsg import SipClient
from harness.calls import SCEN, final_invite_reply, register_contact

# a broken worker, leaked memory or an escaped Python exception
FATAL = re.compile(r"no more (pkg|shm|share) memory|out of memory|CRITICAL|Traceback|"
                   r"unexpected error|Segmentation|core dump|signal 11", re.I)


def shm_used(e: Edge) -> int:
    return int(e.rpc("core.shmmem")["used"])


def _udp(e: Edge, n: int) -> collections.Counter[str]:
    codes: collections.Counter[str] = collections.Counter()
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 22)
    s.bind(("127.0.0.1", 0))
    src = f"127.0.0.1:{s.getsockname()[1]}"
    for i, (_, msg) in enumerate(fuzz.messages(e.target, src, n)):
        s.sendto(msg[:65000], e.sip)
        if i % 50 == 0:
            time.sleep(0.005)               # paced: a fuzzer, not a flood
        while select.select([s], [], [], 0)[0]:
            _record(codes, s.recv(65535))
    deadline = time.monotonic() + 2
    while time.monotonic() < deadline:
        if select.select([s], [], [], 0.2)[0]:
            _record(codes, s.recv(65535))
    s.close()
    return codes


def _tcp(e: Edge, n: int) -> collections.Counter[str]:
    codes: collections.Counter[str] = collections.Counter()
    for _, msg in fuzz.messages(e.target, "127.0.0.1:5999", n, seed=99):
        with socket.create_connection(e.sip, timeout=1) as c:
            try:
                c.sendall(msg)
                c.shutdown(socket.SHUT_WR)
                data = c.recv(65535)
                if data:
                    _record(codes, data)
            except OSError:
                pass
    return codes


def _record(codes: collections.Counter[str], data: bytes) -> None:
    m = re.match(rb"SIP/2\.0 (\d{3}) ?([^\r\n]*)", data)
    codes[(m.group(1) + b" " + m.group(2)).decode(errors="replace") if m else "non-SIP"] += 1


def test_fuzzing_leaves_every_worker_alive_and_serving(fresh_edge: Edge):
    e = fresh_edge
    t = e.new_tenant("Fuzz", "--no-recording")
    caller, callee = e.new_device(t, "7001"), e.new_device(t, "7002")
    e.wait_synced()
    pids = e.kamailio_pids()
    shm0 = shm_used(e)
    log0 = len(e.log())

    codes = _udp(e, 4000) + _tcp(e, 400)
    print("replies to 4400 malformed messages:", dict(codes))

    # a malformed request is answered 4xx or dropped; 5xx would be a failing step
    assert not [c for c in codes if c[:1] == "5" and not c.startswith("513 ")], codes
    assert sum(codes.values()) > 100            # the edge did answer what it could parse
    assert e.kamailio_pids() == pids, "a Kamailio process died or was replaced"
    after = e.log()[log0:].splitlines()
    fatal = [ln for ln in after if FATAL.search(ln)]
    assert not fatal, fatal[:5]
    # the edge's own code logged no error about any of it (Kamailio's parser
    # still names what it could not parse: that is its diagnostics, not a fault)
    ours = [ln for ln in after if "sr_kemi_core_err" in ln or "app_python3" in ln]
    assert not ours, ours[:5]
    # shared memory returns to where it was once transactions have expired
    wait_for(lambda: shm_used(e) <= shm0 + 512 * 1024, timeout=20,
             what=f"shared memory back near {shm0} bytes")

    # and it still serves registrations -- many at once, so every worker
    # takes some (a stuck one would leave its share unanswered) -- and calls
    def register_once(_: int) -> int:
        with SipClient(e.sip, timeout=5) as c:        # one binding, refreshed 64 times
            r = c.register(*caller, contact_port=5999)[1]
            return r.code if r else 0

    with ThreadPoolExecutor(max_workers=16) as pool:
        codes_after = list(pool.map(register_once, range(64)))
    assert codes_after == [200] * 64, collections.Counter(codes_after)
    with sipp.SippServer(SCEN / "uas_answer.xml") as device:
        register_contact(e, *callee, device.port)
        row = [caller[0], f"[authentication username={caller[0]} password={caller[1]}]",
               "7002", caller[0], "127.0.0.1", "127.0.0.1"]
        res = sipp.run(e.target, SCEN / "call_any.xml", [row],
                       extra=["-d", "200", "-default_behaviors", "all,-abortunexp"])
        assert final_invite_reply(res)[0] == 200, res.describe()
