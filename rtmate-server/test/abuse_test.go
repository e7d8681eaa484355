package test

import (
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"

	"github.com/rtmate/rtmate/rt-common/protocol"
	"github.com/rtmate/rtmate/rtmate-server/internal/config"
)

// TestBadInputHarmsNoOne: while clients send garbage of every kind, a subscriber and a
// publisher elsewhere on the server keep working, message after message.
func TestBadInputHarmsNoOne(t *testing.T) {
	t.Parallel()
	srv := start(t, func(cfg *config.Config) {
		unlimited(cfg)
		devApp(cfg).Limits.MaxMessageSize = 4096
		cfg.Defaults.MaxMessageSize = 4096 // the abusers do not authenticate
	})
	sub := authed(t, srv, "sub")
	pub := authed(t, srv, "pub")
	sub.subscribe("calm")

	// Each abuser returns what it saw go wrong with the server; it must not fail the test
	// from its goroutine.
	abusers := map[string]func() error{
		"malformed JSON flood": func() error {
			c, err := tryDial(srv.URL, nil)
			if err != nil {
				return err
			}
			defer c.ws.CloseNow()
			garbage := []string{`{`, `}`, `[`, `{"event":`, `{"event":"subscribe","payload":{"channel":`, "\"\\u12\"", `nul`, strings.Repeat("[", 600) + strings.Repeat("]", 600)}
			for i := 0; i < 300; i++ {
				if err := c.writeText([]byte(garbage[i%len(garbage)])); err != nil {
					return err
				}
				m, err := c.tryNext()
				if err != nil {
					return fmt.Errorf("garbage %d: %w", i, err)
				}
				if m.Code != protocol.InvalidParams.Code() && m.Code != protocol.RateLimited.Code() {
					return fmt.Errorf("garbage %d answered %s", i, m)
				}
			}
			return nil
		},
		"invalid UTF-8": func() error {
			r, err := tryRawDial(srv.Addr)
			if err != nil {
				return err
			}
			defer r.nc.Close()
			if err := r.write(frame(true, opText, []byte("{\"event\":\"ping\",\"x\":\"\xc3\x28\"}"))); err != nil {
				return err
			}
			if code, err := r.readClose(); code != 1007 {
				return fmt.Errorf("invalid UTF-8: close %d (%v), want 1007", code, err)
			}
			return nil
		},
		"invalid UTF-8 across fragments": func() error {
			r, err := tryRawDial(srv.Addr)
			if err != nil {
				return err
			}
			defer r.nc.Close()
			_ = r.write(frame(false, opText, []byte("{\"x\":\"\xe2\x82")))
			_ = r.write(frame(true, 0, []byte("\x28\"}")))
			if code, err := r.readClose(); code != 1007 {
				return fmt.Errorf("fragmented invalid UTF-8: close %d (%v), want 1007", code, err)
			}
			return nil
		},
		"huge frame header": func() error {
			r, err := tryRawDial(srv.Addr)
			if err != nil {
				return err
			}
			defer r.nc.Close()
			// Announces 4 GiB, then sends a little: refused from the header alone.
			if err := r.write(append(frameHeader(true, opText, 4<<30, [4]byte{1, 2, 3, 4}), "{\"event\""...)); err != nil {
				return err
			}
			if code, err := r.readClose(); code != 1009 {
				return fmt.Errorf("huge header: close %d (%v), want 1009", code, err)
			}
			return nil
		},
		"huge frame": func() error {
			r, err := tryRawDial(srv.Addr)
			if err != nil {
				return err
			}
			defer r.nc.Close()
			// Sent for real, in pieces; the server closes after the header and may reset
			// the connection while we still write, which is fine.
			f := frame(true, opText, []byte(strings.Repeat("x", 1<<20)))
			go func() {
				for i := 0; i < len(f); i += 4096 {
					if r.write(f[i:min(i+4096, len(f))]) != nil {
						return
					}
				}
			}()
			code, err := r.readClose()
			if code != 1009 && !isReset(err) {
				return fmt.Errorf("huge frame: close %d (%v), want 1009", code, err)
			}
			return nil
		},
		"many fragments over the limit": func() error {
			r, err := tryRawDial(srv.Addr)
			if err != nil {
				return err
			}
			defer r.nc.Close()
			_ = r.write(frame(false, opText, []byte(`{"event":"ping","x":"`)))
			for i := 0; i < 20; i++ {
				if r.write(frame(false, 0, []byte(strings.Repeat("y", 512)))) != nil {
					break
				}
			}
			if code, err := r.readClose(); code != 1009 {
				return fmt.Errorf("fragments: close %d (%v), want 1009", code, err)
			}
			return nil
		},
		"protocol error": func() error {
			r, err := tryRawDial(srv.Addr)
			if err != nil {
				return err
			}
			defer r.nc.Close()
			// A continuation frame with no message to continue.
			_ = r.write(frame(true, 0, []byte("x")))
			if code, err := r.readClose(); code != 1002 {
				return fmt.Errorf("stray continuation: close %d (%v), want 1002", code, err)
			}
			return nil
		},
		"ping flood": func() error {
			r, err := tryRawDial(srv.Addr)
			if err != nil {
				return err
			}
			defer r.nc.Close()
			ping := frame(true, opPing, []byte("ping!"))
			var burst []byte
			for i := 0; i < 100; i++ {
				burst = append(burst, ping...)
			}
			for i := 0; i < 50; i++ {
				if r.write(burst) != nil {
					break // closed for abuse is fine
				}
			}
			return nil
		},
		"half-open handshake": func() error {
			nc, err := net.DialTimeout("tcp", srv.Addr, readTimeout)
			if err != nil {
				return err
			}
			defer nc.Close()
			_, err = nc.Write([]byte("GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConn"))
			return err // and stall: the deferred close comes when the test is done
		},
		"unauthenticated requests": func() error {
			c, err := tryDial(srv.URL, nil)
			if err != nil {
				return err
			}
			defer c.ws.CloseNow()
			for i := 0; i < 100; i++ {
				m, err := c.tryCall(protocol.EventMessageSend, obj{"channel": "calm", "data": "intruder"})
				if err != nil {
					return err
				}
				if m.Code != protocol.Unauthenticated.Code() && m.Code != protocol.RateLimited.Code() {
					return fmt.Errorf("unauthenticated publish answered %s", m)
				}
			}
			return nil
		},
	}

	// A half-open handshake that stays stalled for the whole test.
	stalled, err := net.DialTimeout("tcp", srv.Addr, readTimeout)
	if err != nil {
		t.Fatal(err)
	}
	defer stalled.Close()
	if _, err := stalled.Write([]byte("GET /ws HTTP/1.1\r\nHo")); err != nil {
		t.Fatal(err)
	}

	var wg sync.WaitGroup
	errs := make(chan error, len(abusers))
	for name, abuse := range abusers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := abuse(); err != nil {
				errs <- fmt.Errorf("%s: %w", name, err)
			}
		}()
	}
	// Meanwhile, and after, the calm pair works.
	const rounds = 200
	for i := 0; i < rounds; i++ {
		pub.publish("calm", fmt.Sprintf(`{"i":%d}`, i))
		if d := sub.message("calm"); string(d.Data) != fmt.Sprintf(`{"i":%d}`, i) {
			t.Fatalf("round %d: got %s", i, d.Data)
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	pub.publish("calm", `"after"`)
	if d := sub.message("calm"); string(d.Data) != `"after"` {
		t.Fatalf("after the abuse: got %s", d.Data)
	}
	sub.expectNoPush()
}

func isReset(err error) bool {
	return err != nil && (strings.Contains(err.Error(), "reset") || strings.Contains(err.Error(), "broken pipe") || strings.Contains(err.Error(), "EOF"))
}
