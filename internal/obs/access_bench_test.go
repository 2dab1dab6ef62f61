package obs

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// BenchmarkAccessLog measures the access line of one request: the process
// logger (JSON, redacting handler, scrubbing writer) against no logger.
func BenchmarkAccessLog(b *testing.B) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		SetRoute(r.Context(), "checkout")
		AddFilter(r.Context(), "card-json")
		_, _ = io.WriteString(w, "ok")
	})
	logger, err := NewLogger(io.Discard, "info", "json")
	if err != nil {
		b.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		l    *slog.Logger
	}{{"logger", logger}, {"discard", slog.New(slog.DiscardHandler)}} {
		b.Run(tc.name, func(b *testing.B) {
			m := NewMetrics()
			al := AccessLog(tc.l, m, "inbound", h)
			req := httptest.NewRequest("POST", "http://shop.example.com/checkout/pay", nil)
			req.RemoteAddr = "127.0.0.1:51234"
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				al.ServeHTTP(httptest.NewRecorder(), req)
			}
		})
	}
}

// BenchmarkAccessLine measures one access line begun by StartLine and
// written by End (the requests of an intercepted CONNECT tunnel): the
// process logger (JSON, its own encoder, the scrubbing writer) and the
// HTTP metrics.
func BenchmarkAccessLine(b *testing.B) {
	logger, err := NewLogger(io.Discard, "info", "json")
	if err != nil {
		b.Fatal(err)
	}
	m := NewMetrics()
	req := httptest.NewRequest("POST", "http://api.example.com/v1/payments", nil)
	req.RemoteAddr = "127.0.0.1:51234"
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		ctx, l := StartLine(logger, m, "outbound", req)
		SetRoute(ctx, "psp")
		AddFilter(ctx, "reveal-card")
		l.End(200, 512)
	}
}

// BenchmarkMetricsPerRequest measures the observations a revealing
// request makes besides its access line: one filter result and one vault
// operation, each through its cached children.
func BenchmarkMetricsPerRequest(b *testing.B) {
	m := NewMetrics()
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		m.CountFilterResult("psp", "reveal-card", "applied")
		m.ObserveVault("reveal", "postgres", "ok", 300*time.Microsecond)
	}
}
