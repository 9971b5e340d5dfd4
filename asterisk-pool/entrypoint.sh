#!/usr/bin/env bash
# Media pool member: render the configuration from the environment, join the
# edge's pool, run Asterisk; on SIGTERM drain (no new calls), let the calls in
# progress finish, leave the pool.
#
# Environment:
#   EDGE_HOST          address the member rings the edge at (a name or a VIP)
#   EDGE_ADDRESSES     comma-separated source addresses of the edge nodes (trusted)
#   PGHOST PGPORT PGDATABASE PGUSER PGPASSWORD   the edge's PostgreSQL
#   POOL_ADDRESS       this member's address as the edge reaches it (default: first
#                      address of the container)
#   POOL_WEIGHT        share of calls (default 1)
set -euo pipefail

: "${EDGE_HOST:?EDGE_HOST is required}"
: "${EDGE_ADDRESSES:?EDGE_ADDRESSES is required}"
POOL_ADDRESS="${POOL_ADDRESS:-$(hostname -i | awk '{print $1}')}"
POOL_WEIGHT="${POOL_WEIGHT:-1}"
MEMBER="sip:${POOL_ADDRESS}:5060"

render() {
  sed -e "s|@EDGE_HOST@|${EDGE_HOST}|g" -e "s|@EDGE_ADDRESSES@|${EDGE_ADDRESSES}|g" \
      -e "s|@PG_HOST@|${PGHOST:-postgres}|g" -e "s|@PG_PORT@|${PGPORT:-5432}|g" \
      -e "s|@PG_DB@|${PGDATABASE:-edge}|g" -e "s|@PG_USER@|${PGUSER:-edge}|g" \
      -e "s|@PG_PASSWORD@|${PGPASSWORD:-}|g" "$1" > "/etc/asterisk/$(basename "$1")"
}
for f in /opt/pool/etc/asterisk/*.conf; do render "$f"; done
mkdir -p /monitor && chown asterisk:asterisk /monitor

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
