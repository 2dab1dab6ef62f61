package proxy

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aliasgate/aliasgate/internal/bodybudget"
)

// internalBudgetRoutes: /int in front of an in-process upstream and /ext
// in front of an external one, with the same filters (a response redact
// of card.number, a request redact of card.number); /plain in front of
// the in-process upstream without filters and with leak_guard off.
const internalBudgetRoutes = `routes:
  - id: int
    direction: inbound
    host: "*"
    path_prefix: /int
    upstream: internal:cards
    filters:
      - id: int-take
        phase: request
        match: {content_type: json}
        operation: redact
        targets: [{json: card.number}]
      - id: int-hide
        phase: response
        match: {content_type: json}
        operation: redact
        targets: [{json: card.number}]
  - id: ext
    direction: inbound
    host: "*"
    path_prefix: /ext
    upstream: {{UP}}
    filters:
      - id: ext-take
        phase: request
        match: {content_type: json}
        operation: redact
        targets: [{json: card.number}]
      - id: ext-hide
        phase: response
        match: {content_type: json}
        operation: redact
        targets: [{json: card.number}]
  - id: plain
    direction: inbound
    host: "*"
    path_prefix: /plain
    upstream: internal:cards
    leak_guard: "off"
`

// answerChunk is what the test upstreams write at a time.
const answerChunk = 32 << 10

// cardAnswer is a JSON document of size bytes (at least 64) holding
// testPAN at card.number.
func cardAnswer(size int) []byte {
	head := `{"card":{"number":"` + testPAN + `"},"pad":"`
	return []byte(head + strings.Repeat("x", size-len(head)-2) + `"}`)
}

// writeAnswer writes body in answerChunk pieces (with its Content-Length
// when declare) until a write fails, adding what each write took to
// written.
func writeAnswer(w http.ResponseWriter, body []byte, declare bool, written *atomic.Int64) {
	w.Header().Set("Content-Type", "application/json")
	if declare {
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	}
	for len(body) > 0 {
		n, err := w.Write(body[:min(answerChunk, len(body))])
		written.Add(int64(n))
		if err != nil {
			return
		}
		body = body[n:]
	}
}

// internalUpstream is an in-process upstream whose answer serve writes;
// done is closed each time it returns (one request at a time).
type internalUpstream struct {
	serve   func(w http.ResponseWriter, r *http.Request)
	written atomic.Int64
	calls   atomic.Int64
	done    chan struct{}
}

func (u *internalUpstream) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	u.calls.Add(1)
	defer close(u.done)
	u.serve(w, r)
}

// reset readies u for one more request answered by serve.
func (u *internalUpstream) reset(serve func(w http.ResponseWriter, r *http.Request)) {
	u.serve = serve
	u.written.Store(0)
	u.done = make(chan struct{})
}

// wait waits for u's request to return (a generous bound, not a timed
// assertion: a handler that never returns is the failure).
func (u *internalUpstream) wait(t *testing.T, what string) {
	t.Helper()
	select {
	case <-u.done:
	case <-time.After(30 * time.Second):
		t.Fatalf("%s: the in-process upstream did not return", what)
	}
}

func newInternalBudgetGateway(t *testing.T, b *bodybudget.Budget) (*gateway, *internalUpstream, *atomic.Pointer[func(http.ResponseWriter, *http.Request)]) {
	t.Helper()
	in := &internalUpstream{}
	var ext atomic.Pointer[func(http.ResponseWriter, *http.Request)]
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request) { (*ext.Load())(w, r) })
	g := newGateway(t, parseRoutes(t, internalBudgetRoutes, up.URL), nil,
		gwOptions{maxBody: 64 << 10, budget: b, internal: map[string]http.Handler{"internal:cards": in}})
	return g, in, &ext
}

// TestInternalAnswerIsReadUnderTheLimitsOfAnUpstreamAnswer: on a route
// with response filters the answer of an in-process upstream (the vault
// API, the Card Management API) was written whole into a buffer outside
// limits.max_body and the body budget before the response phase looked at
// it: an answer of 8 MiB behind a max_body of 64 KiB was all held in
// memory (per request, as many at once as clients asked) and only then
// refused. It is read as an external upstream's is: refused with the same
// status and error document (502 body_too_large, or the budget's refusal),
// holding no card number, after the upstream wrote at most about max_body
// of it, and the budget is given back. An answer that fits is filtered.
func TestInternalAnswerIsReadUnderTheLimitsOfAnUpstreamAnswer(t *testing.T) {
	const maxBody = 64 << 10
	for _, c := range []struct {
		name    string
		size    int
		declare bool
		budget  int64
		code    string
	}{
		{"8 MiB with its length", 8 << 20, true, 1 << 20, "body_too_large"},
		{"8 MiB of unknown length", 8 << 20, false, 1 << 20, "body_too_large"},
		{"over the budget, of unknown length", 48 << 10, false, 16 << 10, "gateway_busy"},
	} {
		t.Run(c.name, func(t *testing.T) {
			b := bodybudget.New(c.budget, 0)
			g, in, ext := newInternalBudgetGateway(t, b)
			body := cardAnswer(c.size)
			var extWritten atomic.Int64
			serve := func(w http.ResponseWriter, r *http.Request) { writeAnswer(w, body, c.declare, &extWritten) }
			ext.Store(&serve)
			in.reset(func(w http.ResponseWriter, r *http.Request) { writeAnswer(w, body, c.declare, &in.written) })

			want, wantBody := g.do(t, "GET", "/ext/x", "", nil, nil)
			got, gotBody := g.do(t, "GET", "/int/x", "", nil, nil)
			in.wait(t, c.name)
			assertNoPAN(t, "the answer", gotBody)
			if want.StatusCode != http.StatusBadGateway || !strings.Contains(string(wantBody), `"`+c.code+`"`) {
				t.Fatalf("the external upstream's answer: %d %s", want.StatusCode, obstestMask(string(wantBody)))
			}
			if got.StatusCode != want.StatusCode || !bytes.Equal(gotBody, wantBody) ||
				got.Header.Get(DeliveredHeader) != want.Header.Get(DeliveredHeader) {
				t.Errorf("the in-process upstream's answer: %d %s %s, want the external's %d %s %s",
					got.StatusCode, got.Header.Get(DeliveredHeader), obstestMask(string(gotBody)),
					want.StatusCode, want.Header.Get(DeliveredHeader), wantBody)
			}
			if n := in.written.Load(); n > maxBody+2*answerChunk {
				t.Errorf("the in-process upstream wrote %d KiB of its %d KiB answer: held past max_body (%d KiB)",
					n>>10, len(body)>>10, maxBody>>10)
			}
			waitGivenBack(t, b, c.name)
		})
	}

	t.Run("an answer that fits", func(t *testing.T) {
		b := bodybudget.New(1<<20, 0)
		g, in, _ := newInternalBudgetGateway(t, b)
		body := cardAnswer(8 << 10)
		in.reset(func(w http.ResponseWriter, r *http.Request) { writeAnswer(w, body, false, &in.written) })
		resp, got := g.do(t, "GET", "/int/x", "", nil, nil)
		in.wait(t, "fits")
		if resp.StatusCode != 200 || !bytes.Contains(got, []byte(`"pad":"xxx`)) || resp.ContentLength != int64(len(got)) {
			t.Errorf("%d (length %d) %.200s", resp.StatusCode, resp.ContentLength, obstestMask(string(got)))
		}
		assertNoPAN(t, "the answer", got)
		waitGivenBack(t, b, "fits")
	})
}

// TestInternalAnswerBudgetGivenBackOnEveryPath: what the response phase
// reserved of the budget for an in-process upstream's answer goes back,
// and the upstream's goroutine ends, when the client goes away while the
// upstream writes and when the upstream panics before or after its
// header (net/http's http.ErrAbortHandler: the client gets no answer, and
// no card number).
func TestInternalAnswerBudgetGivenBackOnEveryPath(t *testing.T) {
	b := bodybudget.New(1<<20, 0)
	g, in, _ := newInternalBudgetGateway(t, b)
	part := cardAnswer(16 << 10)
	part = part[:len(part)-2] // the document is not over

	t.Run("client gone", func(t *testing.T) {
		started := make(chan struct{})
		in.reset(func(w http.ResponseWriter, r *http.Request) {
			writeAnswer(w, part, false, &in.written)
			close(started)
			<-r.Context().Done()
		})
		ctx, cancel := context.WithCancel(t.Context())
		errc := make(chan error, 1)
		go func() {
			req, _ := http.NewRequestWithContext(ctx, "GET", g.URL+"/int/x", nil)
			resp, err := g.Client().Do(req)
			if err == nil {
				resp.Body.Close()
			}
			errc <- err
		}()
		select {
		case <-started:
		case <-time.After(30 * time.Second):
			t.Fatal("the in-process upstream was not called")
		}
		cancel()
		if err := <-errc; err == nil {
			t.Error("the client went away, and got an answer")
		}
		in.wait(t, "client gone")
		waitGivenBack(t, b, "client gone")
	})

	for _, before := range []bool{true, false} {
		t.Run("panic, before the header "+strconv.FormatBool(before), func(t *testing.T) {
			in.reset(func(w http.ResponseWriter, r *http.Request) {
				if !before {
					writeAnswer(w, part, false, &in.written)
				}
				panic(http.ErrAbortHandler)
			})
			req, _ := http.NewRequest("GET", g.URL+"/int/x", nil)
			resp, err := g.Client().Do(req)
			if err == nil {
				got, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				assertNoPAN(t, "the answer", got)
				if resp.StatusCode == 200 {
					t.Errorf("the upstream panicked, the client got 200 %.100s", obstestMask(string(got)))
				}
			}
			in.wait(t, "panic")
			waitGivenBack(t, b, "panic")
		})
	}
}

// TestInternalRequestBodyIsBoundedAsAnUpstreamRequestBody (regression
// cover, passed before): a request body a route in front of an in-process
// upstream reads (its request filters) is read under limits.max_body and
// the budget as one to an external upstream is: over max_body it is
// refused with the same answer, and the upstream is never called.
func TestInternalRequestBodyIsBoundedAsAnUpstreamRequestBody(t *testing.T) {
	b := bodybudget.New(1<<20, 0)
	g, in, ext := newInternalBudgetGateway(t, b)
	called := func(w http.ResponseWriter, r *http.Request) { t.Error("the external upstream was called") }
	ext.Store(&called)
	in.reset(func(w http.ResponseWriter, r *http.Request) { t.Error("the in-process upstream was called") })
	body := string(cardAnswer(256 << 10))
	for _, chunked := range []bool{false, true} {
		var r io.Reader = strings.NewReader(body)
		if chunked {
			r = io.MultiReader(r) // no length: sent chunked
		}
		want, wantBody := g.do(t, "POST", "/ext/x", "application/json", r, nil)
		r = strings.NewReader(body)
		if chunked {
			r = io.MultiReader(r)
		}
		got, gotBody := g.do(t, "POST", "/int/x", "application/json", r, nil)
		if want.StatusCode != http.StatusRequestEntityTooLarge || got.StatusCode != want.StatusCode || !bytes.Equal(gotBody, wantBody) {
			t.Errorf("chunked %v: %d %s, want %d %s (413)", chunked, got.StatusCode, gotBody, want.StatusCode, wantBody)
		}
	}
	if in.calls.Load() != 0 {
		t.Errorf("the in-process upstream was called %d times", in.calls.Load())
	}
	waitGivenBack(t, b, "request bodies")
}

// TestInternalAnswerStreamsWithoutResponseFilters (regression cover,
// passed before): on a route without response filters whose leak_guard
// is off an in-process upstream writes to the client itself: what it flushed reaches the client
// before it writes the rest, and nothing is reserved of the budget.
func TestInternalAnswerStreamsWithoutResponseFilters(t *testing.T) {
	b := bodybudget.New(1<<20, 0)
	g, in, _ := newInternalBudgetGateway(t, b)
	rest := make(chan struct{})
	in.reset(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "first;")
		if err := http.NewResponseController(w).Flush(); err != nil {
			t.Errorf("flush: %v", err)
		}
		select {
		case <-rest:
		case <-r.Context().Done():
			return
		}
		_, _ = io.WriteString(w, "second")
	})
	resp, err := g.Client().Get(g.URL + "/plain/x")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	first := make([]byte, len("first;"))
	read := make(chan error, 1)
	go func() { _, err := io.ReadFull(resp.Body, first); read <- err }()
	select {
	case err := <-read:
		if err != nil || string(first) != "first;" {
			t.Fatalf("first part: %q %v", first, err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the first part did not reach the client before the upstream's answer was over: buffered")
	}
	if b.Used() != 0 {
		t.Errorf("a streamed answer holds %d bytes of the budget", b.Used())
	}
	close(rest)
	if got, err := io.ReadAll(resp.Body); err != nil || string(got) != "second" {
		t.Errorf("the rest: %q %v", got, err)
	}
	in.wait(t, "stream")
}
