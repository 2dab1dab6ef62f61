package proxy

// Capture hooks: when a Capturer is set (the admin inspector), each
// exchange through the proxy is recorded as the proxy received it and as it
// passed it on, and handed to the Capturer once the response is written.
//
// The hooks sit at the edges of the proxies, not in the filter code: the
// client side (request body as read, response as written) is a wrapper
// around the proxy handler; the upstream side (request as sent, response as
// received) is a wrapper around the upstream transport and the in-process
// upstream handlers. Bodies are kept up to CaptureLimit bytes each, copied
// as they stream, so capturing buffers nothing the proxy would not have
// buffered and never delays a byte. With no Capturer none of this runs: the
// proxies only test one nil field per request.

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/aliasgate/aliasgate/internal/bodybudget"
	"github.com/aliasgate/aliasgate/internal/obs"
	"github.com/aliasgate/aliasgate/routes"
)

// Capturer observes the exchanges of a proxy (the admin inspector).
type Capturer interface {
	// CaptureLimit is the most bytes of each body the proxy keeps for
	// Capture (per message and side); at least 1. What it keeps of the
	// exchanges in flight is reserved of the proxy's body Budget, all
	// captures together held as one sender (CaptureHolder): past it a
	// body is kept partial.
	CaptureLimit() int
	// Capture receives one finished exchange, on the goroutine that served
	// it, after the response was written. x and everything it refers to
	// belong to the proxy: Capture must copy what it keeps, must not keep
	// card data in clear (the bodies and headers are as they went over the
	// wire), and must return quickly.
	Capture(x *Exchange)
}

// Exchange is what a proxy saw of one request and its response.
type Exchange struct {
	// Direction is routes.Inbound or routes.Outbound.
	Direction routes.Direction
	// Start is when the proxy got the request; Duration the time until the
	// response was written.
	Start    time.Time
	Duration time.Duration
	// Vault and Upstream are the times spent in vault calls and waiting for
	// the upstream (as in the access line).
	Vault, Upstream time.Duration
	// Method, Host, Path and RawQuery are the client's request's.
	Method, Host, Path, RawQuery string
	// RouteName is the route the access log names: a route id, a built-in
	// mount ("internal:cards") or "-" when none matched.
	RouteName string
	// Route is the route that handled a forwarded request, nil when the
	// request matched none or was refused before it was forwarded (then
	// look RouteName up in the route table).
	Route *routes.Route
	// Filters are the ids of the filters applied, in order.
	Filters []string
	// Made are the aliases this exchange's redact filters got from the
	// vault (both phases): in a message as sent on, the values of an
	// applied redact filter's targets that are not among them were not
	// replaced (a target's query did not select them, or they were empty)
	// and are whatever the client or the upstream sent.
	Made []string
	// Secrets are values the exchange put on the wire that no card-number
	// search finds (the cryptogram of a network_token filter): the
	// Capturer must not show them anywhere (EchoSpellings: an echo may
	// write them otherwise).
	Secrets []string
	// Status is the status code written to the client (101 for an upgrade).
	Status int
	// Request is the client's request as received and as sent upstream.
	Request Passage
	// Response is the upstream's response as received and as written to the
	// client.
	Response Passage
}

// Passage is one message of an exchange on both sides of the proxy.
type Passage struct {
	// Received is the message as the proxy got it (from the client for a
	// request, from the upstream for a response).
	Received Snapshot
	// Sent is the message as the proxy passed it on. Sent.Seen is false
	// when it was not passed on: a request refused by a filter, or a
	// response that never came.
	Sent Snapshot
}

// Snapshot is a message's headers and the start of its body, as they went
// over the wire (still content-encoded as Header says).
type Snapshot struct {
	// Seen reports whether the proxy saw this message at all.
	Seen   bool
	Header http.Header
	// Body holds at most CaptureLimit bytes.
	Body []byte
	// Partial reports that Body is not the whole body: it was longer than
	// the limit, or the reader stopped before its end.
	Partial bool
}

type captureKey struct{}

// captureRec collects one exchange while it is served. The upstream side
// may be written by the transport's goroutines while the handler runs, so
// every field is guarded by mu.
type captureRec struct {
	limit int
	mu    sync.Mutex
	req   [2]snap // sideIn, sideOut
	resp  [2]snap
	route *routes.Route
	// made are the aliases the exchange's redactions got (Exchange.Made).
	made []string
	// secrets are Exchange.Secrets.
	secrets []string
	// upgraded: the upstream switched protocols (ReverseProxy then
	// hijacks the connection without a WriteHeader this writer sees).
	upgraded bool
	// budget is the proxies' body budget (nil: none): the bytes the
	// capture keeps of the exchange's bodies are reserved of it, under
	// CaptureHolder, as they are recorded, and held is given back once
	// the exchange is handed to the Capturer (done), which copies what it
	// keeps. A body that does not fit is kept partial; the exchange goes
	// on as it would without a capture.
	budget *bodybudget.Budget
	held   int64
	// handed: done ran; what is read of the bodies after it (a transport
	// still sending a request body its destination answered before
	// reading) is neither kept nor reserved: nothing would give it back.
	handed bool
}

// CaptureHolder is whom the captures in flight count against in the body
// budget: all of them together, as one sender, held to the share's
// percentage of the budget without the floor of a sender's share
// (bodybudget.Budget.Limit; cmd/aliasgate newBodyBudget): a capture past
// it is kept partial, never refused.
const CaptureHolder = "(captures)"

// done gives back what the capture reserved of the body budget, once the
// exchange is handed to the Capturer; the capture records nothing more.
func (rec *captureRec) done() {
	rec.mu.Lock()
	n := rec.held
	rec.held, rec.handed = 0, true
	rec.mu.Unlock()
	rec.budget.Release(CaptureHolder, n)
}

const (
	sideIn  = 0 // as received
	sideOut = 1 // as sent on
)

type snap struct {
	seen     bool
	header   http.Header
	body     []byte
	over     bool // more bytes than limit went by
	complete bool // the body was read to its end (or had none)
}

func captureFrom(ctx context.Context) *captureRec {
	rec, _ := ctx.Value(captureKey{}).(*captureRec)
	return rec
}

// enableCapture turns the hooks of an inbound proxy on: the upstream
// transport, the in-process upstreams and the built-in mounts (Fallback)
// record the upstream side.
func (in *Inbound) enableCapture(c Capturer) {
	if c == nil {
		return
	}
	in.capture = c
	in.rp.Transport = captureTransport{in.rp.Transport}
	if in.fallback != nil {
		in.fallback = captureUpstreamHandler{in.fallback}
	}
	if len(in.internal) > 0 {
		wrapped := make(map[string]http.Handler, len(in.internal))
		for name, h := range in.internal {
			wrapped[name] = captureUpstreamHandler{h}
		}
		in.internal = wrapped
	}
}

// serveCaptured serves r with next while recording the client side of the
// exchange, then hands the exchange to c (also when next panics).
func serveCaptured(c Capturer, budget *bodybudget.Budget, table *routes.Table, dir routes.Direction, w http.ResponseWriter, r *http.Request, next http.HandlerFunc) {
	start := time.Now()
	ctx := r.Context()
	ri := obs.RouteInfoFrom(ctx)
	if ri == nil {
		ctx, ri = obs.WithRouteInfo(ctx)
	}
	rec := &captureRec{limit: max(c.CaptureLimit(), 1), budget: budget}
	rec.req[sideIn] = snap{seen: true, header: r.Header.Clone(), complete: true}
	r2 := r.WithContext(context.WithValue(ctx, captureKey{}, rec))
	if r.Body != nil && r.Body != http.NoBody {
		rec.req[sideIn].complete = false
		r2.Body = &teeBody{ReadCloser: r.Body, rec: rec, s: &rec.req[sideIn]}
	}
	cw := &captureWriter{ResponseWriter: w, rec: rec}
	defer func() {
		status := cw.status()
		rec.mu.Lock()
		if rec.upgraded && !cw.wrote {
			status = http.StatusSwitchingProtocols
		}
		rec.mu.Unlock()
		x := rec.exchange(dir, r, ri, status)
		x.Start, x.Duration = start, time.Since(start)
		if x.Route == nil && x.RouteName != "-" {
			x.Route = routeByID(table.Load(), x.RouteName)
		}
		c.Capture(x)
		rec.done()
	}()
	next(cw, r2)
}

// exchange builds the Exchange from what was recorded.
func (rec *captureRec) exchange(dir routes.Direction, r *http.Request, ri *obs.RouteInfo, status int) *Exchange {
	vault, upstream := ri.Durations()
	x := &Exchange{
		Direction: dir, Method: r.Method, Host: r.Host, Path: r.URL.Path, RawQuery: r.URL.RawQuery,
		RouteName: ri.Route(), Filters: ri.Filters(), Status: status, Vault: vault, Upstream: upstream,
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	x.Route = rec.route
	x.Made = rec.made
	x.Secrets = rec.secrets
	x.Request = Passage{Received: rec.req[sideIn].snapshot(), Sent: rec.req[sideOut].snapshot()}
	x.Response = Passage{Received: rec.resp[sideIn].snapshot(), Sent: rec.resp[sideOut].snapshot()}
	return x
}

// routeByID returns the route of set with id, or nil.
func routeByID(set *routes.Set, id string) *routes.Route {
	for _, r := range set.Routes {
		if r.ID == id {
			return r
		}
	}
	return nil
}

func (s *snap) snapshot() Snapshot {
	if !s.seen {
		return Snapshot{}
	}
	return Snapshot{Seen: true, Header: s.header, Body: s.body, Partial: s.over || !s.complete}
}

// record appends b to s's body up to the limit.
func (rec *captureRec) record(s *snap, b []byte) {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if rec.handed {
		return // the exchange is handed on (done)
	}
	if room := rec.limit - len(s.body); room > 0 {
		if rec.budget.Reserve(CaptureHolder, int64(min(len(b), room))) != nil {
			s.over = true // no room in the budget: the capture is partial
			return
		}
		rec.held += int64(min(len(b), room))
		if len(b) > room {
			s.body = append(s.body, b[:room]...)
			s.over = true
			return
		}
		s.body = append(s.body, b...)
		return
	}
	if len(b) > 0 {
		s.over = true
	}
}

// recordAll records the body b (an in-memory copy) and closes it.
func (rec *captureRec) recordAll(s *snap, b io.ReadCloser) {
	defer b.Close()
	data, err := io.ReadAll(io.LimitReader(b, int64(rec.limit)+1))
	rec.record(s, data)
	if err == nil && len(data) <= rec.limit {
		rec.finishBody(s)
	}
}

func (rec *captureRec) begin(s *snap, h http.Header, hasBody bool) {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	*s = snap{seen: true, header: h.Clone(), complete: !hasBody}
}

func (rec *captureRec) finishBody(s *snap) {
	rec.mu.Lock()
	s.complete = true
	rec.mu.Unlock()
}

// teeBody records what is read from a body.
type teeBody struct {
	io.ReadCloser
	rec *captureRec
	s   *snap
}

func (t *teeBody) Read(p []byte) (int, error) {
	n, err := t.ReadCloser.Read(p)
	if n > 0 {
		t.rec.record(t.s, p[:n])
	}
	if errors.Is(err, io.EOF) {
		t.rec.finishBody(t.s)
	}
	return n, err
}

// captureWriter records the response written to the client.
type captureWriter struct {
	http.ResponseWriter
	rec   *captureRec
	code  int
	wrote bool
}

func (w *captureWriter) status() int {
	if w.code == 0 {
		return http.StatusOK
	}
	return w.code
}

func (w *captureWriter) WriteHeader(code int) {
	if !w.wrote && (code < 100 || code > 199 || code == http.StatusSwitchingProtocols) {
		w.wrote, w.code = true, code
		w.rec.begin(&w.rec.resp[sideOut], w.Header(), true)
		w.rec.finishBody(&w.rec.resp[sideOut]) // what is written is the whole of what was sent
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *captureWriter) Write(b []byte) (int, error) {
	if !w.wrote {
		w.WriteHeader(http.StatusOK)
	}
	n, err := w.ResponseWriter.Write(b)
	w.rec.record(&w.rec.resp[sideOut], b[:n])
	return n, err
}

// Flush implements http.Flusher.
func (w *captureWriter) Flush() {
	if !w.wrote {
		w.WriteHeader(http.StatusOK)
	}
	_ = http.NewResponseController(w.ResponseWriter).Flush()
}

// Hijack implements http.Hijacker for handlers that assert it directly.
func (w *captureWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	return http.NewResponseController(w.ResponseWriter).Hijack()
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *captureWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// captureTransport records the request as sent upstream and the response
// as received from it.
type captureTransport struct{ rt http.RoundTripper }

func (t captureTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	rec := captureFrom(req.Context())
	if rec == nil {
		return t.rt.RoundTrip(req)
	}
	rec.noteRoute(req.Context())
	hasBody := req.Body != nil && req.Body != http.NoBody
	rec.begin(&rec.req[sideOut], req.Header, hasBody)
	switch {
	case hasBody && req.GetBody != nil:
		// A body the proxy buffered: the transport may send it from
		// GetBody (timeoutTransport does), so take it from there.
		if b, err := req.GetBody(); err == nil {
			rec.recordAll(&rec.req[sideOut], b)
		}
	case hasBody:
		req.Body = &teeBody{ReadCloser: req.Body, rec: rec, s: &rec.req[sideOut]}
	}
	resp, err := t.rt.RoundTrip(req)
	if err != nil {
		return resp, err
	}
	if resp.StatusCode == http.StatusSwitchingProtocols {
		rec.mu.Lock()
		rec.upgraded = true
		rec.mu.Unlock()
		return resp, nil
	}
	hasBody = resp.Body != nil && resp.Body != http.NoBody
	rec.begin(&rec.resp[sideIn], resp.Header, hasBody)
	if hasBody {
		resp.Body = &teeBody{ReadCloser: resp.Body, rec: rec, s: &rec.resp[sideIn]}
	}
	return resp, nil
}

// noteMade records aliases a redaction of the exchange made.
func (rec *captureRec) noteMade(aliases []string) {
	rec.mu.Lock()
	rec.made = append(rec.made, aliases...)
	rec.mu.Unlock()
}

// noteSecret records a value of Exchange.Secrets.
func (rec *captureRec) noteSecret(v string) {
	rec.mu.Lock()
	rec.secrets = append(rec.secrets, v)
	rec.mu.Unlock()
}

// noteRoute records the route of the request's state.
func (rec *captureRec) noteRoute(ctx context.Context) {
	if st := stateFrom(ctx); st != nil {
		rec.mu.Lock()
		rec.route = st.route
		rec.mu.Unlock()
	}
}

// captureUpstreamHandler records the request an in-process upstream
// (internal:cards, internal:aliases) gets and the response it writes.
type captureUpstreamHandler struct{ h http.Handler }

func (c captureUpstreamHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rec := captureFrom(r.Context())
	if rec == nil {
		c.h.ServeHTTP(w, r)
		return
	}
	rec.noteRoute(r.Context())
	hasBody := r.Body != nil && r.Body != http.NoBody
	rec.begin(&rec.req[sideOut], r.Header, hasBody)
	if hasBody {
		r.Body = &teeBody{ReadCloser: r.Body, rec: rec, s: &rec.req[sideOut]}
	}
	c.h.ServeHTTP(&upstreamWriter{ResponseWriter: w, rec: rec}, r)
}

// upstreamWriter records the response of an in-process upstream as
// received.
type upstreamWriter struct {
	http.ResponseWriter
	rec   *captureRec
	wrote bool
}

func (w *upstreamWriter) WriteHeader(code int) {
	if !w.wrote && (code < 100 || code > 199) {
		w.wrote = true
		w.rec.begin(&w.rec.resp[sideIn], w.Header(), true)
		w.rec.finishBody(&w.rec.resp[sideIn])
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *upstreamWriter) Write(b []byte) (int, error) {
	if !w.wrote {
		w.WriteHeader(http.StatusOK)
	}
	n, err := w.ResponseWriter.Write(b)
	w.rec.record(&w.rec.resp[sideIn], b[:n])
	return n, err
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *upstreamWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
