"""The Kamailio part of the config, rendered for the launcher: the values
``kamailio/defaults.cfg`` declares with ``#!trydef`` as ``-A NAME=value``
defines, and the secrets that go to Kamailio's environment instead.
"""

from __future__ import annotations

from edgecore.config import REPO_ROOT, Auth, Config, ConfigError
from edgectl.stack.topology import advertised_ports, dmq_address, server_id, shares_address_with_peers

# Defines whose value is a string in kamailio.cfg (rendered quoted); the
# others are numbers or addresses and are rendered bare.
_QUOTED_DEFINES = {"EDGE_NODE", "EDGE_DOMAIN", "RPC_SOCKET", "CTL_SOCKET", "RPC_FIFO", "RPC_REPLY_DIR",
                   "KEMI_SCRIPT", "RTPENGINE_NG", "RTIMER_POLL", "RTIMER_NOTES", "GOOD_TABLE", "SIPPING_FROM",
                   "TLS_CERT", "TLS_KEY", "CDR_DB_URL", "DMQ_SERVER", "DS_LIST_FILE",
                   "DMQ_NOTIFY"}


def kamailio_db_url(dsn: str) -> str:
    """Kamailio's db_postgres URL (postgres://user[:pw]@host[:port]/db) of a DSN."""
    from urllib.parse import urlsplit

    u = urlsplit(dsn)
    if u.scheme not in ("postgresql", "postgres"):
        raise ConfigError("postgres.dsn must be a postgresql:// URL")
    return "postgres://" + u.netloc + u.path


# Secrets never go on Kamailio's command line (-A defines are visible to
# every user in `ps`): the launcher hands them over in Kamailio's environment
# (/proc/<pid>/environ is readable by its owner only) and defines only the
# flag SECRETS_FROM_ENV; kamailio/defaults.cfg then takes each define from
# its variable (#!defenvs, Kamailio core cookbook).
SECRETS_FLAG = "SECRETS_FROM_ENV"
SECRET_ENV = {"AUTH_SECRET": "EDGE_NONCE_SECRET"}      # define -> environment variable


def is_placeholder_secret(value: str) -> bool:
    """The nonce secret published with the project (the default, or the
    deploy example's CHANGE-ME line): anyone can forge nonces with it."""
    return value == Auth().nonce_secret or "change-me" in value.lower()


def kamailio_secrets(cfg: Config) -> dict[str, str]:
    """Environment variables carrying the node's secrets to Kamailio.

    A node listening on an address other than loopback refuses the published
    nonce secret (ConfigError, one line)."""
    import ipaddress

    secret = cfg.auth.nonce_secret
    if not secret or any(c in secret for c in '"\\\n\r'):
        raise ConfigError("auth.nonce_secret must be non-empty, without quotes, "
                          "backslashes or newlines")
    try:
        loopback = ipaddress.ip_address(cfg.sip.listen_ip).is_loopback
    except ValueError:
        loopback = False
    if not loopback and is_placeholder_secret(secret):
        raise ConfigError(f"auth.nonce_secret is the published default and the node listens "
                          f"on {cfg.sip.listen_ip}: set a long random secret, the same on "
                          "every node")
    return {SECRET_ENV["AUTH_SECRET"]: secret}


def kamailio_defines(cfg: Config) -> dict[str, str]:
    """The values ``kamailio/defaults.cfg`` declares with ``#!trydef``, rendered
    as Kamailio preprocessor values (strings quoted), for ``-A NAME=value``."""
    raw: dict[str, str | int] = {
        "EDGE_NODE": cfg.node.name,
        "EDGE_DOMAIN": cfg.node.domain,
        "LISTEN_IP": cfg.sip.listen_ip,
        "ADVERTISED_IP": cfg.sip.advertised_ip or cfg.sip.listen_ip,
        "ADVERTISED_UDP_PORT": advertised_ports(cfg)[0],
        "ADVERTISED_TCP_PORT": advertised_ports(cfg)[1],
        "ADVERTISED_TLS_PORT": advertised_ports(cfg)[2],
        "ADVERTISED_WSS_PORT": advertised_ports(cfg)[3],
        "UDP_PORT": cfg.sip.udp_port,
        "TCP_PORT": cfg.sip.tcp_port,
        "TLS_PORT": cfg.sip.tls_port,
        "WSS_PORT": cfg.sip.wss_port,
        "TLS_CERT": str(cfg.tls_files[0]),
        "TLS_KEY": str(cfg.tls_files[1]),
        "CHILDREN": cfg.sip.children,
        "TCP_CHILDREN": cfg.sip.tcp_children,
        "LOG_LEVEL": cfg.sip.log_level,
        "MIN_EXPIRES": cfg.sip.min_expires,
        "MAX_EXPIRES": cfg.sip.max_expires,
        "DEFAULT_EXPIRES": cfg.sip.default_expires,
        "MAX_CONTACTS": cfg.sip.max_contacts,
        "USRLOC_TIMER": cfg.sip.usrloc_timer,
        "NATPING_INTERVAL": cfg.sip.natping_interval,
        "PIKE_INTERVAL": cfg.security.flood_interval,
        "PIKE_DENSITY": cfg.security.flood_requests,
        "BAN_TIME": cfg.security.ban_time,
        "GOOD_TABLE": f"edgegood=>size=14;autoexpire={cfg.security.trusted_for};",
        "DLG_TIMEOUT": cfg.security.max_call_duration,
        "FR_INV_TIMER": cfg.sip.ring_timeout * 1000,
        "DLG_NOACK_TIMEOUT": cfg.sip.noack_timeout,
        "NONCE_EXPIRE": cfg.auth.nonce_expire,
        "RTIMER_POLL": f"name=poll;interval={cfg.cache.poll_ms * 1000}u;mode=1;",
        "RTIMER_NOTES": f"name=notes;interval={cfg.cache.poll_ms * 1000}u;mode=1;",
        "SIPPING_FROM": f"sip:keepalive@{cfg.node.domain}",
        "RPC_SOCKET": str(cfg.rpc_socket),
        "CTL_SOCKET": "unix:" + str(cfg.ctl_socket),
        "RPC_FIFO": str(cfg.rpc_fifo),
        "RPC_REPLY_DIR": str(cfg.rpc_reply_dir) + "/",
        "KEMI_SCRIPT": str(REPO_ROOT / "kemi" / "edge.py"),
        "RTPENGINE_NG": f"udp:{cfg.rtpengine.ng_host}:{cfg.rtpengine.ng_port}",
        "DS_LIST_FILE": str(cfg.dispatcher_list),
        "DS_PING_INTERVAL": cfg.pool.ping_interval,
        "DS_PROBING_THRESHOLD": cfg.pool.probing_threshold,
        "DS_INACTIVE_THRESHOLD": cfg.pool.inactive_threshold,
        "CDR_DB_URL": "flatstore:" + str(cfg.node_spool),
        "SERVER_ID": server_id(cfg) if cfg.cluster.peers else cfg.cluster.server_id,
        "DMQ_SERVER": f"sip:{dmq_address(cfg)}:{cfg.sip.udp_port}",
        "DMQ_NOTIFY": f"sip:{cfg.cluster.peers[0]}" if cfg.cluster.peers else
                      f"sip:{dmq_address(cfg)}:{cfg.sip.udp_port}",
        # 0: a contact this node owns is delivered through its own Path hop
        # (kemi/cluster.py deliver), as a peer's call is
        "PATH_CHECK_LOCAL": 0 if cfg.cluster.peers and shares_address_with_peers(cfg) else 1,
    }
    out: dict[str, str] = {}
    for name, value in raw.items():
        if name in _QUOTED_DEFINES:
            text = str(value)
            if '"' in text or "\\" in text or "\n" in text:
                raise ConfigError(f"{name} must not contain quotes, backslashes or newlines")
            out[name] = f'"{text}"'
        else:
            out[name] = str(value)
    return out
