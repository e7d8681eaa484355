package admin

import (
	"testing"

	"github.com/rtmate/rtmate/rtmate-server/internal/config"
)

// FuzzDecodeAppRequest feeds arbitrary bodies to the admin API's decoder and the validation
// that follows it: neither may panic, and a decoded app either has problems or is accepted by
// the config's validation.
func FuzzDecodeAppRequest(f *testing.F) {
	for _, s := range []string{
		`{"id":"a","limits":{"max_connections":3,"auth_timeout":"5s"},"allowed_origins":["https://x"]}`,
		`{"id":"a","keys":[{"kid":"k","secret":"0123456789abcdef0123456789abcdef"}],"api_keys":["rk_0123456789abcdef"]}`,
		`{"webhook":{"url":"http://127.0.0.1/x","secret":"s","events":["connect"]}}`,
		`{"keys":[{"jwks":"{\"keys\":[]}"}]}`,
		`[1]`, `null`, `"x"`, `{"a": &x, "b": *x}`, `{"disabled": true}`, "id: yaml\nlimits: {rate: 1}",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var req appRequest
		if err := decodeBytes(body, &req); err != nil {
			if asAPIError(err).status != 400 {
				t.Fatalf("decode error %v is not a 400", err)
			}
			return
		}
		if problems := config.AppProblems(&req.App, t.TempDir()); len(problems) > 0 {
			return
		}
		cfg := config.Dev()
		cfg.Apps = append(cfg.Apps, req.App)
		_ = cfg.Validate() // may refuse (a duplicate id); must not panic
	})
}

// FuzzDecodeKeyRequest does the same for POST …/keys bodies.
func FuzzDecodeKeyRequest(f *testing.F) {
	for _, s := range []string{`{"kid":"k2"}`, `{"secret":"x","alg":"HS256"}`, `{"public_key":"-----BEGIN PUBLIC KEY-----\nAA==\n-----END PUBLIC KEY-----"}`, `{"jwks":"{}"}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var req keyRequest
		if err := decodeBytes(body, &req); err != nil {
			return
		}
		app := config.App{}
		app.ID = "f"
		app.Keys = []keyRequest{req}
		_ = config.AppProblems(&app, t.TempDir())
	})
}
