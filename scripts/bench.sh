#!/usr/bin/env bash
# bench.sh reproduces docs/performance.md: it builds the server and the load tool, then runs
# each scenario against a fresh server (so RSS figures start from a clean heap), printing the
# tool's one-line summary and keeping the JSON results in bench-results/.
#
#   scripts/bench.sh                 every scenario (about 8 minutes)
#   scripts/bench.sh fanout-5k idle  only these
#   DURATION=60s scripts/bench.sh    longer measured phases
#   WRITE_COALESCE=0s scripts/bench.sh fanout-10k   with write coalescing off (A/B)
#   SOAK=600s scripts/bench.sh soak  the 10-minute memory-stability run at half load
#   MAX_RATES="300 500" scripts/bench.sh fanout-max   publication rates tried for the ceiling
#   scripts/bench.sh idle idle-pusher fanout-5k fanout-5k-pusher   native vs Pusher protocol
#   scripts/bench.sh fanout-1k fanout-1k-scripted   an unscripted app's fan-out alone and next
#                                    to a busy scripted app (SCRIPT_RATE publications/s, default 150)
#   scripts/bench.sh rooms rooms-moderated   rooms without and with examples/scripts/moderation.lua
#                                    on the publish hook
#
# Everything runs on loopback; the load tool spreads its connections over 127.0.0.2-250.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD
OUT=$ROOT/bench-results
mkdir -p "$OUT" bin
go build -o bin/rtmate-server ./rtmate-server/cmd/rtmate-server
go build -o bin/rtmate-bench ./rtmate-client/cmd/rtmate-bench

DUR=${DURATION:-20s}
PORT=${PORT:-3900}
URL=ws://127.0.0.1:$PORT/ws
SECRET=bench-secret-0123456789abcdef0123456789
CFG=$(mktemp --suffix=.yaml)
SCRIPTED=$(mktemp -d) # fanout-1k-scripted: its config and script (a config's script paths are relative to it)
MODERATED=$(mktemp -d) # rooms-moderated: the bench app with examples/scripts/moderation.lua
trap 'rm -rf "$CFG" "$SCRIPTED" "$MODERATED"; [ -n "${BG:-}" ] && kill "$BG" 2>/dev/null; [ -n "${SRV:-}" ] && kill "$SRV" 2>/dev/null || true' EXIT
cat >"$CFG" <<YAML
listen: "127.0.0.1:$PORT"
log: {level: warn}
pprof: ${PPROF:-false}
${WRITE_COALESCE:+write_coalesce: $WRITE_COALESCE}
apps:
  - id: bench
    secret: "$SECRET"
    limits:
      rate: -1                     # the load tool publishes as fast as it is told to
      max_queue_bytes: 4194304
    pusher: {key: bench-key, secret: "$SECRET"}   # the -protocol pusher scenarios
YAML

# fanout-1k-scripted's server: the bench app plus "scripted", whose publish hook burns ~4-5 ms
# of CPU per call (14000 Lua loop iterations on the 2-core box; timeout 20ms because a timeout
# is wall time and the box is shared).
cp "$CFG" "$SCRIPTED/config.yaml"
cat >>"$SCRIPTED/config.yaml" <<YAML
  - id: scripted
    secret: "$SECRET"
    limits: {rate: -1, max_queue_bytes: 4194304}
    scripts:
      - {name: busy, file: busy.lua, hooks: [publish], timeout: 20ms}
YAML
cat >"$SCRIPTED/busy.lua" <<'LUA'
function on_publish(ctx)
  local x = 0
  for i = 1, 14000 do x = x + i % 7 end
  return nil
end
LUA

# rooms-moderated's server: the bench config, its app's publications through the moderation example.
cp "$CFG" "$MODERATED/config.yaml"
cp examples/scripts/moderation.lua "$MODERATED/"
cat >>"$MODERATED/config.yaml" <<YAML
    scripts:
      - {name: moderation, file: moderation.lua, hooks: [publish]}
YAML

start_server() { # name [config]
	bin/rtmate-server -config "${2:-$CFG}" >"$OUT/server-$1.log" 2>&1 &
	SRV=$!
	for _ in $(seq 50); do
		curl -fs "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	echo "server did not start: $(cat "$OUT/server-$1.log")" >&2
	exit 1
}
stop_server() { kill "$SRV"; wait "$SRV" 2>/dev/null || true; SRV=; }

run() { # name, scenario, then rtmate-bench flags (CONFIG: another server config)
	local name=$1 scenario=$2; shift 2
	start_server "$name" "${CONFIG:-$CFG}"
	if [ "$name" = soak ]; then # RSS and goroutines every 30 s: memory must stay flat
		(while kill -0 "$SRV" 2>/dev/null; do
			printf '%s rss_kib=%s\n' "$(date +%T)" "$(awk '/VmRSS/{print $2}' /proc/"$SRV"/status 2>/dev/null)"
			sleep 30
		done) >"$OUT/soak-rss.txt" &
	fi
	printf '%-16s ' "$name"
	bin/rtmate-bench "$scenario" -q -url "$URL" -app bench -secret "$SECRET" -server-pid "$SRV" -out "$OUT/$name.json" "$@"
	stop_server
}

run_scripted() { # fanout-1k on the bench app while a second tool publishes to the scripted app
	local name=fanout-1k-scripted
	if ! [[ $DUR =~ ^[0-9]+s$ ]]; then
		echo "$name needs DURATION in seconds (20s), got $DUR" >&2
		exit 2
	fi
	start_server "$name" "$SCRIPTED/config.yaml"
	bin/rtmate-bench fanout -q -url "$URL" -app scripted -secret "$SECRET" -n 1 -rate "${SCRIPT_RATE:-150}" \
		-size 128 -duration "$((${DUR%s} + 4))s" -out "$OUT/$name-scripted.json" >"$OUT/$name-scripted.txt" &
	BG=$!
	sleep 1 # the scripted load is running before the measured fan-out connects, and outlasts it
	printf '%-16s ' "$name"
	bin/rtmate-bench fanout -q -url "$URL" -app bench -secret "$SECRET" -server-pid "$SRV" -out "$OUT/$name.json" \
		-n 1000 -rate 100 -size 128 -duration "$DUR"
	wait "$BG" || echo "scripted load: rtmate-bench exited $?" >&2
	BG=
	printf '%-16s scripted app: %s\n' '' "$(cat "$OUT/$name-scripted.txt")"
	stop_server
}

scenario() {
	case $1 in
	idle)         run idle         idle    -n 15000 -procs 2 -duration "$DUR" ;;
	connect)      run connect      connect -n 10000 -concurrency 256 -procs 2 ;;
	fanout-1k)    run fanout-1k    fanout  -n 1000  -rate 100 -size 128 -duration "$DUR" ;;
	fanout-1k-scripted) run_scripted ;; # docs/performance.md, "Script hooks"
	fanout-5k)    run fanout-5k    fanout  -n 5000  -rate 20  -size 128 -duration "$DUR" ;;
	fanout-10k)   run fanout-10k   fanout  -n 10000 -rate 200 -size 128 -duration "$DUR" ;;
	fanout-10k-10) run fanout-10k-10 fanout -n 10000 -rate 10 -size 128 -duration "$DUR" ;; # Centrifugo's saturating load
	fanout-max) # the zero-loss ceiling: fixed rates, highest with nothing lost or disconnected
		for r in ${MAX_RATES:-300 400 500}; do
			run "fanout-max-$r" fanout -n 10000 -rate "$r" -size 128 -duration "$DUR"
		done ;;
	rooms)        run rooms        rooms   -rooms 1000 -room-size 5 -rate 1 -size 128 -duration "$DUR" ;;
	rooms-moderated) CONFIG=$MODERATED/config.yaml run rooms-moderated rooms -rooms 1000 -room-size 5 -rate 1 -size 128 -duration "$DUR" ;;
	# The same loads received over the Pusher protocol (docs/performance.md, "Pusher protocol").
	idle-pusher)  run idle-pusher  idle    -n 15000 -procs 2 -duration "$DUR" -protocol pusher -pusher-key bench-key ;;
	fanout-5k-pusher) run fanout-5k-pusher fanout -n 5000 -rate 20 -size 128 -duration "$DUR" -protocol pusher -pusher-key bench-key ;;
	fanout-10k-pusher) run fanout-10k-pusher fanout -n 10000 -rate 200 -size 128 -duration "$DUR" -protocol pusher -pusher-key bench-key ;;
	soak)         run soak         fanout  -n 5000  -rate 10 -size 128 -duration "${SOAK:-600s}" ;;
	*) echo "unknown scenario $1" >&2; exit 2 ;;
	esac
}

if [ $# -eq 0 ]; then
	set -- idle connect fanout-1k fanout-5k fanout-10k-10 fanout-10k fanout-max rooms
fi
for s in "$@"; do scenario "$s"; done
