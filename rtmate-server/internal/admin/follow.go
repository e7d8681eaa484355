package admin

import (
	"bytes"
	"context"
	"time"

	"go.uber.org/zap"

	"github.com/rtmate/rtmate/rtmate-server/internal/store"
)

// followInterval is the periodic check of a shared store's version: the bound on how late a
// node applies a change whose announcement it missed.
const followInterval = time.Second

// follow applies the changes other nodes make to a shared store: at once on their pub/sub
// announcement, and within followInterval when the store's version moved without one.
func (a *Admin) follow(ctx context.Context, w store.Watcher) {
	kick := make(chan struct{}, 1)
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		for ctx.Err() == nil {
			err := w.Watch(ctx, func() {
				select {
				case kick <- struct{}{}:
				default:
				}
			})
			if err != nil {
				a.log.Warn("app change announcements lost; checking every second", zap.Error(err))
			}
			select {
			case <-ctx.Done():
			case <-time.After(followInterval):
			}
		}
	}()
	t := time.NewTicker(followInterval)
	defer t.Stop()
	var seen int64 = -1
	for {
		select {
		case <-ctx.Done():
			return
		case <-kick:
		case <-t.C:
			v, err := w.Version(ctx)
			if err != nil {
				a.log.Warn("app version check failed", zap.Error(err))
				continue
			}
			if v == seen {
				continue
			}
			seen = v
		}
		if err := a.sync(ctx); err != nil && ctx.Err() == nil {
			a.log.Error("applying stored apps failed; retried at the next change or check", zap.Error(err))
		}
	}
}

// sync reads every stored app and applies them when they differ from the running ones.
func (a *Admin) sync(ctx context.Context) error {
	recs, err := a.st.Apps(ctx)
	if err != nil {
		return err
	}
	next := make(map[string]store.Record, len(recs))
	for _, r := range recs {
		next[r.App.ID] = r
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if sameRecords(a.recs, next) {
		return nil
	}
	if _, err := a.apply(a.file.Load(), next); err != nil {
		return err
	}
	a.recs = next
	return nil
}

func sameRecords(x, y map[string]store.Record) bool {
	if len(x) != len(y) {
		return false
	}
	for id, r := range x {
		o, ok := y[id]
		if !ok {
			return false
		}
		b1, err1 := r.Encode()
		b2, err2 := o.Encode()
		if err1 != nil || err2 != nil || !bytes.Equal(b1, b2) {
			return false
		}
	}
	return true
}
