package config

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"gopkg.in/yaml.v3"

	auth "github.com/rtmate/rtmate/rtmate-auth"
)

// Check reads the config file at path as the server would (strict YAML, then the RTMATE_*
// environment overrides and the defaults) and returns every problem that would stop the
// server from starting with it, in the order of the file: unknown keys and values of the
// wrong type, out-of-range limits and timeouts, bad addresses, webhooks, and apps whose
// verification keys cannot be loaded (each app's key files and JWKS are read, as at start-up).
// It opens no socket: the Redis engine's reachability is not checked. Empty means the file
// is good.
func Check(path string) []error {
	raw, err := os.ReadFile(path) // #nosec G304 -- the operator names the config file
	if err != nil {
		return []error{fmt.Errorf("read %s: %w", path, err)}
	}
	var cfg Config
	var errs []error
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	dec.KnownFields(true)
	if err := dec.Decode(&cfg); err != nil {
		// A TypeError (unknown field, wrong type) leaves the rest of the document decoded,
		// so the remaining checks still run; a syntax error leaves nothing to check.
		var te *yaml.TypeError
		if !errors.As(err, &te) {
			return []error{fmt.Errorf("decode yaml: %w", err)}
		}
		for _, msg := range te.Errors {
			errs = append(errs, errors.New(msg))
		}
	}
	cfg.Dir = filepath.Dir(path)
	cfg.applyEnv()
	cfg.setDefaults()
	errs = append(errs, cfg.problems()...)
	return append(errs, cfg.keyProblems()...)
}

// keyProblems loads every app's keys and origins as the server does at start-up. Apps whose
// id is invalid or repeated are left out: problems already reports them.
func (c *Config) keyProblems() []error {
	var errs []error
	seen := make(map[string]bool, len(c.Apps))
	for i := range c.Apps {
		a := c.Apps[i].AppConfig
		if !appIDPattern.MatchString(a.ID) || seen[a.ID] {
			continue
		}
		seen[a.ID] = true
		// One registry per app: NewRegistry stops at an app's first bad key, not at the
		// first bad app, but this keeps each message next to its apps[i] index.
		if _, err := auth.NewRegistry([]auth.AppConfig{a}, auth.Options{Dir: c.Dir}); err != nil {
			errs = append(errs, fmt.Errorf("apps[%d] (%s): %w", i, a.ID, err))
		}
	}
	return errs
}
