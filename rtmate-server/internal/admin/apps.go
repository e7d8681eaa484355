package admin

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	"go.uber.org/zap"

	"github.com/rtmate/rtmate/rtmate-server/internal/config"
	"github.com/rtmate/rtmate/rtmate-server/internal/store"
)

// load reads every stored app and applies them with the config file's.
func (a *Admin) load(ctx context.Context) error {
	recs, err := a.st.Apps(ctx)
	if err != nil {
		return fmt.Errorf("admin: %w", err)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	m := make(map[string]store.Record, len(recs))
	for _, r := range recs {
		m[r.App.ID] = r
	}
	if _, err := a.apply(a.file.Load(), m); err != nil {
		return fmt.Errorf("admin: stored apps: %w", err)
	}
	a.recs = m
	return nil
}

// merged is file's configuration with the enabled stored apps added. A stored app whose id
// the config file now uses is left out: the file wins (and a warning says so).
func (a *Admin) merged(file *config.Config, recs map[string]store.Record) *config.Config {
	c := *file
	c.Apps = slices.Clone(file.Apps)
	inFile := make(map[string]bool, len(file.Apps))
	for i := range file.Apps {
		inFile[file.Apps[i].ID] = true
	}
	for _, id := range slices.Sorted(maps.Keys(recs)) {
		r := recs[id]
		switch {
		case inFile[id]:
			a.log.Warn("a stored app has the id of a config file app; the file's is used", zap.String("app_id", id))
		case !r.Disabled:
			c.Apps = append(c.Apps, r.App)
		}
	}
	return &c
}

// apply validates and runs the merged configuration. Lock held.
func (a *Admin) apply(file *config.Config, recs map[string]store.Record) (*config.Config, error) {
	c := a.merged(file, recs)
	if err := c.Validate(); err != nil {
		return nil, badRequest(err.Error())
	}
	if err := a.srv.Reload(c); err != nil {
		return nil, badRequest(err.Error())
	}
	a.onApply(c)
	return c, nil
}

// fileApp returns the config file's app id.
func (a *Admin) fileApp(id string) (config.App, bool) {
	f := a.file.Load()
	for i := range f.Apps {
		if f.Apps[i].ID == id {
			return f.Apps[i], true
		}
	}
	return config.App{}, false
}

// change validates next (the new state of one app; nil deletes id), stores it durably, and
// applies it. Lock held. It returns every validation problem at once as a 400.
func (a *Admin) change(ctx context.Context, id string, next *store.Record) error {
	cand := maps.Clone(a.recs)
	if next == nil {
		delete(cand, id)
	} else {
		if problems := config.AppProblems(&next.App, a.file.Load().Dir); len(problems) > 0 {
			return badRequest(problems...)
		}
		cand[id] = *next
		if err := a.merged(a.file.Load(), cand).Validate(); err != nil {
			return badRequest(err.Error())
		}
	}
	var err error
	if next == nil {
		err = a.st.DeleteApp(ctx, id)
	} else {
		err = a.st.PutApp(ctx, *next)
	}
	if err != nil {
		return internal(err)
	}
	a.recs = cand
	if _, err := a.apply(a.file.Load(), cand); err != nil {
		// Validated above; a failure here is a defect, and the store already has the change.
		a.log.Error("a validated change did not apply", zap.String("app_id", id), zap.Error(err))
		return internal(err)
	}
	return nil
}

// record returns a deep copy of a stored app (changes are made on copies), or an error
// saying why it cannot be changed.
func (a *Admin) record(id string) (store.Record, error) {
	if _, ok := a.fileApp(id); ok {
		return store.Record{}, readOnly(id)
	}
	r, ok := a.recs[id]
	if !ok {
		return store.Record{}, notFound(id)
	}
	b, err := r.Encode()
	if err != nil {
		return store.Record{}, internal(err)
	}
	cp, err := store.Decode(b)
	if err != nil {
		return store.Record{}, internal(err)
	}
	return cp, nil
}

// audit logs one change: who, what, and the app before and after, without secrets.
func (a *Admin) audit(who, action, id string, before, after any, extra ...zap.Field) {
	fields := append([]zap.Field{
		zap.String("who", who), zap.String("action", action), zap.String("app_id", id),
		zap.Any("before", auditForm(before)), zap.Any("after", auditForm(after)),
	}, extra...)
	a.log.Info("admin change", fields...)
}

func isConfigApp(a *Admin, id string) bool { _, ok := a.fileApp(id); return ok }

func cleanID(id string) string { return strings.TrimSpace(id) }

// auditForm is what the change log keeps of an app: what a change can touch, no secrets.
func auditForm(v any) any {
	av, ok := v.(appView)
	if !ok {
		return v
	}
	return struct {
		Disabled bool           `json:"disabled"`
		Keys     []keyView      `json:"keys"`
		APIKeys  []apiKeyView   `json:"api_keys"`
		Settings map[string]any `json:"settings"`
	}{av.Disabled, av.Keys, av.APIKeys, av.Settings}
}
