// Command rtmate-token issues RTMate connection tokens and explains why a token is refused.
// Run it with --help; the logic lives in internal/tokencmd.
package main

import (
	"fmt"
	"os"

	"github.com/rtmate/rtmate/rt-common/buildinfo"

	"github.com/rtmate/rtmate/rtmate-auth/internal/tokencmd"
)

func main() {
	if buildinfo.IsVersionFlag(os.Args[1:]) {
		fmt.Println(buildinfo.Get().Line("rtmate-token"))
		return
	}
	os.Exit(tokencmd.Run(os.Args[1:], tokencmd.Env{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr}))
}
