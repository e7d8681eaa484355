package engine

import (
	"context"
	"testing"

	"github.com/rtmate/rtmate/rtmate-server/internal/redistest"
)

// TestRedisEpochResetNotice: a channel's epoch changes under a live subscription (a promoted
// replica, whose run id differs from the one recorded in the meta hash; or Redis losing the
// hash). The handler hears of it once, before the new epoch's first publication, with the
// offset just before it; the channel's first epoch is no reset.
func TestRedisEpochResetNotice(t *testing.T) {
	for _, tc := range []struct {
		name    string
		lineage string
		lose    func(rds *redistest.Server, meta string)
		first   uint64 // the new epoch's first offset
	}{
		// What a failover looks like to the scripts: the meta hash names another process.
		{"run id changed", "1", func(rds *redistest.Server, meta string) { rds.MustDo("HSET", meta, "r", "0000dead") }, 3 + 1000000 + 1},
		{"meta hash lost", "0", func(rds *redistest.Server, meta string) { rds.MustDo("DEL", meta) }, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rds := redistest.Start(t)
			e, rec := startRedisEngine(t, rds, "rs")
			e.lineageArg = tc.lineage
			ctx := context.Background()
			ch := ChannelKey{App: "app", Name: "rs"}
			if err := e.Subscribe(ctx, ch); err != nil {
				t.Fatal(err)
			}
			hist := HistoryOptions{Size: 10}
			publishN(t, e, ch, 1, 3, hist)
			wantSequence(t, rec.wait(t, ch, 3), 1, 3)
			if got := rec.getResets(ch); len(got) != 0 {
				t.Fatalf("notices %+v for the channel's first epoch, want none", got)
			}
			old := rec.get(ch)[0].Epoch

			tc.lose(rds, e.keys.meta(ch))
			for range 2 {
				pub := Publication{Kind: KindMessage, Data: []byte(`{"n":4}`)}
				if _, err := e.Publish(ctx, ch, &pub, hist); err != nil {
					t.Fatal(err)
				}
			}
			got := rec.wait(t, ch, 5)
			if got[3].Offset != tc.first || got[4].Offset != tc.first+1 || got[3].Epoch == old || got[4].Epoch != got[3].Epoch {
				t.Fatalf("after the loss: %+v, want offsets %d, %d of a new epoch", got[3:], tc.first, tc.first+1)
			}
			notices := rec.getResets(ch)
			want := resetNotice{pos: StreamPosition{Epoch: got[3].Epoch, Offset: tc.first - 1}, after: 3}
			if len(notices) != 1 || notices[0] != want {
				t.Fatalf("notices %+v, want exactly %+v (before the new epoch's first publication)", notices, want)
			}
			waitStats(t, e, func(st Stats) bool { return st.EpochNotices == 1 && st.EpochResets == 1 })
		})
	}
}
