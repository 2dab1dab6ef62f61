package obs_test

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aliasgate/aliasgate/internal/obs"
	"github.com/aliasgate/aliasgate/internal/obs/obstest"
)

// counterValue returns the value of the counter family name with exactly
// the given labels, or -1 when there is no such series.
func counterValue(t *testing.T, m *obs.Metrics, name string, labels map[string]string) float64 {
	t.Helper()
	fams, err := m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		if f.GetName() != name {
			continue
		}
	series:
		for _, mt := range f.GetMetric() {
			if len(mt.GetLabel()) != len(labels) {
				continue
			}
			for _, lp := range mt.GetLabel() {
				if v, ok := labels[lp.GetName()]; !ok || v != lp.GetValue() {
					continue series
				}
			}
			return mt.GetCounter().GetValue()
		}
	}
	return -1
}

func TestAccessLog(t *testing.T) {
	tests := []struct {
		name    string
		method  string
		target  string
		handler http.HandlerFunc
		// expected line fields
		path     string
		route    string
		status   float64
		bytes    float64
		queryLen float64
		filters  []any
		label    map[string]string // labels of the request counter
		absent   []string          // must not appear anywhere in the log
	}{
		{
			name:   "route, alias and PAN in path, query not logged",
			method: "GET",
			target: "/aliases/tok_live_hhyPgvvdFfFGBnyi73TfFu/card/4111111111111111?q=tok_live_secretAlias1,4111111111111111",
			handler: func(w http.ResponseWriter, r *http.Request) {
				obs.SetRoute(r.Context(), "vault-api")
				obs.AddFilter(r.Context(), "f1")
				obs.AddFilter(r.Context(), "f2")
				obs.AddVaultTime(r.Context(), 1500*time.Microsecond)
				obs.AddUpstreamTime(r.Context(), 3*time.Millisecond)
				w.WriteHeader(http.StatusCreated)
				_, _ = io.WriteString(w, "hello")
				_, _ = io.WriteString(w, " world")
			},
			path:     "/aliases/tok_live_…/card/411111******1111",
			route:    "vault-api",
			status:   201,
			bytes:    11,
			queryLen: float64(len("q=tok_live_secretAlias1,4111111111111111")),
			filters:  []any{"f1", "f2"},
			label:    map[string]string{"listener": "inbound", "route": "vault-api", "method": "GET", "status": "201"},
			absent:   []string{"q=", "secretAlias1", "hhyPgvvd", "?"},
		},
		{
			name:     "route unset, nothing written",
			method:   "DELETE",
			target:   "/orders/5c2f1d9e-8a4b-4c3d-9e2f-0123456789ab/items",
			handler:  func(w http.ResponseWriter, r *http.Request) {},
			path:     "/orders/5c2f1d9e…/items",
			route:    "-",
			status:   200,
			bytes:    0,
			queryLen: 0,
			label:    map[string]string{"listener": "inbound", "route": "-", "method": "DELETE", "status": "200"},
			absent:   []string{"8a4b-4c3d"},
		},
		{
			name:   "write without WriteHeader, odd method",
			method: "PURGE",
			target: "/x/tok_sandbox_abc?a=1",
			handler: func(w http.ResponseWriter, r *http.Request) {
				obs.SetRoute(r.Context(), "r1")
				_, _ = w.Write([]byte("abc"))
				w.WriteHeader(http.StatusTeapot) // superfluous, ignored
			},
			path:     "/x/tok_sandb…",
			route:    "r1",
			status:   200,
			bytes:    3,
			queryLen: 3,
			label:    map[string]string{"listener": "inbound", "route": "r1", "method": "OTHER", "status": "200"},
			absent:   []string{"tok_sandbox_abc"},
		},
		{
			name:   "error status",
			method: "POST",
			target: "/cards",
			handler: func(w http.ResponseWriter, r *http.Request) {
				obs.SetRoute(r.Context(), "internal:cards")
				http.Error(w, "nope", http.StatusUnprocessableEntity)
			},
			path:   "/cards",
			route:  "internal:cards",
			status: 422,
			bytes:  5,
			label:  map[string]string{"listener": "inbound", "route": "internal:cards", "method": "POST", "status": "422"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := obstest.NewCapture(t) // raw: the path must be masked by AccessLog itself
			m := obs.NewMetrics()
			h := obs.AccessLog(c.Logger, m, "inbound", tt.handler)
			req := httptest.NewRequest(tt.method, tt.target, nil)
			req.RemoteAddr = "192.0.2.7:40000"
			h.ServeHTTP(httptest.NewRecorder(), req)

			lines := c.Messages("request")
			if len(lines) != 1 {
				t.Fatalf("got %d request lines:\n%s", len(lines), c.String())
			}
			l := lines[0]
			want := map[string]any{
				"listener":  "inbound",
				"method":    tt.method,
				"host":      "example.com",
				"path":      tt.path,
				"query_len": tt.queryLen,
				"route":     tt.route,
				"status":    tt.status,
				"bytes":     tt.bytes,
				"remote":    "192.0.2.7:40000",
				"level":     "INFO",
			}
			for k, v := range want {
				if l[k] != v {
					t.Errorf("%s = %#v, want %#v", k, l[k], v)
				}
			}
			if d, ok := l["duration_ms"].(float64); !ok || d < 0 {
				t.Errorf("duration_ms = %#v", l["duration_ms"])
			}
			if tt.filters != nil {
				got, _ := l["filters"].([]any)
				if len(got) != len(tt.filters) || got[0] != tt.filters[0] || got[1] != tt.filters[1] {
					t.Errorf("filters = %#v, want %#v", l["filters"], tt.filters)
				}
				if l["vault_ms"] != 1.5 || l["upstream_ms"] != 3.0 {
					t.Errorf("vault_ms = %v, upstream_ms = %v", l["vault_ms"], l["upstream_ms"])
				}
			} else if _, ok := l["filters"]; ok {
				t.Errorf("filters present: %v", l["filters"])
			}
			if _, ok := l["query"]; ok {
				t.Error("query logged")
			}
			out := c.String()
			for _, s := range tt.absent {
				if strings.Contains(out, s) {
					t.Errorf("log contains %q:\n%s", s, out)
				}
			}
			if v := counterValue(t, m, "aliasgate_http_requests_total", tt.label); v != 1 {
				t.Errorf("requests_total%v = %v, want 1", tt.label, v)
			}
		})
	}
}

func TestAccessLogPanicCountsAs500(t *testing.T) {
	c := obstest.NewCapture(t)
	m := obs.NewMetrics()
	h := obs.AccessLog(c.Logger, m, "admin", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		panic(http.ErrAbortHandler)
	}))
	func() {
		defer func() {
			if p := recover(); p != http.ErrAbortHandler {
				t.Errorf("recovered %v, want the handler's panic passed on", p)
			}
		}()
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil))
	}()
	lines := c.Messages("request")
	if len(lines) != 1 || lines[0]["status"] != 500.0 {
		t.Fatalf("lines = %v", lines)
	}
	if v := counterValue(t, m, "aliasgate_http_requests_total",
		map[string]string{"listener": "admin", "route": "-", "method": "GET", "status": "500"}); v != 1 {
		t.Errorf("counter = %v", v)
	}
}

func TestAccessLogNilLoggerAndMetrics(t *testing.T) {
	h := obs.AccessLog(nil, nil, "inbound", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		obs.SetRoute(r.Context(), "r")
		w.WriteHeader(204)
	}))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	if rec.Code != 204 {
		t.Fatalf("code = %d", rec.Code)
	}
}

// plainWriter is a ResponseWriter with no optional interfaces.
type plainWriter struct{ h http.Header }

func (p *plainWriter) Header() http.Header         { return p.h }
func (p *plainWriter) Write(b []byte) (int, error) { return len(b), nil }
func (p *plainWriter) WriteHeader(int)             {}

func TestAccessLogFlushAndUnwrap(t *testing.T) {
	t.Run("flusher passthrough", func(t *testing.T) {
		rec := httptest.NewRecorder()
		h := obs.AccessLog(obstest.Logger(t), nil, "inbound", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			f, ok := w.(http.Flusher)
			if !ok {
				t.Fatal("wrapped writer is not an http.Flusher")
			}
			_, _ = w.Write([]byte("a"))
			f.Flush()
			if err := http.NewResponseController(w).Flush(); err != nil {
				t.Errorf("ResponseController.Flush: %v", err)
			}
			if err := http.NewResponseController(w).SetWriteDeadline(time.Now().Add(time.Second)); !errors.Is(err, http.ErrNotSupported) {
				// the recorder has no deadlines; reaching it through Unwrap gives ErrNotSupported
				t.Errorf("SetWriteDeadline = %v", err)
			}
		}))
		h.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
		if !rec.Flushed {
			t.Error("flush did not reach the underlying writer")
		}
	})
	t.Run("not supported underneath", func(t *testing.T) {
		h := obs.AccessLog(obstest.Logger(t), nil, "inbound", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if err := http.NewResponseController(w).Flush(); !errors.Is(err, http.ErrNotSupported) {
				t.Errorf("Flush = %v, want ErrNotSupported", err)
			}
			if _, _, err := http.NewResponseController(w).Hijack(); !errors.Is(err, http.ErrNotSupported) {
				t.Errorf("Hijack = %v, want ErrNotSupported", err)
			}
		}))
		h.ServeHTTP(&plainWriter{h: http.Header{}}, httptest.NewRequest("GET", "/", nil))
	})
	t.Run("real server: deadline, early hints, hijack", func(t *testing.T) {
		c := obstest.NewCapture(t)
		m := obs.NewMetrics()
		mux := http.NewServeMux()
		mux.HandleFunc("/deadline", func(w http.ResponseWriter, r *http.Request) {
			if err := http.NewResponseController(w).SetWriteDeadline(time.Now().Add(time.Minute)); err != nil {
				t.Errorf("SetWriteDeadline through Unwrap: %v", err)
			}
			_, _ = io.WriteString(w, "ok")
		})
		mux.HandleFunc("/hints", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Link", "</a.css>; rel=preload")
			w.WriteHeader(http.StatusEarlyHints)
			_, _ = io.WriteString(w, "body")
		})
		mux.HandleFunc("/hijack", func(w http.ResponseWriter, r *http.Request) {
			obs.SetRoute(r.Context(), "connect")
			conn, brw, err := w.(http.Hijacker).Hijack()
			if err != nil {
				t.Errorf("Hijack: %v", err)
				return
			}
			defer conn.Close()
			_, _ = brw.WriteString("HTTP/1.1 200 Connection established\r\nContent-Length: 0\r\n\r\n")
			_ = brw.Flush()
		})
		srv := httptest.NewServer(obs.AccessLog(c.Logger, m, "outbound", mux))
		defer srv.Close()
		for _, p := range []string{"/deadline", "/hints", "/hijack"} {
			resp, err := http.Get(srv.URL + p)
			if err != nil {
				t.Fatal(err)
			}
			_, _ = io.Copy(io.Discard, bufio.NewReader(resp.Body))
			resp.Body.Close()
			if resp.StatusCode != 200 {
				t.Errorf("%s: status %d", p, resp.StatusCode)
			}
		}
		srv.Close()
		// The hijacking handler may still be returning after the client
		// got its answer; wait for its line.
		var lines []map[string]any
		for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(5 * time.Millisecond) {
			if lines = c.Messages("request"); len(lines) == 3 || time.Now().After(deadline) {
				break
			}
		}
		if len(lines) != 3 {
			t.Fatalf("lines:\n%s", c.String())
		}
		for _, l := range lines {
			if want := l["path"] == "/hijack"; (l["hijacked"] == true) != want {
				t.Errorf("%v: hijacked = %v", l["path"], l["hijacked"])
			}
			if l["path"] == "/hints" && (l["status"] != 200.0 || l["bytes"] != 4.0) {
				t.Errorf("/hints: status %v bytes %v, want 200 and 4 (the 103 is not the final status)", l["status"], l["bytes"])
			}
		}
		if v := counterValue(t, m, "aliasgate_http_requests_total",
			map[string]string{"listener": "outbound", "route": "connect", "method": "GET", "status": "hijacked"}); v != 1 {
			t.Errorf("hijacked counter = %v", v)
		}
	})
}

func TestRouteInfoWithoutMiddleware(t *testing.T) {
	req := httptest.NewRequest("GET", "/", nil)
	obs.SetRoute(req.Context(), "ignored") // no holder: no-op, no panic
	obs.AddFilter(req.Context(), "f")
	if got := obs.RouteInfoFrom(req.Context()).Route(); got != "-" {
		t.Errorf("Route without holder = %q", got)
	}
	ctx, ri := obs.WithRouteInfo(req.Context())
	obs.SetRoute(ctx, "r9")
	obs.AddFilter(ctx, "f9")
	if ri.Route() != "r9" || len(ri.Filters()) != 1 || obs.RouteInfoFrom(ctx) != ri {
		t.Errorf("route %q filters %v", ri.Route(), ri.Filters())
	}
}

func TestMaskPath(t *testing.T) {
	tests := []struct{ in, want string }{
		{"/", "/"},
		{"/cards/CRD1234", "/cards/CRD1234"},
		{"/aliases/tok_live_hhyPgvvdFfFGBnyi73TfFu", "/aliases/tok_live_…"},
		{"/aliases/tok_live_hhyPgvvdFfFGBnyi73TfFu/", "/aliases/tok_live_…/"},
		{"/a/tok_live_hhyPgvvdFfFGBnyi73TfFu.json", "/a/tok_live_….json"},
		{"/a/x=tok_sandbox_abcdef", "/a/x=tok_sandb…"},
		{"/a/tok_", "/a/tok_"},
		{"/a/tok_live_", "/a/tok_live_"},
		{"/a/mytok_live_abcdef", "/a/mytok_live_abcdef"},
		{"/a/tok_live_a/tok_abc/tok_live_b", "/a/tok_live_…/tok_abc/tok_live_…"},
		{"/a/4111111111111111", "/a/411111******1111"},
		{"/a/4111111111111112", "/a/4111111111111112"},
		{"/pay/4111111111111111/5555555555554444", "/pay/411111******1111/555555******4444"},
		{"/a/9914100000583921111", "/a/991410*********1111"},
		{"/u/5C2F1D9E-8A4B-4C3D-9E2F-0123456789AB", "/u/5C2F1D9E…"},
		{"/u/5c2f1d9e-8a4b-4c3d-9e2f-0123456789ag", "/u/5c2f1d9e-8a4b-4c3d-9e2f-0123456789ag"},
		// As a reader sees it: groups apart by '_', '/' or a tab.
		{"/a/4111_1111_1111_1111", "/a/4111_11**_****_1111"},
		{"/cards/4111/1111/1111/1111", "/cards/4111/11**/****/1111"},
		{"/a/4111\t1111\t1111\t1111", "/a/4111\t11**\t****\t1111"},
		{"/a/2026/12/06/x", "/a/2026/12/06/x"},
	}
	for _, tt := range tests {
		if got := obs.MaskPath(tt.in); got != tt.want {
			t.Errorf("MaskPath(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

type parentKey struct{}

// TestRouteInfoContextIsAContext checks that the contexts WithRouteInfo
// and StartLine return behave as context.WithValue's would: the parent's
// values, deadline and cancellation pass through, children derived from
// them see the RouteInfo and are canceled with the parent.
func TestRouteInfoContextIsAContext(t *testing.T) {
	for _, tc := range []struct {
		name string
		make func(context.Context) (context.Context, *obs.RouteInfo)
	}{
		{"WithRouteInfo", obs.WithRouteInfo},
		{"StartLine", func(parent context.Context) (context.Context, *obs.RouteInfo) {
			req := httptest.NewRequest("GET", "/", nil).WithContext(parent)
			ctx, _ := obs.StartLine(nil, nil, "outbound", req)
			return ctx, obs.RouteInfoFrom(ctx)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			deadline := time.Now().Add(time.Hour)
			parent, cancel := context.WithDeadline(context.WithValue(context.Background(), parentKey{}, "v"), deadline)
			ctx, ri := tc.make(parent)
			if ri == nil || obs.RouteInfoFrom(ctx) != ri {
				t.Fatal("RouteInfoFrom does not find the RouteInfo")
			}
			if got := ctx.Value(parentKey{}); got != "v" {
				t.Errorf("parent value = %v", got)
			}
			if d, ok := ctx.Deadline(); !ok || !d.Equal(deadline) {
				t.Errorf("deadline = %v %v", d, ok)
			}
			child, stop := context.WithCancel(ctx)
			defer stop()
			obs.SetRoute(child, "r1")
			obs.AddFilter(context.WithValue(child, parentKey{}, "w"), "f1")
			if ri.Route() != "r1" || len(ri.Filters()) != 1 {
				t.Errorf("route %q filters %v", ri.Route(), ri.Filters())
			}
			if ctx.Err() != nil || child.Err() != nil {
				t.Fatal("canceled early")
			}
			cancel()
			select {
			case <-child.Done():
			case <-time.After(5 * time.Second):
				t.Fatal("child not canceled with the parent")
			}
			if !errors.Is(ctx.Err(), context.Canceled) || !errors.Is(child.Err(), context.Canceled) {
				t.Errorf("errs %v %v", ctx.Err(), child.Err())
			}
		})
	}
}
