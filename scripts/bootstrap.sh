#!/usr/bin/env bash
# Installs what the edge needs, idempotently: Debian/Ubuntu packages that are
# missing, and a venv built from the system python3 (the interpreter that
# Kamailio's app_python3 embeds, so the KEMI code can import the venv's
# packages). Safe to run any number of times; does nothing when all is there.
set -euo pipefail
cd "$(dirname "$0")/.."

PKGS=(
  kamailio kamailio-python3-modules kamailio-redis-modules
  kamailio-postgres-modules kamailio-websocket-modules kamailio-tls-modules
  kamailio-extra-modules kamailio-utils-modules
  rtpengine-daemon redis-server postgresql postgresql-contrib
  sip-tester baresip chromium fonts-liberation
  python3 python3-venv python3-dev
  openssl iproute2 procps util-linux
)

# Ubuntu names Debian's chromium "chromium-browser" (a snap wrapper there):
# take whichever this host's archive has
if ! apt-cache show chromium >/dev/null 2>&1 && apt-cache show chromium-browser >/dev/null 2>&1; then
  PKGS=("${PKGS[@]/#chromium/chromium-browser}")
fi

missing=()
for p in "${PKGS[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
# Node.js and npm build the web phone; a host may already have them from
# elsewhere (NodeSource bundles npm and conflicts with Debian's npm package):
# install Debian's only when the commands are missing.
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)
if ((${#missing[@]})); then
  echo "bootstrap: installing Debian packages: ${missing[*]}"
  SUDO=""
  [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The venv must come from Debian's interpreter (/usr/bin/python3), never from a
# pyenv/conda python on PATH: app_python3 embeds /usr/bin/python3.
SYSPY=/usr/bin/python3
VENV=.venv
if ! $SYSPY -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
  echo "bootstrap: $SYSPY is $($SYSPY -V 2>&1); the edge needs Python >= 3.11 (Debian 12, Ubuntu 24.04)" >&2
  exit 1
fi
stamp_dir=.stamps
mkdir -p "$stamp_dir"
want=$(cat pyproject.toml | sha1sum | cut -c1-12)-$($SYSPY -c 'import sys; print("%d.%d.%d" % sys.version_info[:3])')
if [ ! -x "$VENV/bin/python" ] || [ "$(cat "$stamp_dir/venv" 2>/dev/null)" != "$want" ]; then
  echo "bootstrap: building $VENV from $SYSPY"
  [ -x "$VENV/bin/python" ] || $SYSPY -m venv "$VENV"
  log="$stamp_dir/pip.log"
  if ! { "$VENV/bin/pip" install -q --disable-pip-version-check --upgrade pip &&
         "$VENV/bin/pip" install -q --disable-pip-version-check -e '.[test]'; } >"$log" 2>&1; then
    cat "$log" >&2
    echo "bootstrap: pip install failed (log: $log)" >&2
    exit 1
  fi
  echo "$want" > "$stamp_dir/venv"
fi

# The web phone (webphone/): JsSIP and the test driver from the npm registry,
# bundled with esbuild into webphone/public/app.js, which the edge serves.
web_want=$(cat webphone/package.json webphone/package-lock.json webphone/src/*.js | sha1sum | cut -c1-12)
if [ ! -f webphone/public/app.js ] || [ "$(cat "$stamp_dir/webphone" 2>/dev/null)" != "$web_want" ]; then
  echo "bootstrap: building the web phone (npm ci, esbuild)"
  log="$stamp_dir/npm.log"
  if ! (cd webphone && npm ci --no-audit --no-fund && npm run build) >"$log" 2>&1; then
    cat "$log" >&2
    echo "bootstrap: web phone build failed (log: $log)" >&2
    exit 1
  fi
  echo "$web_want" > "$stamp_dir/webphone"
fi
