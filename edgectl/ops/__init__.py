"""`edgectl ops run` and `edgectl status`: what ops see of a running edge.

The ops service is one process beside the nodes. It

* serves Prometheus metrics on ``ops.metrics_listen:ops.metrics_port``
  (``/metrics``): the counters the KEMI code increments in every Kamailio
  worker (each node's ``edgemetrics`` htable, summed here -- see
  edgecore.metrics and edgectl.counters), plus what describes the running stack, read at scrape
  time: registrations per tenant (edgestore.regcount, kept in Redis by the
  registrar step; never ``ul.dump``, which does not fit a JSON-RPC reply
  beyond a few thousand contacts), pool members' state and calls in
  progress (dispatcher, dialog profile), rtpengine sessions, bans in force,
  read-model sync lag, unshipped CDRs, and Kamailio's own core/tm/sl/dialog/
  usrloc counters (``stats.get_statistics``);
* ships the CDR spool into PostgreSQL (edgectl.cdr) every ship_interval;
* rotates the stack's logs by size (edgectl.logs).

``status`` builds the one-screen view from the same :class:`Snapshot`.

One concern per module: snapshot.py (reading the stack), exporter.py
(Prometheus collectors), shipping.py (the nodes' spool rotation),
service.py (the ops process), status.py (``edgectl status``).
"""

from edgectl.ops.exporter import StackCollector, registry
from edgectl.ops.service import run
from edgectl.ops.shipping import rotate_node_spools
from edgectl.ops.snapshot import (KAMAILIO_GROUPS, LOCATION_AORS, LOCATION_CONTACTS, Snapshot,
                                  kamailio_stats, location_totals, node_sockets, pool_view,
                                  rtpengine_sessions, snapshot)
from edgectl.ops.status import recent_failures, recent_unrecorded, render_status, status_data

__all__ = ["KAMAILIO_GROUPS", "LOCATION_AORS", "LOCATION_CONTACTS", "Snapshot", "StackCollector",
           "kamailio_stats", "location_totals", "node_sockets", "pool_view",
           "recent_failures", "recent_unrecorded", "registry", "render_status",
           "rotate_node_spools", "rtpengine_sessions", "run", "snapshot", "status_data"]
