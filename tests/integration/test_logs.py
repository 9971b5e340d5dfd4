"""The stack's logs stay bounded: rotated by size while the daemons write
(edgectl.logs, run by the ops service), and rtpengine's per-call lines only
at the level the operator chose ([log] rtpengine_level)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from edgectl import logs, rtpengine
from edgectl.stack import Rtpengine
from testkit.stacks import ephemeral_config
from testkit.edge import Edge, wait_for
from testkit.sipmsg import SipClient

SDP = ("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
       "m=audio 40000 RTP/AVP 0\r\n")


@pytest.mark.parametrize("level,per_call_lines", [(4, False), (5, True)])
def test_rtpengine_logs_calls_only_at_the_chosen_level(tmp_path: Path, level, per_call_lines):
    cfg = ephemeral_config(tmp_path, rtp_ports=(47100, 47199))
    cfg.log.rtpengine_level = level
    r = Rtpengine(cfg)
    r.start()
    try:
        ng = (cfg.rtpengine.ng_host, cfg.rtpengine.ng_port)
        cid = f"logged-call-{level}"
        assert rtpengine.command(*ng, {"command": "offer", "call-id": cid, "from-tag": "a",
                                       "sdp": SDP})["result"] == "ok"
        assert rtpengine.command(*ng, {"command": "delete", "call-id": cid,
                                       "from-tag": "a"})["result"] == "ok"
    finally:
        r.stop()                      # its last lines are written by now
    assert (cid in r.log_path.read_text()) == per_call_lines


def test_logs_rotate_by_size_while_the_daemons_write(tmp_path: Path):
    e = Edge(tmp_path / "logs", sip={"log_level": 3},            # debug: lines per request
             log={"max_bytes": 16384, "keep": 2, "check_every": 0.2})
    try:
        e.start()
        live = logs.log_dir(e.cfg) / f"kamailio-{e.cfg.node.name}.log"

        def traffic() -> bool:
            with SipClient(e.sip) as c:
                c.request(c.build("OPTIONS", f"sip:{e.target}", "sip:ping@example.com",
                                  f"sip:{e.target}"))
            return logs.rotated(live, 2).exists()
        wait_for(traffic, timeout=60, what="two rotations of Kamailio's log")
        assert not logs.rotated(live, 3).exists()                      # keep = 2
        # Kamailio goes on writing to the emptied file, at its new end
        marker = "after-rotation-" + os.urandom(4).hex()
        with SipClient(e.sip) as c:
            r = c.request(c.build("OPTIONS", f"sip:{e.target}", "sip:ping@example.com",
                                  f"sip:{e.target}", call_id=marker))
            assert r is not None
        wait_for(lambda: marker in live.read_text(errors="replace")
                 or marker in logs.rotated(live, 1).read_text(errors="replace"),
                 timeout=10, what="the marker in the log")
        assert b"\0" not in live.read_bytes()                  # O_APPEND: no hole
        # once the traffic stops, the next check brings every log under its size
        wait_for(lambda: all(p.stat().st_size <= 16384
                             for p in logs.log_dir(e.cfg).glob("*.log")),
                 timeout=10, what="every live log under max_bytes")
        assert len(list(logs.log_dir(e.cfg).glob("kamailio-*.log.*"))) == 2
    finally:
        e.stop()
