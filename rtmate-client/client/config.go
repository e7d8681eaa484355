package client

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"time"
)

// DefaultURL is the server's default WebSocket endpoint.
const DefaultURL = "ws://127.0.0.1:3000/ws"

// Config configures a Client. Zero values mean the documented defaults; only AppID and
// GetToken are required.
type Config struct {
	// URL of the WebSocket endpoint (ws:// or wss://). Default DefaultURL.
	URL string
	// AppID is sent in every auth request.
	AppID string
	// GetToken returns a connection token (JWT). It is called before every connection
	// attempt and before the current token expires; it may block (an HTTP call to the
	// application's backend) and should honour ctx.
	GetToken func(ctx context.Context) (string, error)

	// Logger receives connection-level events. Default: discard.
	Logger *slog.Logger

	// ReconnectMin and ReconnectMax bound the delay before a reconnection attempt: it
	// doubles from ReconnectMin up to ReconnectMax with each failed attempt, and a random
	// part (between half and all of it) spreads clients that lost the same server.
	// Defaults 250ms and 15s.
	ReconnectMin, ReconnectMax time.Duration

	// PingInterval is how often an application-level ping is sent to find dead
	// connections that TCP has not noticed. Default 25s; negative disables pings.
	PingInterval time.Duration
	// PingTimeout is how long a ping waits for its response before the connection is
	// considered dead and replaced. Default 10s.
	PingTimeout time.Duration

	// RequestTimeout bounds each request (auth, subscribe, publish, …) on top of the
	// caller's context. Default 10s.
	RequestTimeout time.Duration
	// DialTimeout bounds the TCP connect and the WebSocket handshake. Default 10s.
	DialTimeout time.Duration
	// WriteTimeout bounds one write to the socket. Default 10s.
	WriteTimeout time.Duration
	// RefreshBefore is how long before the token's exp a new token is fetched and sent;
	// it shrinks to half the remaining lifetime for short-lived tokens. Default 30s.
	RefreshBefore time.Duration

	// MaxMessageSize bounds one server message, in bytes. Default 16 MiB.
	MaxMessageSize int64
	// ReadBufferSize is the socket read buffer per connection, in bytes. Default 16 KiB.
	ReadBufferSize int

	// Header is added to the WebSocket handshake request (Origin, for instance).
	Header http.Header
	// NetDial replaces the default TCP dialer (to pick a source address, for instance).
	NetDial func(ctx context.Context, network, addr string) (net.Conn, error)

	// OnStateChange is called on every state transition, on the client's event goroutine.
	OnStateChange func(StateChange)
	// OnError receives errors that belong to no call: failed token refreshes,
	// resubscriptions the server refused, malformed server messages. On the event goroutine.
	OnError func(error)
}

func (c *Config) setDefaults() error {
	if c.AppID == "" {
		return errors.New("rtmate: Config.AppID is required")
	}
	if c.GetToken == nil {
		return errors.New("rtmate: Config.GetToken is required")
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	if c.URL == "" {
		c.URL = DefaultURL
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	def(&c.ReconnectMin, 250*time.Millisecond)
	def(&c.ReconnectMax, 15*time.Second)
	if c.ReconnectMax < c.ReconnectMin {
		c.ReconnectMax = c.ReconnectMin
	}
	def(&c.PingInterval, 25*time.Second)
	def(&c.PingTimeout, 10*time.Second)
	def(&c.RequestTimeout, 10*time.Second)
	def(&c.DialTimeout, 10*time.Second)
	def(&c.WriteTimeout, 10*time.Second)
	def(&c.RefreshBefore, 30*time.Second)
	if c.MaxMessageSize == 0 {
		c.MaxMessageSize = 16 << 20
	}
	if c.ReadBufferSize == 0 {
		c.ReadBufferSize = 16 << 10
	}
	return nil
}
