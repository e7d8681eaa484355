package protocol_test

import (
	"fmt"

	"github.com/rtmate/rtmate/rt-common/protocol"
)

func ExampleDecodeRequest() {
	msg := []byte(`{"event":"subscribe","payload":{"channel":"news"},"metadata":{"traceId":"t-1"},"id":7}`)

	var req protocol.Request
	if err := protocol.DecodeRequest(msg, &req); err != nil {
		fmt.Println("error:", protocol.CodeOf(err).Code(), protocol.CodeOf(err).Message())
		return
	}
	var p protocol.Payload
	if err := protocol.DecodePayload(req.Payload, &p); err != nil || !protocol.ValidChannel(string(p.Channel)) {
		fmt.Println("bad payload")
		return
	}
	fmt.Printf("event=%s channel=%s id=%s traceId=%s\n", req.Event, p.Channel, req.ID, req.TraceID)

	// The answer echoes id and traceId. A server appends into a reused buffer instead of nil.
	resp := protocol.AppendResponse(nil, &protocol.Response{
		Code: protocol.Success, Event: req.Event, ID: req.ID, TraceID: req.TraceID,
		Data: []byte(`{"channel":"news"}`),
	})
	fmt.Println(string(resp))

	// A malformed request still gets its id back in the error response.
	bad := []byte(`{"event":42,"id":"r9"}`)
	err := protocol.DecodeRequest(bad, &req)
	fmt.Println(string(protocol.AppendResponse(nil, &protocol.Response{Code: protocol.CodeOf(err), ID: req.ID})))
	// Output:
	// event=subscribe channel=news id=7 traceId=t-1
	// {"code":200,"message":"success","data":{"channel":"news"},"event":"subscribe","id":7,"traceId":"t-1"}
	// {"code":400,"message":"参数错误","data":null,"id":"r9"}
}

func ExampleAppendMessagePush() {
	// The publisher's data is embedded byte for byte; encode the push once and write the same
	// bytes to every subscriber.
	data := []byte(`{"text":"hello", "n":1}`)
	frame := protocol.AppendMessagePush(make([]byte, 0, 256), "news", data, "c-42", 0)
	fmt.Println(string(frame))

	// A channel with history adds the offset.
	frame = protocol.AppendMessagePush(frame[:0], "news", data, "c-42", 17)
	fmt.Println(string(frame))
	// Output:
	// {"code":200,"message":"success","event":"message","data":{"channel":"news","data":{"text":"hello", "n":1},"from":"c-42"}}
	// {"code":200,"message":"success","event":"message","data":{"channel":"news","data":{"text":"hello", "n":1},"from":"c-42","offset":17}}
}
