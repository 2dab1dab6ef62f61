package proxy

import (
	"context"
	"crypto/x509"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aliasgate/aliasgate/internal/obs/obstest"
	"github.com/aliasgate/aliasgate/routes/rewrite"
)

// roundTripFunc is an http.RoundTripper made of a function.
type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// TestTimeoutTransportUsesTheProxysCopy: a request whose route state holds
// the cancellable context the proxy made with its copy of the request goes
// to the transport as it is (no second copy), and the timeout cancels that
// context; any other request is copied with a context of its own. Either
// way a late answer is errUpstreamTimeout and a prompt one is returned.
func TestTimeoutTransportUsesTheProxysCopy(t *testing.T) {
	for _, tc := range []struct {
		name     string
		prepared bool
		slow     bool
	}{
		{"prepared, prompt", true, false},
		{"prepared, slow", true, true},
		{"not prepared, prompt", false, false},
		{"not prepared, slow", false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			var st *reqState
			if tc.prepared {
				st = &reqState{}
				st.upstream, st.cancel = context.WithCancelCause(ctx)
				ctx = context.WithValue(st.upstream, stateKey{}, st)
			}
			req, err := http.NewRequestWithContext(ctx, "GET", "http://up.test/", nil)
			if err != nil {
				t.Fatal(err)
			}
			var got *http.Request
			tt := &timeoutTransport{d: 50 * time.Millisecond, rt: roundTripFunc(func(r *http.Request) (*http.Response, error) {
				got = r
				if tc.slow {
					<-r.Context().Done()
					return nil, r.Context().Err()
				}
				return &http.Response{StatusCode: 200, Body: io.NopCloser(strings.NewReader("ok")), Request: r}, nil
			})}
			resp, err := tt.RoundTrip(req)
			if (got == req) != tc.prepared {
				t.Errorf("the transport got the caller's request: %v, want %v", got == req, tc.prepared)
			}
			if tc.slow {
				if !errors.Is(err, errUpstreamTimeout) {
					t.Fatalf("err %v, want errUpstreamTimeout", err)
				}
				if tc.prepared && !errors.Is(context.Cause(st.upstream), errUpstreamTimeout) {
					t.Errorf("the proxy's context: cause %v", context.Cause(st.upstream))
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if tc.prepared && st.upstream.Err() == nil {
				t.Error("closing the body did not end the proxy's context")
			}
		})
	}
}

// TestOutboundUpstreamTimeout: inside an intercepted tunnel a destination
// that does not answer in time gets 504 upstream_timeout (and the access
// line says so); one that answers in time and streams its body for longer
// than the timeout is delivered whole, read by the leak guard or streamed.
func TestOutboundUpstreamTimeout(t *testing.T) {
	psp := newTLSUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.URL.Path == "/slow" {
			select {
			case <-time.After(3 * time.Second):
			case <-r.Context().Done():
			}
			return
		}
		_, _ = io.WriteString(w, `{"parts":[1`)
		for i := 0; i < 4; i++ {
			w.(http.Flusher).Flush()
			time.Sleep(100 * time.Millisecond)
			_, _ = io.WriteString(w, `,1`)
		}
		_, _ = io.WriteString(w, `]}`)
	})
	c := obstest.NewCapture(t)
	doc := withStreamRoute()
	g := newOutGateway(t, nil, outOpts{allowPrivate: true, roots: []*x509.Certificate{psp.Certificate()}, logger: c.Logger,
		routes: doc, timeout: 150 * time.Millisecond})
	panA, _ := aliases(t, g.vault)
	cl := g.client()
	defer cl.CloseIdleConnections()
	body := `{"card":{"number":"` + panA + `"}}`
	for i, tc := range []struct {
		host, path string
		status     int
		want       string // in the body
	}{
		{"psp", "/slow", 504, "upstream_timeout"},
		{"pay", "/slow", 504, "upstream_timeout"},
		{"psp", "/stream", 200, `{"parts":[1,1,1,1,1]}`},
		{"pay", "/stream", 200, `{"parts":[1,1,1,1,1]}`},
	} {
		t.Run(tc.host+tc.path, func(t *testing.T) {
			start := time.Now()
			resp, got := post(t, cl, "https://"+tc.host+".example.com:"+psp.port()+tc.path, "application/json", body)
			if resp.StatusCode != tc.status || !strings.Contains(got, tc.want) {
				t.Fatalf("status %d: %s", resp.StatusCode, got)
			}
			if d := time.Since(start); d > 2*time.Second {
				t.Errorf("took %s", d)
			}
			lines := waitLines(t, c, i+1)
			if len(lines) != i+1 || lines[i]["status"] != float64(tc.status) {
				t.Fatalf("access lines %v", lines)
			}
		})
	}
}

// ctxTokenizer records the context of each Reveal.
type ctxTokenizer struct {
	rewrite.Tokenizer
	mu   sync.Mutex
	ctxs []context.Context
}

func (c *ctxTokenizer) Reveal(ctx context.Context, aliases []string) ([]string, error) {
	c.mu.Lock()
	c.ctxs = append(c.ctxs, ctx)
	c.mu.Unlock()
	return c.Tokenizer.Reveal(ctx, aliases)
}

// TestInterceptedRequestContextEndsWithTheExchange: the context a request
// inside an intercepted tunnel is served with (its filters', the vault's,
// the transport's) is cancelled once the exchange is over, whether the
// response went out as the destination sent it or as the leak guard
// rewrote it (and by then for no other cause than the end).
func TestInterceptedRequestContextEndsWithTheExchange(t *testing.T) {
	psp := newTLSUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"status":"authorized"}`)
	})
	c := obstest.NewCapture(t)
	doc := withStreamRoute()
	tv := newTestVault(t)
	tok := &ctxTokenizer{Tokenizer: tv.tok}
	g := newOutGateway(t, tv, outOpts{allowPrivate: true, roots: []*x509.Certificate{psp.Certificate()}, logger: c.Logger, routes: doc, tok: tok})
	panA, _ := aliases(t, g.vault)
	cl := g.client()
	defer cl.CloseIdleConnections()
	for i, host := range []string{"psp", "pay"} { // the body rewritten by the leak guard; streamed
		t.Run(host, func(t *testing.T) {
			resp, err := cl.Post("https://"+host+".example.com:"+psp.port()+"/v1/charges", "application/json",
				strings.NewReader(`{"card":{"number":"`+panA+`"}}`))
			if err != nil {
				t.Fatal(err)
			}
			tok.mu.Lock()
			ctx := tok.ctxs[len(tok.ctxs)-1]
			tok.mu.Unlock()
			if err := context.Cause(ctx); err != nil && err != context.Canceled {
				t.Fatalf("the context ended with %v", err)
			}
			_, _ = io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 {
				t.Fatalf("status %d", resp.StatusCode)
			}
			waitLines(t, c, i+1)
			select {
			case <-ctx.Done():
			case <-time.After(5 * time.Second):
				t.Fatal("the request's context was not cancelled after the exchange")
			}
		})
	}
}

// streamRouteDoc is a route set of one outbound route for pay.example.com
// with no leak guard and no response filter (a response body streams
// through as it came), revealing card.number in the request.
const streamRouteDoc = `routes:
  - id: stream
    direction: outbound
    host: pay.example.com
    leak_guard: "off"
    filters:
      - id: reveal-stream
        phase: request
        operation: reveal
        targets:
          - {json: card.number}
`

// withStreamRoute is outRoutes with the stream route first.
func withStreamRoute() string {
	return strings.Replace(outRoutes, "routes:\n", streamRouteDoc, 1)
}
