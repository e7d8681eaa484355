package store

import (
	"context"
	"strconv"
	"testing"
	"time"

	auth "github.com/rtmate/rtmate/rtmate-auth"
	"github.com/rtmate/rtmate/rtmate-server/internal/config"
)

// BenchmarkBoltPutApp is one admin API change's durable write (a commit with fsync).
func BenchmarkBoltPutApp(b *testing.B) {
	s, err := OpenBolt(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = s.Close() }()
	rec := Record{App: config.App{AppConfig: auth.AppConfig{ID: "a", Keys: []auth.KeyConfig{{Kid: "k1", Secret: "0123456789abcdef0123456789abcdef"}}}}}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		rec.App.ID = "app-" + strconv.Itoa(i%100)
		if err := s.PutApp(context.Background(), rec); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkBoltFlush1000Apps is one usage flush of 1000 active apps (one transaction).
func BenchmarkBoltFlush1000Apps(b *testing.B) {
	s, err := OpenBolt(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = s.Close() }()
	deltas := make([]Delta, 1000)
	now := time.Now()
	for i := range deltas {
		deltas[i] = Delta{App: "app-" + strconv.Itoa(i), Hour: now, Counters: Counters{MessagesIn: 10, MessagesOut: 100, ConnectionSeconds: 50, PeakConnections: 5}}
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := s.AddUsage(context.Background(), "n1", deltas); err != nil {
			b.Fatal(err)
		}
	}
}
