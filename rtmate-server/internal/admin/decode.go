package admin

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"

	"gopkg.in/yaml.v3"

	auth "github.com/rtmate/rtmate/rtmate-auth"
	"github.com/rtmate/rtmate/rtmate-server/internal/config"
)

// maxBody bounds an admin request body.
const maxBody = 1 << 20

// appRequest is the body of POST /admin/api/apps and PATCH /admin/api/apps/{id}: the config
// file's app keys (a JSON body is YAML too, so one strict decoder serves both and the keys are
// exactly the config's), plus disabled.
type appRequest struct {
	config.App `yaml:",inline"`
	Disabled   *bool `yaml:"disabled"`
}

// keyRequest is the body of POST …/keys: one key of the config's keys list. Empty: a new
// HS256 secret with a new kid.
type keyRequest = auth.KeyConfig

// apiKeyRequest is the body of POST …/api-keys. Empty: a new key.
type apiKeyRequest struct {
	Key string `yaml:"key"`
}

// tokenRequest is the body of POST …/token, the console's token generator.
type tokenRequest struct {
	Sub      string   `yaml:"sub"`
	Channels []string `yaml:"channels"`
	TTL      int64    `yaml:"ttl"` // seconds
	Kid      string   `yaml:"kid"`
}

// decode reads r's body (at most maxBody) into dst, which may already hold values: keys
// present in the body replace them, nested objects are merged key by key. An empty body
// leaves dst alone.
func decode(w http.ResponseWriter, r *http.Request, dst any) error {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return badRequest(fmt.Sprintf("body larger than %d bytes", maxBody))
		}
		return badRequest("read body: " + err.Error())
	}
	return decodeBytes(body, dst)
}

// decodeBytes is decode's parser: one YAML (or JSON) mapping, strictly (unknown keys are
// errors, as in the config file).
func decodeBytes(body []byte, dst any) error {
	if len(bytes.TrimSpace(body)) == 0 {
		return nil
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(body, &doc); err != nil {
		return badRequest("body: " + err.Error())
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 || doc.Content[0].Kind != yaml.MappingNode {
		return badRequest("body: want one JSON object")
	}
	dec := yaml.NewDecoder(bytes.NewReader(body))
	dec.KnownFields(true)
	if err := dec.Decode(dst); err != nil {
		return badRequest("body: " + err.Error())
	}
	return nil
}
