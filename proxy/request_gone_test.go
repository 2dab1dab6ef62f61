package proxy

import (
	"context"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/aliasgate/aliasgate/internal/bodybudget"
	"github.com/aliasgate/aliasgate/internal/obs/obstest"
)

// TestRequestPhaseOfAClientThatLeftIs499: a client that hangs up halfway
// through a request body a route's request phase reads went away: the
// phase's failed read was logged at Debug as such, but the request was
// answered, logged and counted 400 body_unreadable, a request the client
// got wrong, where the same client on a route that streams the body is
// 499 (client closed request).
func TestRequestPhaseOfAClientThatLeftIs499(t *testing.T) {
	b := bodybudget.New(1<<20, 0)
	in := &internalUpstream{}
	c := obstest.NewCapture(t)
	g := newGateway(t, parseRoutes(t, internalBudgetRoutes, "http://127.0.0.1:1"), nil,
		gwOptions{maxBody: 64 << 10, budget: b, logger: c.Logger, internal: map[string]http.Handler{"internal:cards": in}})
	in.reset(func(w http.ResponseWriter, r *http.Request) {
		t.Error("the upstream was called for a body its client did not send")
	})
	conn, err := net.Dial("tcp", strings.TrimPrefix(g.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	_, _ = conn.Write([]byte("POST /int/x HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 10000\r\n\r\n{\"card\":{\"number\":\"" + strings.Repeat("1", 1000)))
	conn.Close()
	waitGivenBack(t, b, "client gone")
	if lines := waitLines(t, c, 1); len(lines) != 1 || lines[0]["status"] != float64(499) {
		t.Errorf("access lines %v, want one with status 499 (client closed request)", lines)
	}
}

// TestResponsePhaseOfAClientThatLeftIs499: a client that leaves while the
// response phase reads an external upstream's answer ends that read (the
// transport's body read ends with the request's context): the request was
// answered, logged and counted 502 body_unreadable, an upstream failure,
// where an in-process upstream's answer was 499. It is 499.
func TestResponsePhaseOfAClientThatLeftIs499(t *testing.T) {
	started := make(chan struct{})
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Length", "10000")
		_, _ = w.Write([]byte(`{"card":{"number":"` + strings.Repeat("1", 1000)))
		w.(http.Flusher).Flush()
		close(started)
		<-r.Context().Done()
	})
	b := bodybudget.New(1<<20, 0)
	c := obstest.NewCapture(t)
	g := newGateway(t, parseRoutes(t, internalBudgetRoutes, up.URL), nil,
		gwOptions{maxBody: 64 << 10, budget: b, logger: c.Logger, internal: map[string]http.Handler{"internal:cards": &internalUpstream{}}})
	ctx, cancel := context.WithCancel(t.Context())
	errc := make(chan error, 1)
	go func() {
		req, _ := http.NewRequestWithContext(ctx, "GET", g.URL+"/ext/x", nil)
		resp, err := g.Client().Do(req)
		if err == nil {
			resp.Body.Close()
		}
		errc <- err
	}()
	<-started
	cancel()
	if err := <-errc; err == nil {
		t.Error("the client went away, and got an answer")
	}
	waitGivenBack(t, b, "client gone")
	if lines := waitLines(t, c, 1); len(lines) != 1 || lines[0]["status"] != float64(499) {
		t.Errorf("access lines %v, want one with status 499 (client closed request), not an upstream failure", lines)
	}
}
