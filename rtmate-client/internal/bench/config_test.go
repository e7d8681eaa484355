package bench

import (
	"testing"
	"time"
)

func TestPlan(t *testing.T) {
	tests := []struct {
		name     string
		cfg      Config
		total    int
		check    map[int]role
		channels map[int]string
	}{
		{
			name:  "fanout",
			cfg:   Config{Scenario: ScenarioFanout, Conns: 3, Channel: "b"},
			total: 4,
			check: map[int]role{
				0: {channel: 0, subscribe: true, source: -1, slotBase: 3, slots: 1},
				3: {channel: 0, publish: true, source: 3, slotBase: 3, slots: 1},
			},
			channels: map[int]string{0: "b-fanout"},
		},
		{
			name:  "rooms",
			cfg:   Config{Scenario: ScenarioRooms, Rooms: 2, RoomSize: 3, Channel: "b", Presence: true},
			total: 6,
			check: map[int]role{
				0: {channel: 0, subscribe: true, publish: true, source: 0, slotBase: 0, slots: 3},
				4: {channel: 1, subscribe: true, publish: true, source: 4, slotBase: 3, slots: 3},
			},
			channels: map[int]string{1: "presence-b-room-1"},
		},
		{
			name:     "idle",
			cfg:      Config{Scenario: ScenarioIdle, Conns: 250, Channel: "b"},
			total:    250,
			check:    map[int]role{0: {channel: 0, subscribe: true, source: -1}, 149: {channel: 49, subscribe: true, source: -1}},
			channels: map[int]string{7: "b-idle-7"},
		},
		{
			name:  "connect",
			cfg:   Config{Scenario: ScenarioConnect, Conns: 5},
			total: 5,
			check: map[int]role{2: {channel: -1, source: -1}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.cfg.Total(); got != tt.total {
				t.Fatalf("Total = %d, want %d", got, tt.total)
			}
			for i, want := range tt.check {
				if got := tt.cfg.roleOf(i); got != want {
					t.Errorf("roleOf(%d) = %+v, want %+v", i, got, want)
				}
			}
			for ch, want := range tt.channels {
				if got := tt.cfg.channelName(ch); got != want {
					t.Errorf("channelName(%d) = %q, want %q", ch, got, want)
				}
			}
		})
	}
}

func TestExpected(t *testing.T) {
	tests := []struct {
		name  string
		cfg   Config
		acked map[int]int64
		want  int64
	}{
		{"fanout", Config{Scenario: ScenarioFanout, Conns: 50}, map[int]int64{0: 40}, 2000},
		{"rooms", Config{Scenario: ScenarioRooms, Rooms: 3, RoomSize: 4}, map[int]int64{0: 10, 1: 5, 2: 0}, 60},
		{"idle", Config{Scenario: ScenarioIdle, Conns: 9}, map[int]int64{}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.cfg.expected(tt.acked); got != tt.want {
				t.Fatalf("expected = %d, want %d", got, tt.want)
			}
		})
	}
}

func TestShareCoversAll(t *testing.T) {
	for _, tc := range []struct{ total, procs int }{{1, 1}, {10, 3}, {20001, 2}, {7, 7}, {100, 64}} {
		next := 0
		for w := range tc.procs {
			from, to := share(tc.total, w, tc.procs)
			if from != next || to < from {
				t.Fatalf("total %d procs %d: worker %d gets [%d,%d), want from %d", tc.total, tc.procs, w, from, to, next)
			}
			next = to
		}
		if next != tc.total {
			t.Fatalf("total %d procs %d: shares end at %d", tc.total, tc.procs, next)
		}
	}
}

func TestSetDefaults(t *testing.T) {
	tests := []struct {
		name    string
		cfg     Config
		wantErr bool
	}{
		{"defaults", Config{}, false},
		{"ipv6 loopback", Config{URL: "ws://[::1]:3000/ws"}, false},
		{"localhost", Config{URL: "ws://localhost:3000/ws"}, false},
		{"not loopback", Config{URL: "ws://10.0.0.1:3000/ws"}, true},
		{"hostname", Config{URL: "ws://example.com/ws"}, true},
		{"tls", Config{URL: "wss://127.0.0.1/ws"}, true},
		{"unknown scenario", Config{Scenario: "storm"}, true},
		{"rooms without rate", Config{Scenario: ScenarioRooms}, true},
		{"negative rate", Config{Rate: -1}, true},
		{"too many procs", Config{Procs: 65}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.setDefaults()
			if (err != nil) != tt.wantErr {
				t.Fatalf("error = %v", err)
			}
			if err == nil && (tt.cfg.Duration != 10*time.Second || tt.cfg.Timeout < tt.cfg.Duration) {
				t.Fatalf("defaults not applied: %+v", tt.cfg)
			}
		})
	}
}
