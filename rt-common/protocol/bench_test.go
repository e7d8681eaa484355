package protocol_test

import (
	"strings"
	"testing"

	"github.com/rtmate/rtmate/rt-common/protocol"
)

// The benchmarks prove the hot-path promise: decoding a request without escapes and appending
// into a reused buffer allocate nothing. TestZeroAllocs turns the same promise into a test.

var (
	benchAuth = []byte(`{"event":"auth","payload":{"appId":"demo-app","token":"eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJhcHBfaWQiOiJkZW1vLWFwcCIsInN1YiI6ImFsaWNlIiwiZXhwIjoxNzY3MjI1NjAwfQ.c2lnbmF0dXJlLWJ5dGVz"},"metadata":{"traceId":"3f2b8c1e-9a4d-4e7f-b6c5-0d1e2f3a4b5c"},"id":"req-1"}`)
	// 128 bytes of data, as a JSON string.
	benchData = []byte(`"` + strings.Repeat("x", 126) + `"`)
	benchSend = []byte(`{"event":"messageSend","payload":{"channel":"chat.room-42","data":` + string(benchData) + `},"metadata":{"traceId":"3f2b8c1e-9a4d-4e7f-b6c5-0d1e2f3a4b5c"},"id":17}`)
)

func BenchmarkDecodeRequest(b *testing.B) {
	for _, bc := range []struct {
		name string
		msg  []byte
	}{
		{"auth", benchAuth},
		{"messageSend128", benchSend},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(bc.msg)))
			var r protocol.Request
			for b.Loop() {
				if err := protocol.DecodeRequest(bc.msg, &r); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkDecodePayload(b *testing.B) {
	var r protocol.Request
	if err := protocol.DecodeRequest(benchSend, &r); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(r.Payload)))
	var p protocol.Payload
	for b.Loop() {
		if err := protocol.DecodePayload(r.Payload, &p); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAppendResponse(b *testing.B) {
	resp := protocol.Response{
		Code:    protocol.Success,
		Event:   []byte("messageSend"),
		ID:      []byte("17"),
		TraceID: []byte("3f2b8c1e-9a4d-4e7f-b6c5-0d1e2f3a4b5c"), // longer than 32 bytes on purpose
		Data:    []byte(`{"channel":"chat.room-42","offset":1234}`),
	}
	buf := make([]byte, 0, 1024)
	b.ReportAllocs()
	for b.Loop() {
		buf = protocol.AppendResponse(buf[:0], &resp)
	}
	b.SetBytes(int64(len(buf)))
}

func BenchmarkAppendMessagePush(b *testing.B) {
	buf := make([]byte, 0, 1024)
	b.ReportAllocs()
	for b.Loop() {
		buf = protocol.AppendMessagePush(buf[:0], "chat.room-42", benchData, "c-0123456789abcdef", 1234)
	}
	b.SetBytes(int64(len(buf)))
}

func TestZeroAllocs(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	var (
		r   protocol.Request
		p   protocol.Payload
		buf = make([]byte, 0, 1024)
		raw = []byte(`{"channel":"c","data":[1,2],"recover":true,"offset":5}`)
		uni = []byte("参数错误\u2028\xff")
	)
	resp := protocol.Response{Code: protocol.AuthMismatch, Event: []byte("auth"), ID: []byte(`"req-1"`),
		TraceID: []byte("3f2b8c1e-9a4d-4e7f-b6c5-0d1e2f3a4b5c"), Data: []byte(`{"a":1}`)}
	tests := []struct {
		name string
		f    func()
	}{
		{"DecodeRequest auth", func() { _ = protocol.DecodeRequest(benchAuth, &r) }},
		{"DecodeRequest messageSend", func() { _ = protocol.DecodeRequest(benchSend, &r) }},
		{"DecodePayload", func() { _ = protocol.DecodePayload(raw, &p) }},
		{"AppendResponse", func() { buf = protocol.AppendResponse(buf[:0], &resp) }},
		{"AppendMessagePush", func() { buf = protocol.AppendMessagePush(buf[:0], "chat.room-42", benchData, "c-1", 9) }},
		{"AppendPresencePush", func() { buf = protocol.AppendPresencePush(buf[:0], protocol.PushJoin, "presence-r", "c-1", "alice") }},
		{"AppendStringBytes non-ASCII", func() { buf = protocol.AppendStringBytes(buf[:0], uni) }},
		{"ValidChannel", func() { _ = protocol.ValidChannel("chat.room-42") }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if n := testing.AllocsPerRun(100, tc.f); n != 0 {
				t.Errorf("%v allocs/op, want 0", n)
			}
		})
	}
}
