// Package proxy holds aliasgate's inbound reverse proxy: it routes requests
// by Host and path to an upstream URL or to an in-process upstream
// (internal:cards, internal:aliases), applies the matched route filters
// (redact card data in requests before anything is sent upstream; redact or
// reveal in responses before the client gets them), and guards against card
// numbers leaving unredacted.
//
// # What is buffered and what streams
//
// A request or response that no body filter of its route matches streams
// through untouched (net/http/httputil.ReverseProxy), including Upgrade
// (WebSocket) exchanges. A body is buffered, up to MaxBody bytes, only when
// a matched filter has body targets, or when the route's leak guard is on
// (log or block, the default being log) and the body's media type is JSON,
// form, XML or text. So the leak guard scans exactly: bodies buffered for a
// filter, and JSON/form/XML/text bodies of matched routes of at most MaxBody
// bytes (decoded when gzip or deflate). Bodies of other media types, larger
// bodies that no filter needs, bodies in an encoding the proxy cannot decode
// (br, zstd, several encodings), responses of internal upstreams whose route
// has no response filter, and requests that match no route are not scanned.
//
// # Content encodings
//
// gzip and deflate bodies are decoded for rewriting (the decoded size is
// bounded by MaxBody: a compression bomb gets 413) and re-encoded after;
// Content-Length is recomputed. There is no brotli decoder in the standard
// library: a request body in br (or any other encoding) that a matched body
// filter must read is refused with 415 (fail closed) unless the filter says
// on_error: pass. For routes with response filters the proxy drops the
// client's Accept-Encoding towards the upstream, so the upstream answers in
// identity or gzip (which the transport decodes); a response that still comes
// in another encoding fails its filters (502).
//
// # Failing closed
//
// When a matched filter cannot be applied the request is refused with a
// JSON:API error and nothing reaches the upstream: 400 (malformed body),
// 413 (body over MaxBody), 415 (unsupported encoding), 422 (target of the
// wrong type, duplicate key, value the vault refuses, or a leak blocked),
// 503 (vault unavailable). A response filter that fails gives the client a
// 502 and never the unrewritten body. on_error: pass forwards the message
// unchanged; it is logged and counted. Upstream errors give 502, upstream
// timeouts 504. No error body or log line holds body bytes.
package proxy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aliasgate/aliasgate/internal/jsonapi"
	"github.com/aliasgate/aliasgate/internal/obs"
	"github.com/aliasgate/aliasgate/internal/pan"
	"github.com/aliasgate/aliasgate/routes"
	"github.com/aliasgate/aliasgate/routes/rewrite"
	"github.com/aliasgate/aliasgate/vault"
)

// Defaults of InboundOptions.
const (
	DefaultMaxBody         = 10 << 20
	DefaultUpstreamTimeout = 60 * time.Second
)

// InboundOptions configures NewInbound.
type InboundOptions struct {
	// Table holds the current route set (required). Only inbound routes are
	// used.
	Table *routes.Table
	// Tokenizer is the vault (required): filters redact and reveal through
	// it, and the leak guard asks it, in one Reveal call per body, which
	// card-like numbers are aliases.
	Tokenizer rewrite.Tokenizer
	// Internal maps internal upstream names (routes.UpstreamCards,
	// routes.UpstreamAliases) to their handlers, called in process after the
	// request filters.
	Internal map[string]http.Handler
	// Fallback serves requests that match no inbound route (the built-in
	// mounts); nil answers 404.
	Fallback http.Handler
	// MaxBody bounds a buffered body, decoded; default DefaultMaxBody.
	MaxBody int64
	// UpstreamTimeout bounds the wait for an upstream's response headers;
	// default DefaultUpstreamTimeout.
	UpstreamTimeout time.Duration
	// Transport reaches upstreams; nil: an http.Transport with dial, TLS
	// and response-header timeouts that ignores proxy environment variables.
	Transport http.RoundTripper
	// Logger may be nil (nothing is logged).
	Logger *slog.Logger
	// Metrics may be nil.
	Metrics *obs.Metrics
	// Capturer, when set, gets every exchange (see capture.go); nil costs
	// nothing.
	Capturer Capturer
}

// Inbound is the inbound reverse proxy, an http.Handler. Wrap it in
// obs.AccessLog for the access line and request metrics.
type Inbound struct {
	table    *routes.Table
	tok      rewrite.Tokenizer
	internal map[string]http.Handler
	fallback http.Handler
	max      int64
	log      *slog.Logger
	m        *obs.Metrics
	rp       *httputil.ReverseProxy
	capture  Capturer // nil: no capture
}

// setDefaults fills the options both proxies share.
func setDefaults(maxBody *int64, upstreamTimeout *time.Duration, logger **slog.Logger) {
	if *maxBody <= 0 {
		*maxBody = DefaultMaxBody
	}
	if *upstreamTimeout <= 0 {
		*upstreamTimeout = DefaultUpstreamTimeout
	}
	if *logger == nil {
		*logger = slog.New(slog.DiscardHandler)
	}
}

// NewInbound returns the inbound proxy.
func NewInbound(opts InboundOptions) (*Inbound, error) {
	if opts.Table == nil {
		return nil, errors.New("proxy: NewInbound needs a route table")
	}
	if opts.Tokenizer == nil {
		return nil, errors.New("proxy: NewInbound needs a tokenizer")
	}
	setDefaults(&opts.MaxBody, &opts.UpstreamTimeout, &opts.Logger)
	rt := opts.Transport
	if rt == nil {
		rt = &http.Transport{
			Proxy:                 nil,
			DialContext:           (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			ForceAttemptHTTP2:     true,
			MaxIdleConns:          512,
			MaxIdleConnsPerHost:   128,
			IdleConnTimeout:       90 * time.Second,
			TLSHandshakeTimeout:   10 * time.Second,
			ExpectContinueTimeout: time.Second,
			ResponseHeaderTimeout: opts.UpstreamTimeout,
		}
	}
	in := &Inbound{
		table:    opts.Table,
		tok:      timedTokenizer{opts.Tokenizer},
		internal: opts.Internal,
		fallback: opts.Fallback,
		max:      opts.MaxBody,
		log:      opts.Logger,
		m:        opts.Metrics,
	}
	in.rp = &httputil.ReverseProxy{
		Rewrite:        in.rewrite,
		Transport:      &timeoutTransport{rt: rt, d: opts.UpstreamTimeout},
		ModifyResponse: in.modifyResponse,
		ErrorHandler:   in.errorHandler,
		ErrorLog:       slog.NewLogLogger(opts.Logger.Handler(), slog.LevelWarn),
		BufferPool:     copyBuffers,
	}
	in.enableCapture(opts.Capturer)
	return in, nil
}

// reqState is what the proxy knows of a request while it is in flight.
type reqState struct {
	route  *routes.Route
	method string
	path   string
	// made holds the aliases this exchange's filters got from the vault:
	// the leak guard knows them without a vault call.
	made []string
}

type stateKey struct{}

// ServeHTTP implements http.Handler.
func (in *Inbound) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if in.capture != nil && captureFrom(r.Context()) == nil {
		serveCaptured(in.capture, in.table, routes.Inbound, w, r, in.ServeHTTP)
		return
	}
	route := in.table.Load().Match(routes.Inbound, r.Host, r.URL.Path)
	if route == nil {
		if in.fallback != nil {
			in.fallback.ServeHTTP(w, r)
			return
		}
		writeError(w, jsonapi.NewError(http.StatusNotFound, "no_route", "Not Found", "no route for this host and path"))
		return
	}
	ctx := vault.WithRoute(r.Context(), route.ID) // the actor of audited reveals
	obs.SetRoute(ctx, route.ID)
	st := &reqState{route: route, method: r.Method, path: r.URL.Path}
	r = r.WithContext(context.WithValue(ctx, stateKey{}, st))

	if jerr := in.requestPhase(r, st); jerr != nil {
		writeError(w, jerr)
		return
	}
	switch route.Upstream {
	case routes.UpstreamCards, routes.UpstreamAliases:
		in.serveInternal(w, r, st)
		return
	}
	if route.UpstreamURL == nil {
		writeError(w, jsonapi.NewError(http.StatusBadGateway, "no_upstream", "Bad Gateway", "the route has no usable upstream"))
		return
	}
	in.rp.ServeHTTP(w, r)
}

func (in *Inbound) requestPhase(r *http.Request, st *reqState) *jsonapi.Error {
	mt, params := parseMediaType(r.Header.Get("Content-Type"))
	p := &part{header: r.Header, body: r.Body, length: r.ContentLength}
	x := routes.Exchange{Method: r.Method, Path: r.URL.Path, MediaType: mt}
	if jerr := in.process(r.Context(), st, routes.Request, x, params, p); jerr != nil {
		return jerr
	}
	r.Body = p.body
	if p.replaced {
		b := p.buf
		r.ContentLength = int64(len(b))
		r.TransferEncoding = nil
		r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }
		r.Header.Del("Expect")
	}
	return nil
}

// rewrite is the ReverseProxy's Rewrite hook.
func (in *Inbound) rewrite(pr *httputil.ProxyRequest) {
	st := pr.In.Context().Value(stateKey{}).(*reqState)
	pr.SetURL(st.route.UpstreamURL)
	pr.SetXForwarded()
	if st.route.HasPhase(routes.Response) {
		// Let the transport negotiate gzip (and decode it) rather than have
		// the upstream answer in an encoding the filters cannot read.
		pr.Out.Header.Del("Accept-Encoding")
	}
}

// modifyResponse is the ReverseProxy's ModifyResponse hook.
func (in *Inbound) modifyResponse(resp *http.Response) error {
	st, _ := resp.Request.Context().Value(stateKey{}).(*reqState)
	if st == nil {
		return nil
	}
	return in.responsePhase(resp.Request.Context(), st, resp)
}

func (in *Inbound) responsePhase(ctx context.Context, st *reqState, resp *http.Response) error {
	if resp.StatusCode == http.StatusSwitchingProtocols {
		return nil
	}
	mt, params := parseMediaType(resp.Header.Get("Content-Type"))
	p := &part{header: resp.Header, body: resp.Body, length: resp.ContentLength}
	if st.method == http.MethodHead {
		p.length = 0
	}
	x := routes.Exchange{Method: st.method, Path: st.path, MediaType: mt, Status: resp.StatusCode}
	if jerr := in.process(ctx, st, routes.Response, x, params, p); jerr != nil {
		return jerr
	}
	resp.Body = p.body
	if p.replaced {
		resp.ContentLength = int64(len(p.buf))
		resp.TransferEncoding = nil
		resp.Uncompressed = false
		if len(resp.Trailer) > 0 {
			resp.Header.Del("Content-Length") // trailers need chunked encoding
		}
	}
	return nil
}

// part is the message a phase works on.
type part struct {
	header   http.Header
	body     io.ReadCloser
	length   int64 // -1: unknown
	replaced bool  // body is now buf
	buf      []byte
}

// needsBody reports whether any of filters has body targets.
func needsBody(filters []*routes.Filter) bool {
	for _, f := range filters {
		if f.Program.HasBody() {
			return true
		}
	}
	return false
}

// process applies the phase's matched filters and the leak guard to p.
func (in *Inbound) process(ctx context.Context, st *reqState, phase routes.Phase, x routes.Exchange, params map[string]string, p *part) *jsonapi.Error {
	route := st.route
	filters := route.Matching(phase, x)
	needBody := needsBody(filters)
	hasBody := p.body != nil && p.body != http.NoBody && p.length != 0
	scan := route.LeakGuard != routes.LeakOff && hasBody && (needBody || scannable(x.MediaType))
	if len(filters) == 0 && !scan {
		return nil
	}
	enc := contentEncoding(p.header.Get("Content-Encoding"))
	var raw, body []byte
	var bodyErr error
	buffered := false
	if hasBody && (needBody || scan) {
		if p.length > in.max {
			bodyErr = errTooLarge
		} else {
			b, err := readBody(p.body, p.length, in.max)
			switch {
			case errors.Is(err, errTooLarge):
				bodyErr = errTooLarge
				p.body = rejoin(b, p.body)
			case err != nil:
				in.log.Warn("proxy: reading body failed", "route", route.ID, "phase", string(phase), "error", err.Error())
				return refusal(phase, "body_unreadable")
			default:
				raw, buffered = b, true
				if body, err = decodeBody(enc, raw, in.max); err != nil {
					bodyErr, body = err, nil
				}
			}
		}
	}

	changed := false
	for _, f := range filters {
		if f.Program.HasBody() && bodyErr != nil {
			if in.filterFailed(ctx, st, f, bodyErr) {
				return refusal(phase, reason(bodyErr))
			}
			continue
		}
		msg := &rewrite.Message{Header: p.header, Body: body, MediaType: x.MediaType, Params: params}
		changes, err := f.Program.Apply(ctx, msg, in.tok)
		if err != nil {
			if in.filterFailed(ctx, st, f, err) {
				return refusal(phase, reason(err))
			}
			continue
		}
		in.filterApplied(ctx, st, f)
		for _, c := range changes {
			if c.Kind != rewrite.KindHeader {
				changed = true
				body = msg.Body
				break
			}
		}
	}

	if scan && buffered && bodyErr == nil {
		if jerr := in.leakGuard(ctx, st, phase, body); jerr != nil {
			return jerr
		}
	}
	if buffered {
		out := raw
		if changed {
			var err error
			if out, err = encodeBody(enc, body); err != nil {
				in.log.Error("proxy: re-encoding body failed", "route", route.ID, "phase", string(phase), "error", err.Error())
				return refusal(phase, "internal_error")
			}
		}
		p.body = io.NopCloser(bytes.NewReader(out))
		p.length = int64(len(out))
		p.replaced = true
		p.buf = out
		p.header.Set("Content-Length", strconv.Itoa(len(out)))
	}
	return nil
}

func (in *Inbound) filterApplied(ctx context.Context, st *reqState, f *routes.Filter) {
	obs.AddFilter(ctx, f.ID)
	if in.m != nil {
		in.m.ProxyFilterResults.WithLabelValues(st.route.ID, f.ID, "applied").Inc()
	}
}

// filterFailed logs and counts a filter that could not be applied and
// reports whether the message must be refused.
func (in *Inbound) filterFailed(ctx context.Context, st *reqState, f *routes.Filter, err error) bool {
	result, msg := "rejected", "proxy: filter failed, message refused"
	if f.OnError == routes.Pass {
		result, msg = "passed_on_error", "proxy: filter failed, message forwarded unchanged (on_error: pass)"
	}
	if in.m != nil {
		in.m.ProxyFilterResults.WithLabelValues(st.route.ID, f.ID, result).Inc()
	}
	in.log.LogAttrs(ctx, slog.LevelWarn, msg,
		slog.String("route", st.route.ID), slog.String("filter", f.ID), slog.String("phase", string(f.Phase)),
		slog.String("reason", reason(err)), slog.String("error", err.Error()))
	return result == "rejected"
}

// leakGuard scans body for card-like numbers that are not aliases of the
// vault, counts and logs them (route, offsets; never the digits), and
// returns the refusal when the route blocks.
func (in *Inbound) leakGuard(ctx context.Context, st *reqState, phase routes.Phase, body []byte) *jsonapi.Error {
	cands := pan.Find(body)
	if len(cands) == 0 {
		return nil
	}
	idx := make(map[string]int, len(cands))
	list := make([]string, 0, len(cands))
	for _, c := range cands {
		s := string(body[c.Start:c.End])
		if _, ok := idx[s]; !ok && !slices.Contains(st.made, s) {
			idx[s] = len(list)
			list = append(list, s)
		}
	}
	if len(list) == 0 { // only aliases this exchange's filters made: one vault call per body, not two
		return nil
	}
	action := string(st.route.LeakGuard)
	got, err := in.tok.Reveal(vault.WithPurpose(ctx, "leak_guard"), list) // audited as a check, not a reveal to a client
	if err == nil && len(got) != len(list) {
		err = fmt.Errorf("%d answers for %d candidates", len(got), len(list))
	}
	if err != nil {
		in.log.LogAttrs(ctx, slog.LevelWarn, "proxy: leak guard could not check candidates against the vault",
			slog.String("route", st.route.ID), slog.String("phase", string(phase)), slog.Int("candidates", len(cands)),
			slog.String("error", err.Error()))
		if st.route.LeakGuard == routes.LeakBlock {
			return refusal(phase, "vault_unavailable")
		}
		got = make([]string, len(list)) // count every candidate
	}
	var offsets []int
	for _, c := range cands {
		if i, ok := idx[string(body[c.Start:c.End])]; ok && got[i] == "" {
			offsets = append(offsets, c.Start)
		}
	}
	clear(got)
	if len(offsets) == 0 {
		return nil
	}
	if in.m != nil {
		in.m.LeakGuardHits.WithLabelValues(st.route.ID, action).Add(float64(len(offsets)))
	}
	in.log.LogAttrs(ctx, slog.LevelWarn, "proxy: leak guard found card-like numbers no filter redacted",
		slog.String("route", st.route.ID), slog.String("phase", string(phase)), slog.String("action", action),
		slog.Int("count", len(offsets)), slog.Any("offsets", offsets))
	if st.route.LeakGuard == routes.LeakBlock {
		return refusal(phase, "card_data_leak")
	}
	return nil
}

// serveInternal hands the request to an in-process upstream. Its response
// is buffered and filtered only when the route has response filters.
func (in *Inbound) serveInternal(w http.ResponseWriter, r *http.Request, st *reqState) {
	h := in.internal[st.route.Upstream]
	if h == nil {
		writeError(w, jsonapi.NewError(http.StatusBadGateway, "no_upstream", "Bad Gateway", "the route's internal upstream is not enabled"))
		return
	}
	start := time.Now()
	if !st.route.HasPhase(routes.Response) {
		h.ServeHTTP(w, r)
		obs.AddUpstreamTime(r.Context(), time.Since(start))
		return
	}
	rec := &recorder{h: http.Header{}}
	h.ServeHTTP(rec, r)
	obs.AddUpstreamTime(r.Context(), time.Since(start))
	if rec.code == 0 {
		rec.code = http.StatusOK
	}
	resp := &http.Response{StatusCode: rec.code, Header: rec.h, Body: io.NopCloser(&rec.buf),
		ContentLength: int64(rec.buf.Len()), Request: r}
	if err := in.responsePhase(r.Context(), st, resp); err != nil {
		in.errorHandler(w, r, err)
		return
	}
	dst := w.Header()
	for k, v := range resp.Header {
		dst[k] = v
	}
	if resp.ContentLength >= 0 {
		dst.Set("Content-Length", strconv.FormatInt(resp.ContentLength, 10))
	}
	w.WriteHeader(resp.StatusCode)
	_, _ = io.Copy(w, resp.Body)
}

// recorder buffers an internal upstream's response.
type recorder struct {
	h    http.Header
	code int
	buf  bytes.Buffer
}

func (r *recorder) Header() http.Header { return r.h }
func (r *recorder) WriteHeader(code int) {
	if r.code == 0 && (code < 100 || code > 199) {
		r.code = code
	}
}
func (r *recorder) Write(b []byte) (int, error) {
	if r.code == 0 {
		r.code = http.StatusOK
	}
	return r.buf.Write(b)
}

// errorHandler is the ReverseProxy's ErrorHandler: refusals of the response
// phase, upstream timeouts (504) and other upstream errors (502).
func (in *Inbound) errorHandler(w http.ResponseWriter, r *http.Request, err error) {
	route := "-"
	if st, _ := r.Context().Value(stateKey{}).(*reqState); st != nil {
		route = st.route.ID
	}
	var je *jsonapi.Error
	switch {
	case errors.As(err, &je):
	case isTimeout(err):
		in.log.Warn("proxy: upstream timed out", "route", route, "error", safeErr(err))
		je = jsonapi.NewError(http.StatusGatewayTimeout, "upstream_timeout", "Gateway Timeout", "the upstream did not answer in time")
	default:
		if r.Context().Err() != nil {
			in.log.Debug("proxy: client went away", "route", route)
		} else {
			in.log.Warn("proxy: upstream unavailable", "route", route, "error", safeErr(err))
		}
		je = jsonapi.NewError(http.StatusBadGateway, "upstream_unavailable", "Bad Gateway", "the upstream could not be reached")
	}
	writeError(w, je)
}

func isTimeout(err error) bool {
	if errors.Is(err, errUpstreamTimeout) || errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// safeErr returns err's text without a URL (which may hold a query string
// with aliases or values).
func safeErr(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Op + ": " + ue.Err.Error()
	}
	return err.Error()
}

func writeError(w http.ResponseWriter, e *jsonapi.Error) {
	jsonapi.WriteError(w, jsonapi.MediaType, e)
}

// refusal returns the error a phase answers for a failure reason. Request
// refusals carry the reason's status; response refusals are all 502 (the
// client must not get the response, and it is not the client's fault).
func refusal(phase routes.Phase, reason string) *jsonapi.Error {
	rs, ok := reasons[reason]
	if !ok {
		rs = reasons["internal_error"]
	}
	if phase == routes.Response {
		return jsonapi.NewError(http.StatusBadGateway, reason, "Upstream response refused", "the response could not be made safe: "+rs.detail)
	}
	return jsonapi.NewError(rs.status, reason, http.StatusText(rs.status), rs.detail)
}

var reasons = map[string]struct {
	status int
	detail string
}{
	"body_too_large":               {http.StatusRequestEntityTooLarge, "the body is larger than the gateway's limit for bodies it must rewrite"},
	"unsupported_content_encoding": {http.StatusUnsupportedMediaType, "the body's Content-Encoding cannot be decoded for rewriting (gzip and deflate can)"},
	"malformed_body":               {http.StatusBadRequest, "the body does not parse as its content type"},
	"body_unreadable":              {http.StatusBadRequest, "the body could not be read"},
	"body_too_deep":                {http.StatusBadRequest, "the body is nested too deeply"},
	"duplicate_key":                {http.StatusUnprocessableEntity, "an object repeats a key that holds card data"},
	"invalid_target":               {http.StatusUnprocessableEntity, "a field that must hold card data is not a string or number"},
	"value_refused":                {http.StatusUnprocessableEntity, "a value does not fit the alias format of its field"},
	"vault_unavailable":            {http.StatusServiceUnavailable, "the vault is unavailable; try again later"},
	"card_data_leak":               {http.StatusUnprocessableEntity, "the body holds a card number that no filter redacted"},
	"internal_error":               {http.StatusInternalServerError, "the gateway failed"},
}

// reason classifies a filter failure; the value is a fixed code.
func reason(err error) string {
	switch {
	case errors.Is(err, errTooLarge):
		return "body_too_large"
	case errors.Is(err, errUnsupportedEncoding):
		return "unsupported_content_encoding"
	case errors.Is(err, errBadEncoding), errors.Is(err, rewrite.ErrMalformed):
		return "malformed_body"
	case errors.Is(err, rewrite.ErrTooDeep):
		return "body_too_deep"
	case errors.Is(err, rewrite.ErrDuplicateKey):
		return "duplicate_key"
	case errors.Is(err, rewrite.ErrTargetType):
		return "invalid_target"
	case errors.Is(err, vault.ErrFormatNotApplicable), errors.Is(err, vault.ErrInvalidValue):
		return "value_refused"
	case errors.Is(err, rewrite.ErrTokenizer):
		return "vault_unavailable"
	}
	return "internal_error"
}

func parseMediaType(ct string) (string, map[string]string) {
	if ct == "" {
		return "", nil
	}
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil {
		mt, _, _ = strings.Cut(ct, ";")
		return strings.ToLower(strings.TrimSpace(mt)), nil
	}
	return mt, params
}

// timedTokenizer adds the time of each vault call to the request's
// RouteInfo (vault_ms of the access line).
type timedTokenizer struct{ t rewrite.Tokenizer }

func (tt timedTokenizer) Redact(ctx context.Context, items []rewrite.RedactItem) ([]string, error) {
	start := time.Now()
	defer func() { obs.AddVaultTime(ctx, time.Since(start)) }()
	got, err := tt.t.Redact(ctx, items)
	if st, _ := ctx.Value(stateKey{}).(*reqState); st != nil && err == nil {
		st.made = append(st.made, got...)
	}
	return got, err
}

func (tt timedTokenizer) Reveal(ctx context.Context, aliases []string) ([]string, error) {
	start := time.Now()
	defer func() { obs.AddVaultTime(ctx, time.Since(start)) }()
	return tt.t.Reveal(ctx, aliases)
}

var errUpstreamTimeout = errors.New("proxy: upstream timeout")

// timeoutTransport bounds the wait for response headers by d, whatever the
// underlying RoundTripper, without cutting a response body that streams
// longer, and records the wait as upstream time.
type timeoutTransport struct {
	rt http.RoundTripper
	d  time.Duration
}

func (t *timeoutTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx, cancel := context.WithCancelCause(req.Context())
	timer := time.AfterFunc(t.d, func() { cancel(errUpstreamTimeout) })
	start := time.Now()
	out := req.WithContext(ctx)
	if req.GetBody != nil && req.ContentLength > 0 {
		// A body the proxy buffered: hand the transport a reader it knows is
		// in memory (ReverseProxy hides it behind a wrapper), so headers and
		// body go out in one write rather than two.
		if b, err := req.GetBody(); err == nil {
			out.Body = b
		}
	}
	resp, err := t.rt.RoundTrip(out)
	obs.AddUpstreamTime(req.Context(), time.Since(start))
	stopped := timer.Stop()
	if err != nil {
		cancel(nil)
		if !stopped && errors.Is(context.Cause(ctx), errUpstreamTimeout) {
			return nil, fmt.Errorf("%w after %s", errUpstreamTimeout, t.d)
		}
		return nil, err
	}
	if !stopped && errors.Is(context.Cause(ctx), errUpstreamTimeout) {
		resp.Body.Close()
		return nil, fmt.Errorf("%w after %s", errUpstreamTimeout, t.d)
	}
	if resp.StatusCode == http.StatusSwitchingProtocols {
		// ReverseProxy needs the body as an io.ReadWriteCloser; the
		// context ends with the incoming request.
		return resp, nil
	}
	resp.Body = &cancelBody{ReadCloser: resp.Body, cancel: cancel}
	return resp, nil
}

type cancelBody struct {
	io.ReadCloser
	cancel context.CancelCauseFunc
}

func (b *cancelBody) Close() error {
	err := b.ReadCloser.Close()
	b.cancel(nil)
	return err
}
