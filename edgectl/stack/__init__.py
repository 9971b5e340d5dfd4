"""The native launcher: one node's daemons as processes on loopback.

``edgectl stack up`` starts, in order, the project's own PostgreSQL and Redis
(data under the run directory, on the config's ports, never a system-wide
instance), rtpengine, the schema migrations, the sync follower and Kamailio;
each is checked ready by speaking its protocol (a PostgreSQL connection, Redis
PING, rtpengine ng ping, Kamailio JSON-RPC), never by sleeping. PIDs are
recorded in ``<run_dir>/stack.json`` (with each one's start time, so a PID
reused by another process is never mistaken for it); ``edgectl stack down``
stops exactly those processes, by PID, after checking each PID still runs the
program it started. Every daemon starts in its own session, whose process
group id is its PID: stopping a daemon also stops what is left of its group
(Kamailio's workers outlive a killed main process and keep its ports).
Starting a stack that already runs is a no-op; after one daemon died, ``up``
clears what is left of that one and starts only it.

The tests build their stacks from the same :class:`Service` classes on
ephemeral ports (the test kit, ``testkit/``), so what `make up` runs is what
the suite tests.

One concern per module: process.py (supervising one daemon by PID),
services.py (PostgreSQL, Redis, rtpengine, our Python services),
kamailio.py (an edge node), kamailio_defines.py (its -A defines and secrets),
topology.py (ports, cluster address, server_id; local cluster configs),
supervisor.py (:class:`Stack`).
"""

from edgectl.stack.kamailio import KAMAILIO_CFG, Kamailio
from edgectl.stack.process import (Service, StartError, group_members, start_time, stop_group,
                                   stop_pid)
from edgectl.stack.services import (PG_BIN, RTPENGINE_CONF, AdminApi, Ops, Postgres, Redis,
                                    Rtpengine, SyncFollower, python_env)
from edgectl.stack.supervisor import Stack
from edgectl.stack.topology import NODE_PORT_STEP, cluster_configs

__all__ = ["KAMAILIO_CFG", "NODE_PORT_STEP", "PG_BIN", "RTPENGINE_CONF", "AdminApi", "Kamailio",
           "Ops", "Postgres", "Redis", "Rtpengine", "Service", "Stack", "StartError",
           "SyncFollower", "cluster_configs", "group_members", "python_env", "start_time",
           "stop_group", "stop_pid"]
