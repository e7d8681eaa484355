#!/usr/bin/env bash
# fresh-check.sh proves that the README's test command passes on a fresh machine: it clones
# this repository's HEAD into a temporary directory and runs scripts/test.sh there with an
# empty Go module cache, an empty Go build cache and an empty npm cache, so nothing a warm
# machine has downloaded before can hide a missing step. System packages (redis-server,
# chromium) are installed by scripts/install-test-deps.sh as on any machine.
#
#   scripts/fresh-check.sh            clone HEAD (commit first: uncommitted changes are not tested)
#   KEEP=1 scripts/fresh-check.sh     keep the temporary directory for a look afterwards
#
# It downloads every module and npm package again and runs the whole suite: expect 10-20
# minutes. CI does not run it.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
work=$(mktemp -d -t rtmate-fresh.XXXXXX)
cleanup() {
	if [ -n "${KEEP:-}" ]; then
		echo "fresh-check: kept $work"
	else
		# The module cache is read-only unless -modcacherw; make sure it can go.
		chmod -R u+w "$work" 2>/dev/null || true
		rm -rf "$work"
	fi
}
trap cleanup EXIT

git clone --quiet --no-hardlinks "$ROOT" "$work/rtmate"
echo "fresh-check: cloned $(git -C "$work/rtmate" rev-parse --short HEAD) into $work/rtmate"
# shared/ sits beside the project on every machine (the wire contract and the house style);
# the clone gets it beside itself the same way when it is there.
if [ -d "$ROOT/../shared" ] && [ ! -e "$work/shared" ]; then
	ln -s "$(cd "$ROOT/../shared" && pwd)" "$work/shared"
fi

mkdir -p "$work/gomodcache" "$work/gocache" "$work/npm-cache" "$work/home"
export GOMODCACHE="$work/gomodcache"
export GOCACHE="$work/gocache"
export GOFLAGS="${GOFLAGS:+$GOFLAGS }-modcacherw"
export npm_config_cache="$work/npm-cache"

start=$(date +%s)
cd "$work/rtmate"
scripts/test.sh
echo "fresh-check: passed in $(( $(date +%s) - start )) s with empty module, build and npm caches"
