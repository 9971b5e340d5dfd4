#!/usr/bin/env bash
# Media pool member: render the configuration from the environment, join the
# edge's pool, run Asterisk; on SIGTERM drain (no new calls), let the calls in
# progress finish, leave the pool.
#
# Asterisk 20 and 22 (LTS, chan_pjsip); the image (Dockerfile) installs
# Ubuntu 24.04's package, Asterisk 20.6. The same script runs a member on a plain
# host (as root or as an unprivileged user): every path and the account are
# variables, and several members can share a host, each with its own
# AST_ETC_DIR, AST_STATE_DIR and POOL_BIND/POOL_PORT.
#
# Environment:
#   EDGE_HOST          address the member rings the edge at (a name or a VIP)
#   EDGE_PORT          the edge's SIP port (default 5060)
#   EDGE_NETWORKS      comma-separated addresses or CIDR networks the edge nodes
#                      send from (trusted: PJSIP identify and ACL). Not names: a
#                      name is resolved once, when Asterisk loads, so edge nodes
#                      started later would be refused; a network (the compose
#                      network's subnet) trusts every node, however many come
#   PGHOST PGPORT PGDATABASE PGUSER PGPASSWORD   the edge's PostgreSQL
#   POOL_ADDRESS       this member's address as the edge reaches it (default: first
#                      address of the container)
#   POOL_WEIGHT        share of calls (default 1)
#   POOL_BIND POOL_PORT  where this member listens (default 0.0.0.0 and 5060)
#   AST_ETC_DIR        where the rendered configuration goes (default /etc/asterisk)
#   AST_STATE_DIR      run/log/spool/db directories of a member outside
#                      /etc/asterisk (default AST_ETC_DIR/../state); with
#                      /etc/asterisk, Asterisk's own compiled-in directories
#   AST_USER AST_GROUP the account Asterisk runs as when started as root
#                      (default asterisk); started as another user, it stays that user
#   MONITOR_DIR        the recordings' root (default /monitor: the edge's pool.record_dir)
#   AST_SYSTEMNAME     asterisk.conf [options] systemname, unique per member
#                      (default: POOL_ADDRESS:POOL_PORT with ':' and '.' as '-'):
#                      it prefixes UNIQUEID and LINKEDID, which otherwise restart
#                      at <epoch>.<counter> on every member and collide
set -euo pipefail

AST_ETC_DIR="${AST_ETC_DIR:-/etc/asterisk}"
AST_USER="${AST_USER:-asterisk}"
AST_GROUP="${AST_GROUP:-${AST_USER}}"
EDGE_PORT="${EDGE_PORT:-5060}"
POOL_BIND="${POOL_BIND:-0.0.0.0}"
POOL_PORT="${POOL_PORT:-5060}"
MONITOR_DIR="${MONITOR_DIR:-/monitor}"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# the config templates: beside this script (a checkout), or where the image put them
if [[ -z "${TEMPLATES:-}" ]]; then
  TEMPLATES=/opt/pool/etc/asterisk
  [[ -d "${HERE}/etc/asterisk" ]] && TEMPLATES="${HERE}/etc/asterisk"
fi

# every item an IPv4/IPv6 address, optionally /prefix; one stderr line otherwise
check_networks() {
  local item
  local -a items
  IFS=',' read -ra items <<< "$1"
  [[ ${#items[@]} -gt 0 ]] || { echo "EDGE_NETWORKS is empty" >&2; return 1; }
  for item in "${items[@]}"; do
    if ! [[ "${item}" =~ ^([0-9]{1,3}(\.[0-9]{1,3}){3}|[0-9A-Fa-f:]*:[0-9A-Fa-f:.]*)(/[0-9]{1,3})?$ ]]; then
      echo "EDGE_NETWORKS: '${item}' is not an address or network (names are resolved only once, at load)" >&2
      return 1
    fi
  done
}

render() {
  sed -e "s|@EDGE_HOST@|${EDGE_HOST}|g" -e "s|@EDGE_NETWORKS@|${EDGE_NETWORKS}|g" \
      -e "s|@EDGE_PORT@|${EDGE_PORT}|g" -e "s|@POOL_BIND@|${POOL_BIND}|g" \
      -e "s|@POOL_PORT@|${POOL_PORT}|g" \
      -e "s|@PG_HOST@|${PGHOST:-postgres}|g" -e "s|@PG_PORT@|${PGPORT:-5432}|g" \
      -e "s|@PG_DB@|${PGDATABASE:-edge}|g" -e "s|@PG_USER@|${PGUSER:-edge}|g" \
      -e "s|@PG_PASSWORD@|${PGPASSWORD:-}|g" "$1" > "${AST_ETC_DIR}/$(basename "$1")"
}

# asterisk.conf: [options] systemname always (UNIQUEID/LINKEDID unique across
# members: sql/migrations/0009_asterisk_call_key.sql); [directories] only for
# a configuration outside /etc/asterisk (the compiled-in default is
# /etc/asterisk/asterisk.conf): its etc and state directories, the rest
# (modules, sounds) stays the build's own. As root, the state directories
# belong to AST_USER, whom Asterisk drops to.
ast_conf() {
  local name
  name="$(systemname)" || return 1
  local -a lines=("[options]" "systemname => ${name}")
  if [[ "${AST_ETC_DIR}" != /etc/asterisk ]]; then
    AST_STATE_DIR="${AST_STATE_DIR:-$(dirname "${AST_ETC_DIR}")/state}"
    mkdir -p "${AST_STATE_DIR}"/{run,log,spool,db}
    if [[ "$(id -u)" = 0 ]]; then
      chown -R "${AST_USER}:${AST_GROUP}" "${AST_STATE_DIR}"
    fi
    lines+=("[directories]" "astetcdir => ${AST_ETC_DIR}"
            "astrundir => ${AST_STATE_DIR}/run" "astlogdir => ${AST_STATE_DIR}/log"
            "astspooldir => ${AST_STATE_DIR}/spool" "astdbdir => ${AST_STATE_DIR}/db")
  fi
  printf '%s\n' "${lines[@]}" > "${AST_ETC_DIR}/asterisk.conf"
}

# this member's name: AST_SYSTEMNAME, else its address and port (what the
# edge's pool_members.uri names), in the characters a UNIQUEID may hold
systemname() {
  local name="${AST_SYSTEMNAME:-${POOL_ADDRESS:-$(hostname)}-${POOL_PORT}}"
  name="${name//[:.]/-}"
  if ! [[ "${name}" =~ ^[A-Za-z0-9_-]+$ ]]; then
    echo "AST_SYSTEMNAME: '${name}' must be letters, digits, '-' or '_'" >&2
    return 1
  fi
  echo "${name}"
}

# asterisk with this member's asterisk.conf (its control socket is in its astrundir)
ast() {
  if [[ "${AST_ETC_DIR}" != /etc/asterisk ]]; then
    asterisk -C "${AST_ETC_DIR}/asterisk.conf" "$@"
  else
    asterisk "$@"
  fi
}

# as root: Asterisk drops to AST_USER (who owns the recordings); otherwise it
# runs as the user who started it
run_as() {
  if [[ "$(id -u)" = 0 ]]; then
    echo "-U ${AST_USER} -G ${AST_GROUP}"
  fi
}

# one statement; values reach it only as psql variables (:'member' quoted as
# a literal by psql), never spliced into its text. psql -c does not
# interpolate variables: the statement goes in on stdin
sql() {
  local statement="$1"
  shift
  psql -v ON_ERROR_STOP=1 -qAt "$@" <<< "${statement}"
}

join_pool() {
  # idempotent: a restarted member comes back active with its weight; the
  # edge nodes' sync followers reload their dispatcher on the change
  [[ "${POOL_WEIGHT}" =~ ^[0-9]+$ ]] || { echo "POOL_WEIGHT: '${POOL_WEIGHT}' is not a whole number" >&2; return 1; }
  sql "INSERT INTO pool_members (uri, weight, description)
       VALUES (:'member', :'weight'::int, :'description')
       ON CONFLICT (uri) DO UPDATE SET state = 'active', weight = EXCLUDED.weight" \
    -v member="${MEMBER}" -v weight="${POOL_WEIGHT}" -v description="asterisk $(hostname)"
}

leave_pool() {
  sql "UPDATE pool_members SET state = 'draining' WHERE uri = :'member'" -v member="${MEMBER}" || true
  # Asterisk stops once the calls in progress have ended
  ast -rx "core stop when convenient" || true
  wait "${AST_PID}" || true
  sql "DELETE FROM pool_members WHERE uri = :'member' AND state = 'draining'" \
    -v member="${MEMBER}" || true
  exit 0
}

main() {
  : "${EDGE_HOST:?EDGE_HOST is required}"
  : "${EDGE_NETWORKS:?EDGE_NETWORKS is required}"
  check_networks "${EDGE_NETWORKS}"
  POOL_ADDRESS="${POOL_ADDRESS:-$(hostname -i | awk '{print $1}')}"
  POOL_WEIGHT="${POOL_WEIGHT:-1}"
  MEMBER="sip:${POOL_ADDRESS}:${POOL_PORT}"
  systemname >/dev/null
  mkdir -p "${AST_ETC_DIR}"
  for f in "${TEMPLATES}"/*.conf; do render "$f"; done
  ast_conf
  mkdir -p "${MONITOR_DIR}"
  if [[ "$(id -u)" = 0 ]]; then chown "${AST_USER}:${AST_GROUP}" "${MONITOR_DIR}"; fi

  # shellcheck disable=SC2046 # run_as: no word, or four
  ast -f $(run_as) &
  AST_PID=$!
  trap leave_pool TERM INT
  for _ in $(seq 1 50); do
    ast -rx "core waitfullybooted" >/dev/null 2>&1 && break
    sleep 0.2
  done
  join_pool
  echo "media pool member ${MEMBER} joined (weight ${POOL_WEIGHT})"
  wait "${AST_PID}"
}

# sourced (tests/unit/test_asterisk_pool.py): the functions only; `return`
# succeeds only in a sourced file
if ! (return 0 2>/dev/null); then
  main "$@"
fi
