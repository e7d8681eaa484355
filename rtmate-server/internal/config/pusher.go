package config

import (
	"errors"
	"fmt"
	"regexp"
)

// Pusher lets an app speak the Pusher Channels protocol (version 7) besides RTMate's own:
// pusher-js and Laravel Echo connect to /app/{Key}, the Pusher server SDKs call
// /apps/{app id}/... signed with Secret. docs/pusher.md describes the behaviour.
type Pusher struct {
	// Key is what Pusher clients connect with (/app/{key}); unique across apps. Required.
	Key string `yaml:"key"`
	// Secret signs channel authorizations, user authentications, HTTP API requests and
	// Pusher-format webhooks. Required.
	Secret string `yaml:"secret"`
	// ClientEvents lets subscribers of private and presence channels send client-* events.
	// Default false.
	ClientEvents bool `yaml:"client_events"`
	// MaxPresenceMembers is how many distinct users a presence channel admits. Default 100
	// (Pusher's limit).
	MaxPresenceMembers int `yaml:"max_presence_members"`
}

// DefaultMaxPresenceMembers is Pusher's own limit of users per presence channel.
const DefaultMaxPresenceMembers = 100

// Development app's Pusher credentials: public on purpose, like its JWT secret.
const (
	DevPusherKey    = "demo-key"
	DevPusherSecret = "demo-secret" // #nosec G101 -- public on purpose: the development app's Pusher secret
)

// pusherKeyPattern keeps keys to what fits a URL path segment unescaped.
var pusherKeyPattern = regexp.MustCompile(`^[A-Za-z0-9_.\-]{1,128}$`)

func (p *Pusher) setDefaults() {
	if p.MaxPresenceMembers == 0 {
		p.MaxPresenceMembers = DefaultMaxPresenceMembers
	}
}

func (p *Pusher) validate() error {
	if !pusherKeyPattern.MatchString(p.Key) {
		return fmt.Errorf("key %q: want 1-128 characters of [A-Za-z0-9_.-]", p.Key)
	}
	if p.Secret == "" {
		return errors.New("secret is required")
	}
	if p.MaxPresenceMembers < 0 {
		return fmt.Errorf("max_presence_members %d: want a positive number", p.MaxPresenceMembers)
	}
	return nil
}

// validatePusher checks every app's pusher block; a key names exactly one app.
func (c *Config) validatePusher() error {
	keys := make(map[string]string)
	for i := range c.Apps {
		a := &c.Apps[i]
		if a.Webhook != nil && a.Webhook.Format == WebhookFormatPusher && a.Pusher == nil {
			return fmt.Errorf("apps[%d] (%s).webhook: format pusher needs the app's pusher block (its secret signs the webhooks)", i, a.ID)
		}
		if a.Pusher == nil {
			continue
		}
		a.Pusher.setDefaults()
		if err := a.Pusher.validate(); err != nil {
			return fmt.Errorf("apps[%d] (%s).pusher: %w", i, a.ID, err)
		}
		if other, dup := keys[a.Pusher.Key]; dup {
			return fmt.Errorf("apps[%d] (%s).pusher.key: the same key as app %s", i, a.ID, other)
		}
		keys[a.Pusher.Key] = a.ID
	}
	return nil
}

// Webhook formats (Webhook.Format).
const (
	WebhookFormatRTMate = "rtmate"
	WebhookFormatPusher = "pusher"
)

// PusherWebhookEvents are the events a webhook of format pusher may select, Pusher's names.
var PusherWebhookEvents = []string{"channel_occupied", "channel_vacated", "member_added", "member_removed", "client_event"}

// eventNames are the event names w's format knows.
func (w *Webhook) eventNames() []string {
	if w.Format == WebhookFormatPusher {
		return PusherWebhookEvents
	}
	return WebhookEvents
}
