package webhook_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"time"

	"github.com/rtmate/rtmate/rtmate-server/internal/webhook"
)

// A receiver checks the signature over the raw body, refuses stale timestamps (replays),
// and deduplicates by event id (a retry carries the same id). Reply 2xx quickly; do slow
// work after replying.
func ExampleVerify() {
	const secret = "whsec-example"
	seen := map[string]bool{} // use a store with expiry in production
	handler := func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err != nil {
			http.Error(w, "read", http.StatusBadRequest)
			return
		}
		ts := r.Header.Get("X-RTMate-Timestamp")
		sec, err := strconv.ParseInt(ts, 10, 64)
		if err != nil || time.Since(time.Unix(sec, 0)).Abs() > 5*time.Minute {
			http.Error(w, "stale", http.StatusBadRequest) // 4xx: RTMate does not retry
			return
		}
		if err := webhook.Verify(secret, ts, body, r.Header.Get("X-RTMate-Signature")); err != nil {
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		var ev struct {
			ID       string `json:"id"`
			Event    string `json:"event"`
			ClientID string `json:"client_id"`
		}
		if err := json.Unmarshal(body, &ev); err != nil {
			http.Error(w, "bad json", http.StatusBadRequest)
			return
		}
		if !seen[ev.ID] {
			seen[ev.ID] = true
			fmt.Println("verified:", ev.Event, ev.ClientID)
		}
		w.WriteHeader(http.StatusNoContent)
	}

	// What RTMate sends, signed now; then the same request tampered with.
	body := `{"id":"a1","app_id":"demo-app","event":"connect","time":1700000000000,"client_id":"c1","user_id":"alice","channel":null,"data":null}`
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	for _, b := range []string{body, body, strings.Replace(body, "alice", "mallory", 1)} {
		req := httptest.NewRequest(http.MethodPost, "/rtmate", strings.NewReader(b))
		req.Header.Set("X-RTMate-Timestamp", ts)
		req.Header.Set("X-RTMate-Signature", webhook.Sign(secret, ts, []byte(body)))
		rec := httptest.NewRecorder()
		handler(rec, req)
		fmt.Println(rec.Code)
	}
	// Output:
	// verified: connect c1
	// 204
	// 204
	// 401
}
