package store

import (
	"context"
	"testing"
	"time"

	auth "github.com/rtmate/rtmate/rtmate-auth"
	"github.com/rtmate/rtmate/rtmate-server/internal/config"
)

func TestBoltAppsAndUsage(t *testing.T) {
	dir := t.TempDir()
	exercise(t, func() Store {
		s, err := OpenBolt(dir)
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

// exercise runs the same checks on any Store; open returns a new handle on the same data.
func exercise(t *testing.T, open func() Store) {
	s := open()
	ctx := context.Background()
	now := time.Date(2026, 3, 4, 10, 30, 0, 0, time.UTC)
	rec := Record{App: config.App{
		AppConfig: auth.AppConfig{ID: "a", Keys: []auth.KeyConfig{{Kid: "k1", Secret: "s1-0123456789abcdef0123456789abcdef"}}},
		APIKeys:   []string{"key-0123456789abcdef"},
		Limits:    config.Limits{MaxConnections: 5, AuthTimeout: 3 * time.Second, MonthlyMessages: 1000},
	}, CreatedAt: now, UpdatedAt: now}
	if err := s.PutApp(ctx, rec); err != nil {
		t.Fatal(err)
	}
	other := rec
	other.App.ID = "a.b"
	if err := s.PutApp(ctx, other); err != nil {
		t.Fatal(err)
	}
	deltas := []Delta{
		{App: "a", Hour: now, Counters: Counters{MessagesIn: 2, PeakConnections: 3}},
		{App: "a", Hour: now.Add(10 * time.Minute), Counters: Counters{MessagesIn: 5, PeakConnections: 2, BytesOut: 7}},
		{App: "a", Hour: now.Add(time.Hour), Counters: Counters{Calls: 1}},
		{App: "a.b", Hour: now, Counters: Counters{MessagesIn: 100}},
	}
	if err := s.AddUsage(ctx, "n1", deltas); err != nil {
		t.Fatal(err)
	}
	if err := s.AddUsage(ctx, "n1", []Delta{{App: "a", Hour: now, Counters: Counters{PeakConnections: 1}}}); err != nil {
		t.Fatal(err) // a lower peak of the same node changes nothing
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	// Everything is read back from the file by a new handle.
	s = open()
	defer func() { _ = s.Close() }()
	apps, err := s.Apps(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(apps) != 2 || apps[0].App.ID != "a" || apps[0].App.Limits != rec.App.Limits || apps[0].App.Keys[0] != rec.App.Keys[0] ||
		apps[0].App.APIKeys[0] != rec.App.APIKeys[0] || !apps[0].CreatedAt.Equal(now) {
		t.Fatalf("apps = %+v", apps)
	}
	hours, err := s.Usage(ctx, "a", now.Add(-2*time.Hour), now.Add(2*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	want := []Hour{
		{Hour: HourOf(now), Counters: Counters{MessagesIn: 7, PeakConnections: 3, BytesOut: 7}},
		{Hour: HourOf(now).Add(time.Hour), Counters: Counters{Calls: 1}},
	}
	if len(hours) != len(want) {
		t.Fatalf("hours = %+v, want %+v", hours, want)
	}
	for i := range want {
		if !hours[i].Hour.Equal(want[i].Hour) || hours[i].Counters != want[i].Counters {
			t.Errorf("hour %d = %+v, want %+v", i, hours[i], want[i])
		}
	}
	// to is exclusive, from is truncated to its hour.
	hours, err = s.Usage(ctx, "a", now, HourOf(now).Add(time.Hour))
	if err != nil || len(hours) != 1 {
		t.Fatalf("one hour: %+v, %v", hours, err)
	}
	if err := s.DeleteApp(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	apps, _ = s.Apps(ctx)
	if len(apps) != 1 || apps[0].App.ID != "a.b" {
		t.Fatalf("after delete: %+v", apps)
	}
	if hours, _ := s.Usage(ctx, "a", now.Add(-time.Hour), now.Add(time.Hour)); len(hours) != 2 {
		t.Fatalf("usage must outlive the app: %+v", hours)
	}
}

func TestBoltSecondOpenFails(t *testing.T) {
	dir := t.TempDir()
	s, err := OpenBolt(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = s.Close() }()
	if s2, err := OpenBolt(dir); err == nil {
		_ = s2.Close()
		t.Fatal("a second open of a locked file must fail")
	}
}
