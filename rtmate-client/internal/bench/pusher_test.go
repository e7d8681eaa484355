package bench

import "testing"

func TestPusherPushParses(t *testing.T) {
	data := appendData(nil, 1_700_000_000_000_000_000, 42, 7, 128)
	// What the server sends a Pusher subscriber for a native publication (pusher_mapping.go).
	push := append([]byte(`{"event":"message","channel":"bench-fanout","data":`), data...)
	push = append(push, '}')
	st, ok := parseOwn(push, pusherHeadFor("bench-fanout"))
	if !ok || st.seq != 42 || st.source != 7 || st.t != 1_700_000_000_000_000_000 {
		t.Fatalf("parseOwn: %+v %v", st, ok)
	}
	if fi := parsePush(push); fi.Kind != kindPush || fi.Seq != 42 {
		t.Fatalf("parsePush: %+v", fi)
	}
}

func TestPusherConfig(t *testing.T) {
	cases := []struct {
		name string
		cfg  Config
		ok   bool
	}{
		{"fanout", Config{Scenario: ScenarioFanout, Protocol: ProtocolPusher}, true},
		{"idle", Config{Scenario: ScenarioIdle, Protocol: ProtocolPusher}, true},
		{"rooms", Config{Scenario: ScenarioRooms, Protocol: ProtocolPusher, Rate: 1}, false},
		{"presence", Config{Scenario: ScenarioFanout, Protocol: ProtocolPusher, Presence: true}, false},
		{"unknown", Config{Scenario: ScenarioFanout, Protocol: "mqtt"}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.setDefaults()
			if (err == nil) != tc.ok {
				t.Fatalf("err = %v, want ok %v", err, tc.ok)
			}
		})
	}
	c := Config{Protocol: ProtocolPusher}
	if err := c.setDefaults(); err != nil {
		t.Fatal(err)
	}
	u, err := c.pusherURL("ws://127.0.0.1:3000/ws")
	if err != nil || u != "ws://127.0.0.1:3000/app/demo-key?protocol=7&client=rtmate-bench&version=1" {
		t.Fatalf("pusherURL: %q %v", u, err)
	}
	if !c.usesPusher(role{subscribe: true}) || c.usesPusher(role{publish: true}) {
		t.Fatal("usesPusher: receivers speak Pusher, publishers stay native")
	}
}
