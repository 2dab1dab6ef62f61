package proxy

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/aliasgate/aliasgate/internal/obs"
	"github.com/aliasgate/aliasgate/internal/obs/obstest"
	"github.com/aliasgate/aliasgate/routes"
)

// TestHTTP2ClientThatCancelsItsBodyIsNot400: an HTTP/2 client that cancels
// its request halfway through a streamed body (RST_STREAM) went away: 499,
// never 400 body_unreadable (what a body that does not parse gets) nor the
// upstream's failure. net/http's HTTP/2 server fails the body's read with a
// stream error, not a network error, and cancels the request's context.
func TestHTTP2ClientThatCancelsItsBodyIsNot400(t *testing.T) {
	arrived := make(chan struct{}, 1)
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {})
	up.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		buf := make([]byte, 1)
		_, _ = r.Body.Read(buf)
		arrived <- struct{}{}
		_, _ = io.Copy(io.Discard, r.Body)
	})
	c := obstest.NewCapture(t)
	m := obs.NewMetrics()
	in, err := NewInbound(InboundOptions{
		Table: routes.NewTable(parseRoutes(t, `routes:
  - {id: stream, direction: inbound, host: "*", path_prefix: /stream, upstream: {{UP}}, leak_guard: "off"}
`, up.URL)), Tokenizer: newTestVault(t).tok, Logger: c.Logger, Metrics: m,
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(obs.AccessLog(c.Logger, m, "inbound", in))
	srv.EnableHTTP2 = true
	srv.StartTLS()
	defer srv.Close()
	client := srv.Client()

	pr, pw := io.Pipe()
	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, "POST", srv.URL+"/stream/x", pr)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/octet-stream")
	done := make(chan error, 1)
	go func() {
		resp, err := client.Do(req)
		if err == nil {
			if resp.ProtoMajor != 2 {
				err = io.ErrUnexpectedEOF
			}
			resp.Body.Close()
		}
		done <- err
	}()
	go func() { _, _ = pw.Write(make([]byte, 1024)) }()
	select {
	case <-arrived:
	case <-time.After(10 * time.Second):
		t.Fatal("the body did not reach the upstream")
	}
	cancel() // RST_STREAM
	<-done
	lines := waitLines(t, c, 1)
	if len(lines) != 1 || lines[0]["status"] != float64(obs.StatusClientClosedRequest) {
		t.Fatalf("access lines %v, want one with status 499", lines)
	}
}
