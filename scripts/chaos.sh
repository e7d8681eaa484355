#!/usr/bin/env bash
# chaos.sh runs the slow failure tests against real processes, longer and repeated than CI
# does (RTMATE_CHAOS=1), and prints their RESULT lines (docs/scaling.md#tests summarises the
# latest run):
#   - Redis Cluster (3 masters + 3 replicas, redis-cli --cluster create): cross-shard
#     delivery, a master killed under 200 publications/s from three nodes, a slot range
#     resharded under load, cluster-wide API operations, max_connections over the cluster;
#   - Sentinel (master + replica + 3 sentinels): the master killed under the same load;
#   - a rolling restart (drain with SIGUSR1, start again) of three real rtmate-server
#     processes under load with Go SDK clients behind a /readyz-following load balancer;
#   - with three real rtmate-server processes and Go SDK clients (rtmate-client/client,
#     ha_real_test.go): a cluster master killed, a Sentinel master killed, and a slot range
#     resharded, each under 200 publications/s.
#
#   scripts/chaos.sh            every test, 3 rounds
#   ROUNDS=1 scripts/chaos.sh   one round
# Needs redis-server and redis-cli (scripts/install-test-deps.sh). Takes several minutes.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROUNDS=${ROUNDS:-3}
export RTMATE_CHAOS=1
log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
run() {
	local pkg=$1 pattern=$2
	printf '\n=== go test -run %s %s (x%s)\n' "$pattern" "$pkg" "$ROUNDS"
	if ! go test -count="$ROUNDS" -timeout 30m -v -run "$pattern" "$pkg" >"$log" 2>&1; then
		status=1
		grep -E -- '--- FAIL|FAIL|Error|error' "$log" | grep -v 'logger.go' | head -40 || true
	fi
	grep -E 'RESULT|--- (PASS|FAIL)' "$log" | sed 's/^ *//' || true
}
run ./rtmate-server/internal/engine/ 'TestKeySlot|TestClusterDelivery|TestClusterMasterFailover|TestSentinelFailover|TestClusterReshard|TestClusterWideAPI|TestClusterMaxConnections'
run ./rtmate-client/client/ 'TestRollingRestartNoLoss|TestClusterFailoverRealProcesses|TestSentinelFailoverRealProcesses|TestClusterReshardRealProcesses'
if [ "$status" -ne 0 ]; then
	echo; echo "chaos: FAILED"; exit 1
fi
echo; echo "chaos: all passed"
