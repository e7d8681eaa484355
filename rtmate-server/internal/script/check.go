package script

import (
	"fmt"

	"github.com/rtmate/rtmate/rtmate-server/internal/config"
)

// Check loads and compiles every app's scripts as the server would at start, then releases
// them: what `rtmate-server -check-config` adds to the config's own checks. Each failure
// names the app and the script's file (and line, for Lua syntax errors).
func Check(cfg *config.Config) []error {
	var errs []error
	for i := range cfg.Apps {
		a := &cfg.Apps[i]
		if len(a.Scripts) == 0 {
			continue
		}
		set, err := Load(a.ID, a.Scripts, cfg.Dir, nil, Options{Workers: 1, MaxData: cfg.AppLimits(a).MaxMessageSize})
		if err != nil {
			errs = append(errs, fmt.Errorf("apps[%d] (%s).scripts: %w", i, a.ID, err))
			continue
		}
		set.Close()
	}
	return errs
}
