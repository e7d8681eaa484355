package config

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"slices"
	"time"
)

// Webhook is an app's backend notification target: asynchronous event webhooks (URL) and an
// optional synchronous connect hook (ConnectHook). Zero values mean the documented defaults;
// WithDefaults resolves them. docs/webhooks.md describes the behaviour.
type Webhook struct {
	// URL receives the app's events: POST, JSON, signed. Empty: no event webhooks.
	URL string `yaml:"url"`
	// Format is rtmate (default: RTMate's events, X-RTMate-Signature) or pusher (Pusher's
	// events and body, X-Pusher-Key and X-Pusher-Signature with the app's pusher secret; the
	// app needs a pusher block). See pusher.go.
	Format string `yaml:"format"`
	// Secret signs every request, events and hooks alike (X-RTMate-Signature). Required.
	Secret string `yaml:"secret"`
	// Events selects the kinds sent: connect, disconnect, subscribe, unsubscribe, message.
	// Empty: all of them.
	Events []string `yaml:"events"`
	// Timeout bounds one delivery attempt (connect, send, response headers). Default 5s.
	Timeout time.Duration `yaml:"timeout"`
	// MaxRetries is how many times an event is re-sent after its first attempt failed with
	// a 5xx, 408, 429, a timeout or a network error. Default 5; negative: never retry.
	MaxRetries int `yaml:"max_retries"`
	// QueueSize bounds the app's undelivered events; when it is full the oldest are dropped
	// (and counted). Default 10000.
	QueueSize int `yaml:"queue_size"`
	// Workers is how many delivery goroutines (and queue shards) the app has; the events of
	// one connection always go through the same one, in order. Default 4, at most 64.
	Workers int `yaml:"workers"`
	// BatchSize lets one POST carry up to this many queued events as a JSON array. Default 1:
	// every POST carries one event object.
	BatchSize int `yaml:"batch_size"`
	// ConnectHook is a URL asked synchronously before a connection is accepted and before
	// each new subscription; it may reject (403) or replace the user id.
	ConnectHook string `yaml:"connect_hook"`
	// HookTimeout bounds one connect hook call. Default 2s, at most 10s.
	HookTimeout time.Duration `yaml:"hook_timeout"`
	// HookFailOpen accepts when the hook fails or times out. Default false: reject with 500.
	HookFailOpen bool `yaml:"hook_fail_open"`
	// DenyPrivate refuses to connect to loopback, private, link-local, CGNAT, multicast and
	// unspecified addresses: literal IPs at config load, and every resolved address at dial
	// time (so DNS rebinding cannot slip past). Default false.
	DenyPrivate bool `yaml:"deny_private"`
}

// WebhookEvents are the event kinds a webhook may select, in the order documented.
var WebhookEvents = []string{"connect", "disconnect", "subscribe", "unsubscribe", "message"}

// Webhook defaults (see the fields of Webhook).
const (
	DefaultWebhookTimeout     = 5 * time.Second
	DefaultWebhookMaxRetries  = 5
	DefaultWebhookQueueSize   = 10000
	DefaultWebhookWorkers     = 4
	DefaultWebhookHookTimeout = 2 * time.Second
	maxWebhookWorkers         = 64
	maxWebhookBatch           = 1000
	maxHookTimeout            = 10 * time.Second
)

// WithDefaults returns w with every zero field resolved to its default (Events to all kinds,
// a negative MaxRetries to 0).
func (w Webhook) WithDefaults() Webhook {
	if w.Format == "" {
		w.Format = WebhookFormatRTMate
	}
	if len(w.Events) == 0 {
		w.Events = slices.Clone(w.eventNames())
	}
	if w.Timeout == 0 {
		w.Timeout = DefaultWebhookTimeout
	}
	switch {
	case w.MaxRetries == 0:
		w.MaxRetries = DefaultWebhookMaxRetries
	case w.MaxRetries < 0:
		w.MaxRetries = 0
	}
	if w.QueueSize == 0 {
		w.QueueSize = DefaultWebhookQueueSize
	}
	if w.Workers == 0 {
		w.Workers = DefaultWebhookWorkers
	}
	if w.BatchSize == 0 {
		w.BatchSize = 1
	}
	if w.HookTimeout == 0 {
		w.HookTimeout = DefaultWebhookHookTimeout
	}
	return w
}

// validate is the SSRF guard's load-time half: http and https URLs only, with a host, no
// user info (credentials in a URL end up in logs) and no fragment; with DenyPrivate, no
// literal address in a denied range. The dial-time half is in the webhook package.
func (w *Webhook) validate() error {
	for _, f := range []struct{ key, raw string }{{"url", w.URL}, {"connect_hook", w.ConnectHook}} {
		if f.raw == "" {
			continue
		}
		if err := checkWebhookURL(f.raw, w.DenyPrivate); err != nil {
			return fmt.Errorf("%s: %w", f.key, err)
		}
	}
	switch {
	case w.URL == "" && w.ConnectHook == "":
		return errors.New("url or connect_hook is required")
	case w.Format != "" && w.Format != WebhookFormatRTMate && w.Format != WebhookFormatPusher:
		return fmt.Errorf("format %q: want %s or %s", w.Format, WebhookFormatRTMate, WebhookFormatPusher)
	case w.Secret == "" && (w.Format != WebhookFormatPusher || w.ConnectHook != ""):
		return errors.New("secret is required: every request is signed with it")
	case w.Timeout < 0 || w.HookTimeout < 0:
		return errors.New("timeout and hook_timeout must be positive")
	case w.HookTimeout > maxHookTimeout:
		return fmt.Errorf("hook_timeout must be at most %v: the hook holds a connection's read slot", maxHookTimeout)
	case w.QueueSize < 0:
		return errors.New("queue_size must be positive")
	case w.Workers < 0 || w.Workers > maxWebhookWorkers:
		return fmt.Errorf("workers must be between 1 and %d", maxWebhookWorkers)
	case w.BatchSize < 0 || w.BatchSize > maxWebhookBatch:
		return fmt.Errorf("batch_size must be between 1 and %d", maxWebhookBatch)
	}
	names := w.eventNames()
	for _, e := range w.Events {
		if !slices.Contains(names, e) {
			return fmt.Errorf("events: unknown event %q (want one of %v)", e, names)
		}
	}
	return nil
}

func checkWebhookURL(raw string, denyPrivate bool) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("url %q: %w", raw, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("url %q: scheme must be http or https", raw)
	}
	if u.Host == "" || u.Hostname() == "" {
		return fmt.Errorf("url %q: no host", raw)
	}
	if u.User != nil {
		return fmt.Errorf("url %q: user info is not allowed (authenticate the request by its signature)", u.Redacted())
	}
	if u.Fragment != "" {
		return fmt.Errorf("url %q: a fragment is not allowed", raw)
	}
	if denyPrivate {
		if ip, err := netip.ParseAddr(u.Hostname()); err == nil && DeniedAddr(ip) {
			return fmt.Errorf("url %q: %v is a private or local address and deny_private is on", raw, ip)
		}
	}
	return nil
}

// deniedPrefixes are the ranges DeniedAddr refuses besides those the netip predicates name.
var deniedPrefixes = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),      // "this network"
	netip.MustParsePrefix("100.64.0.0/10"),  // carrier-grade NAT
	netip.MustParsePrefix("192.0.0.0/24"),   // IETF protocol assignments
	netip.MustParsePrefix("198.18.0.0/15"),  // benchmarking
	netip.MustParsePrefix("240.0.0.0/4"),    // reserved, and broadcast
	netip.MustParsePrefix("64:ff9b:1::/48"), // local-use IPv4/IPv6 translation
	netip.MustParsePrefix("2001:db8::/32"),  // documentation
	netip.MustParsePrefix("fec0::/10"),      // deprecated site-local
	netip.MustParsePrefix("100::/64"),       // discard-only
	netip.MustParsePrefix("2001:10::/28"),   // ORCHID
	netip.MustParsePrefix("::/128"),         // unspecified
	netip.MustParsePrefix("::1/128"),        // loopback
	netip.MustParsePrefix("169.254.0.0/16"), // link-local, cloud metadata (169.254.169.254)
	netip.MustParsePrefix("fd00:ec2::/32"),  // AWS metadata over IPv6 (also in fc00::/7)
	netip.MustParsePrefix("127.0.0.0/8"),    // loopback
	netip.MustParsePrefix("10.0.0.0/8"),     // private
	netip.MustParsePrefix("172.16.0.0/12"),  // private
	netip.MustParsePrefix("192.168.0.0/16"), // private
	netip.MustParsePrefix("fc00::/7"),       // unique local
	netip.MustParsePrefix("fe80::/10"),      // link-local
	netip.MustParsePrefix("ff00::/8"),       // multicast
	netip.MustParsePrefix("224.0.0.0/4"),    // multicast
	netip.MustParsePrefix("255.255.255.255/32"),
}

// IPv6 ranges that embed an IPv4 address, which DeniedAddr checks instead.
var (
	nat64Prefix = netip.MustParsePrefix("64:ff9b::/96")
	sixToFour   = netip.MustParsePrefix("2002::/16")
)

// DeniedAddr reports whether deny_private refuses ip: loopback, private, link-local
// (including cloud metadata), CGNAT, multicast, unspecified, reserved and documentation
// ranges, and IPv6 forms that embed such an IPv4 address (mapped, NAT64, 6to4).
func DeniedAddr(ip netip.Addr) bool {
	ip = ip.WithZone("")
	if ip.Is4In6() {
		return DeniedAddr(ip.Unmap())
	}
	if ip.Is6() {
		b := ip.As16()
		switch {
		case nat64Prefix.Contains(ip):
			return DeniedAddr(netip.AddrFrom4([4]byte(b[12:16])))
		case sixToFour.Contains(ip):
			return DeniedAddr(netip.AddrFrom4([4]byte(b[2:6])))
		}
	}
	if !ip.IsValid() || ip.IsLoopback() || ip.IsPrivate() || ip.IsUnspecified() || ip.IsMulticast() ||
		ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast() || ip.IsInterfaceLocalMulticast() {
		return true
	}
	for _, p := range deniedPrefixes {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// DeniedIP is DeniedAddr for a net.IP (nil or malformed: denied).
func DeniedIP(ip net.IP) bool {
	a, ok := netip.AddrFromSlice(ip)
	return !ok || DeniedAddr(a)
}
