package admin

import (
	"encoding/csv"
	"net/http"
	"strconv"
	"time"

	"github.com/rtmate/rtmate/rtmate-server/internal/config"
	"github.com/rtmate/rtmate/rtmate-server/internal/store"
)

// maxUsageRange bounds one usage query.
const maxUsageRange = 400 * 24 * time.Hour

// usageRow is one hour or day of an app's usage.
type usageRow struct {
	Start string `json:"start"` // RFC 3339, UTC
	store.Counters
}

// parseTime accepts RFC 3339, a date (2006-01-02, UTC midnight) or Unix seconds.
func parseTime(s string) (time.Time, bool) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t.UTC(), true
	}
	if t, err := time.Parse("2006-01-02", s); err == nil {
		return t, true
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil && n >= 0 && n < 1<<40 {
		return time.Unix(n, 0).UTC(), true
	}
	return time.Time{}, false
}

// usage answers GET /admin/api/apps/{id}/usage?from=&to=&granularity=hour|day[&format=csv].
// Defaults: the last 30 days up to the current hour included, by hour. Usage outlives its
// app (billing after a deletion), so an unknown id with stored usage answers.
func (a *Admin) usage(w http.ResponseWriter, r *http.Request) (any, error) {
	id := r.PathValue("id")
	if !config.ValidAppID(id) {
		return nil, notFound(id) // never a store key built from an id no app can have
	}
	q := r.URL.Query()
	to := store.HourOf(time.Now()).Add(time.Hour)
	from := to.Add(-30 * 24 * time.Hour)
	var problems []string
	if v := q.Get("to"); v != "" {
		t, ok := parseTime(v)
		if !ok {
			problems = append(problems, "to: want RFC 3339, YYYY-MM-DD or Unix seconds")
		}
		to = t
	}
	if v := q.Get("from"); v != "" {
		t, ok := parseTime(v)
		if !ok {
			problems = append(problems, "from: want RFC 3339, YYYY-MM-DD or Unix seconds")
		}
		from = t
	}
	gran := q.Get("granularity")
	if gran == "" {
		gran = "hour"
	}
	if gran != "hour" && gran != "day" {
		problems = append(problems, "granularity: want hour or day")
	}
	format := q.Get("format")
	if format != "" && format != "json" && format != "csv" {
		problems = append(problems, "format: want json or csv")
	}
	if len(problems) == 0 && (!from.Before(to) || to.Sub(from) > maxUsageRange) {
		problems = append(problems, "from must be before to, at most 400 days apart")
	}
	if len(problems) > 0 {
		return nil, badRequest(problems...)
	}
	hours, err := a.st.Usage(r.Context(), id, from, to)
	if err != nil {
		return nil, internal(err)
	}
	if len(hours) == 0 {
		if _, err := a.runningApp(id); err != nil && asAPIError(err).status == http.StatusNotFound {
			return nil, err
		}
	}
	rows, total := bucket(hours, gran)
	if format == "csv" {
		writeCSV(w, id, from, to, rows)
		return nil, nil
	}
	return map[string]any{
		"app_id": id, "granularity": gran, "from": from.Format(time.RFC3339), "to": to.Format(time.RFC3339),
		"rows": rows, "total": total,
	}, nil
}

// bucket groups hours into rows of the granularity (UTC days); peaks take the maximum.
func bucket(hours []store.Hour, gran string) ([]usageRow, store.Counters) {
	rows := []usageRow{}
	var total store.Counters
	for _, h := range hours {
		start := h.Hour
		if gran == "day" {
			start = time.Date(start.Year(), start.Month(), start.Day(), 0, 0, 0, 0, time.UTC)
		}
		key := start.Format(time.RFC3339)
		if n := len(rows); n > 0 && rows[n-1].Start == key {
			rows[n-1].Add(h.Counters)
		} else {
			rows = append(rows, usageRow{Start: key, Counters: h.Counters})
		}
		total.Add(h.Counters)
	}
	return rows, total
}

func writeCSV(w http.ResponseWriter, id string, from, to time.Time, rows []usageRow) {
	h := w.Header()
	h.Set("Content-Type", "text/csv; charset=utf-8")
	h.Set("Content-Disposition", `attachment; filename="usage-`+id+"-"+from.Format("20060102")+"-"+to.Format("20060102")+`.csv"`)
	cw := csv.NewWriter(w)
	_ = cw.Write([]string{"start", "connection_seconds", "peak_connections", "messages_in", "messages_out", "bytes_in", "bytes_out", "calls"})
	for _, r := range rows {
		c := r.Counters
		rec := []string{r.Start}
		for _, v := range []int64{c.ConnectionSeconds, c.PeakConnections, c.MessagesIn, c.MessagesOut, c.BytesIn, c.BytesOut, c.Calls} {
			rec = append(rec, strconv.FormatInt(v, 10))
		}
		_ = cw.Write(rec) // a failed write means the client left; nothing to tell it
	}
	cw.Flush()
}
