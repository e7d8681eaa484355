package protocol

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestClaimsChannelsEncoding(t *testing.T) {
	for _, tc := range []struct {
		name     string
		channels []string
		want     string // the channels part of the JSON, or "" for absent
	}{
		{"nil means every channel", nil, ""},
		{"empty means none", []string{}, `"channels":[]`},
		{"some", []string{"a", "b*"}, `"channels":["a","b*"]`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := json.Marshal(Claims{AppID: "x", Exp: 1, Channels: tc.channels})
			if err != nil {
				t.Fatal(err)
			}
			got := string(b)
			if tc.want == "" && strings.Contains(got, "channels") || tc.want != "" && !strings.Contains(got, tc.want) {
				t.Fatalf("got %s, want channels part %q", got, tc.want)
			}
			var back Claims
			if err := json.Unmarshal(b, &back); err != nil {
				t.Fatal(err)
			}
			if (back.Channels == nil) != (tc.channels == nil) || len(back.Channels) != len(tc.channels) {
				t.Fatalf("round trip: %#v", back.Channels)
			}
		})
	}
}
