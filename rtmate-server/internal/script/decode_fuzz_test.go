package script

import (
	"encoding/json"
	"testing"

	lua "github.com/yuin/gopher-lua"

	"github.com/rtmate/rtmate/rt-common/protocol"
)

// FuzzDecodeOutput feeds a plug-in's output decoder arbitrary bytes: it must never panic,
// and whatever it accepts must honour the contract.
func FuzzDecodeOutput(f *testing.F) {
	for _, s := range []string{``, ` `, `{}`, `{"allow":false,"reason":"r"}`, `{"user_id":"u"}`, `{"data":{"a":[1,2]}}`,
		`{"error":{"code":429,"reason":"slow"}}`, `{"error":{"code":500}}`, `[1]`, `{"data":}`, `{"allow":1}`, `{"a":1}x`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var out Output
		if err := decodeOutput(b, &out, 1024); err != nil {
			return
		}
		if out.Data != nil && (len(out.Data) > 1024 || !protocol.Valid(out.Data)) {
			t.Fatalf("accepted data %q", out.Data)
		}
		if out.ErrCode != 0 && out.ErrCode != 400 && out.ErrCode != 403 && out.ErrCode != 429 {
			t.Fatalf("accepted error code %d", out.ErrCode)
		}
	})
}

// FuzzLuaJSON decodes client JSON into Lua values and encodes it back: never a panic, the
// decoder refuses what encoding/json refuses, and what it accepts encodes to valid JSON.
func FuzzLuaJSON(f *testing.F) {
	for _, s := range []string{`{"a":[1,2.5,null,true],"b":{"c":"\u00e9\ud83d\ude00"}}`, `[]`, `"\\"`, `1e400`, `-0`, `[[[[[[[[]]]]]]]]`, `{"a":1,}`, `"\ud800"`} {
		f.Add([]byte(s))
	}
	L := lua.NewState(lua.Options{SkipOpenLibs: true})
	defer L.Close()
	j := luaJSON{L: L, arrayMT: L.NewTable(), null: L.NewUserData()}
	f.Fuzz(func(t *testing.T, b []byte) {
		v, err := j.decode(b)
		if err != nil {
			return
		}
		if !json.Valid(b) {
			t.Fatalf("accepted invalid JSON %q", b)
		}
		out, err := j.encode(nil, v, 1<<20)
		if err != nil {
			t.Fatalf("decoded %q but cannot encode it: %v", b, err)
		}
		if !json.Valid(out) {
			t.Fatalf("%q encoded as invalid JSON %q", b, out)
		}
	})
}
