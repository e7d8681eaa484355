package api

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/rtmate/rtmate/rt-common/protocol"
)

// FuzzDecodeRequest feeds arbitrary bodies to the API's decoders. Whatever the body, a
// decoder either refuses it with 400 参数错误 or yields a data value that is valid JSON and
// appears in the body byte for byte (it is relayed as is); what the server then accepts to
// publish (protocol.Valid) is a subset of that.
func FuzzDecodeRequest(f *testing.F) {
	for _, seed := range []string{
		`{"appId":"demo-app","channel":"news","data":{"a":[1,2,{"b":null}]}}`,
		`{"appId":"demo-app","channels":["a","b"],"data":"x"}`,
		`{"appId":"demo-app","client_id":"n-1"}`,
		`{"appId":"demo-app","user_id":"bob"}`,
		`{"appId":"demo-app","channel":"a","data":1}{}`,
		`{"appId":"demo-app","channel":"a","data":"\ud800"}`,
		"{\"appId\":\"a\",\"data\":\"\xff\"}",
		`{"APPID":"x","Data":  [ 1 , 2 ] }`,
		`[]`, `null`, ``, `{`, `{"data":}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		check := func(err error, data json.RawMessage) {
			if err != nil {
				if code := protocol.CodeOf(err); code != protocol.InvalidParams {
					t.Fatalf("error %v: code %s, want InvalidParams", err, code)
				}
				return
			}
			if data == nil {
				return
			}
			if !json.Valid(data) {
				t.Fatalf("data %q is not JSON", data)
			}
			if !bytes.Contains(body, data) {
				t.Fatalf("data %q is not a part of the body %q", data, body)
			}
		}
		var p publishRequest
		check(decodeJSON(body, &p), p.Data)
		var b broadcastRequest
		check(decodeJSON(body, &b), b.Data)
		var d disconnectRequest
		check(decodeJSON(body, &d), nil)
	})
}
