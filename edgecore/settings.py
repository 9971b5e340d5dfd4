"""The sections of the edge's configuration (:mod:`edgecore.config`): every
address, port, path and tunable of a node, with its default and the reason
for it. A site's TOML file overrides any subset, one table per section.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Node:
    name: str = "edge1"
    # The edge's own SIP domain(s); requests to these (or to any address the
    # node listens on) are for the edge itself.
    domain: str = "edge.local"
    aliases: list[str] = field(default_factory=list)
    # Optional Kamailio features (kamailio/features/<name>.cfg) this node loads
    features: list[str] = field(default_factory=lambda: ["rtpengine", "pool", "websocket",
                                                         "antiflood", "cdr"])


@dataclass
class Sip:
    listen_ip: str = "127.0.0.1"
    # Address put in Record-Route/Via when the node sits behind NAT (empty:
    # the listen address).
    advertised_ip: str = ""
    udp_port: int = 5060
    tcp_port: int = 5060
    # Further addresses the node listens on (UDP and TCP, same ports): the old
    # addresses of imported legacy servers (edgectl import), once routed here
    legacy_listen: list[str] = field(default_factory=list)
    tls_port: int = 5061
    wss_port: int = 8443
    children: int = 4
    tcp_children: int = 2
    # Kamailio memory (MB): shared (location table, transactions, dialogs)
    # and per process
    shm_mb: int = 256
    pkg_mb: int = 16
    # Kamailio's memory manager (kamailio -x): TLSF allocates in constant
    # time; the default "qm" walks free lists that the KEMI workers' private
    # memory fragments (measured: a quarter of the edge's CPU per REGISTER)
    memory_manager: str = "tlsf"
    log_level: int = 1  # Kamailio debug level: -1 err ... 3 debug
    # Registrar bounds (seconds), RFC 3261 10.2.1.1 / 10.3
    min_expires: int = 60
    max_expires: int = 3600
    default_expires: int = 600
    max_contacts: int = 10
    # usrloc timer: how often expired contacts are purged (seconds)
    usrloc_timer: int = 30
    # nathelper: OPTIONS keepalive to NATed contacts (seconds, 0 = off)
    natping_interval: int = 30
    # how long an unanswered call rings before 408 (tm fr_inv_timer, seconds)
    ring_timeout: int = 120
    # an answered call never ACKed is ended this long after its 2xx (dialog
    # noack_timeout, seconds): 64*T1 = 32 s, when the callee stops
    # retransmitting the 2xx (RFC 3261 13.3.1.4)
    noack_timeout: int = 32


@dataclass
class Auth:
    # One digest realm for the whole edge: HA1 = MD5(user:realm:password) is
    # computed with it, so it is chosen once per deployment (RFC 2617 3.2.2.2).
    realm: str = "sipedge"
    # Secret of the auth module's nonces; the same on every node so a nonce
    # issued by one node validates on another.
    nonce_secret: str = "change-me-nonce-secret"
    nonce_expire: int = 300


@dataclass
class Tls:
    """Certificate of the TLS (SIP over TLS) and WSS listeners. Empty paths:
    a self-signed certificate is generated under the run directory (local
    use); production sets both."""
    certificate: str = ""
    private_key: str = ""


@dataclass
class Webphone:
    # serve the browser phone (webphone/) over HTTPS on the WSS port
    serve: bool = True


@dataclass
class Security:
    """Defences of the internet-facing edge (kemi/security.py)."""
    # brute force: failed digest authentications in a sliding window (s).
    # Past source_failures from one address, the address is banned; past
    # identity_failures for one identity, the identity is locked except from
    # the addresses it recently authenticated from (a device behind the
    # attacker's NAT keeps working).
    window: int = 60
    source_failures: int = 20
    identity_failures: int = 10
    ban_time: int = 600
    # slow guessing: the same counts over long windows (s), each with its own
    # limits; reaching one bans the source / locks the identity (except from
    # the addresses it authenticated from) for that window's length. Staying
    # under both long limits of an identity allows 19 guesses an hour and
    # 49 a day, whatever the pace (0: no limit)
    hour_window: int = 3600
    source_failures_hour: int = 60
    identity_failures_hour: int = 20
    day_window: int = 86400
    source_failures_day: int = 150
    identity_failures_day: int = 50
    # an identity is trusted from a source for trusted_for seconds after it
    # authenticated from it; each node re-records that at most once per
    # trust_refresh (half of it: an active phone's trust never lapses)
    trusted_for: int = 3600
    # flood: at most flood_requests per source in each flood_interval (s)
    # (Kamailio pike); a flooding source is banned for ban_time
    flood_requests: int = 200
    flood_interval: int = 2
    # requests larger than this (bytes) get 513
    max_message_size: int = 16384
    # scanners identified by User-Agent: dropped without reply, source banned
    scanner_user_agents: list[str] = field(default_factory=lambda: [
        "friendly-scanner", "sipvicious", "sipcli", "sundayddr", "sip-scan", "sipsscan",
        "iwar", "sivus", "vaxsipuseragent", "pplsip", "smap", "nmap"])
    # never banned nor flood-limited (monitoring, load generators): CIDRs
    exempt_sources: list[str] = field(default_factory=list)
    # concurrent calls per device / per tenant when not set on them (0: none)
    device_max_calls: int = 0
    tenant_max_calls: int = 0
    # upper bound of a call's life (s): a call slot held by a node that died
    # is freed after this
    max_call_duration: int = 14400

    @property
    def long_windows(self) -> tuple[tuple[int, int, int], ...]:
        """(window, source limit, identity limit) of the slow-guessing windows."""
        return tuple(w for w in ((self.hour_window, self.source_failures_hour,
                                  self.identity_failures_hour),
                                 (self.day_window, self.source_failures_day,
                                  self.identity_failures_day)) if w[0] > 0)

    @property
    def trust_refresh(self) -> int:
        return max(1, self.trusted_for // 2)


@dataclass
class Redis:
    url: str = "redis://127.0.0.1:56379/0"
    # High availability: Redis Sentinel addresses "host:port"; when set, the
    # edge uses the primary they name master_name (url gives db and password)
    sentinels: list[str] = field(default_factory=list)
    master_name: str = "edge"
    # A worker must never stall on Redis: bounded connect/read time, then 503.
    connect_timeout: float = 0.2
    socket_timeout: float = 0.25
    # Retry-After (seconds) sent with the 503 when the read model is unreachable
    retry_after: int = 5


@dataclass
class Postgres:
    dsn: str = "postgresql://edge@127.0.0.1:55432/edge"


@dataclass
class Cache:
    # How often the node's timer process polls the read-model version
    # (milliseconds). Bounded staleness of the per-worker caches.
    poll_ms: int = 200
    # Entries per worker of answers confirmed by a successful digest (least
    # recently used evicted first: bounded memory).
    max_entries: int = 200_000
    # Entries per worker of answers not (yet) confirmed: all that requests
    # without valid credentials can fill (edgecore/cache.py).
    probation_entries: int = 4096


@dataclass
class Rtpengine:
    ng_host: str = "127.0.0.1"
    ng_port: int = 22222
    interface: str = "127.0.0.1"
    port_min: int = 30000
    port_max: int = 30999


@dataclass
class Pool:
    """The Asterisk media pool (Kamailio dispatcher, destination set 1)."""
    # OPTIONS health probe of every member (seconds); a member that stops
    # answering is taken out after `probing_threshold` failures and back in
    # after `inactive_threshold` answers
    ping_interval: int = 10
    probing_threshold: int = 2
    inactive_threshold: int = 1
    # a member that sends no reply at all within this many seconds is failed
    # over to the next member (tm fr_timer of the pool branch)
    branch_timeout: int = 2
    # a call that should be recorded when no member is available: "direct"
    # (connect it unrecorded, logged) or "refuse" (503)
    recording_fallback: str = "direct"
    # root of the legacy recording layout, as mounted on the members
    record_dir: str = "/monitor"


@dataclass
class Cluster:
    """Several edge nodes acting as one edge (kamailio/features/cluster.cfg,
    kemi/cluster.py). A node with peers replicates its registrations to them
    (DMQ, dmq_usrloc), records itself as each contact's Path (RFC 3327), and
    delivers calls to devices registered on another node through that node.

    A node has two faces: the public one phones use (``sip.advertised_ip``
    and the node's advertised ports) and its cluster identity -- the address
    its peers reach it at, its DMQ node URI, the Path it records, the
    server_id that says which contacts' keepalives are its own. The cluster
    identity is never the public address, which several nodes may share."""
    # the other nodes' SIP addresses "host:port" (UDP): DMQ peers, and the only
    # sources trusted to hand this node a call for one of its own devices. A
    # host name may stand for several nodes (a network alias of every node):
    # all its addresses are peers, re-resolved every minute
    peers: list[str] = field(default_factory=list)
    # unique per node: a contact's owner (usrloc server_id); only the owner
    # sends its NAT keepalives (nathelper filter_server_id). 0: derived -- the
    # node's position in `nodes`, else the last two octets of its cluster
    # address
    server_id: int = 1
    # this node's address as its peers reach it ("": sip.listen_ip, or --
    # listening on 0.0.0.0 -- the address its host name resolves to, e.g. the
    # container's). Never sip.advertised_ip: that is the phones' view
    address: str = ""
    # host names of nodes published through one public address by port
    # mappings (docker-compose.yml: edge1, edge2, ...): node k (its position,
    # from 1) listens on the configured sip ports and advertises the ports
    # NODE_PORT_STEP * (k - 1) higher (edgectl.stack.topology) -- where its host
    # ports are mapped -- and is server_id k (unless server_id is set)
    nodes: list[str] = field(default_factory=list)


@dataclass
class Ops:
    """Metrics, CDRs and the status view (edgectl/ops/, kemi/calls.py)."""
    # Prometheus exporter of the stack (`edgectl ops run`): /metrics
    metrics_listen: str = "127.0.0.1"
    metrics_port: int = 9465
    # CDR spool: acc writes each finished call's record to local files
    # (db_flatstore) that the shipper copies into PostgreSQL, every
    # ship_interval seconds; a file is deleted only after its rows committed,
    # so a PostgreSQL outage delays CDRs and loses none. "" = <run_dir>/cdr
    cdr_spool: str = ""
    ship_interval: float = 1.0
    # the stack's gauges (registrations per tenant...) are read at most this often (s)
    registrations_every: float = 5.0


@dataclass
class Api:
    """The administration API and web console (edgectl/api/), HTTPS only,
    with the edge's own certificate ([tls]) unless these name another."""
    serve: bool = True
    listen: str = "127.0.0.1"
    port: int = 9443                   # beside the nodes' WSS ports (8443, 8453, ...)
    certificate: str = ""
    private_key: str = ""
    # bearer tokens expire after this many seconds (and can be revoked)
    token_ttl: int = 3600
    # an account is locked for lockout_seconds after this many failed logins
    max_failed_logins: int = 5
    lockout_seconds: int = 900
    # login attempts per source address per minute, failed or not
    logins_per_minute: int = 20


@dataclass
class Log:
    """The stack's logs: each daemon writes to <run_dir>/logs/<name>.log, a
    file the launcher opened for it (edgectl.stack). The ops service rotates
    them by size (edgectl.logs): past max_bytes a log is copied to
    <name>.log.1 (older copies shift up to .<keep>, the oldest is dropped)
    and emptied in place, so the daemon keeps writing without a restart.
    Kamailio's own level is [sip] log_level."""
    max_bytes: int = 20_000_000
    keep: int = 5
    check_every: float = 10.0       # seconds between size checks
    # rtpengine --log-level (syslog levels: 3 error, 4 warning, 5 notice,
    # 6 info, 7 debug). At 5 it writes a notice for every call it handles
    # (tens of KB a minute at 30 calls/s); 4 keeps warnings and errors only.
    rtpengine_level: int = 4


@dataclass
class Paths:
    # Project-local directory for data, sockets, logs and PID files.
    run_dir: str = "run"
