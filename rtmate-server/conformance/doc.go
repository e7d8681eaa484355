// Package conformance holds black-box RFC 6455 tests of the server's framing: they start a
// real server with conformance_echo on and talk to GET /ws/echo (and /ws) over loopback
// sockets, writing every frame byte for byte, valid or not, so that they cover what
// Autobahn|Testsuite's fuzzingclient checks in its case families 1–7, 9 and 10 (framing,
// pings and pongs, reserved bits, opcodes, fragmentation, UTF-8, closing handshake, limits,
// autofragmentation). Families 12 and 13 (permessage-deflate) do not apply: the server
// negotiates no extension. Run them with
//
//	go test -race ./rtmate-server/conformance/
//
// # Running Autobahn|Testsuite against the server
//
// Autobahn needs Docker, which CI machines may lack; the tests here stand in for it. Where
// Docker is available, start the server with a config that turns the echo endpoint on (it is
// never on by default, and it needs no token):
//
//	# conformance.yaml
//	listen: "127.0.0.1:9001"
//	conformance_echo: true
//	apps:
//	  - id: conformance
//	    secret: "conformance-secret-not-used-by-the-echo-endpoint"
//
//	go build -o bin/rtmate-server ./rtmate-server/cmd/rtmate-server
//	bin/rtmate-server -config conformance.yaml
//
// then point the fuzzing client at /ws/echo:
//
//	// autobahn/fuzzingclient.json
//	{
//	  "outdir": "/reports/servers",
//	  "servers": [{"agent": "rtmate", "url": "ws://127.0.0.1:9001/ws/echo"}],
//	  "cases": ["*"],
//	  "exclude-cases": ["12.*", "13.*"],
//	  "exclude-agent-cases": {}
//	}
//
//	docker run --rm --network host \
//	  -v "$PWD/autobahn:/config" -v "$PWD/autobahn/reports:/reports" \
//	  crossbario/autobahn-testsuite \
//	  wstest -m fuzzingclient -s /config/fuzzingclient.json
//
// and open autobahn/reports/servers/index.html. The echo endpoint accepts messages up to
// 16 MiB (family 9 sends that much); every case of families 1–10 is expected to pass, with
// 6.4.x (fail fast on invalid UTF-8) strict, since the reader checks text as it arrives.
// Close codes 5000 and 65535 (7.13, informational) are refused with 1002.
package conformance
