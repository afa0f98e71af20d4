#!/usr/bin/env bash
# Bootstrap: everything `npm start` and `npm test` need on a fresh Debian 12 machine that has only
# Node.js and npm. Idempotent: a second run checks and changes nothing.
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages: every server's (scripts/server-packages.txt, shared with the test machines'
# image; see src/steps/preflight.ts for what `foobar up` checks), then this machine's own tools.
mapfile -t PACKAGES < <(sed -e 's/#.*//' -e '/^[[:space:]]*$/d' scripts/server-packages.txt)
PACKAGES+=(
  wrk
  # The bench's HTTP/2 load (h2load), and its instruction counts (callgrind: bench/profile.ts).
  nghttp2-client valgrind
  # Where HAProxy's CPU time goes, kernel included (perf's samples: bench/sampled.ts).
  linux-perf
  # The SSH driver's client, and a throwaway sshd (never the system's service) for its tests.
  openssh-client openssh-server
  # The tests' browser, never downloaded: Debian's Chromium, driven by playwright-core, checks the
  # site's pages against their Content-Security-Policy and watches the dashboard.
  chromium
  # The test machines (test/machines/): Debian 12 booted in systemd-nspawn containers, built with
  # debootstrap, reached over SSH only.
  systemd-container debootstrap
  # The ACME test server (Let's Encrypt's Pebble): the tests order the site's certificate from it.
  pebble
)

say() { printf 'bootstrap: %s\n' "$*"; }

if [ "$(id -u)" -ne 0 ]; then
  say "not root: the lab needs root to create network namespaces (run with sudo)" >&2
  exit 1
fi

missing=()
for pkg in "${PACKAGES[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
  [ "$status" = "install ok installed" ] || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  say "installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get -o DPkg::Lock::Timeout=600 update -qq
  # The lab runs each daemon in its hosts' namespaces: none should start on this machine itself
  # (etcd-server, nginx, keepalived... would otherwise be started by their packages' scripts).
  policy=/usr/sbin/policy-rc.d ours=
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod 755 "$policy" && ours=1
    trap 'rm -f "$policy"' EXIT
  fi
  apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  if [ -n "$ours" ]; then rm -f "$policy"; trap - EXIT; fi
fi

# The app runs as this unprivileged user on every web server.
if ! id -u foobar >/dev/null 2>&1; then
  say "creating system user foobar (runs the app)"
  useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin foobar
fi

# npm dependencies, Node.js 24 among them: reinstalled when package-lock.json changes.
stamp=node_modules/.foobar-lock.sha256
want=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ ! -x node_modules/.bin/node ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  say "installing npm dependencies (npm ci)"
  npm ci --no-audit --no-fund --loglevel=error
  echo "$want" >"$stamp"
fi

version=$(node_modules/.bin/node --version)
case "$version" in
  v24.*) ;;
  *) say "node_modules/.bin/node is $version, expected v24: delete node_modules and run again" >&2; exit 1 ;;
esac
