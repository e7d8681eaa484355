package server

import (
	"context"

	"github.com/rtmate/rtmate/rt-common/protocol"
)

// Hooks let an app's backend decide synchronously on connections and subscriptions (the
// webhook package's connect hook). They run in the read slot and must honour ctx's deadline.
type Hooks interface {
	// Connect may reject a connection (return a *protocol.RtWsError, e.g. Forbidden) or
	// replace its user id (return a non-empty userID).
	Connect(ctx context.Context, info ConnInfo, claims *protocol.Claims) (userID string, err error)
	// Subscribe may reject a subscription.
	Subscribe(ctx context.Context, info ConnInfo, channel string) error
}

type nopHooks struct{}

func (nopHooks) Connect(context.Context, ConnInfo, *protocol.Claims) (string, error) { return "", nil }
func (nopHooks) Subscribe(context.Context, ConnInfo, string) error                   { return nil }
