package tokencmd

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"gopkg.in/yaml.v3"

	auth "github.com/rtmate/rtmate/rtmate-auth"
)

// serverConfig is the part of the server's YAML the tool reads. Decoding is deliberately not
// strict: the file belongs to the server, whose other keys (listen, limits, api_key, …) are
// none of the tool's business.
type serverConfig struct {
	Apps []auth.AppConfig `yaml:"apps"`
}

// loadApps reads the apps of the server config at path.
func loadApps(path string) ([]auth.AppConfig, error) {
	b, err := os.ReadFile(path) // #nosec G304 -- the user names the config file
	if err != nil {
		return nil, err
	}
	var c serverConfig
	if err := yaml.Unmarshal(b, &c); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(c.Apps) == 0 {
		return nil, fmt.Errorf("%s: no apps", path)
	}
	return c.Apps, nil
}

// appSource is where the app's keys come from, with the directory relative key files are
// resolved against.
type appSource struct {
	app  auth.AppConfig
	dir  string
	from string // for messages: "config.yaml", "the built-in development app", "--secret"
	// known is false when the tool has no verification keys for the app (a --key without a
	// config): the token is then issued without a self-check.
	known bool
}

// resolveApp finds the configuration of app id: in the config file when given, else the
// development app; --secret replaces the app's keys by one HS256 key.
func resolveApp(o *options, id string) (appSource, error) {
	var src appSource
	switch {
	case o.config != "":
		apps, err := loadApps(o.config)
		if err != nil {
			return src, err
		}
		var ids []string
		for _, a := range apps {
			if a.ID == id {
				src = appSource{app: a, dir: filepath.Dir(o.config), from: o.config, known: true}
				break
			}
			ids = append(ids, a.ID)
		}
		if !src.known {
			return src, fmt.Errorf("app %q is not in %s (it has: %s)", id, o.config, strings.Join(ids, ", "))
		}
	case id == auth.DevAppID:
		src = appSource{app: auth.DevAppConfig(), from: "the built-in development app", known: true}
	case o.secret != "", o.keyFile != "":
		src = appSource{app: auth.AppConfig{ID: id}, from: "the command line"}
	default:
		return src, fmt.Errorf("app %q: without --config only %q is known; pass --config FILE or --secret", id, auth.DevAppID)
	}
	if o.secret != "" {
		src.app.Secret, src.app.Keys = o.secret, nil
		src.from, src.known = "--secret", true
	}
	return src, nil
}

// registry builds the one-app registry that checks tokens of src.
func (src appSource) registry(o *options) (*auth.Registry, error) {
	return auth.NewRegistry([]auth.AppConfig{src.app}, auth.Options{Dir: src.dir, Now: o.now})
}
