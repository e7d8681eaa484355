#!/usr/bin/env bash
# bench-cluster.sh measures cross-node fan-out on a Redis Cluster (docs/scaling.md): it starts a
# 3-master + 3-replica Redis Cluster and three rtmate-server nodes on free loopback ports, then
# runs rtmate-bench fanout in the same run — every connection on node 1, then connections
# spread over the three nodes (the publisher on one, two thirds of the subscribers elsewhere:
# every publication crosses Redis) — at a fixed rate and as fast as the server accepts.
#
#   scripts/bench-cluster.sh
#   N=1000 RATE=100 DURATION=15s scripts/bench-cluster.sh
#   WRITE_COALESCE=0s scripts/bench-cluster.sh    the nodes with write coalescing off (A/B)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
N=${N:-1000}
# RATES="100 0": the publication rates to run (0 = as fast as the server accepts).
RATE=${RATE:-100}
DUR=${DURATION:-15s}
SECRET=bench-secret-0123456789abcdef0123456789
go build -o bin/rtmate-server ./rtmate-server/cmd/rtmate-server
go build -o bin/rtmate-bench ./rtmate-client/cmd/rtmate-bench
TMP=$(mktemp -d)
PIDS=()
cleanup() {
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
# A free port whose cluster bus port (port+10000) is a free port too.
freeport() {
	python3 - <<'PY'
import socket
while True:
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]
    if p + 10000 <= 65535:
        b = socket.socket()
        try:
            b.bind(("127.0.0.1", p + 10000)); b.close(); s.close(); print(p); break
        except OSError:
            pass
    s.close()
PY
}

addrs=()
for i in 1 2 3 4 5 6; do
	p=$(freeport)
	mkdir -p "$TMP/r$i"
	redis-server --port "$p" --bind 127.0.0.1 --save "" --appendonly no --dir "$TMP/r$i" \
		--cluster-enabled yes --cluster-config-file nodes.conf --cluster-node-timeout 2000 \
		--logfile "$TMP/r$i/redis.log" >/dev/null 2>&1 &
	PIDS+=($!)
	addrs+=("127.0.0.1:$p")
done
for a in "${addrs[@]}"; do
	until redis-cli -h 127.0.0.1 -p "${a##*:}" ping >/dev/null 2>&1; do sleep 0.05; done
done
redis-cli --cluster create "${addrs[@]}" --cluster-replicas 1 --cluster-yes >"$TMP/create.log"
until redis-cli -p "${addrs[0]##*:}" cluster info | grep -q cluster_state:ok; do sleep 0.1; done
sleep 1
seeds=$(printf '"%s",' "${addrs[@]}"); seeds=${seeds%,}

urls=()
for i in 1 2 3; do
	p=$(freeport)
	cat >"$TMP/n$i.yaml" <<YAML
listen: "127.0.0.1:$p"
log: {level: warn}
${WRITE_COALESCE:+write_coalesce: $WRITE_COALESCE}
engine: {type: redis, redis: {cluster: true, addresses: [$seeds]}}
apps:
  - id: bench
    secret: "$SECRET"
    limits: {rate: -1, max_queue_bytes: 4194304}
YAML
	bin/rtmate-server -config "$TMP/n$i.yaml" >"$TMP/n$i.log" 2>&1 &
	PIDS+=($!)
	urls+=("ws://127.0.0.1:$p/ws")
	until curl -fs "http://127.0.0.1:$p/readyz" >/dev/null 2>&1; do sleep 0.05; done
done

# Two loads: the fixed rate (RATE/s), and as fast as the server accepts (-rate 0), where
# the cross-node cost would show as lower throughput.
# After each run: the CPU seconds each process used during it (where a cluster's extra cost goes).
NODES=("${PIDS[@]: -3}")
REDIS=("${PIDS[@]:0:6}")
cpu() { # PID...: their utime+stime in clock ticks
	local t=0 p
	for p in "$@"; do t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat"))); done
	echo "$t"
}
measure() { # label, then the rtmate-bench command
	local label=$1; shift
	local n1 n2 n3 r0
	n1=$(cpu "${NODES[0]}"); n2=$(cpu "${NODES[1]}"); n3=$(cpu "${NODES[2]}"); r0=$(cpu "${REDIS[@]}")
	echo "=== $label: $*"
	"$@"
	local hz
	hz=$(getconf CLK_TCK)
	awk -v a="$(($(cpu "${NODES[0]}") - n1))" -v b="$(($(cpu "${NODES[1]}") - n2))" -v c="$(($(cpu "${NODES[2]}") - n3))" \
		-v r="$(($(cpu "${REDIS[@]}") - r0))" -v hz="$hz" \
		'BEGIN { printf "    cpu: node1 %.1fs node2 %.1fs node3 %.1fs redis (6) %.1fs\n", a/hz, b/hz, c/hz, r/hz }'
}
for rate in ${RATES:-$RATE 0}; do
	B="bin/rtmate-bench fanout -q -app bench -secret $SECRET -n $N -rate $rate -window ${WINDOW:-16} -size 128 -duration $DUR"
	measure "rate $rate, 1 node (Redis Cluster engine)" $B -url "${urls[0]}"
	measure "rate $rate, 3 nodes (Redis Cluster engine)" $B -url "${urls[0]},${urls[1]},${urls[2]}"
done
