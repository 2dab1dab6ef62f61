package obs_test

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/aliasgate/aliasgate/internal/obs"
	"github.com/aliasgate/aliasgate/internal/obs/obstest"
)

// TestStartLine: the context StartLine (or Start of a Line the caller
// holds) returns carries the line's RouteInfo (what SetRoute, AddFilter
// and the timings record reaches the line), the request itself is not
// copied or changed, and End writes one line and counts the request once
// however often it is called.
func TestStartLine(t *testing.T) {
	type holder struct {
		other int
		line  obs.Line
	}
	for name, start := range map[string]func(*slog.Logger, *obs.Metrics, *http.Request) (context.Context, *obs.Line){
		"StartLine": func(l *slog.Logger, m *obs.Metrics, r *http.Request) (context.Context, *obs.Line) {
			return obs.StartLine(l, m, "outbound", r)
		},
		"held Line": func(l *slog.Logger, m *obs.Metrics, r *http.Request) (context.Context, *obs.Line) {
			h := &holder{}
			return h.line.Start(l, m, "outbound", r), &h.line
		},
	} {
		t.Run(name, func(t *testing.T) { testStartLine(t, start) })
	}
}

func testStartLine(t *testing.T, start func(*slog.Logger, *obs.Metrics, *http.Request) (context.Context, *obs.Line)) {
	c := obstest.NewCapture(t)
	m := obs.NewMetrics()
	r := httptest.NewRequest("POST", "https://psp.example.com/v1/charges?x=1", nil)
	before := r.Context()
	ctx, line := start(c.Logger, m, r)
	if r.Context() != before {
		t.Fatal("StartLine changed the request's context")
	}
	if obs.RouteInfoFrom(before) != nil {
		t.Fatal("the request's own context holds a RouteInfo")
	}
	obs.SetRoute(ctx, "psp")
	obs.AddFilter(ctx, "reveal-json")
	obs.AddVaultTime(ctx, 2*time.Millisecond)
	line.End(201, 17)
	line.End(500, 99) // ignored
	lines := c.Messages("request")
	if len(lines) != 1 {
		t.Fatalf("%d lines, want 1", len(lines))
	}
	l := lines[0]
	if l["listener"] != "outbound" || l["route"] != "psp" || l["status"] != float64(201) || l["bytes"] != float64(17) ||
		l["path"] != "/v1/charges" || l["query_len"] != float64(3) || l["vault_ms"] != float64(2) {
		t.Fatalf("line %v", l)
	}
	if f, _ := l["filters"].([]any); len(f) != 1 || f[0] != "reveal-json" {
		t.Fatalf("filters %v", l["filters"])
	}
	labels := map[string]string{"listener": "outbound", "route": "psp", "method": "POST", "status": "201"}
	if n := counterValue(t, m, "aliasgate_http_requests_total", labels); n != 1 {
		t.Fatalf("requests counted %v, want 1", n)
	}
}
