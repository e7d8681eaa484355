package engine_test

import (
	"testing"
	"time"

	"github.com/rtmate/rtmate/rtmate-server/internal/engine"
	"github.com/rtmate/rtmate/rtmate-server/internal/redistest"
	"github.com/rtmate/rtmate/rtmate-server/internal/server"
	"github.com/rtmate/rtmate/rtmate-server/internal/testserver"
)

// Epoch changes under a subscriber that joined a channel at offset S and has received nothing
// since: the new epoch's offsets restart at 1, and none of 1..S may be taken for a
// publication the subscriber already has.

// TestClusterEpochChangeAfterSubscribe: Redis loses its data (FLUSHALL) between a subscribe
// at offset 3 and the next publications.
func TestClusterEpochChangeAfterSubscribe(t *testing.T) {
	rds := redistest.Start(t)
	a, b := startNode(t, rds, "a", nodeConfig{}), startNode(t, rds, "b", nodeConfig{})
	pub := dial(t, a, "publisher")
	for i := 1; i <= 3; i++ {
		pub.publish("news", i)
	}
	sub := dial(t, b, "subscriber")
	first := sub.subscribe("news")
	if first.Offset != 3 {
		t.Fatalf("subscribed at %+v, want offset 3", first)
	}
	rds.MustDo("FLUSHALL")
	for i := 4; i <= 7; i++ {
		pub.publish("news", i)
	}
	// The subscriber stayed connected through the loss: it is told, before the new epoch's
	// first message, where its stream now stands.
	ev, resync := sub.next("resync", "message")
	if ev != "resync" || resync.Channel != "news" || resync.Offset != 0 || resync.Epoch == "" || resync.Epoch == first.Epoch {
		t.Fatalf("first push after the loss: %s %+v, want resync on news at offset 0 of a new epoch (old %q)", ev, resync, first.Epoch)
	}
	got := sub.wantMessages("news", 4, 7)
	if got[0].Offset != 1 {
		t.Fatalf("first message of the new epoch at offset %d, want 1", got[0].Offset)
	}
	waitFor(t, func() bool { st := b.eng.Stats(); return st.EpochResets >= 1 && st.EpochNotices == 1 })
	var h subscribed
	sub.ok(sub.request("history", map[string]any{"channel": "news"}), &h)
	if h.Epoch != resync.Epoch {
		t.Fatalf("history epoch %q, resync push said %q", h.Epoch, resync.Epoch)
	}
}

// TestMemoryEpochChangeAfterSubscribe: the memory engine collects the idle channel's stream,
// which comes back under a new epoch.
func TestMemoryEpochChangeAfterSubscribe(t *testing.T) {
	mem := engine.NewMemory()
	srv := testserver.Start(t, testserver.Config(t, nil), server.Options{Engine: mem})
	n := &node{Server: srv}
	pub := dial(t, n, "publisher")
	for i := 1; i <= 3; i++ {
		pub.publish("news", i)
	}
	sub := dial(t, n, "subscriber")
	first := sub.subscribe("news")
	if first.Offset != 3 {
		t.Fatalf("subscribed at %+v, want offset 3", first)
	}
	mem.Sweep(time.Now().Add(engine.IdleStreamTTL + time.Hour))
	for i := 4; i <= 7; i++ {
		pub.publish("news", i)
	}
	got := sub.wantMessages("news", 4, 7)
	if got[0].Offset != 1 {
		t.Fatalf("first message of the new epoch at offset %d, want 1", got[0].Offset)
	}
	var hist subscribed
	sub.ok(sub.request("history", map[string]any{"channel": "news"}), &hist)
	if hist.Epoch == first.Epoch || hist.Offset != 4 {
		t.Fatalf("history after the sweep: %+v; subscribed under %q", hist, first.Epoch)
	}
}
