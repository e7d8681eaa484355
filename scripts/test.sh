#!/usr/bin/env bash
# test.sh runs every check and test of the project, as CI does (.ci/run calls exactly this):
# installs what the tests need (redis-server, chromium, npm packages), then gofmt, go vet, staticcheck, errcheck, gosec,
# go test -race for every module (plus each module on its own with GOWORK=off), the Go
# benchmarks briefly so they never rot, short fuzz runs, the release archive and deploy/ checks
# (scripts/release-test.sh, scripts/check-deploy.sh), the JS SDK's node tests and the
# browser test.
#
#   scripts/test.sh            everything
#   QUICK=1 scripts/test.sh    Go checks and tests only (no install, no node, no fuzz)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD
MODULES=(rt-common rtmate-auth rtmate-client rtmate-server)
step() { printf '\n=== %s\n' "$*"; }

if [ -z "${QUICK:-}" ]; then
	step "install test dependencies"
	scripts/install-test-deps.sh
fi

step "gofmt"
unformatted=$(gofmt -l $(git ls-files '*.go') 2>/dev/null || true)
if [ -n "$unformatted" ]; then
	echo "gofmt would change:"; echo "$unformatted"; exit 1
fi

step "go vet (workspace)"
go vet $(printf './%s/... ' "${MODULES[@]}")

# The linters are tool dependencies of tools/go.mod (versions and sums pinned there; see
# tools/README.md for why that module stays out of go.work). `go tool -n` builds one once,
# prints the path of the cached binary, and we run that binary here in workspace mode.
lint_tool() {
	local bin
	bin=$(cd "$ROOT/tools" && GOWORK=off go tool -n "$1") || { echo "cannot build tool $1 from tools/go.mod" >&2; return 1; }
	shift
	"$bin" "$@"
}

step "staticcheck (tools/go.mod)"
lint_tool staticcheck $(printf './%s/... ' "${MODULES[@]}")

step "errcheck (tools/go.mod; exclusions with their reasons in .errcheck-excludes)"
lint_tool errcheck -exclude .errcheck-excludes $(printf './%s/... ' "${MODULES[@]}")

# gosec works per module. G104 (unchecked errors) is errcheck's job above, with its reasoned
# exclusions; G115 (integer conversions) flags fd/key bit packing, close codes and lengths the
# config bounds — 32 sites reviewed on 2026-11-22, none reachable with an out-of-range value.
# Every other finding is fixed or carries a `#nosec Gnnn -- reason` at its line.
step "gosec (tools/go.mod)"
for m in "${MODULES[@]}"; do
	(cd "$m" && lint_tool gosec -quiet -exclude=G104,G115 ./...)
done

step "each module on its own (GOWORK=off): vet and build"
for m in "${MODULES[@]}"; do
	(cd "$m" && GOWORK=off go vet ./... && GOWORK=off go build ./...)
done
step "rtmate-auth tests on its own (GOWORK=off)"
(cd rtmate-auth && GOWORK=off go test -count=1 ./...)

step "wasip1 plug-ins (sdk/go-pdk, examples/scripts/wasm-go): vet and build"
for m in sdk/go-pdk examples/scripts/wasm-go; do
	(cd "$m" && GOOS=wasip1 GOARCH=wasm GOWORK=off go vet ./...)
done
scripts/build-wasm-example.sh

step "go test -race"
go test -race -count=1 -timeout 15m $(printf './%s/... ' "${MODULES[@]}")

# Valkey speaks the same protocol; the suites that start a real server (standalone, cluster,
# sentinel) run again against valkey-server, and redistest's TestFlavour checks it is Valkey.
step "Redis-backed tests against Valkey (RTMATE_TEST_REDIS=valkey)"
RTMATE_TEST_REDIS=valkey go test -race -count=1 -timeout 10m ./rtmate-server/internal/redistest/ \
	./rtmate-server/internal/engine/ ./rtmate-server/internal/store/ ./rtmate-server/internal/admin/
RTMATE_TEST_REDIS=valkey go test -race -count=1 -run 'TestPusherCluster' ./rtmate-server/test/

step "script hooks in Wasm without -race (compiled, as in production; -race uses the interpreter)"
go test -count=1 -run 'Wasm' ./rtmate-server/test/ ./rtmate-server/internal/script/

step "benchmarks, briefly (-benchtime=100x: they must run, their figures are not checked)"
bench_log=$(mktemp)
if ! go test -run '^$' -bench . -benchtime=100x -benchmem $(printf './%s/... ' "${MODULES[@]}") >"$bench_log" 2>&1; then
	cat "$bench_log"; rm -f "$bench_log"; exit 1
fi
grep -E '^(Benchmark|ok|FAIL)' "$bench_log" || true
rm -f "$bench_log"

if [ -z "${QUICK:-}" ]; then
	step "fuzz, briefly (10 s per decoder of untrusted input)"
	# Go's fuzz coordinator can give up on a worker that a starved machine did not schedule in
	# time ("context deadline exceeded", no failing input written): that is no finding, so such
	# a run gets one more try. A real finding writes its input to testdata and fails at once.
	fuzz() {
		local out
		if out=$(go test -run '^$' -fuzz "^$2\$" -fuzztime "${FUZZTIME:-10s}" "$1" 2>&1); then
			echo "$out" | tail -n 1; return 0
		fi
		if grep -q 'context deadline exceeded' <<<"$out" && ! grep -q 'Failing input written' <<<"$out"; then
			echo "$out" | tail -n 3; echo "fuzz $2: coordinator timeout, not a finding; running it again"
			go test -run '^$' -fuzz "^$2\$" -fuzztime "${FUZZTIME:-10s}" "$1"; return
		fi
		echo "$out"; return 1
	}
	for target in $(scripts/fuzz-targets.sh); do
		fuzz "${target%%:*}" "${target##*:}"
	done

	# --- issue 12: release archives and deploy/ ---------------------------------------------
	step "release build (linux/amd64): reproducible, -version, /healthz; deploy/ checks"
	scripts/release-test.sh
	scripts/check-deploy.sh

	step "JS SDK: node tests and the browser test"
	(cd sdk/js && npm run --silent test:all)

	step "Pusher compatibility: pusher-js (node and chromium), laravel-echo, the pusher SDK"
	(cd tests/pusher && npm test --silent)
fi
printf '\nall checks passed\n'
