# lib-server.sh: helpers for scripts that run a built rtmate-server (sourced, not run).

# start_server BIN CONFIG LOG starts BIN -config CONFIG (which should listen on port 0) without
# the caller's RTMATE_* overrides, waits up to 10 s for its "listening" log line and sets
# SERVER_PID and SERVER_ADDR (host:port). The caller stops it: stop_server.
start_server() {
	local bin=$1 config=$2 log=$3
	: >"$log"
	env -u RTMATE_LISTEN -u RTMATE_REDIS_ADDRESS -u RTMATE_LOG_FORMAT -u RTMATE_LOG_LEVEL \
		"$bin" -config "$config" 2>"$log" &
	SERVER_PID=$!
	SERVER_ADDR=
	for _ in $(seq 1 100); do
		SERVER_ADDR=$(grep -o '"msg":"listening","addr":"[^"]*"' "$log" | sed 's/.*"addr":"\([^"]*\)"/\1/' || true)
		[ -n "$SERVER_ADDR" ] && return 0
		kill -0 "$SERVER_PID" 2>/dev/null || { echo "server exited: $(cat "$log")" >&2; SERVER_PID=; return 1; }
		sleep 0.1
	done
	echo "server did not log its address within 10 s: $(cat "$log")" >&2
	return 1
}

# stop_server sends SIGTERM to SERVER_PID and fails unless it exits 0.
stop_server() {
	[ -n "${SERVER_PID:-}" ] || return 0
	local pid=$SERVER_PID
	SERVER_PID=
	kill -TERM "$pid"
	wait "$pid"
}
