package auth

import (
	"encoding/json"
	"slices"
	"testing"

	"github.com/rtmate/rtmate/rt-common/protocol"
)

func TestStringArray(t *testing.T) {
	tests := []struct {
		in   string
		want []string // nil = error
	}{
		{`[]`, []string{}},
		{` [ ] `[1:], []string{}},
		{`["a"]`, []string{"a"}},
		{`["news","room-*"]`, []string{"news", "room-*"}},
		{`[ "a" ,	"b\u0041\"" ]`, []string{"a", `bA"`}},
		{`["\\",""]`, []string{`\`, ""}},
		{`["",""]`, []string{"", ""}},
		{`[1]`, nil},
		{`["a",null]`, nil},
		{`["a",["b"]]`, nil},
		{`{"a":"b"}`, nil},
		{`"a"`, nil},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := stringArray([]byte(tt.in))
			if tt.want == nil {
				if err == nil {
					t.Errorf("stringArray = %q, want an error", got)
				}
				return
			}
			if err != nil || got == nil || !slices.Equal(got, tt.want) {
				t.Errorf("stringArray = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

// FuzzStringArray checks the hand-written channels decoder against encoding/json on every
// valid JSON input.
func FuzzStringArray(f *testing.F) {
	for _, s := range []string{`[]`, `["a","b*"]`, `["\u00e9\n",""]`, `[1,"a"]`, `["a",null]`, `{}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		if !protocol.Valid([]byte(in)) {
			return
		}
		got, err := stringArray([]byte(in))
		var want []string
		werr := json.Unmarshal([]byte(in), &want)
		if werr == nil && in[0] == '[' && !slices.Contains(jsonElems(in), "null") {
			if err != nil || !slices.Equal(got, want) {
				t.Fatalf("stringArray(%q) = %q, %v; encoding/json says %q", in, got, err, want)
			}
		} else if err == nil && werr != nil {
			t.Fatalf("stringArray(%q) = %q, but encoding/json refuses it: %v", in, got, werr)
		}
	})
}

// jsonElems lists the raw elements of a JSON array (for telling null elements apart, which
// encoding/json turns into "" and stringArray refuses).
func jsonElems(in string) []string {
	var raw []json.RawMessage
	if json.Unmarshal([]byte(in), &raw) != nil {
		return nil
	}
	out := make([]string, len(raw))
	for i, r := range raw {
		out[i] = string(r)
	}
	return out
}
