package healthcheck

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"
)

// DefaultTimeout bounds one probe when the context has no earlier deadline: a container
// runtime's own health timeout is usually longer, and a node that takes seconds to answer
// /healthz is not healthy.
const DefaultTimeout = 3 * time.Second

// Probe sends GET rawURL and returns nil when the answer is 2xx, otherwise an error saying
// what was wrong (bad URL, no connection, timeout, the status and the start of the body).
// Redirects are not followed: /healthz answers directly. Safe for concurrent use.
func Probe(ctx context.Context, rawURL string) error {
	u, err := url.Parse(rawURL)
	if err != nil {
		return fmt.Errorf("healthcheck: url %q: %w", rawURL, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return fmt.Errorf("healthcheck: url %q: want http://host:port/path", rawURL)
	}
	ctx, cancel := context.WithTimeout(ctx, DefaultTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 256))
	if err != nil {
		return fmt.Errorf("healthcheck: read %s: %w", u.Redacted(), err)
	}
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("healthcheck: %s answered %s: %q", u.Redacted(), resp.Status, body)
	}
	return nil
}
