package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// TestInspectorCapturesTakeNoMoreThanTheShare: the inspector's copies of
// the bodies in flight (admin.ui) count against the body budget, all of
// them together one sender's share, and are kept partial past it. The
// share's floor of one whole exchange (newBodyBudget) is for a sender,
// whose exchange would otherwise be refused for ever; a capture is never
// refused. Under a 4 MiB budget with max_body 1 MiB, that floor (3 MiB)
// let the captures of a few unread 1 MiB bodies streaming to a slow
// upstream (which count against no sender's share) take three quarters of
// the budget, and an 800 KiB document echoed through a guarded route was
// then refused gateway_busy. The captures hold limits.source_buffered_share
// percent of the budget at most.
func TestInspectorCapturesTakeNoMoreThanTheShare(t *testing.T) {
	release := make(chan struct{})
	var got sync.WaitGroup
	hold := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		got.Done()
		<-release
	}))
	defer hold.Close()
	defer close(release)
	echo := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.Copy(w, r.Body)
	}))
	defer echo.Close()
	g, _ := inspectorGateway(t, `routes:
  - id: hold
    direction: inbound
    host: "*"
    path_prefix: /hold
    upstream: `+hold.URL+`
    leak_guard: "off"
  - id: echo
    direction: inbound
    host: "*"
    path_prefix: /echo
    upstream: `+echo.URL+`
    leak_guard: log
`, map[string]string{
		"ALIASGATE_LIMITS_MAX_BODY":              "1MiB",
		"ALIASGATE_LIMITS_MAX_BUFFERED_BYTES":    "4MiB",
		"ALIASGATE_LIMITS_SOURCE_BUFFERED_SHARE": "25",
		"ALIASGATE_ADMIN_UI_CAPTURE_BODY":        "1MiB",
	})
	const streams = 4
	got.Add(streams)
	for range streams {
		go func() {
			req, _ := http.NewRequest("POST", g.inbound+"/hold", strings.NewReader(strings.Repeat("y", 1<<20)))
			req.Header.Set("Content-Type", "application/octet-stream")
			if res, err := http.DefaultClient.Do(req); err == nil {
				res.Body.Close()
			}
		}()
	}
	got.Wait() // every body went through the capture to the upstream
	used, _, _ := budgetMetrics(t, g)
	if used > 1<<20 {
		t.Errorf("the captures of %d unread bodies in flight hold %d bytes of a 4 MiB budget, more than a 25 %% share (1 MiB)", streams, used)
	}
	doc := `{"pad":"` + strings.Repeat("x", 800<<10) + `"}`
	status, body := call(t, "POST", g.inbound+"/echo", "application/json", doc, nil)
	if status != http.StatusOK || string(body) != doc {
		t.Errorf("an %d KiB document echoed while captures are in flight: %d %.300s, want 200 and the document", len(doc)>>10, status, body)
	}
}
