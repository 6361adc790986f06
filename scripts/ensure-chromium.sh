#!/usr/bin/env bash
# Runs before `npm test`: the SSE spec drives a real headless Chromium. On a fresh machine of this
# project (Debian, root) it installs Debian's package; elsewhere it says how, and that spec skips.
set -euo pipefail
if [ -n "${CHROMIUM:-}" ] || command -v chromium >/dev/null 2>&1; then
  exit 0
fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "chromium is missing: installing Debian's package (the SSE spec runs a headless browser)."
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium
  exit 0
fi
echo "The browser SSE spec needs Chromium and will be skipped: 'apt-get install chromium' (Debian, Ubuntu)," >&2
echo "or set CHROMIUM to the path of a Chromium binary." >&2
