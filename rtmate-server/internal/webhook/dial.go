package webhook

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"syscall"
	"time"

	"github.com/rtmate/rtmate/rtmate-server/internal/config"
)

// errDenied marks a request that must not be retried: deny_private refused the address, or
// the URL is unusable.
var errDenied = errors.New("webhook: address denied")

// newClient returns the HTTP client of one app's settings. It never follows redirects (a
// redirect could lead to an address the guard would refuse, and a signed request should
// reach the URL that was configured, not another) and ignores HTTP_PROXY (the guard checks
// the address actually dialled). With denyPrivate every dialled address — after DNS
// resolution, so rebinding cannot slip past — is checked by config.DeniedAddr.
func newClient(denyPrivate bool, conns int) *http.Client {
	dialer := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}
	if denyPrivate {
		dialer.Control = denyPrivateControl
	}
	tr := &http.Transport{
		Proxy:                 nil,
		DialContext:           dialer.DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          max(100, conns),
		MaxIdleConnsPerHost:   max(2, conns),
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
	}
	return &http.Client{
		Transport:     tr,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// denyPrivateControl runs after resolution, before connect, for every address tried.
func denyPrivateControl(_, address string, _ syscall.RawConn) error {
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return fmt.Errorf("%w: %q: %v", errDenied, address, err)
	}
	ip, err := netip.ParseAddr(host)
	if err != nil || config.DeniedAddr(ip) {
		return fmt.Errorf("%w: %s is a private or local address and deny_private is on", errDenied, host)
	}
	return nil
}
