package admin

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"strings"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwk"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/rtmate/rtmate/rt-common/protocol"
	auth "github.com/rtmate/rtmate/rtmate-auth"
	"github.com/rtmate/rtmate/rtmate-server/internal/config"
	"github.com/rtmate/rtmate/rtmate-server/internal/server"
	"github.com/rtmate/rtmate/rtmate-server/internal/testserver"
)

// TestPublicKeysAndChangeLog adds an ES256 public key (PEM) and a JWK Set document to an app,
// connects with tokens signed by their private keys, and checks the change log: who, what,
// before and after, and never a secret.
func TestPublicKeysAndChangeLog(t *testing.T) {
	core, logs := observer.New(zap.InfoLevel)
	cfg := testserver.Config(t, func(c *config.Config) {
		c.Admin.Token = testToken
		c.Admin.Tokens = []config.AdminToken{{Name: "ops", Token: opsToken}}
		c.DataDir = t.TempDir()
	})
	srv := testserver.Start(t, cfg, server.Options{})
	adm, err := start(cfg, srv.Server, zap.New(core), Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = adm.Close(context.Background()) })
	s := &stack{Server: srv, adm: adm}
	call := func(method, path string, body any, out any) {
		t.Helper()
		st, env, raw := s.call(t, opsToken, method, path, body)
		if st != 200 {
			t.Fatalf("%s %s: %d %s", method, path, st, raw)
		}
		if out != nil {
			if err := json.Unmarshal(env.Data, out); err != nil {
				t.Fatal(err)
			}
		}
	}

	var c createdApp
	call("POST", "/admin/api/apps", map[string]any{"id": "pk"}, &c)

	pemKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(&pemKey.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	pub := string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
	call("POST", "/admin/api/apps/pk/keys", map[string]any{"kid": "es-1", "public_key": pub}, nil)

	jwksKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	jk, err := jwk.FromRaw(&jwksKey.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	if err := jk.Set(jwk.KeyIDKey, "jw-1"); err != nil {
		t.Fatal(err)
	}
	set := jwk.NewSet()
	if err := set.AddKey(jk); err != nil {
		t.Fatal(err)
	}
	doc, err := json.Marshal(set)
	if err != nil {
		t.Fatal(err)
	}
	call("POST", "/admin/api/apps/pk/keys", map[string]any{"jwks": string(doc)}, nil)

	for _, k := range []struct {
		kid string
		key *ecdsa.PrivateKey
	}{{"es-1", pemKey}, {"jw-1", jwksKey}} {
		der, err := x509.MarshalPKCS8PrivateKey(k.key)
		if err != nil {
			t.Fatal(err)
		}
		tok, err := auth.Sign(protocol.Claims{AppID: "pk", Sub: "bob", Exp: time.Now().Add(time.Hour).Unix()},
			auth.SigningKey{Kid: k.kid, PrivateKeyPEM: pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})})
		if err != nil {
			t.Fatal(err)
		}
		if _, r := connect(t, s, "pk", tok); r.Code != 200 {
			t.Fatalf("token of %s: %+v", k.kid, r)
		}
	}
	if p := s.fails(t, "POST", "/admin/api/apps/pk/keys", map[string]any{"kid": "bad", "public_key": "not a key"}, 400); len(p) == 0 {
		t.Fatal("a bad public key must be a 400 with its problem")
	}
	call("PATCH", "/admin/api/apps/pk", map[string]any{"webhook": map[string]any{"url": "http://127.0.0.1:1/h", "secret": "hook-secret-value"}}, nil)

	changes := logs.FilterMessage("admin change").All()
	var actions []string
	for _, e := range changes {
		f := e.ContextMap()
		if f["who"] != "ops" {
			t.Errorf("change by %v, want ops", f["who"])
		}
		actions = append(actions, f["action"].(string))
	}
	if got := strings.Join(actions, ","); got != "app.create,key.add,key.add,app.update" {
		t.Fatalf("logged actions %s", got)
	}
	last := changes[len(changes)-1].ContextMap()
	if last["before"] == nil || last["after"] == nil {
		t.Fatalf("update without before/after: %v", last)
	}
	for _, e := range logs.All() {
		b, err := json.Marshal(e.ContextMap())
		if err != nil {
			t.Fatal(err)
		}
		for _, secret := range []string{c.Secret, c.APIKey, "hook-secret-value"} {
			if strings.Contains(string(b), secret) {
				t.Fatalf("a secret in the log: %s", b)
			}
		}
	}
}
