package pusher

import "testing"

// BenchmarkDecode: a client event, the message a busy Pusher connection sends most, is
// decoded without allocating (the event loop's rule).
func BenchmarkDecode(b *testing.B) {
	msg := []byte(`{"event":"client-typing","channel":"presence-room-42","data":{"typing":true,"at":1700000000}}`)
	b.ReportAllocs()
	var m Message
	for b.Loop() {
		if err := Decode(msg, &m); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAppendEvent: the Pusher frame of a publication, encoded once per publication.
func BenchmarkAppendEvent(b *testing.B) {
	data := []byte(`{"b":"00000000000000000000000000000000000000000","p":"xxxxxxxxxxxxxxxx"}`)
	buf := make([]byte, 0, 256)
	b.ReportAllocs()
	for b.Loop() {
		buf = AppendEvent(buf[:0], "message", "bench-fanout", data, "")
	}
}
