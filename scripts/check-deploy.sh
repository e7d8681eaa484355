#!/usr/bin/env bash
# check-deploy.sh checks deploy/ as far as this machine allows (no container runtime here):
#   - deploy/rtmate.yaml passes rtmate-server -check-config,
#   - deploy/rtmate.service passes systemd-analyze verify, and its offline security exposure
#     stays at or below 2.0 ("OK"),
#   - deploy/nginx-rtmate.conf passes nginx -t inside a minimal nginx.conf (with a throwaway
#     self-signed certificate in place of the real one), and, run on a free loopback port in
#     front of a running server, proxies /healthz and a WebSocket upgrade and hides /metrics,
#   - deploy/Dockerfile: hadolint when installed; without it, the structural rules the image
#     must keep (distroless or scratch final stage, non-root USER, EXPOSE, a HEALTHCHECK
#     through the binary, exec-form ENTRYPOINT, no :latest).
# A missing tool (systemd-analyze, nginx, openssl, hadolint) is reported and its check
# skipped, unless CHECK_DEPLOY_STRICT=1, which makes it an error.
#
#   scripts/check-deploy.sh                       build rtmate-server to a temp dir
#   RTMATE_SERVER=path scripts/check-deploy.sh    use that binary
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD
. scripts/lib-server.sh
work=$(mktemp -d)
SERVER_PID= NGINX_PID=
cleanup() {
	for pid in $SERVER_PID $NGINX_PID; do kill "$pid" 2>/dev/null || true; done
	rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "check-deploy: FAIL: $*" >&2; exit 1; }
skip() {
	if [ -n "${CHECK_DEPLOY_STRICT:-}" ]; then fail "$1 not installed"; fi
	echo "check-deploy: SKIP $2: $1 not installed"
}

server=${RTMATE_SERVER:-}
if [ -z "$server" ]; then
	server=$work/rtmate-server
	CGO_ENABLED=0 go build -trimpath -o "$server" ./rtmate-server/cmd/rtmate-server
fi

# 1. The example config, as the server would load it (without the caller's RTMATE_* overrides).
env -u RTMATE_LISTEN -u RTMATE_LOG_LEVEL -u RTMATE_LOG_FORMAT -u RTMATE_REDIS_ADDRESS \
	"$server" -check-config deploy/rtmate.yaml
echo "check-deploy: ok deploy/rtmate.yaml passes -check-config"

# 2. The systemd unit. verify wants the ExecStart binaries to exist: point them at ours.
if command -v systemd-analyze >/dev/null; then
	mkdir -p "$work/unit"
	sed "s|/usr/local/bin/rtmate-server|$server|g" deploy/rtmate.service >"$work/unit/rtmate.service"
	systemd-analyze verify "$work/unit/rtmate.service"
	exposure=$(systemd-analyze security --offline=yes "$work/unit/rtmate.service" 2>/dev/null |
		sed -n 's/.*Overall exposure level for rtmate.service: \([0-9.]*\).*/\1/p')
	[ -n "$exposure" ] || fail "systemd-analyze security printed no exposure level"
	awk -v e="$exposure" 'BEGIN { exit !(e <= 2.0) }' || fail "rtmate.service exposure $exposure, want <= 2.0"
	echo "check-deploy: ok deploy/rtmate.service passes systemd-analyze verify (exposure $exposure)"
else
	skip systemd-analyze deploy/rtmate.service
fi

# 3. The nginx snippet inside a minimal main config.
if command -v nginx >/dev/null && command -v openssl >/dev/null; then
	n=$work/nginx
	mkdir -p "$n/logs" "$n/tmp"
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=rt.example.com -days 1 \
		-keyout "$n/tls.key" -out "$n/tls.crt" 2>/dev/null
	sed -e "s|/etc/nginx/tls/rt.example.com.crt|$n/tls.crt|" -e "s|/etc/nginx/tls/rt.example.com.key|$n/tls.key|" \
		deploy/nginx-rtmate.conf >"$n/rtmate.conf"
	cat >"$n/nginx.conf" <<NGINX
pid $n/nginx.pid;
error_log stderr;
worker_rlimit_nofile 1048576;
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path $n/tmp;
    include $n/rtmate.conf;
}
NGINX
	nginx -t -q -p "$n" -e stderr -c "$n/nginx.conf" || fail "nginx -t rejects deploy/nginx-rtmate.conf"
	echo "check-deploy: ok deploy/nginx-rtmate.conf passes nginx -t"

	# And it really proxies: nginx on a free loopback port in front of a running server.
	if command -v python3 >/dev/null && command -v curl >/dev/null; then
		port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
		printf 'listen: 127.0.0.1:0\nlog: {format: json}\napps: [{id: deploy-check, secret: deploy-check-secret}]\n' >"$work/server.yaml"
		start_server "$server" "$work/server.yaml" "$work/server.log" || fail "rtmate-server did not start"
		sed -e "s|listen 443 ssl;|listen 127.0.0.1:$port ssl;|" -e '/listen \[::\]:443 ssl;/d' \
			-e "s|server 127.0.0.1:3000 |server $SERVER_ADDR |" "$n/rtmate.conf" >"$n/rtmate-run.conf"
		sed "s|$n/rtmate.conf|$n/rtmate-run.conf|" "$n/nginx.conf" >"$n/nginx-run.conf"
		nginx -p "$n" -e stderr -c "$n/nginx-run.conf" -g 'daemon off; master_process off;' 2>"$n/error.log" &
		NGINX_PID=$!
		base=https://127.0.0.1:$port
		for _ in $(seq 1 50); do curl -ks --max-time 1 -o /dev/null "$base/healthz" && break; sleep 0.1; done
		[ "$(curl -ksS --max-time 5 "$base/healthz")" = ok ] || fail "GET /healthz through nginx: $(cat "$n/error.log")"
		status=$(curl -ks --max-time 5 -o /dev/null -w '%{http_code}' "$base/metrics")
		[ "$status" = 404 ] || fail "/metrics through nginx answered $status, want 404 (kept off the public side)"
		# curl waits on the upgraded connection until --max-time; the status line is what counts.
		status=$(curl -ks --http1.1 --max-time 2 -o /dev/null -w '%{http_code}' -H 'Connection: Upgrade' -H 'Upgrade: websocket' \
			-H 'Sec-WebSocket-Version: 13' -H 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==' "$base/ws" || true)
		[ "$status" = 101 ] || fail "WebSocket upgrade through nginx answered $status, want 101: $(cat "$n/error.log")"
		kill "$NGINX_PID" && wait "$NGINX_PID" || true
		NGINX_PID=
		stop_server || fail "rtmate-server exited with $? after SIGTERM"
		echo "check-deploy: ok nginx with deploy/nginx-rtmate.conf proxies /healthz and the WebSocket upgrade (101), hides /metrics"
	else
		skip "python3 or curl" "the live nginx proxy check"
	fi
else
	skip "nginx or openssl" deploy/nginx-rtmate.conf
fi

# 4. The Dockerfile.
df=deploy/Dockerfile
if command -v hadolint >/dev/null; then
	hadolint "$df"
	echo "check-deploy: ok $df passes hadolint"
else
	echo "check-deploy: hadolint not installed (not in Debian, npm or the Go proxy): structural checks only"
fi
final=$(awk '/^FROM /{stage=""} {stage = stage $0 "\n"} END {printf "%s", stage}' "$df")
grep -Eq '^FROM (gcr\.io/distroless/static[^ ]*|scratch)( |$)' <<<"$final" || fail "$df: the final stage is not distroless/static or scratch"
user=$(grep -E '^USER ' <<<"$final" | tail -1 | awk '{print $2}')
case ${user%%:*} in
"" | 0 | root) fail "$df: the final stage runs as root (USER '${user}')" ;;
esac
grep -Eq '^EXPOSE [0-9]+' <<<"$final" || fail "$df: no EXPOSE"
grep -Eq '^HEALTHCHECK .*CMD \["/usr/local/bin/rtmate-server", "-healthcheck",' <<<"$(sed -e ':a' -e '/\\$/N; s/\\\n *//; ta' "$df")" ||
	fail "$df: HEALTHCHECK must run rtmate-server -healthcheck (exec form; no shell in the image)"
grep -Eq '^ENTRYPOINT \[' <<<"$final" || fail "$df: ENTRYPOINT must be exec form (no shell in the image)"
if grep -v '^FROM scratch' "$df" | grep -Eq '^FROM [^ ]*:latest( |$)|^FROM [^ :@]+( |$)'; then
	fail "$df: an image without a pinned tag"
fi
grep -q -- '-check-config deploy/rtmate.yaml' "$df" || fail "$df: the build stage must check deploy/rtmate.yaml"
echo "check-deploy: ok $df: distroless, USER $user, EXPOSE, HEALTHCHECK through the binary"
