package webhook

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"time"

	"go.uber.org/zap"
)

// maxReplyRead bounds what is read of a response body (to reuse the connection); the rest
// is discarded with the connection.
const maxReplyRead = 64 << 10

// run is a shard's worker: it delivers the shard's events one request at a time, in order,
// until the target stops and the shard is empty, or delivery is aborted.
func (s *shard) run() {
	defer s.t.wg.Done()
	var batch []event
	var body []byte
	for {
		if s.t.ctx.Err() != nil {
			s.abandon()
			return
		}
		set := s.t.set.Load()
		batch = s.pop(batch[:0], set.batch)
		if len(batch) == 0 {
			select {
			case <-s.wake:
			case <-s.t.stopped:
				if s.exitIfEmpty() {
					return
				}
			case <-s.t.ctx.Done():
			}
			continue
		}
		if set.pusherKey != "" {
			body = encodePusher(body[:0], batch, time.Now().UnixMilli())
		} else {
			body = s.t.d.encode(body[:0], s.t.app, batch, set.batch > 1)
		}
		id := "" // the id header goes with one-event bodies, not with arrays
		if set.batch == 1 && set.pusherKey == "" {
			id = s.t.d.eventID(batch[0].seq)
		}
		s.t.deliver(body, len(batch), id)
		clear(batch)
	}
}

// outcome classifies one attempt.
type outcome uint8

const (
	delivered outcome = iota
	retryable         // 5xx, 408, 429, timeout, network error
	permanent         // any other status (4xx, redirects), a denied address, a bad URL
)

func classify(status int, err error) outcome {
	switch {
	case err != nil && errors.Is(err, errDenied):
		return permanent
	case err != nil:
		return retryable
	case status >= 200 && status < 300:
		return delivered
	case status >= 500, status == http.StatusRequestTimeout, status == http.StatusTooManyRequests:
		return retryable
	}
	return permanent
}

// deliver sends one request body carrying n events, retrying with exponential backoff and
// jitter. Retries hold back the shard's later events: that is what keeps them in order.
func (t *target) deliver(body []byte, n int, id string) {
	c := t.stats
	for attempt := 0; ; attempt++ {
		set := t.set.Load() // a reload may move the URL or the secret between attempts
		status, err := t.post(set, body, attempt, id)
		out := classify(status, err)
		if out == delivered {
			c.sent.Add(uint64(n))
			return
		}
		if t.ctx.Err() != nil { // aborted by Close's or a reload's deadline
			c.dropped.Add(uint64(n))
			return
		}
		if out == permanent || attempt >= set.maxRetries {
			c.failed.Add(uint64(n))
			t.logFailure("webhook delivery failed; giving up", id, attempt, status, err)
			return
		}
		t.logFailure("webhook delivery failed; will retry", id, attempt, status, err)
		c.retried.Add(uint64(n))
		if !sleep(t.ctx, t.backoff(attempt)) {
			c.dropped.Add(uint64(n))
			return
		}
	}
}

// post makes one signed attempt and returns the status code.
func (t *target) post(set *settings, body []byte, attempt int, id string) (int, error) {
	ctx, cancel := context.WithTimeout(t.ctx, set.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, set.url, bytes.NewReader(body))
	if err != nil {
		return 0, errors.Join(errDenied, err) // a URL the config accepted but net/http does not: never retried
	}
	if set.pusherKey != "" {
		signPusher(req.Header, set.pusherKey, set.pusherSecret, body)
	} else {
		signRequest(req.Header, set.secret, strconv.FormatInt(time.Now().Unix(), 10), body)
	}
	req.Header.Set(HeaderAttempt, strconv.Itoa(attempt+1))
	if id != "" {
		req.Header.Set(HeaderEventID, id)
	}
	resp, err := set.client.Do(req)
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxReplyRead))
	_ = resp.Body.Close()
	return resp.StatusCode, nil
}

// backoff is the delay before retry number attempt+1: base·2^attempt capped at max, then
// "equal jitter" (half fixed, half random) so that many shards do not retry in lockstep.
func (t *target) backoff(attempt int) time.Duration {
	tune := t.d.tune
	d := tune.backoffMax
	if attempt < 30 && tune.backoffBase<<attempt < tune.backoffMax {
		d = tune.backoffBase << attempt
	}
	half := d / 2
	return half + rand.N(half+1) // #nosec G404 -- retry jitter, not a secret
}

// sleep waits d or until ctx is done; it reports whether d passed.
func sleep(ctx context.Context, d time.Duration) bool {
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return true
	case <-ctx.Done():
		return false
	}
}

func (t *target) logFailure(msg, id string, attempt, status int, err error) {
	if !every(&t.failLogAt) {
		return
	}
	fields := []zap.Field{zap.String("app_id", t.app), zap.Int("attempt", attempt+1),
		zap.Uint64("failed_total", t.stats.failed.Load()), zap.Uint64("retried_total", t.stats.retried.Load())}
	if id != "" {
		fields = append(fields, zap.String("event_id", id))
	}
	if err != nil {
		fields = append(fields, zap.Error(err))
	} else {
		fields = append(fields, zap.Int("status", status))
	}
	t.d.log.Warn(msg, fields...)
}
