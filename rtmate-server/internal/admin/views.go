package admin

import (
	"crypto/sha256"
	"encoding/hex"
	"time"

	"gopkg.in/yaml.v3"

	auth "github.com/rtmate/rtmate/rtmate-auth"
	"github.com/rtmate/rtmate/rtmate-server/internal/config"
	"github.com/rtmate/rtmate/rtmate-server/internal/store"
)

// keyView is a verification key as the API shows it: never an HS256 secret.
type keyView struct {
	Kid       string `json:"kid"`
	Alg       string `json:"alg,omitempty"`
	Type      string `json:"type"` // secret, public_key, public_key_file, jwks, jwks_file
	PublicKey string `json:"public_key,omitempty"`
	JWKS      string `json:"jwks,omitempty"`
	File      string `json:"file,omitempty"`
}

// apiKeyView names an API key without showing it: id is the start of its SHA-256.
type apiKeyView struct {
	ID   string `json:"id"`
	Hint string `json:"hint"`
}

func apiKeyID(k string) string {
	s := sha256.Sum256([]byte(k))
	return hex.EncodeToString(s[:6])
}

func keyViews(ac auth.AppConfig) []keyView {
	var out []keyView
	if ac.Secret != "" {
		out = append(out, keyView{Type: "secret", Alg: "HS256"})
	}
	for _, k := range ac.Keys {
		v := keyView{Kid: k.Kid, Alg: k.Alg}
		switch {
		case k.Secret != "":
			v.Type, v.Alg = "secret", "HS256"
		case k.PublicKey != "":
			v.Type, v.PublicKey = "public_key", k.PublicKey
		case k.PublicKeyFile != "":
			v.Type, v.File = "public_key_file", k.PublicKeyFile
		case k.JWKS != "":
			v.Type, v.JWKS = "jwks", k.JWKS
		default:
			v.Type, v.File = "jwks_file", k.JWKSFile
		}
		out = append(out, v)
	}
	return out
}

func apiKeyViews(app *config.App) []apiKeyView {
	keys := app.AllAPIKeys()
	out := make([]apiKeyView, 0, len(keys))
	for _, k := range keys {
		out = append(out, apiKeyView{ID: apiKeyID(k), Hint: k[:min(len(k), 6)] + "…"})
	}
	return out
}

// settings is the app's own settings with the config's YAML keys (limits, origins, presence
// patterns, webhook, and whatever else config.App carries), secrets and keys left out: the
// form the API accepts in a PATCH.
func settings(app config.App) map[string]any {
	secretSet := false
	if app.Webhook != nil {
		w := *app.Webhook
		secretSet, w.Secret = w.Secret != "", ""
		app.Webhook = &w
	}
	pusherSecretSet := false
	if app.Pusher != nil {
		p := *app.Pusher
		pusherSecretSet, p.Secret = p.Secret != "", ""
		app.Pusher = &p
	}
	app.Secret, app.Keys, app.APIKey, app.APIKeys = "", nil, "", nil
	b, err := yaml.Marshal(app) // #nosec G117 -- every secret field was cleared on the line above
	if err != nil {
		return map[string]any{"error": err.Error()}
	}
	var m map[string]any
	if err := yaml.Unmarshal(b, &m); err != nil {
		return map[string]any{"error": err.Error()}
	}
	for _, k := range []string{"id", "secret", "keys", "api_key", "api_keys"} {
		delete(m, k)
	}
	if wh, ok := m["webhook"].(map[string]any); ok {
		delete(wh, "secret")
		wh["secret_set"] = secretSet
	}
	if p, ok := m["pusher"].(map[string]any); ok {
		delete(p, "secret")
		p["secret_set"] = pusherSecretSet
	}
	return m
}

// limitsMap is limits with the config's YAML keys.
func limitsMap(l config.Limits) map[string]any {
	b, err := yaml.Marshal(l)
	if err != nil {
		return nil
	}
	var m map[string]any
	if err := yaml.Unmarshal(b, &m); err != nil {
		return nil
	}
	return m
}

// appView is an app as the API returns it.
type appView struct {
	ID              string         `json:"id"`
	Source          string         `json:"source"` // config or api
	Disabled        bool           `json:"disabled"`
	CreatedAt       *time.Time     `json:"created_at,omitempty"`
	UpdatedAt       *time.Time     `json:"updated_at,omitempty"`
	Keys            []keyView      `json:"keys"`
	APIKeys         []apiKeyView   `json:"api_keys"`
	Settings        map[string]any `json:"settings"`
	EffectiveLimits map[string]any `json:"effective_limits"`
	Connections     int64          `json:"connections"`
}

func (a *Admin) viewOf(app config.App, rec *store.Record) appView {
	v := appView{
		ID: app.ID, Source: "config", Keys: keyViews(app.AppConfig), APIKeys: apiKeyViews(&app),
		Settings: settings(app), EffectiveLimits: limitsMap(a.file.Load().AppLimits(&app)),
	}
	if rec != nil {
		v.Source, v.Disabled = "api", rec.Disabled
		c, u := rec.CreatedAt, rec.UpdatedAt
		v.CreatedAt, v.UpdatedAt = &c, &u
	}
	if f := a.live.latest(app.ID); f != nil {
		v.Connections = f.Connections
	}
	return v
}
