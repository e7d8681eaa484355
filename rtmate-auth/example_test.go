package auth_test

import (
	"fmt"
	"time"

	"github.com/rtmate/rtmate/rt-common/protocol"
	auth "github.com/rtmate/rtmate/rtmate-auth"
)

func ExampleRegistry_Validate() {
	now := time.Unix(1_700_000_000, 0)
	reg, err := auth.NewRegistry([]auth.AppConfig{
		{ID: "chat", Secret: "a-long-random-secret"},
	}, auth.Options{Now: func() time.Time { return now }})
	if err != nil {
		panic(err)
	}
	tok, _ := auth.Sign(protocol.Claims{AppID: "chat", Sub: "alice", Exp: now.Add(time.Hour).Unix(), Channels: []string{"room-*"}},
		auth.SigningKey{Secret: []byte("a-long-random-secret")})

	claims, err := reg.Validate("chat", []byte(tok))
	fmt.Println(claims.Sub, claims.Channels, err)
	fmt.Println(auth.ChannelAllowed(claims.Channels, "room-42"), auth.ChannelAllowed(claims.Channels, "news"))

	_, err = reg.Validate("other", []byte(tok))
	fmt.Println(protocol.CodeOf(err), protocol.CodeOf(err).Code(), protocol.CodeOf(err).Message())
	// Output:
	// alice [room-*] <nil>
	// true false
	// AppNotFound 400 app_id 未找到
}
