#!/usr/bin/env bash
# install-test-deps.sh installs what the test suites need beyond the Go toolchain:
#   - Debian's chromium (the JS SDK's browser test drives it through playwright-core;
#     playwright never downloads a browser of its own here),
#   - redis-server and redis-cli (the Redis broker tests, Redis Cluster and Sentinel included),
#   - valkey-server and valkey-cli (the same tests against Valkey; bookworm-backports on Debian 12),
#   - nginx-light (scripts/check-deploy.sh runs nginx -t on the deploy/ snippet),
#   - the JS SDK's npm dependencies (npm ci in sdk/js),
#   - the Pusher compatibility suites' npm packages (npm ci in tests/pusher).
# It is idempotent: apt runs only when a package is missing, npm ci only when
# sdk/js/node_modules is missing or older than package-lock.json. Run it as root, e.g.
#   sudo scripts/install-test-deps.sh
set -euo pipefail

export DEBIAN_FRONTEND=noninteractive
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SDK="$ROOT/sdk/js"

log() { printf '[install-test-deps] %s\n' "$*"; }

# --- Debian packages -------------------------------------------------------------------
missing=()
if [ -x /usr/bin/chromium ]; then
	log "chromium present: $(/usr/bin/chromium --version 2>/dev/null || echo /usr/bin/chromium)"
else
	missing+=(chromium)
fi
if command -v redis-server >/dev/null 2>&1; then
	log "redis-server present: $(redis-server --version | head -1)"
else
	missing+=(redis-server)
fi
# redis-cli builds the test Redis Clusters (redis-cli --cluster create/reshard); sentinels are
# redis-server --sentinel, so nothing more is needed for them.
if ! command -v redis-cli >/dev/null 2>&1; then
	missing+=(redis-tools)
fi
# Valkey for the second pass of the Redis-backed tests (scripts/test.sh, RTMATE_TEST_REDIS=valkey).
# Debian 12 has it only in bookworm-backports (newer releases in main), so it is installed on
# its own with -t: the target release would otherwise apply to every package in the list.
valkey=()
if ! command -v valkey-server >/dev/null 2>&1 || ! command -v valkey-cli >/dev/null 2>&1; then
	valkey=(valkey-server valkey-tools)
else
	log "valkey-server present: $(valkey-server --version | head -1)"
fi
# nginx only for `nginx -t` on deploy/nginx-rtmate.conf (scripts/check-deploy.sh); the tests never serve with it.
if command -v nginx >/dev/null 2>&1; then
	log "nginx present: $(nginx -v 2>&1)"
else
	missing+=(nginx-light)
fi
# Node is normally part of the machine; only a bare Debian lacks it (its nodejs is older but
# runs the SDK tests with the ws package).
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
	missing+=(nodejs npm)
fi

if [ "${#missing[@]}" -gt 0 ] || [ "${#valkey[@]}" -gt 0 ]; then
	if [ "$(id -u)" -ne 0 ]; then
		log "missing ${missing[*]} ${valkey[*]} and not root: run this script as root" >&2
		exit 1
	fi
	target=()
	if [ "${#valkey[@]}" -gt 0 ] && [ "$(. /etc/os-release && echo "${VERSION_CODENAME:-}")" = bookworm ]; then
		target=(-t bookworm-backports)
		if ! grep -rqs 'bookworm-backports' /etc/apt/sources.list /etc/apt/sources.list.d/; then
			log "adding bookworm-backports (Debian's own archive) for valkey"
			cat >/etc/apt/sources.list.d/bookworm-backports.sources <<-'EOF'
			Types: deb
			URIs: http://deb.debian.org/debian
			Suites: bookworm-backports
			Components: main
			Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
			EOF
		fi
	fi
	apt-get update
	if [ "${#missing[@]}" -gt 0 ]; then
		log "installing with apt: ${missing[*]}"
		apt-get install -y "${missing[@]}"
	fi
	if [ "${#valkey[@]}" -gt 0 ]; then
		log "installing with apt: ${valkey[*]} ${target[*]}"
		apt-get install -y --no-install-recommends "${target[@]}" "${valkey[@]}"
	fi
else
	log "apt: nothing to install"
fi

# --- npm dependencies of the JS SDK --------------------------------------------------------
# npm writes node_modules/.package-lock.json on every install; a lock file newer than it
# means the dependencies changed since the last install.
stamp="$SDK/node_modules/.package-lock.json"
if [ ! -d "$SDK/node_modules" ] || [ ! -f "$stamp" ] || [ "$SDK/package-lock.json" -nt "$stamp" ] || [ "$SDK/package.json" -nt "$stamp" ]; then
	log "npm ci in $SDK (node $(node --version))"
	(cd "$SDK" && npm ci --no-audit --no-fund)
else
	log "npm: $SDK/node_modules is up to date"
fi

# --- npm dependencies of the Pusher compatibility suites (pusher-js, laravel-echo, pusher) ----
PUSHER_TESTS="$ROOT/tests/pusher"
stamp="$PUSHER_TESTS/node_modules/.package-lock.json"
if [ ! -d "$PUSHER_TESTS/node_modules" ] || [ ! -f "$stamp" ] || [ "$PUSHER_TESTS/package-lock.json" -nt "$stamp" ] || [ "$PUSHER_TESTS/package.json" -nt "$stamp" ]; then
	log "npm ci in $PUSHER_TESTS"
	(cd "$PUSHER_TESTS" && npm ci --no-audit --no-fund)
else
	log "npm: $PUSHER_TESTS/node_modules is up to date"
fi

log "done"
