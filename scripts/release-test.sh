#!/usr/bin/env bash
# release-test.sh checks what scripts/release.sh makes, for linux/amd64 (this machine):
#   - two builds of the same commit give the same SHA256SUMS (reproducible archives),
#   - the archive holds the four binaries, LICENSE, README.md and deploy/, and its sums verify,
#   - each binary's -version prints the release version, the commit and the commit's date,
#   - the archived rtmate-server passes -check-config on the archived deploy/rtmate.yaml,
#     starts on a free loopback port, answers /healthz (curl and its own -healthcheck) and
#     stops cleanly on SIGTERM.
# The second build reuses the Go build cache; RELEASE_TEST_COLD=1 gives it an empty one
# (a full rebuild, several minutes on a busy machine) so that nothing cached can hide a
# difference.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD
. scripts/lib-server.sh
VERSION=v0.0.0-releasetest
PLATFORM=linux/amd64
NAME=rtmate-$VERSION-linux-amd64

work=$(mktemp -d)
SERVER_PID=
cleanup() {
	if [ -n "$SERVER_PID" ]; then kill "$SERVER_PID" 2>/dev/null || true; fi
	rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "release-test: FAIL: $*" >&2; exit 1; }

head_before=$(git rev-parse HEAD)
PLATFORMS=$PLATFORM DIST=$work/a scripts/release.sh "$VERSION" >/dev/null
if [ -n "${RELEASE_TEST_COLD:-}" ]; then
	GOCACHE=$work/gocache PLATFORMS=$PLATFORM DIST=$work/b scripts/release.sh "$VERSION" >/dev/null
else
	# Another umask and time zone must not change a byte either.
	(umask 0002 && TZ=Asia/Shanghai PLATFORMS=$PLATFORM DIST=$work/b scripts/release.sh "$VERSION" >/dev/null)
fi
# A commit made meanwhile changes the stamped commit and date: that is not a reproducibility bug.
[ "$(git rev-parse HEAD)" = "$head_before" ] || fail "HEAD moved during the test; run it again"
cmp -s "$work/a/SHA256SUMS" "$work/b/SHA256SUMS" ||
	fail "two builds differ:"$'\n'"$(cat "$work/a/SHA256SUMS" "$work/b/SHA256SUMS")"
(cd "$work/a" && sha256sum --quiet -c SHA256SUMS) || fail "SHA256SUMS does not verify"
echo "release-test: reproducible: $(cat "$work/a/SHA256SUMS")"

tar -xzf "$work/a/$NAME.tar.gz" -C "$work"
dir=$work/$NAME
for f in rtmate-server rtmate rtmate-token rtmate-bench LICENSE README.md deploy/rtmate.yaml deploy/rtmate.service deploy/Dockerfile; do
	[ -e "$dir/$f" ] || fail "$NAME.tar.gz lacks $f"
done
owners=$(tar -tvzf "$work/a/$NAME.tar.gz" | awk '{print $2}' | sort -u)
[ "$owners" = "0/0" ] || fail "archive entries owned by $owners, want 0/0"

commit=$(git rev-parse HEAD)
for b in rtmate-server rtmate rtmate-token rtmate-bench; do
	if command -v file >/dev/null; then
		file "$dir/$b" | grep -q 'statically linked' || fail "$b is not statically linked: $(file "$dir/$b")"
	fi
	out=$("$dir/$b" -version)
	case $out in
	"$b $VERSION (commit $commit"*", built $(date -u -d "@$(git log -1 --format=%ct)" +%Y-%m-%dT%H:%M:%SZ), go"*" linux/amd64)") ;;
	*) fail "$b -version printed: $out" ;;
	esac
	echo "release-test: $out"
done

env -u RTMATE_LISTEN -u RTMATE_REDIS_ADDRESS "$dir/rtmate-server" -check-config "$dir/deploy/rtmate.yaml" >/dev/null ||
	fail "the archived deploy/rtmate.yaml does not pass -check-config"

# Start the archived server on a free port (port 0; the log line says which).
cat >"$work/rtmate.yaml" <<'YAML'
listen: 127.0.0.1:0
log: {level: info, format: json}
apps: [{id: release-test, secret: release-test-secret}]
YAML
start_server "$dir/rtmate-server" "$work/rtmate.yaml" "$work/server.log" || fail "the archived server did not start"
addr=$SERVER_ADDR
body=$(curl -fsS --max-time 5 "http://$addr/healthz") || fail "GET /healthz failed"
[ "$(echo "$body" | tr -d '\n')" = ok ] || fail "/healthz answered $body"
"$dir/rtmate-server" -healthcheck "http://$addr/healthz" || fail "-healthcheck against the running server failed"
stop_server || fail "server exited with $? after SIGTERM: $(cat "$work/server.log")"
echo "release-test: $NAME started on $addr, answered /healthz, stopped on SIGTERM"
