#!/usr/bin/env bash
# Builds the package, installs its packed tarball into a throwaway ESM application on Nest 12,
# and runs it: a discovered @Serving() class and a functional serving must answer, and the
# process must exit on its own after app.close() (a leftover handle would keep it alive).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
work="$(mktemp -d)"
trap 'status=$?; rm -rf "$work"; [ "$status" -eq 0 ] || echo "nest12-smoke: FAILED (exit $status)" >&2' EXIT

cd "$root"
npm run build --silent
tarball="$work/$(npm pack --silent --pack-destination "$work" | tail -n 1)"

cp -R "$root/.ci/nest12-smoke" "$work/app"
cd "$work/app"
npm install --silent --no-audit --no-fund --loglevel=error \
  "@nestjs/common@12" "@nestjs/core@12" "reflect-metadata@0.2" "rxjs@7" "$tarball"

# 60 s is far more than it needs: hitting it means something kept the process alive after close().
timeout 60 node main.mjs
