package obs_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/aliasgate/aliasgate/internal/obs"
)

// TestAccessLineTimeIsTheEndOfItsDuration: the process logger's access line
// (AccessLog and a Line a caller holds) has as its time the instant the
// request ended, one reading with its duration: the handler ran after the
// start the line implies (time − duration) and before its time, and the
// time is no later than the caller saw the request end. Checked with the
// line's own precision (duration_ms has microseconds), no sleeping.
func TestAccessLineTimeIsTheEndOfItsDuration(t *testing.T) {
	var mu sync.Mutex
	var buf bytes.Buffer
	logger, err := obs.NewLogger(lockedWriter{&mu, &buf}, "info", "json")
	if err != nil {
		t.Fatal(err)
	}
	check := func(t *testing.T, inHandler, after time.Time) {
		t.Helper()
		obs.Flush(logger) // access lines are queued
		mu.Lock()
		line := buf.Bytes()
		mu.Unlock()
		var v struct {
			Time       time.Time
			DurationMS float64 `json:"duration_ms"`
		}
		if err := json.Unmarshal(line, &v); err != nil {
			t.Fatalf("access line %q: %v", line, err)
		}
		const slack = 2 * time.Microsecond // duration_ms rounding
		start := v.Time.Add(-time.Duration(v.DurationMS * float64(time.Millisecond)))
		if start.After(inHandler.Add(slack)) || v.Time.Before(inHandler) || v.Time.After(after) {
			t.Fatalf("line time %v, duration %vms (start %v): the handler ran at %v, the request ended by %v",
				v.Time, v.DurationMS, start, inHandler, after)
		}
	}
	t.Run("AccessLog", func(t *testing.T) {
		buf.Reset()
		var inHandler time.Time
		h := obs.AccessLog(logger, nil, "inbound", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			inHandler = time.Now()
			_, _ = w.Write([]byte("ok"))
		}))
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/x", nil))
		check(t, inHandler, time.Now())
	})
	t.Run("held Line", func(t *testing.T) {
		buf.Reset()
		var l obs.Line
		_ = l.Start(logger, nil, "outbound", httptest.NewRequest("GET", "https://psp.example.com/x", nil))
		inHandler := time.Now()
		l.End(200, 2)
		check(t, inHandler, time.Now())
	})
}

type lockedWriter struct {
	mu *sync.Mutex
	b  *bytes.Buffer
}

func (w lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}
