package server

import (
	"slices"
	"testing"

	auth "github.com/rtmate/rtmate/rtmate-auth"
	"github.com/rtmate/rtmate/rtmate-server/internal/config"
)

func TestWeakSecrets(t *testing.T) {
	long := "0123456789abcdef0123456789abcdef"
	cfg := &config.Config{Development: true, Apps: []config.App{
		{AppConfig: auth.DevAppConfig()},
		{AppConfig: auth.AppConfig{ID: "short", Secret: "tooshort"}},
		{AppConfig: auth.AppConfig{ID: "long", Secret: long}},
		{AppConfig: auth.AppConfig{ID: "rotating", Keys: []auth.KeyConfig{{Secret: long}, {Secret: "old"}}}},
	}}
	if got, want := weakSecrets(cfg), []string{"short", "rotating"}; !slices.Equal(got, want) {
		t.Fatalf("weakSecrets = %v, want %v", got, want)
	}
}
