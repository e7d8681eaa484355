package client_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"time"

	"github.com/rtmate/rtmate/rt-common/protocol"
	auth "github.com/rtmate/rtmate/rtmate-auth"
	"github.com/rtmate/rtmate/rtmate-client/client"
)

// Example connects to a development server, follows a channel and publishes to it. It is
// compiled, not run: it needs a server on 127.0.0.1:3000.
func Example() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, client.Config{
		URL:   client.DefaultURL,
		AppID: auth.DevAppID,
		// A real application asks its backend for a token here.
		GetToken: func(context.Context) (string, error) { return auth.DevToken("alice", time.Hour, nil) },
		OnStateChange: func(ch client.StateChange) {
			var ce *client.CloseError
			if errors.As(ch.Err, &ce) {
				log.Printf("server closed the connection: %d %s (%s → %s)", ce.Code, ce.Reason, ch.From, ch.To)
			}
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	defer func() { _ = c.Close() }()
	_, err = c.Subscribe(ctx, "news", client.Handlers{
		OnMessage: func(p protocol.Publication) { fmt.Printf("%s: %s\n", p.From, p.Data) },
		OnSubscribed: func(ev client.SubscribedEvent) {
			if ev.Resubscribed && !ev.Recovered {
				log.Printf("%s: some publications were missed while disconnected", ev.Channel)
			}
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	if _, err := c.Publish(ctx, "news", map[string]string{"text": "hello"}); errors.Is(err, client.ErrForbidden) {
		log.Print("this token may not publish to news")
	}
}
