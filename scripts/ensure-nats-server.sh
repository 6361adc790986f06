#!/usr/bin/env bash
# Runs before `npm test`: the NATS transport's specs start their own nats-server processes. On a
# fresh machine of this project (Debian, root) it installs Debian's package; elsewhere it says how.
set -euo pipefail
if [ -n "${NATS_SERVER:-}" ] || command -v nats-server >/dev/null 2>&1 || [ -x /usr/sbin/nats-server ]; then
  exit 0
fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "nats-server is missing: installing Debian's package (the NATS specs start their own servers)."
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nats-server
  exit 0
fi
echo "The NATS specs need nats-server: 'apt-get install nats-server' (Debian, Ubuntu), 'brew install nats-server' (macOS)," >&2
echo "or set NATS_SERVER to the path of a nats-server binary." >&2
exit 1
