#!/usr/bin/env bash
# Proves the package works as an operator installs it: `npm pack`, then `npm install` of the tarball
# into an empty directory, then the installed `shoal` runs --version, init, a daemon (ready, status,
# get nodes, a stale daemon.json after kill -9) and the simulator's demo.
#
#   npm run check:package            (about a minute: the install fetches from the npm registry)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d "${TMPDIR:-/tmp}/shoal-package-XXXXXX")"
daemon_pid=""
cleanup () {
  [ -n "$daemon_pid" ] && kill -9 "$daemon_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

cd "$root"
tarball="$(npm pack --silent --pack-destination "$work" | tail -1)"
echo "packed $tarball ($(du -k "$work/$tarball" | cut -f1) KB)"
mkdir "$work/app" && cd "$work/app"
npm init -y >/dev/null
npm install --prefer-offline --no-audit --no-fund "$work/$tarball" >/dev/null 2>&1
shoal="$work/app/node_modules/.bin/shoal"

version="$("$shoal" --version)"
expected="$(node -p "require('$root/package.json').version")"
[ "$version" = "$expected" ] || { echo "shoal --version said '$version', expected '$expected'"; exit 1; }
echo "installed: shoal $version"

"$shoal" init --dir "$work/cluster" --name check >/dev/null
"$shoal" daemon --cluster "$work/cluster/cluster.yaml" --data "$work/data" --listen /ip4/127.0.0.1/tcp/0 \
  --api 127.0.0.1:0 --label zone=a >"$work/daemon.log" 2>&1 &
daemon_pid=$!
for _ in $(seq 100); do [ -f "$work/data/daemon.json" ] && break; sleep 0.1; done
[ -f "$work/data/daemon.json" ] || { echo "daemon not ready in 10 s:"; cat "$work/daemon.log"; exit 1; }
"$shoal" status --data "$work/data" --json | node -e "
  const s = JSON.parse(require('fs').readFileSync(0, 'utf8'))
  if (s.version !== '$expected') throw new Error('status.version ' + s.version)
  console.log('daemon ready; status says version ' + s.version)"
"$shoal" get nodes --data "$work/data" | grep -q "$expected" || { echo "get nodes does not show the version"; exit 1; }
kill -9 "$daemon_pid"; wait "$daemon_pid" 2>/dev/null || true
if message="$("$shoal" status --data "$work/data" 2>&1)"; then echo "status after kill -9 succeeded"; exit 1; fi
echo "$message" | grep -q "is not running (pid $daemon_pid exited)" || { echo "stale daemon.json: '$message'"; exit 1; }
daemon_pid=""
echo "after kill -9: $message"

"$shoal" sim --seed 1 | tail -1 | grep -q "verdict: PASS" || { echo "shoal sim did not pass"; exit 1; }
echo "shoal sim (installed): verdict PASS"
echo "package OK"
