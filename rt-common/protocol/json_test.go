package protocol_test

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/rtmate/rtmate/rt-common/protocol"
)

func TestAppendString(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"empty", "", `""`},
		{"plain", "hello world", `"hello world"`},
		{"quote", `a"b`, `"a\"b"`},
		{"backslash", `a\b`, `"a\\b"`},
		{"slash kept", "a/b", `"a/b"`},
		{"newline", "a\nb", `"a\nb"`},
		{"carriage return", "a\rb", `"a\rb"`},
		{"tab", "a\tb", `"a\tb"`},
		{"backspace", "\b", `"\u0008"`},
		{"form feed", "\f", `"\u000c"`},
		{"NUL", "\x00", `"\u0000"`},
		{"unit separator", "\x1f", `"\u001f"`},
		{"DEL kept", "\x7f", "\"\x7f\""},
		{"HTML kept", "<a&b>", `"<a&b>"`},
		{"latin", "café", `"café"`},
		{"chinese", "参数错误", `"参数错误"`},
		{"full-width parens", "（）", `"（）"`},
		{"emoji", "😀", `"😀"`},
		{"U+2028", "a\u2028b", `"a\u2028b"`},
		{"U+2029", "a\u2029b", `"a\u2029b"`},
		{"U+2027 kept", "\u2027", "\"\u2027\""},
		{"U+202A kept", "\u202a", "\"\u202a\""},
		{"U+FFFD kept", "\ufffd", "\"\ufffd\""},
		{"invalid byte", "a\xffb", `"a\ufffdb"`},
		{"lone continuation", "\x80", `"\ufffd"`},
		{"truncated sequence", "\xe4\xb8", `"\ufffd\ufffd"`},
		{"truncated at end", "ab\xe4", `"ab\ufffd"`},
		{"surrogate in UTF-8", "\xed\xa0\x80", `"\ufffd\ufffd\ufffd"`},
		{"overlong", "\xc0\xaf", `"\ufffd\ufffd"`},
		{"mixed", "\"\\\n\x01\u2028é\xff", `"\"\\\n\u0001\u2028é\ufffd"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := protocol.AppendString([]byte("x"), tc.in)
			if string(got) != "x"+tc.want {
				t.Errorf("AppendString(%q) = %s, want %s", tc.in, got[1:], tc.want)
			}
			if gotB := protocol.AppendStringBytes(nil, []byte(tc.in)); string(gotB) != tc.want {
				t.Errorf("AppendStringBytes(%q) = %s, want %s", tc.in, gotB, tc.want)
			}
			if !json.Valid(got[1:]) {
				t.Fatalf("not valid JSON: %s", got[1:])
			}
			var back string
			if err := json.Unmarshal(got[1:], &back); err != nil {
				t.Fatal(err)
			}
			if want := strings.ToValidUTF8(tc.in, "\ufffd"); utf8.ValidString(tc.in) && back != tc.in {
				t.Errorf("round trip = %q, want %q", back, want)
			}
		})
	}
	// Every ASCII control character is escaped.
	for c := 0; c < 0x20; c++ {
		out := protocol.AppendString(nil, string(rune(c)))
		if strings.IndexByte(string(out), byte(c)) >= 0 {
			t.Errorf("control byte %#x left raw: %q", c, out)
		}
	}
}

func TestValid(t *testing.T) {
	tests := []struct {
		in   string
		want bool
	}{
		{`{}`, true}, {`[]`, true}, {`""`, true}, {`0`, true}, {`-0`, true}, {`1.5e+10`, true}, {`1E-2`, true},
		{`true`, true}, {`false`, true}, {`null`, true}, {" \t\n\r{ } \n", true},
		{`{"a":[1,{"b":null}],"c":"\u00e9\ud800"}`, true}, {`"\/\b\f\n\r\t\\\""`, true},
		{``, false}, {` `, false}, {`{`, false}, {`}`, false}, {`[1,]`, false}, {`{"a":1,}`, false},
		{`01`, false}, {`-`, false}, {`1.`, false}, {`.5`, false}, {`1e`, false}, {`+1`, false}, {`0x1`, false},
		{`tru`, false}, {`nul`, false}, {`True`, false}, {`NaN`, false}, {`Infinity`, false},
		{`"\a"`, false}, {`"\u12G4"`, false}, {"\"\x1f\"", false}, {`"abc`, false},
		{`{} {}`, false}, {`1 2`, false}, {"{}\x00", false}, {"\v{}", false},
		{"\"\xff\"", false}, // stricter than encoding/json: strings must be valid UTF-8
		{nested(512), true}, {nested(513), false},
		{strings.Repeat(`{"a":`, 512) + "1" + strings.Repeat("}", 512), true},
		{strings.Repeat(`{"a":`, 513) + "1" + strings.Repeat("}", 513), false},
	}
	for _, tc := range tests {
		name := tc.in
		if len(name) > 40 {
			name = name[:40]
		}
		t.Run(name, func(t *testing.T) {
			if got := protocol.Valid([]byte(tc.in)); got != tc.want {
				t.Errorf("Valid(%q) = %v, want %v", tc.in, got, tc.want)
			}
		})
	}
}

func TestObjectIter(t *testing.T) {
	it, err := protocol.NewObjectIter([]byte(` {"a" : 1, "b\u0063":[true], "d":{"e":null}} `))
	if err != nil {
		t.Fatal(err)
	}
	var keys, vals []string
	for {
		k, v, ok, err := it.Next()
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			break
		}
		keys, vals = append(keys, string(k)), append(vals, string(v))
	}
	if strings.Join(keys, "|") != `"a"|"b\u0063"|"d"` || strings.Join(vals, "|") != `1|[true]|{"e":null}` {
		t.Errorf("keys %q vals %q", keys, vals)
	}
	if _, _, ok, err := it.Next(); ok || err != nil {
		t.Error("Next after the end should stay done")
	}
	for _, bad := range []string{``, `[]`, `"x"`, `1`} {
		if _, err := protocol.NewObjectIter([]byte(bad)); err == nil {
			t.Errorf("NewObjectIter(%q) accepted", bad)
		}
	}
	it, _ = protocol.NewObjectIter([]byte(`{"a":1 "b":2}`))
	if _, _, _, err := it.Next(); err != nil {
		t.Fatalf("first member: %v", err)
	}
	if _, _, _, err := it.Next(); err == nil {
		t.Error("missing comma not reported")
	}
}

func TestKeyIs(t *testing.T) {
	tests := []struct {
		raw, name string
		want      bool
	}{
		{`"event"`, "event", true},
		{`"\u0065vent"`, "event", true},
		{`"\u0045vent"`, "event", false},
		{`"events"`, "event", false},
		{`"even"`, "event", false},
		{`""`, "", true},
		{`"a\"b"`, `a"b`, true},
		{`"\ud800"`, "\ufffd", true},
	}
	for _, tc := range tests {
		t.Run(tc.raw, func(t *testing.T) {
			if got := protocol.KeyIs([]byte(tc.raw), tc.name); got != tc.want {
				t.Errorf("KeyIs(%s, %q) = %v", tc.raw, tc.name, got)
			}
		})
	}
}

func TestScalarValues(t *testing.T) {
	t.Run("StringValue", func(t *testing.T) {
		for raw, want := range map[string]string{`"a"`: "a", `""`: "", `"\n\u4e2d"`: "\n中", `"\ud83d\ude00"`: "😀"} {
			got, err := protocol.StringValue([]byte(raw))
			if err != nil || string(got) != want {
				t.Errorf("StringValue(%s) = %q, %v; want %q", raw, got, err, want)
			}
		}
		for _, raw := range []string{``, `"`, `a`, `1`, `null`, `"a"x`, `"a" `, `"\x"`, "\"\xff\""} {
			if _, err := protocol.StringValue([]byte(raw)); err == nil {
				t.Errorf("StringValue(%q) accepted", raw)
			}
		}
	})
	t.Run("Uint64Value", func(t *testing.T) {
		for raw, want := range map[string]uint64{`0`: 0, `7`: 7, `18446744073709551615`: 1<<64 - 1, `10000000000000000000`: 1e19} {
			got, err := protocol.Uint64Value([]byte(raw))
			if err != nil || got != want {
				t.Errorf("Uint64Value(%s) = %d, %v; want %d", raw, got, err, want)
			}
		}
		for _, raw := range []string{``, `-1`, `-0`, `+1`, `1.0`, `1e2`, `00`, `01`, `18446744073709551616`, `99999999999999999999`, `"1"`, ` 1`} {
			if _, err := protocol.Uint64Value([]byte(raw)); err == nil {
				t.Errorf("Uint64Value(%q) accepted", raw)
			}
		}
	})
	t.Run("BoolValue", func(t *testing.T) {
		if v, err := protocol.BoolValue([]byte("true")); !v || err != nil {
			t.Error("true")
		}
		if v, err := protocol.BoolValue([]byte("false")); v || err != nil {
			t.Error("false")
		}
		for _, raw := range []string{``, `1`, `"true"`, `True`, `null`} {
			if _, err := protocol.BoolValue([]byte(raw)); err == nil {
				t.Errorf("BoolValue(%q) accepted", raw)
			}
		}
	})
}
