#!/usr/bin/env bash
# Media pool member: render the configuration from the environment, join the
# edge's pool, run Asterisk; on SIGTERM drain (no new calls), let the calls in
# progress finish, leave the pool.
#
# Environment:
#   EDGE_HOST          address the member rings the edge at (a name or a VIP)
#   EDGE_NETWORKS      comma-separated addresses or CIDR networks the edge nodes
#                      send from (trusted: PJSIP identify and ACL). Not names: a
#                      name is resolved once, when Asterisk loads, so edge nodes
#                      started later would be refused; a network (the compose
#                      network's subnet) trusts every node, however many come
#   PGHOST PGPORT PGDATABASE PGUSER PGPASSWORD   the edge's PostgreSQL
#   POOL_ADDRESS       this member's address as the edge reaches it (default: first
#                      address of the container)
#   POOL_WEIGHT        share of calls (default 1)
set -euo pipefail

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
      -e "s|@PG_HOST@|${PGHOST:-postgres}|g" -e "s|@PG_PORT@|${PGPORT:-5432}|g" \
      -e "s|@PG_DB@|${PGDATABASE:-edge}|g" -e "s|@PG_USER@|${PGUSER:-edge}|g" \
      -e "s|@PG_PASSWORD@|${PGPASSWORD:-}|g" "$1" > "/etc/asterisk/$(basename "$1")"
}

sql() { psql -v ON_ERROR_STOP=1 -qAtc "$1"; }

join_pool() {
  # idempotent: a restarted member comes back active with its weight; the
  # edge nodes' sync followers reload their dispatcher on the change
  sql "INSERT INTO pool_members (uri, weight, description)
       VALUES ('${MEMBER}', ${POOL_WEIGHT}, 'asterisk $(hostname)')
       ON CONFLICT (uri) DO UPDATE SET state = 'active', weight = EXCLUDED.weight"
}

leave_pool() {
  sql "UPDATE pool_members SET state = 'draining' WHERE uri = '${MEMBER}'" || true
  # Asterisk stops once the calls in progress have ended
  asterisk -rx "core stop when convenient" || true
  wait "${AST_PID}" || true
  sql "DELETE FROM pool_members WHERE uri = '${MEMBER}' AND state = 'draining'" || true
  exit 0
}

main() {
  : "${EDGE_HOST:?EDGE_HOST is required}"
  : "${EDGE_NETWORKS:?EDGE_NETWORKS is required}"
  check_networks "${EDGE_NETWORKS}"
  POOL_ADDRESS="${POOL_ADDRESS:-$(hostname -i | awk '{print $1}')}"
  POOL_WEIGHT="${POOL_WEIGHT:-1}"
  MEMBER="sip:${POOL_ADDRESS}:5060"
  for f in /opt/pool/etc/asterisk/*.conf; do render "$f"; done
  mkdir -p /monitor && chown asterisk:asterisk /monitor

  asterisk -f -U asterisk -G asterisk &
  AST_PID=$!
  trap leave_pool TERM INT
  for _ in $(seq 1 50); do
    asterisk -rx "core waitfullybooted" >/dev/null 2>&1 && break
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
