// Command rtmate subscribes, publishes and queries presence and history on an RTMate
// server. Run "rtmate help" for usage; the logic lives in internal/cli.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/rtmate/rtmate/rt-common/buildinfo"
	"github.com/rtmate/rtmate/rtmate-client/internal/cli"
)

func main() {
	if buildinfo.IsVersionFlag(os.Args[1:]) {
		fmt.Println(buildinfo.Get().Line("rtmate"))
		return
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Run(ctx, os.Args[1:], cli.Streams{In: os.Stdin, Out: os.Stdout, Err: os.Stderr}, os.Getenv)
	stop()
	os.Exit(code)
}
