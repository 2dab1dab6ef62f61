package proxy

// The phase runner both proxies share: one request or response goes
// through match → read and decode → filters → leak guard → encode here,
// whichever direction it travels. What differs between the directions is a
// phaseOptions value; each direction's file holds only what is its own
// (routing, the upstream, CONNECT and TLS).

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"mime"
	"net/http"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"time"
	"unsafe"

	"github.com/aliasgate/aliasgate/internal/bodybudget"
	"github.com/aliasgate/aliasgate/internal/jsonapi"
	"github.com/aliasgate/aliasgate/internal/lockout"
	"github.com/aliasgate/aliasgate/internal/obs"
	"github.com/aliasgate/aliasgate/internal/pan"
	"github.com/aliasgate/aliasgate/internal/redacted"
	"github.com/aliasgate/aliasgate/routes"
	"github.com/aliasgate/aliasgate/routes/rewrite"
	"github.com/aliasgate/aliasgate/vault"
)

// AliasChecker tells the leak guard which card-like numbers are aliases of
// the vault, without decrypting anything or writing an audit line
// (*vault.Service implements it).
type AliasChecker interface {
	Known(ctx context.Context, candidates []string) ([]vault.Presence, error)
}

// pipeline runs the phases of both proxies.
type pipeline struct {
	tok   rewrite.Tokenizer // timedTokenizer around the vault
	known AliasChecker
	pay   CardPayments // network_token filters; nil: none (outbound only)
	max   int64
	log   *slog.Logger
	m     *obs.Metrics
	// budget bounds the body bytes the phases of all exchanges hold at
	// once (limits.max_buffered_bytes); nil: none.
	budget *bodybudget.Budget
	// misses bounds per source the request phase's card-like numbers that
	// are no alias (InboundOptions.Misses; leakMisses); nil: none (the
	// outbound proxy's budget is per client, of reveals).
	misses MissBudget
}

// withMisses sets the pipeline's budget of card-like numbers that are no
// alias (InboundOptions.Misses).
func (p *pipeline) withMisses(m MissBudget) *pipeline {
	p.misses = m
	return p
}

func newPipeline(tok rewrite.Tokenizer, known AliasChecker, max int64, log *slog.Logger, m *obs.Metrics, budget *bodybudget.Budget) *pipeline {
	return &pipeline{tok: timedTokenizer{tok}, known: known, max: max, log: log, m: m, budget: budget}
}

// phaseOptions is what differs between the phases of the two directions.
type phaseOptions struct {
	// guard runs the route's leak guard (unless the route turns it off).
	// Off on the outbound request, where revealed card data is the point.
	guard bool
	// strict refuses (422, naming the target) a message whose reveal
	// target holds an alias the vault does not know, unless the filter
	// says on_error: pass, and counts what it refused for that the
	// sender's account does not hold in reqState.misses. On for the
	// outbound request.
	strict bool
}

// reqState is what the proxy knows of a request while it is in flight.
type reqState struct {
	route  *routes.Route
	method string
	path   string // canonical (routes.CanonicalPath)
	// query and ctype are the request's raw query and Content-Type
	// (routes.RequestContentType), for the response phase's matches.
	query, ctype string
	// made holds the aliases this exchange's filters got from the vault:
	// the leak guard knows them without a vault call.
	made []string
	// sent are the values a network_token filter put into the request
	// that no card-number search finds (the cryptogram): the response
	// guard looks for them (echoedSecrets).
	sent []string
	// redacted maps, on a route to an in-process upstream, each alias a
	// request filter made to the value it replaced (serveInternal hands it
	// on: package internal/redacted).
	redacted redacted.Values
	// rec is the exchange's capture, nil when the proxy captures nothing:
	// it is told the aliases made too (captureRec.noteMade).
	rec *captureRec
	// upstream is the request's context made cancellable by the proxy
	// when it copied the request (WithContext) for the route (inside an
	// intercepted tunnel a context of its own, under which loopCtx looks
	// the request's values up), and cancel cancels it: timeoutTransport
	// bounds the wait for the upstream with them rather than copying the
	// request once more. nil: the transport makes its own.
	upstream context.Context
	cancel   context.CancelCauseFunc
	// body is the request body the request phase buffered (nil: none):
	// timeoutTransport sends it as it is while nothing has read it,
	// rather than a new reader from GetBody.
	body *memBody
	// rm is the message the filters of a phase are applied to, one at a
	// time (the phases of an exchange run one after the other); run
	// clears it when it returns.
	rm rewrite.Message
	// respBody is the body timeoutTransport puts around the upstream's
	// response when it uses upstream and cancel (once per exchange:
	// respBodyUsed).
	respBody     cancelBody
	respBodyUsed bool
	// gunzip: the proxy asked the upstream for gzip itself (askGzip), so
	// the response phase gives its client a gzip body decoded.
	gunzip bool
	// reqBody is the request body timeoutTransport streams from the
	// client (clientBody), in the same allocation.
	reqBody clientBody
	// mems are the bodies of the messages the request and the response
	// phase buffered (memBodyFor), in the same allocation as the state;
	// memsUsed once each is.
	mems     [2]memBody
	memsUsed [2]bool
	// held is what the phases of the exchange reserved of the pipeline's
	// budget for the bodies they read, under holder (the sender, see
	// budgetSource): release gives it back when the exchange is over.
	held   int64
	holder string
	// matchBuf holds the filters each phase matched (AppendMatching), in
	// the same allocation: a phase matches again, over the same buffer,
	// only to replace what it matched.
	matchBuf [2][2]*routes.Filter
	// lengths hold the Content-Length value each phase set on a body it
	// rewrote (setContentLength), in the same allocation.
	lengths [2][1]string
	// acceptGzip is the Accept-Encoding value askGzip sets, in the same
	// allocation.
	acceptGzip [1]string
	// target holds the request's target as the leak guard reads it
	// (guardTarget), written once, by the request phase, when it fits:
	// the state's size class (640 bytes) has the room.
	target [40]byte
	// misses is what a strict request phase refused for that the
	// sender's account does not hold: each distinct unknown alias of the
	// reveal filter that refused (rewrite.Message.UnknownValues), or the
	// card reference of a network_token filter that is no card of the
	// account (unknown_card). The outbound proxy charges it to the
	// sender's budget (OutboundOptions.Misses). What a filter with
	// on_error: pass forwards is not counted: the route says its targets
	// may hold other values (logged and counted as passed_on_error).
	misses int
}

// phaseIndex is 0 for the request phase, 1 for the response phase: the
// index of the state's per-phase buffers.
func phaseIndex(phase routes.Phase) int {
	if phase == routes.Response {
		return 1
	}
	return 0
}

// matched returns the empty buffer of phase's matching filters.
func (st *reqState) matched(phase routes.Phase) []*routes.Filter {
	return st.matchBuf[phaseIndex(phase)][:0]
}

// memBodyFor returns a memBody reading b and owning pooled (as
// newMemBody) for a message of phase: the state's own the first time,
// else a new one. Each phase runs once per exchange, and the body of its
// message lives as long as the exchange.
func (st *reqState) memBodyFor(phase routes.Phase, b []byte, pooled *[]byte) *memBody {
	i := 0
	if phase == routes.Response {
		i = 1
	}
	if st.memsUsed[i] {
		return newMemBody(b, pooled)
	}
	st.memsUsed[i] = true
	m := &st.mems[i]
	m.pooled = pooled
	m.Reset(b)
	return m
}

// clearMessage drops what rm refers to once a phase is over.
func (st *reqState) clearMessage() { st.rm = rewrite.Message{} }

// requestBody returns the request body the request phase buffered, when
// nothing has read it yet and it is length bytes long; else nil. st may be
// nil.
func (st *reqState) requestBody(length int64) *memBody {
	if st == nil || st.body == nil || !st.body.unread() || st.body.Size() != length {
		return nil
	}
	return st.body
}

type stateKey struct{}

func stateFrom(ctx context.Context) *reqState {
	st, _ := ctx.Value(stateKey{}).(*reqState)
	return st
}

// message is the request or response a phase works on.
type message struct {
	header  http.Header
	trailer *http.Header // trailers, filled once the body is read
	body    io.ReadCloser
	length  int64  // -1: unknown
	target  string // request phase with the guard: the method, host, path and query it reads
	// boundaries are the multipart boundaries the body's declared media
	// type may name (multipartBoundaries), for the guard's read of encoded
	// parts; none when not multipart.
	boundaries []string
	// ctypes are the header's Content-Type fields as the phase found them
	// (request, response), which run reads before any filter may change
	// them: one map look-up a phase.
	ctypes []string
	// set by run when the body was buffered (mem not nil): the bytes sent
	// and the body reading them.
	buf []byte
	mem *memBody
}

// request runs the request phase on r and puts the (re-encoded) body back.
func (p *pipeline) request(ctx context.Context, st *reqState, opts phaseOptions, r *http.Request) *jsonapi.Error {
	cts := r.Header["Content-Type"]
	mt, params := parseMediaType(firstValue(cts))
	msg := &message{header: r.Header, trailer: &r.Trailer, body: r.Body, length: r.ContentLength, ctypes: cts}
	if opts.guard {
		msg.target = st.guardTarget(r)
	}
	st.query, st.ctype = r.URL.RawQuery, routes.RequestContentType(r.Header)
	x := routes.Exchange{Method: r.Method, Path: st.path, Query: st.query, MediaType: mt, RequestContentType: st.ctype}
	if jerr := p.run(ctx, st, routes.Request, opts, x, params, msg); jerr != nil {
		return jerr
	}
	r.Body = msg.body
	if msg.mem != nil {
		b := msg.buf
		r.ContentLength = int64(len(b))
		r.TransferEncoding = nil
		r.Trailer = nil // read with the body; a rewritten body goes out with a length
		r.GetBody = func() (io.ReadCloser, error) { return newMemBody(b, nil), nil }
		delete(r.Header, "Expect")
		st.body = msg.mem
	}
	return nil
}

// guardTarget is what the leak guard reads of a request besides its
// headers and body: the method (any token goes to the upstream as sent,
// digits included), the Host, the path and the query. A newline ends a
// card number's chain (pan): the method's digits never join the Host's.
func guardTarget(r *http.Request) string {
	var buf [64]byte
	return string(appendGuardTarget(buf[:0], r))
}

// appendGuardTarget appends guardTarget(r) to b.
func appendGuardTarget(b []byte, r *http.Request) []byte {
	b = append(append(append(append(b, r.Method...), '\n'), r.Host...), ' ')
	b = append(b, r.URL.EscapedPath()...)
	if r.URL.RawQuery != "" {
		b = append(append(b, '?'), r.URL.RawQuery...)
	}
	return b
}

// guardTarget returns guardTarget(r) written into st.target when it fits
// (else into an array of its own): one allocation fewer a guarded
// request. The request phase calls it once per exchange, and nothing
// writes the bytes again, so the string may refer to them for as long as
// anything keeps it (a hit's digits, which pan may cut from it).
func (st *reqState) guardTarget(r *http.Request) string {
	b := appendGuardTarget(st.target[:0], r)
	return unsafe.String(unsafe.SliceData(b), len(b))
}

// response runs the response phase on resp.
//
// A 101 Switching Protocols (an upgrade the route allows: its filters read
// no body) has its headers filtered and guarded as any response's; its
// body, the upgraded connection, is not read.
func (p *pipeline) response(ctx context.Context, st *reqState, opts phaseOptions, resp *http.Response) *jsonapi.Error {
	switched := resp.StatusCode == http.StatusSwitchingProtocols
	cts := resp.Header["Content-Type"]
	mt, params := parseMediaType(firstValue(cts))
	msg := &message{header: resp.Header, trailer: &resp.Trailer, body: resp.Body, length: resp.ContentLength, ctypes: cts}
	if st.method == http.MethodHead || resp.StatusCode == http.StatusNoContent || resp.StatusCode == http.StatusNotModified {
		msg.length = 0
	}
	if switched {
		msg.body, msg.length = http.NoBody, 0
	}
	x := routes.Exchange{Method: st.method, Path: st.path, Query: st.query, MediaType: mt,
		RequestContentType: st.ctype, Status: resp.StatusCode}
	if jerr := p.run(ctx, st, routes.Response, opts, x, params, msg); jerr != nil {
		return jerr
	}
	if switched {
		return nil
	}
	resp.Body = msg.body
	if msg.mem != nil {
		resp.ContentLength = int64(len(msg.buf))
		resp.TransferEncoding = nil
		resp.Uncompressed = false
		if len(resp.Trailer) > 0 {
			delete(resp.Header, "Content-Length") // trailers need chunked encoding
		}
	} else if st.gunzip && msg.length != 0 && resp.Body != http.NoBody {
		gunzipStream(resp)
	} else if st.gunzip && st.method == http.MethodHead {
		// A HEAD answers the headers its GET answers: that one is decoded.
		if enc, err := contentEncoding(resp.Header.Values("Content-Encoding")); err == nil && enc == "gzip" {
			decodedHeader(resp.Header)
			resp.ContentLength = -1
		}
	}
	return nil
}

// decodedHeader makes the header of a gzip response the proxy asked for
// itself (askGzip) describe the body its client gets, decoded: no
// Content-Encoding, no Content-Length (the gzip body's), and a strong
// ETag made weak (it names the gzip bytes; the decoded body is the same
// resource, not the same bytes, as nginx's gzip module says too).
func decodedHeader(h http.Header) {
	h.Del("Content-Encoding")
	h.Del("Content-Length")
	if tags := h["Etag"]; len(tags) == 1 && strings.HasPrefix(tags[0], `"`) {
		h["Etag"] = []string{"W/" + tags[0]}
	}
}

// AnswerDecoded reports whether the client of route gets an answer in the
// content coding enc (as contentEncoding names it: "gzip", "deflate", ""
// for none) decoded, and decodes h so when it does (decodedHeader): the
// proxies ask the upstream of a route whose responses are read for gzip
// themselves (askGzip), whatever the client accepts, and give the client
// a gzip answer decoded. `aliasgate routes test --phase response` shows
// the answer so.
func AnswerDecoded(route *routes.Route, enc string, h http.Header) bool {
	if route == nil || enc != "gzip" || !readsResponses(route) {
		return false
	}
	decodedHeader(h)
	return true
}

// askGzip asks the upstream of a route whose responses are read for gzip
// or no coding (Accept-Encoding: gzip in place of the client's), and marks
// the exchange so that the response phase gives its client the body
// decoded (reqState.gunzip). The proxy asks itself rather than let the
// transport do it: a transport that added Accept-Encoding takes off a
// gzip coding it finds first in the response's Content-Encoding and
// deletes every Content-Encoding field, so a body in two codings (two
// fields, "gzip" and "gzip" or "deflate") reached the phase as an
// identity body in the inner coding, which neither the filters nor the
// guard read, and the client got it with its card numbers one decoding
// away. Asked by the proxy, the transport leaves the body and the fields
// as they came: the phase reads the whole chain (contentEncoding) and
// refuses what it cannot decode.
func askGzip(h http.Header, st *reqState) {
	// h.Set's field without h.Set's canonicalisation of a key written
	// canonical (~500 instructions a request), its one-element slice the
	// state's (capped at one, so an append copies it) when there is one.
	if st == nil {
		putField(h, "Accept-Encoding", []string{"gzip"})
		return
	}
	st.acceptGzip[0] = "gzip"
	putField(h, "Accept-Encoding", st.acceptGzip[:])
	st.gunzip = true
}

// gunzipStream decodes, as it streams to the client, a response body the
// response phase did not buffer whose only coding is gzip, which the proxy
// asked for (askGzip): the client gets what the transport's own gzip
// negotiation gave it. A body in another coding, or several, goes on as
// it came, with its Content-Encoding.
func gunzipStream(resp *http.Response) {
	if enc, err := contentEncoding(resp.Header.Values("Content-Encoding")); err != nil || enc != "gzip" {
		return
	}
	resp.Body = &gunzipBody{src: resp.Body}
	decodedHeader(resp.Header)
	resp.ContentLength = -1
}

// gunzipBody reads a gzip body decoded; its gzip reader is made at the
// first Read (a header that does not parse fails that Read).
type gunzipBody struct {
	src io.ReadCloser
	zr  *gzip.Reader
	err error
}

func (b *gunzipBody) Read(p []byte) (int, error) {
	if b.zr == nil && b.err == nil {
		b.zr, b.err = gzip.NewReader(b.src)
	}
	if b.err != nil {
		return 0, b.err
	}
	return b.zr.Read(p)
}

func (b *gunzipBody) Close() error { return b.src.Close() }

// contain is run's deferred recover. A panic in a phase refuses the
// message with internal_error (500; 502 on a response) instead of ending
// the process: goproxy serves the requests of an intercepted tunnel in a
// goroutine of its own, which nothing recovers, and the runtime would
// print the panic's value to stderr, past the log's scrubber. It is logged
// at Error with its stack, and its value only when it is a runtime error
// (an index out of range, a nil dereference): any other value may quote
// the message being read.
func (p *pipeline) contain(ctx context.Context, st *reqState, phase routes.Phase, refused **jsonapi.Error) {
	v := recover()
	if v == nil {
		return
	}
	if v == http.ErrAbortHandler {
		panic(v) // net/http's way to abort a response: not a failure
	}
	what := fmt.Sprintf("%T", v)
	if re, ok := v.(runtime.Error); ok {
		what = re.Error()
	}
	p.log.LogAttrs(ctx, slog.LevelError, "proxy: panic in a phase; message refused", slog.String("route", st.route.ID),
		slog.String("phase", string(phase)), slog.String("panic", what), slog.String("stack", string(debug.Stack())))
	*refused = refusal(phase, "internal_error")
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

// run applies the phase's matched filters and the leak guard to msg.
//
// On the request phase of a route that redacts request bodies
// (Route.RedactsBodies) the body is always read, decoded and its syntax
// sniffed: a body that parses as JSON, a form or XML is matched against the
// filters as that media type whatever its Content-Type says, and a body
// that no filter with body targets matched is refused unless the route says
// unmatched_body: pass. So the filters cannot be stepped around by another
// Content-Type, method or path spelling. Nor by the query string: a request
// whose query holds a field a form redact filter targets is refused
// (checkQuery), with a body or without; nor by a request carrying a header
// a redact filter of the route targets where no filter redacting it
// applies (unmatchedHeader).
//
// A panic in the phase (a filter, the vault, a body reader: a bug) refuses
// the message (contain).
func (p *pipeline) run(ctx context.Context, st *reqState, phase routes.Phase, opts phaseOptions, x routes.Exchange, params map[string]string, msg *message) (refused *jsonapi.Error) {
	defer p.contain(ctx, st, phase, &refused)
	route := st.route
	guard := opts.guard && route.LeakGuard != routes.LeakOff
	redacting := phase == routes.Request && route.RedactsBodies()
	// answerRedacting: a response of a route that redacts response
	// bodies, whose body is read by its syntax too and masked by the
	// guard after the filters (masks).
	answerRedacting := phase == routes.Response && route.MasksResponseBodies()
	hasBody := msg.body != nil && msg.body != http.NoBody && msg.length != 0
	if phase == routes.Request && (x.Query != "" || len(msg.header["Cookie"]) > 0) {
		if jerr := p.checkQuery(ctx, st, x, msg.header); jerr != nil {
			return jerr
		}
	}
	filters := route.AppendMatching(st.matched(phase), phase, x)
	readBodyNow := hasBody && (needsBody(filters) || redacting || answerRedacting || guard)
	if len(filters) == 0 && !readBodyNow && !guard {
		return p.unmatchedHeader(ctx, st, phase, filters, x, msg.header)
	}
	// trailersRead: the trailers are in msg.trailer (the body was read to
	// its end), so the filters and the guard read them (emptyBodyTrailers).
	trailersRead := false
	if phase == routes.Response && !hasBody && msg.trailer != nil && msg.body != nil && msg.body != http.NoBody {
		if jerr := p.emptyBodyTrailers(ctx, st, msg); jerr != nil {
			return jerr
		}
		trailersRead = true
	}

	enc, encErr := contentEncoding(msg.header["Content-Encoding"])
	var raw, body []byte
	var bodyErr error
	buffered := false
	// pooled is the buffer of bodyBuffers raw may be in. Whatever way run
	// returns, a buffer it did not hand on (to the body sent, see below)
	// goes back to the pool, cleared: nothing refers to it any more, and
	// it may hold card data.
	var pooled *[]byte
	defer func() {
		if pooled != nil {
			bodyBuffers.put(pooled)
		}
	}()
	load := func() *jsonapi.Error { // reads and decodes msg's body

		if msg.length > p.max {
			bodyErr = errTooLarge
			return nil
		}
		// The body's bytes are reserved before they are read: its
		// declared length at once; a body of unknown length as it is
		// read (heldReader), so that a chunked body holds what it sent,
		// not max_body, while it is read.
		want := msg.length
		var src io.Reader = msg.body
		var hr *heldReader
		if want > 0 {
			if jerr := p.hold(ctx, st, phase, want); jerr != nil {
				return jerr
			}
		} else if p.budget != nil {
			hr = &heldReader{r: msg.body, p: p, ctx: ctx, st: st, phase: phase}
			src = hr
		}
		var buf []byte
		if msg.length > 0 && (phase == routes.Response || needsBody(filters)) {
			// A filter reads the body and is likely to rewrite it, after
			// which its buffer goes back to the pool (see below); a
			// response body left as it is goes back when it is closed
			// (memBody). A request body only the leak guard reads is
			// seldom changed, and GetBody reads it for as long as the
			// request lives.
			if pooled = bodyBuffers.get(msg.length); pooled != nil {
				buf = *pooled
			}
		}
		b, err := readBody(src, msg.length, p.max, buf)
		if hr != nil {
			want = hr.held
		}
		if err != nil && !errors.Is(err, errTooLarge) {
			p.unhold(st, want)
			if hr != nil && hr.refused != nil {
				return hr.refused // no room for the rest of it
			}
		} else if got := int64(len(b)); got < want {
			p.unhold(st, want-got)
		} else if jerr := p.hold(ctx, st, phase, got-want); jerr != nil {
			return jerr // longer than declared, and no room for the rest
		}
		switch {
		case errors.Is(err, errTooLarge):
			bodyErr = errTooLarge
			if pooled != nil {
				// The prefix goes on with the rest of the body: a copy of
				// it, so that the buffer goes back cleared (deferred).
				b = bytes.Clone(b)
			}
			msg.body = rejoin(b, msg.body)
		case err != nil:
			level := slog.LevelWarn
			if ctx.Err() != nil {
				level = slog.LevelDebug // its client left: no failure of the sender's
			}
			p.log.Log(ctx, level, "proxy: reading body failed", "route", route.ID, "phase", string(phase), "error", err.Error())
			if ctx.Err() != nil && !isTimeout(err) {
				// The read broke off with its client (not a read
				// deadline's 400): neither the sender's mistake nor the
				// upstream's failure (499, as where the body streams).
				return clientClosed(p.log, route.ID)
			}
			return refusal(phase, "body_unreadable")
		default:
			raw, buffered = b, true
			switch {
			case encErr != nil:
				bodyErr = encErr
			case enc == "":
				body = raw
			default:
				// The decoded copy is reserved too, as it is decoded
				// (heldReader), as a body of unknown length is read: not
				// max_body + 1 up front, which may be more than a
				// sender's whole share.
				var dh *heldReader
				if p.budget != nil {
					dh = &heldReader{p: p, ctx: ctx, st: st, phase: phase}
				}
				body, err = decodeHeld(enc, raw, p.max, dh)
				if err != nil {
					body = nil
				}
				if dh != nil {
					p.unhold(st, dh.held-int64(len(body)))
					if dh.refused != nil {
						return dh.refused // no room for the rest of it
					}
				}
				if err != nil {
					bodyErr = err
				}
			}
		}
		return nil
	}
	if readBodyNow {
		if jerr := load(); jerr != nil {
			return jerr
		}
	}
	readLen := int64(len(body)) // the decoded body read, held of the budget
	if body != nil {
		// No filter has run: the fields the phase began with.
		if err := bodyError(msg.ctypes, body, x.MediaType, params, redacting); err != nil {
			bodyErr, body = err, nil
		}
	}

	if answerRedacting && body != nil {
		if mt := sniff(body, x.MediaType); mt != "" {
			x.MediaType, params = mt, nil
			filters = route.AppendMatching(st.matched(phase), phase, x)
		}
	}
	if redacting && body != nil {
		if mt := sniff(body, x.MediaType); mt != "" {
			x.MediaType, params = mt, nil
			filters = route.AppendMatching(st.matched(phase), phase, x)
		}
	}
	if redacting && hasBody && !needsBody(filters) && route.UnmatchedBody != routes.Pass && !(body != nil && blank(body)) {
		if bodyErr != nil {
			return refusal(phase, reason(bodyErr))
		}
		p.log.LogAttrs(ctx, slog.LevelWarn, "proxy: no filter of the route matched a request body; refused",
			slog.String("route", route.ID), slog.String("media_type", safeMediaType(x.MediaType)))
		if p.m != nil {
			p.m.CountFilterResult(route.ID, "-", "unmatched_body")
		}
		return refusal(phase, "no_matching_filter")
	}

	if jerr := p.unmatchedHeader(ctx, st, phase, filters, x, msg.header); jerr != nil {
		return jerr
	}

	changed := false
	var failed []string // response phase: the filters that failed and would have refused
	defer st.clearMessage()
	for _, f := range filters {
		if f.Program.HasBody() && bodyErr != nil {
			if p.filterFailed(ctx, st, f, bodyErr) {
				return refusal(phase, reason(bodyErr))
			}
			continue
		}
		rm := &st.rm
		*rm = rewrite.Message{Header: msg.header, Body: body, MediaType: x.MediaType, Params: params}
		fctx := ctx
		if f.Program.Operation() == rewrite.Reveal {
			// The values revealed are bounded as the body they go into
			// is, before the vault decrypts them (vault.WithRevealLimit).
			fctx = vault.WithRevealLimit(ctx, maxBodyOf(p.max))
		}
		changes, err := f.Program.Apply(fctx, rm, p.tokenizerFor(f))
		if errors.Is(err, vault.ErrRevealTooLarge) {
			// Refused as the body they would have made, whatever the
			// filter's on_error (passing would forward the aliases the
			// route reveals).
			p.log.LogAttrs(ctx, slog.LevelWarn, "proxy: the values a filter reveals are longer than max_body; refused",
				slog.String("route", route.ID), slog.String("filter", f.ID), slog.String("phase", string(phase)))
			return refusal(phase, reason(errTooLarge))
		}
		if err != nil {
			if phase == routes.Response {
				// The request was delivered: the response is not turned
				// into an error (responseFailed).
				if p.filterFailed(ctx, st, f, err) {
					failed = append(failed, f.ID)
				}
				continue
			}
			refuse := p.filterFailed(ctx, st, f, err)
			if refuse && opts.strict && reason(err) == "unknown_card" {
				st.misses++ // a guess refused; a passed one is not charged (reqState.misses)
			}
			if refuse || errors.Is(err, vault.ErrThrottled) {
				// A throttled caller is refused whatever the filter's
				// on_error: passing would forward what the limit held back.
				return throttled(namedRefusal(phase, st, f, err), err)
			}
			continue
		}
		if phase == routes.Response && len(changes) > 0 && f.Program.Operation() == rewrite.Reveal {
			noStore(msg.header)
		}
		if len(rm.Unknown) > 0 && opts.strict {
			if jerr := p.unknownAlias(ctx, st, f, rm.Unknown[0]); jerr != nil {
				st.misses += rm.UnknownValues
				return jerr
			}
		} else {
			p.filterApplied(ctx, st, f)
		}
		for _, c := range changes {
			if c.Kind != rewrite.KindHeader {
				changed = true
				body = rm.Body
				break
			}
		}
	}

	// dropped is what the budget holds for the body read (and its encoded
	// copy) once the filters rewrote it: given back when the phase drops
	// it, below, not before (until then both copies are in memory).
	var dropped int64
	if changed {
		// A body the filters rewrote is held as the body read is: under
		// max_body (an alias may be longer than the number it replaces:
		// refused as a body read over it is) and in the budget, reserved
		// in full before it goes on: the body read (readLen) is still in
		// memory, held until it is dropped.
		if err := BodySizeError(int64(len(body)), p.max); err != nil {
			p.log.LogAttrs(ctx, slog.LevelWarn, "proxy: the filters made the body longer than max_body; refused",
				slog.String("route", route.ID), slog.String("phase", string(phase)))
			return refusal(phase, reason(err))
		}
		if jerr := p.hold(ctx, st, phase, int64(len(body))); jerr != nil {
			return jerr
		}
		dropped = readLen
	}

	if phase == routes.Response && (hasBody || trailersRead) && msg.trailer != nil {
		// A trailer is a header field sent after the body: the header
		// targets of redacting filters apply to it too (trailerTargets).
		if buffered || trailersRead {
			failed = p.redactTrailers(ctx, st, filters, x, params, *msg.trailer, failed)
		} else if names := trailerTargets(filters); len(names) > 0 {
			msg.body = &trailerDrop{ReadCloser: msg.body, trailer: msg.trailer, drop: func(h http.Header) {
				for _, n := range names {
					delete(h, n)
				}
			}}
		}
	}
	mode := route.LeakGuard
	// masks: a route that redacts response bodies lets no card number out
	// of one in clear. Every card number that is not an alias is masked
	// (as when a filter fails: a delivered request's answer is not
	// refused), in a body no such filter matched (unmatched: another
	// format the client asked for, another status) as in one a filter
	// matched, read and left a number in, at a path it does not name (a
	// list's array, an envelope, an error that echoes the number). A body
	// a matched filter could not read is its on_error's to decide.
	unmatched := answerRedacting && hasBody && !needsBody(filters) && !(body != nil && blank(body))
	masks := unmatched || answerRedacting && hasBody && body != nil
	if masks && mode != routes.LeakBlock {
		mode = routes.LeakRedact
	}
	if unmatched {
		p.log.LogAttrs(ctx, slog.LevelWarn, "proxy: no filter of the route matched a response body; its card numbers are masked",
			slog.String("route", route.ID), slog.String("media_type", safeMediaType(x.MediaType)))
		if p.m != nil {
			p.m.CountFilterResult(route.ID, "-", "unmatched_body")
		}
	}
	if len(failed) > 0 && hasBody && !buffered && bodyErr == nil {
		// A filter without body targets failed on a body nobody read: the
		// guard reads it now, to mask it (responseFailed).
		if jerr := load(); jerr != nil {
			return jerr
		}
	}
	if len(failed) > 0 {
		// responseFailed: the guard masks every card number left, whatever
		// the route's leak_guard (block still refuses one it finds).
		msg.header.Set(FilterFailedHeader, strings.Join(failed, ","))
		if mode != routes.LeakBlock {
			mode = routes.LeakRedact
		}
	}
	if guard && phase == routes.Response && len(st.sent) > 0 {
		masked, jerr := p.echoedSecrets(ctx, st, mode, msg, body)
		if jerr != nil {
			return jerr
		}
		if masked != nil {
			body, changed = masked, true
		}
	}
	if guard || len(failed) > 0 || masks {
		msg.boundaries = multipartBoundaries(x.MediaType, params["boundary"], msg.header["Content-Type"])
		masked, jerr := p.leakGuard(ctx, st, phase, mode, msg, body, hasBody, bodyErr)
		if jerr != nil {
			return jerr
		}
		if masked != nil {
			body, changed = masked, true
		}
	}
	if buffered {
		out := raw
		// A gzip body the proxy asked for itself (askGzip) goes to the
		// client decoded: the client did not ask for it.
		plain := phase == routes.Response && st.gunzip && enc == "gzip" && body != nil
		if changed || plain {
			var err error
			if plain {
				out = body
				decodedHeader(msg.header)
			} else if out, err = encodeBody(enc, body); err != nil {
				p.log.Error("proxy: re-encoding body failed", "route", route.ID, "phase", string(phase), "error", err.Error())
				return refusal(phase, "internal_error")
			} else if enc != "" {
				// The body encoded again, held in full as the rewritten
				// body is: the encoded body read is in memory until raw
				// is dropped, below.
				if jerr := p.hold(ctx, st, phase, int64(len(out))); jerr != nil {
					return jerr
				}
				dropped += int64(len(raw))
			}
			if enc != "" && !plain {
				msg.header.Set("Content-Encoding", enc) // one token, identity dropped
			}
			if pooled != nil {
				// raw was replaced (out is a new slice): nothing
				// refers to the buffer it was read into any more.
				bodyBuffers.put(pooled)
				pooled = nil
			}
			// Nothing refers to the body read any more (raw, and body
			// before the filters rewrote it): its bytes go back.
			p.unhold(st, dropped)
		}
		// A response body sent as it was read owns its buffer: the body
		// gives it back when the proxy closes it after writing it. A
		// request body sent as it was read keeps it (GetBody reads out).
		owned := pooled
		if phase != routes.Response {
			owned = nil
		}
		pooled = nil // handed on: not given back when run returns
		msg.mem = st.memBodyFor(phase, out, owned)
		msg.body = msg.mem
		msg.length = int64(len(out))
		msg.buf = out
		setContentLength(msg.header, len(out), &st.lengths[phaseIndex(phase)])
	}
	return nil
}

// hold reserves n more bytes of the budget for a body phase reads into
// memory (nothing when the pipeline has no budget, or n <= 0). When they
// do not fit it refuses the message: on the request phase 503
// gateway_busy (the whole budget is taken) or 429 source_busy (the
// sender's share is), with Retry-After; on the response phase 502 as
// every response refusal, the request having been delivered. The access
// line says why (obs.SetRefused); the budget counts it
// (aliasgate_buffered_body_refused_total).
func (p *pipeline) hold(ctx context.Context, st *reqState, phase routes.Phase, n int64) *jsonapi.Error {
	if p.budget == nil || n <= 0 {
		return nil
	}
	if st.held == 0 {
		st.holder = budgetSource(ctx)
	}
	err := p.budget.Reserve(st.holder, n)
	if err == nil {
		st.held += n
		return nil
	}
	obs.SetRefused(ctx, budgetRefusal(err))
	return refusal(phase, budgetRefusal(err))
}

// heldReader reads a body of unknown length for the phase, reserving of
// the budget (pipeline.hold) the bytes each Read may read before it reads
// them, at least heldStep at a time: the reservation follows what the
// reader (io.ReadAll, which asks for the room its buffer has, and grows
// it) holds: its buffer, not a fixed step, so that many small bodies of
// unknown length read at once each hold what they take (a 32 KiB step
// let a sender's share of one max_body read two at once).
// A reservation refused ends the read with errOverBudget and keeps the
// refusal; held is what it reserved.
type heldReader struct {
	r          io.Reader
	p          *pipeline
	ctx        context.Context
	st         *reqState
	phase      routes.Phase
	read, held int64
	refused    *jsonapi.Error
}

// heldStep is the least a Read reserves: io.ReadAll's first buffer.
const heldStep = 512

var errOverBudget = errors.New("proxy: no room in the body budget")

func (h *heldReader) Read(b []byte) (int, error) {
	if h.refused != nil {
		return 0, errOverBudget
	}
	if need := h.read + int64(len(b)); need > h.held {
		// need is at most max_body+1 (readLimited's LimitReader).
		step := min(max(need-h.held, heldStep), h.p.max+1-h.held)
		if jerr := h.p.hold(h.ctx, h.st, h.phase, step); jerr != nil {
			h.refused = jerr
			return 0, errOverBudget
		}
		h.held += step
	}
	n, err := h.r.Read(b)
	h.read += int64(n)
	return n, err
}

// unhold gives back n bytes of what the exchange holds, once a body turned
// out shorter than reserved.
func (p *pipeline) unhold(st *reqState, n int64) {
	if n = min(n, st.held); p.budget == nil || n <= 0 {
		return
	}
	p.budget.Release(st.holder, n)
	st.held -= n
}

// release gives back all the exchange holds of the budget. The proxies
// call it once the exchange is over, whatever way it ended (a response
// written, a refusal, a client gone, a panic): the bodies the phases read
// (the request's, which GetBody reads for as long as the request lives,
// and the response's) are no longer referred to.
func (p *pipeline) release(st *reqState) {
	if st == nil || st.held == 0 {
		return
	}
	p.budget.Release(st.holder, st.held)
	st.held = 0
}

// HoldBodies bounds the bodies next reads with budget (nil: next itself):
// the handlers of the gateway's own APIs, which read a request document
// whole (at most max bytes), as the phases read a body. The request's
// declared length (max when it declares more) is reserved before next
// runs; a body of unknown length is reserved as next reads it, as the
// phases reserve one (as the reading buffer grows, never past max + 1 ahead of what
// was read; what it did not send given back at its end), so that a chunked
// document holds what it sent, not the API's most, which may be more than
// the whole budget. Both under the sender's share (budgetSource; else its
// peer address), given back when next returns, whatever way. A request
// that does not fit is refused as a phase refuses it: 503 gateway_busy or
// 429 source_busy, with Retry-After, the access line saying why; a body
// refused as it is read fails next's read, and next's answer is replaced
// by that refusal (apiBody, apiWriter).
func HoldBodies(budget *bodybudget.Budget, max int64, next http.Handler) http.Handler {
	if budget == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := r.ContentLength
		if r.Body == nil || r.Body == http.NoBody || n == 0 {
			next.ServeHTTP(w, r)
			return
		}
		src := budgetSource(r.Context())
		if src == "" {
			src = lockout.Key(r.RemoteAddr)
		}
		if n < 0 {
			body := &apiBody{ReadCloser: r.Body, b: budget, src: src, max: max}
			defer func() { budget.Release(src, body.held) }()
			aw := &apiWriter{ResponseWriter: w, body: body, ctx: r.Context()}
			r2 := *r
			r2.Body = body
			next.ServeHTTP(aw, &r2)
			if body.refused != nil && !aw.wrote {
				aw.refuse()
			}
			return
		}
		n = min(n, max)
		if err := budget.Reserve(src, n); err != nil {
			obs.SetRefused(r.Context(), budgetRefusal(err))
			writeError(w, refusal(routes.Request, budgetRefusal(err)))
			return
		}
		defer budget.Release(src, n)
		next.ServeHTTP(w, r)
	})
}

// budgetRefusal is the refusal code of a reservation's error: source_busy
// past the sender's share, else gateway_busy.
func budgetRefusal(err error) string {
	if errors.Is(err, bodybudget.ErrSourceFull) {
		return "source_busy"
	}
	return "gateway_busy"
}

// apiBody is an API's request body of unknown length (HoldBodies): what
// each Read may read is reserved before it reads it (heldReader's rule;
// when a step does not fit, what the Read asks for), up to max + 1, past
// which the API refuses the body (413) and keeps no more; what was
// reserved past the body's end is given back at its end. A reservation
// refused ends the read with errOverBudget and keeps the refusal; held is
// what is reserved.
type apiBody struct {
	io.ReadCloser
	b          *bodybudget.Budget
	src        string
	max        int64
	read, held int64
	refused    error
}

func (h *apiBody) Read(p []byte) (int, error) {
	if h.refused != nil {
		return 0, errOverBudget
	}
	if need := h.read + int64(len(p)); need > h.held && h.held <= h.max {
		// Never past max + 1: what the API reads past its most it
		// refuses (413), and keeps no more of.
		step := min(max(need-h.held, heldStep), h.max+1-h.held)
		err := h.b.Reserve(h.src, step)
		if least := min(need-h.held, h.max+1-h.held); err != nil && step > least {
			step = least // the Read's own bytes may still fit
			err = h.b.Reserve(h.src, step)
		}
		if err != nil {
			h.refused = err
			return 0, errOverBudget
		}
		h.held += step
		if room := h.held - h.read; int64(len(p)) > room {
			p = p[:room]
		}
	}
	n, err := h.ReadCloser.Read(p)
	h.read += int64(n)
	if err != nil && h.held > h.read {
		h.b.Release(h.src, h.held-h.read) // the end: nothing more to hold
		h.held = h.read
	}
	return n, err
}

// apiWriter is the ResponseWriter of an API behind HoldBodies: once the
// request's body was refused of the budget (apiBody), the API's answer
// (its read failed) is dropped and the refusal written instead.
type apiWriter struct {
	http.ResponseWriter
	body    *apiBody
	ctx     context.Context
	wrote   bool // the header went out (the API's or the refusal)
	dropped bool // the API's answer is being dropped
}

func (w *apiWriter) refuse() {
	w.wrote, w.dropped = true, true
	h := w.ResponseWriter.Header()
	for k := range h {
		delete(h, k) // what the API set for its own answer
	}
	why := budgetRefusal(w.body.refused)
	obs.SetRefused(w.ctx, why)
	writeError(w.ResponseWriter, refusal(routes.Request, why))
}

func (w *apiWriter) WriteHeader(code int) {
	switch {
	case w.wrote:
		if !w.dropped {
			w.ResponseWriter.WriteHeader(code) // a 1xx, or net/http's own complaint
		}
	case w.body.refused != nil:
		w.refuse()
	default:
		if code >= 200 {
			w.wrote = true
		}
		w.ResponseWriter.WriteHeader(code)
	}
}

func (w *apiWriter) Write(b []byte) (int, error) {
	if !w.wrote {
		w.WriteHeader(http.StatusOK)
	}
	if w.dropped {
		return len(b), nil
	}
	return w.ResponseWriter.Write(b)
}

func (w *apiWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// budgetSource returns whom the bodies of an exchange count against in
// the budget's per-source shares, and whom the inbound leak guard charges
// its card-like numbers that are no alias (missCheck): its source address
// (an IPv6 address's /64, as the connection bound counts it: a sender
// stepping through the addresses of its /64 is one), else its proxy
// client.
func budgetSource(ctx context.Context) string {
	a := vault.ActorFrom(ctx)
	if a.Source == "" {
		return a.Client
	}
	if strings.IndexByte(a.Source, ':') >= 0 {
		return lockout.Key(a.Source)
	}
	return a.Source
}

// emptyBodyTrailers reads to its end the body of a response that has no
// content (Content-Length: 0, 204, 304, a HEAD's answer) but is not closed
// yet: over HTTP/2 a HEADERS frame without END_STREAM can be followed by
// trailers and no DATA, which the transport puts in msg.trailer only once
// the body's end is read. Unread, the phase saw no trailers, and the
// client (an HTTP/2 one) got them after it: a card number in a trailer
// reached it through the route's header filters and leak_guard block.
// What such a body holds is discarded (no content goes to the client), as
// it is read: nothing of it is kept in memory; more than max bytes, or a
// failed read, refuses the response.
func (p *pipeline) emptyBodyTrailers(ctx context.Context, st *reqState, msg *message) *jsonapi.Error {
	n, err := io.Copy(io.Discard, io.LimitReader(msg.body, p.max+1))
	if err == nil && n > p.max {
		err = errTooLarge
	}
	if err != nil {
		p.log.LogAttrs(ctx, slog.LevelWarn, "proxy: reading an empty response body for its trailers failed",
			slog.String("route", st.route.ID), slog.String("error", err.Error()))
		return refusal(routes.Response, "body_unreadable")
	}
	return nil
}

// noStore makes a response a filter revealed card data into one that no
// cache keeps: Cache-Control: no-store, and no Expires nor the fields a
// CDN obeys before Cache-Control (CDN-Cache-Control, RFC 9213, and its
// vendors' Cloudflare-CDN-Cache-Control…, Surrogate-Control). The
// upstream wrote its caching fields for the aliases its answer held: a
// shared cache in front of the gateway (a CDN, the load balancer's) would
// serve the card number to other clients, and a browser keep it on disk.
func noStore(h http.Header) {
	for k := range h {
		if lk := strings.ToLower(k); lk == "cache-control" || lk == "expires" || lk == "surrogate-control" || strings.HasSuffix(lk, "cdn-cache-control") {
			delete(h, k)
		}
	}
	h.Set("Cache-Control", "no-store")
}

// trailerTargets returns the canonical names of the header targets of the
// redacting filters among filters: the trailer fields of those names a
// response may carry are redacted when its body was read
// (redactTrailers) and dropped when it streamed (trailerDrop). A trailer
// is a header field sent after the body (RFC 9110 §6.5) that clients read
// as one: the filters read the header section only, and a field a route
// redacts reached the client in clear when the upstream sent it last.
// Reveal filters leave trailers as they are (aliases).
func trailerTargets(filters []*routes.Filter) []string {
	var names []string
	for _, f := range filters {
		if f.Program.Operation() != rewrite.Redact {
			continue
		}
		for _, t := range f.Program.Targets() {
			if t.Kind == rewrite.KindHeader {
				if n := http.CanonicalHeaderKey(t.Path); !slices.Contains(names, n) {
					names = append(names, n)
				}
			}
		}
	}
	return names
}

// redactTrailers applies the header targets of the redacting filters among
// filters to the trailers of a response whose body the phase read (so
// trailer holds every trailer field), as the filters were applied to its
// header section; it returns failed with the filters that failed and
// refuse (responseFailed: the guard then masks what is left).
func (p *pipeline) redactTrailers(ctx context.Context, st *reqState, filters []*routes.Filter, x routes.Exchange, params map[string]string, trailer http.Header, failed []string) []string {
	if len(trailer) == 0 {
		return failed
	}
	for _, f := range filters {
		if f.Program.Operation() != rewrite.Redact || !slices.ContainsFunc(f.Program.Targets(), isHeaderTarget) || slices.Contains(failed, f.ID) {
			continue // a filter that failed on the message is not tried (nor counted) again
		}
		rm := &st.rm
		*rm = rewrite.Message{Header: trailer, MediaType: x.MediaType, Params: params}
		if _, err := f.Program.Apply(ctx, rm, p.tokenizerFor(f)); err != nil && p.filterFailed(ctx, st, f, err) {
			failed = append(failed, f.ID)
		}
	}
	return failed
}

func isHeaderTarget(t rewrite.TargetSpec) bool { return t.Kind == rewrite.KindHeader }

// trailerDrop is a body that streams past the phase (not read: the guard
// off, or over max_body): once it ends (its end read, or closed, which is
// when ReverseProxy reads the trailers) drop removes fields from its
// message's trailers, which arrive with its end: on a response, those of
// the names no filter could redact (trailerTargets); on a request, those
// a client sent under the gateway's names (DropClientFields).
type trailerDrop struct {
	io.ReadCloser
	trailer *http.Header
	drop    func(http.Header)
}

func (b *trailerDrop) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err == io.EOF {
		b.drop(*b.trailer)
	}
	return n, err
}

func (b *trailerDrop) Close() error {
	err := b.ReadCloser.Close()
	b.drop(*b.trailer)
	return err
}

// unmatchedHeader refuses a request that carries a header a request redact
// filter of the route targets, on a path that filter covers, when no
// filter that applies to it (filters) redacts that header
// (routes.Route.UnmatchedHeader), unless the route says unmatched_body:
// pass: 422 no_matching_filter, as a body no filter matched.
func (p *pipeline) unmatchedHeader(ctx context.Context, st *reqState, phase routes.Phase, filters []*routes.Filter, x routes.Exchange, h http.Header) *jsonapi.Error {
	if phase != routes.Request || st.route.UnmatchedBody == routes.Pass {
		return nil
	}
	f := st.route.UnmatchedHeader(filters, x, h)
	if f == nil {
		return nil
	}
	p.log.LogAttrs(ctx, slog.LevelWarn, "proxy: a request carries a header a filter of the route redacts where no filter redacting it applies; refused",
		slog.String("route", st.route.ID), slog.String("filter", f.ID))
	if p.m != nil {
		p.m.CountFilterResult(st.route.ID, f.ID, "unmatched_header")
	}
	return refusal(phase, "no_matching_filter")
}

// checkQuery refuses a request whose query string holds a field that a
// form target of one of the route's request redact filters names, or that
// nests to a JSON target's value (card[cvc] for card.cvc), or whose
// cookies hold such a form field (rewrite.Program.CheckCookies), when
// the request meets that filter's request conditions
// (routes.Filter.ChecksQuery, rewrite.Program.CheckQuery), unless the
// filter says on_error: pass. It runs before the body is read: a request
// without a body, or with one of another media type, carries the field as
// well.
func (p *pipeline) checkQuery(ctx context.Context, st *reqState, x routes.Exchange, h http.Header) *jsonapi.Error {
	cookies := len(h["Cookie"]) > 0
	for _, f := range st.route.Filters {
		if f.Program == nil || x.Query == "" && !(cookies && f.Program.ReadsCookies()) || !f.ChecksQuery(x) {
			continue // nothing it reads (a request's cookies cost no match for a JSON filter)
		}
		err := f.Program.CheckQuery(x.Query)
		if err == nil && cookies {
			err = f.Program.CheckCookies(h)
		}
		if err != nil && p.filterFailed(ctx, st, f, err) {
			return refusal(routes.Request, reason(err))
		}
	}
	return nil
}

// setContentLength sets h's Content-Length to n, leaving a header that
// already says exactly that as it is (a body the phase read and kept, the
// usual response): no string or slice for it. A new value's one-element
// slice is cell (the exchange's state's, one per phase) rather than an
// allocation: capped at one, so an append copies it.
func setContentLength(h http.Header, n int, cell *[1]string) {
	var buf [20]byte
	b := strconv.AppendInt(buf[:0], int64(n), 10)
	if v := h["Content-Length"]; len(v) == 1 && v[0] == string(b) {
		return
	}
	cell[0] = string(b)
	putField(h, "Content-Length", cell[:])
}

// putField sets the field key (in canonical form) of h to v, as
// h[key] = v does. A Go map of smallMapSlots entries is a small map full to
// the brim, which grows into a table (3 allocations, about 1 KiB) at any
// assignment, even of a key it holds, and a message of 8 fields is common
// (the requests BenchmarkInbound proxies have 8 when
// askGzip asks for gzip): putField takes the field out of such a map first
// (TestPutFieldDoesNotGrowAFullMap).
func putField(h http.Header, key string, v []string) {
	if len(h) == smallMapSlots {
		delete(h, key)
	}
	h[key] = v
}

// smallMapSlots is the number of entries a small Go map holds
// (internal/abi.SwissMapGroupSlots): one group of slots, no table.
const smallMapSlots = 8

// headerValue is h.Get(key) for a key in canonical form (the constants of
// this package): Header.Get canonicalises its key again on every call,
// several times a request; a canonical key is the map's key as it is.
func headerValue(h http.Header, key string) string { return firstValue(h[key]) }

// firstValue is the first of a field's values, "" when it has none.
func firstValue(v []string) string {
	if len(v) > 0 {
		return v[0]
	}
	return ""
}

// FilterFailedHeader is set on a response a filter of the response phase
// could not be applied to (with on_error: reject): it names the filters,
// and the response is delivered with its status, every card number in it
// that is not an alias masked by the leak guard (redact mode, or block when
// the route blocks). A request that reached its upstream is never turned
// into an error a client would retry (a payment charged twice); only a
// response the guard cannot read (an encoding it cannot decode, over
// max_body) or that it blocks is withheld: 502 with DeliveredHeader.
const FilterFailedHeader = "Aliasgate-Filter-Failed"

// DeliveredHeader ("true") is set on a refusal of the response phase: the
// request reached the upstream, which answered; retrying it repeats it.
const DeliveredHeader = "Aliasgate-Request-Delivered"

// unknownAlias handles a reveal target that held an alias the vault does
// not know on a strict phase: 422 naming the target, or (on_error: pass)
// a log line and the message forwarded with what was known revealed.
func (p *pipeline) unknownAlias(ctx context.Context, st *reqState, f *routes.Filter, t rewrite.TargetRef) *jsonapi.Error {
	pass := f.OnError == routes.Pass
	result := "rejected"
	if pass {
		result = "passed_on_error"
	}
	if p.m != nil {
		p.m.CountFilterResult(st.route.ID, f.ID, result)
	}
	p.log.LogAttrs(ctx, slog.LevelWarn, "proxy: reveal target holds an unknown or expired alias",
		slog.String("route", st.route.ID), slog.String("filter", f.ID), slog.String("target", string(t.Kind)+":"+t.Path),
		slog.Bool("forwarded", pass))
	if pass {
		obs.AddFilter(ctx, f.ID)
	}
	return UnknownAlias(f, t)
}

// UnknownAlias returns the outbound proxy's answer to a request whose
// reveal filter f found at target t a value that is no live alias of the
// vault: 422 unknown_alias naming the target, nil with on_error: pass
// (the value is forwarded as it is). `aliasgate routes test`, whose
// throw-away vault cannot tell, says it by it.
func UnknownAlias(f *routes.Filter, t rewrite.TargetRef) *jsonapi.Error {
	if f.OnError == routes.Pass {
		return nil
	}
	return jsonapi.NewError(http.StatusUnprocessableEntity, "unknown_alias", "Unprocessable Entity",
		fmt.Sprintf("%s target %q holds an alias that does not exist or has expired", t.Kind, t.Path))
}

func (p *pipeline) filterApplied(ctx context.Context, st *reqState, f *routes.Filter) {
	obs.AddFilter(ctx, f.ID)
	if p.m != nil {
		p.m.CountFilterResult(st.route.ID, f.ID, "applied")
	}
}

// filterFailed logs and counts a filter that could not be applied and
// reports whether the message must be refused.
func (p *pipeline) filterFailed(ctx context.Context, st *reqState, f *routes.Filter, err error) bool {
	result, msg := "rejected", "proxy: filter failed, message refused"
	if f.OnError == routes.Pass {
		result, msg = "passed_on_error", "proxy: filter failed, message forwarded unchanged (on_error: pass)"
	}
	if p.m != nil {
		p.m.CountFilterResult(st.route.ID, f.ID, result)
	}
	attrs := []slog.Attr{slog.String("route", st.route.ID), slog.String("filter", f.ID), slog.String("phase", string(f.Phase)),
		slog.String("reason", reason(err)), slog.String("error", err.Error())}
	if te := (*rewrite.TargetError)(nil); errors.As(err, &te) {
		attrs = append(attrs, slog.String("target", string(te.Target.Kind)+":"+te.Target.Path))
	}
	p.log.LogAttrs(ctx, slog.LevelWarn, msg, attrs...)
	return result == "rejected"
}

// namedRefusal is refusal(phase, reason(err)) whose detail, when err
// names the target whose value the vault refused (rewrite.TargetError),
// names it with its filter and route, so that the operator knows what to
// fix: never the value, the path masked as problems are.
func namedRefusal(phase routes.Phase, st *reqState, f *routes.Filter, err error) *jsonapi.Error {
	jerr := refusal(phase, reason(err))
	var te *rewrite.TargetError
	if errors.As(err, &te) && len(jerr.Objects) == 1 {
		jerr.Objects[0].Detail += fmt.Sprintf(" (%s target %q of filter %q of route %q)", te.Target.Kind,
			pan.MaskLoose(te.Target.Path), f.ID, st.route.ID)
	}
	return jerr
}

// throttled gives a refusal the Retry-After of a *vault.ThrottleError in
// err, if any.
func throttled(jerr *jsonapi.Error, err error) *jsonapi.Error {
	var te *vault.ThrottleError
	if errors.As(err, &te) {
		jerr.RetryAfter = te.RetryAfter
	}
	return jerr
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
	e := jsonapi.NewError(rs.status, reason, http.StatusText(rs.status), rs.detail)
	switch reason {
	case "vault_unavailable":
		e.RetryAfter = vault.UnavailableRetryAfter
	case "gateway_busy", "source_busy":
		e.RetryAfter = BusyRetryAfter
	}
	return e
}

var reasons = map[string]struct {
	status int
	detail string
}{
	"body_too_large":               {http.StatusRequestEntityTooLarge, "the body is larger than the gateway's limit for bodies it must read"},
	"unsupported_content_encoding": {http.StatusUnsupportedMediaType, "the body's Content-Encoding cannot be decoded (one of gzip or deflate can; stacked encodings cannot)"},
	"unsupported_charset":          {http.StatusUnsupportedMediaType, "the body is in a character encoding the gateway cannot read (UTF-16, UTF-32, or a charset that is not a superset of ASCII); send UTF-8"},
	"malformed_body":               {http.StatusBadRequest, "the body does not parse as its content type"},
	"body_unreadable":              {http.StatusBadRequest, "the body could not be read"},
	"body_too_deep":                {http.StatusBadRequest, "the body is nested too deeply"},
	"duplicate_key":                {http.StatusUnprocessableEntity, "an object repeats a key that holds card data, or spells it another way"},
	"card_field_in_query":          {http.StatusUnprocessableEntity, "the query string holds a field that the route redacts in form or JSON bodies (applications read query and body fields as one); send it in the body"},
	"card_field_in_cookie":         {http.StatusUnprocessableEntity, "a cookie is named as a form field that the route redacts (some applications read cookies and form fields as one); send it in the body"},
	"invalid_target":               {http.StatusUnprocessableEntity, "a field that must hold card data is not a string or number, or a value a JSON query of the route compares is not of its literal's type"},
	"value_refused":                {http.StatusUnprocessableEntity, "a value does not fit the alias format of its field"},
	"vault_unavailable":            {http.StatusServiceUnavailable, "the vault is unavailable; try again later"},
	"alias_space_exhausted":        {http.StatusConflict, "no free alias of the filter's format is left for a value; the route needs a format with more free characters"},
	"card_data_leak":               {http.StatusUnprocessableEntity, "the message holds a card number that no filter redacted"},
	"too_many_values":              {http.StatusUnprocessableEntity, "the message holds more values to tokenize than one message may (limits.max_values_per_message, max_new_per_message, max_volatile_per_message)"},
	"too_many_unknown_numbers":     {http.StatusTooManyRequests, "this sender sent too many card-like numbers that are no alias (limits.inbound_unknown_numbers); try again after the time in Retry-After"},
	"rate_limited":                 {http.StatusTooManyRequests, "too many new values or guesses from this sender; try again after the time in Retry-After"},
	"no_matching_filter":           {http.StatusUnprocessableEntity, "no filter of this route applies to this request's body (method, path or body syntax), or to a header of it that the route redacts, so it cannot be made safe"},
	"unknown_card":                 {http.StatusUnprocessableEntity, "the card reference is not a card of this account"},
	"no_active_network_token":      {http.StatusUnprocessableEntity, "the card has no active network token and the route does not fall back to the card number"},
	"card_conflict":                {http.StatusConflict, "the card was changed by other requests at the same time; retry"},
	"token_service_unavailable":    {http.StatusBadGateway, "the network token service failed or gave an answer that cannot be used; try again later"},
	"card_reference":               {http.StatusUnprocessableEntity, "the request needs exactly one non-empty card reference in the route's card field"},
	"network_tokens_off":           {http.StatusServiceUnavailable, "the route pays with network tokens but the Card Management API is off"},
	"gateway_busy":                 {http.StatusServiceUnavailable, "the gateway holds as many bodies in memory as it may (limits.max_buffered_bytes); try again after the time in Retry-After"},
	"source_busy":                  {http.StatusTooManyRequests, "this sender's bodies held in memory take its whole share of the gateway's budget for them (limits.source_buffered_share); try again after the time in Retry-After"},
	"internal_error":               {http.StatusInternalServerError, "the gateway failed"},
}

// BusyRetryAfter is the Retry-After of a request refused because the
// bodies in memory took the budget (gateway_busy) or the sender's share of
// it (source_busy): bodies are read and let go in well under a second.
const BusyRetryAfter = time.Second

// reason classifies a filter failure; the value is a fixed code.
func reason(err error) string {
	if r := paymentReason(err); r != "" {
		return r
	}
	switch {
	case errors.Is(err, errTooLarge):
		return "body_too_large"
	case errors.Is(err, errUnsupportedEncoding):
		return "unsupported_content_encoding"
	case errors.Is(err, errCharset):
		return "unsupported_charset"
	case errors.Is(err, errBadEncoding), errors.Is(err, rewrite.ErrMalformed):
		return "malformed_body"
	case errors.Is(err, rewrite.ErrTooDeep):
		return "body_too_deep"
	case errors.Is(err, rewrite.ErrQueryField):
		return "card_field_in_query"
	case errors.Is(err, rewrite.ErrCookieField):
		return "card_field_in_cookie"
	case errors.Is(err, rewrite.ErrDuplicateKey):
		return "duplicate_key"
	case errors.Is(err, rewrite.ErrTargetType):
		return "invalid_target"
	case errors.Is(err, vault.ErrTooManyValues):
		return "too_many_values"
	case errors.Is(err, vault.ErrThrottled):
		return "rate_limited"
	case errors.Is(err, vault.ErrFormatNotApplicable), errors.Is(err, vault.ErrInvalidValue):
		return "value_refused"
	case errors.Is(err, vault.ErrAliasSpaceExhausted):
		return "alias_space_exhausted"
	case errors.Is(err, rewrite.ErrTokenizer) && vault.Unavailable(err):
		return "vault_unavailable"
	}
	// Any other failure of the vault (a record that does not decrypt, a
	// key version it has no key for) fails at every retry: 500, no
	// Retry-After, as the vault API answers it.
	return "internal_error"
}

// BodyError returns why the phases do not read a body (decoded from its
// Content-Encoding) of a message with Content-Type values cts, or nil
// (bodyError, with the media type and parameters of the first value, as
// the phases read them). redacting is the request phase of a route that
// redacts request bodies (routes.Route.RedactsBodies). routes/dryrun calls
// it (the CLI passes it), so that `aliasgate routes test` refuses what the
// phases refuse; Refusal gives the answer.
func BodyError(cts []string, body []byte, redacting bool) error {
	var ct string
	if len(cts) > 0 {
		ct = cts[0]
	}
	mt, params := parseMediaType(ct)
	return bodyError(cts, body, mt, params, redacting)
}

// bodyError is BodyError with the message's media type mt and parameters.
// UnreadableBody on every phase: a charset that does not spell digits in
// ASCII, or an XML body its parser reads otherwise: neither the filters
// nor the guard can read it, and the app reads its card numbers. On the
// request phase of a redacting route also UTF-16 or UTF-32 text (wide:
// neither the filters nor the leak guard read it, and an app may), and
// Content-Type fields that differ (contentTypesDiffer: the filters read
// the first, an app perhaps the last).
func bodyError(cts []string, body []byte, mt string, params map[string]string, redacting bool) error {
	if err := UnreadableBody(cts, body); err != nil {
		return err
	}
	if !redacting {
		return nil
	}
	if wide(body, mt, params) {
		return errCharset
	}
	if contentTypesDiffer(cts) {
		return errContentTypes
	}
	return nil
}

// Refusal returns the status and error code the gateway answers when a
// phase refuses a message for err (a body error of BodyError, a filter's
// failure): a response's refusal is 502 with the same code.
func Refusal(phase routes.Phase, err error) (status int, code string) {
	e := refusal(phase, reason(err))
	return e.Status, e.Objects[0].Code
}

// BodySizeError returns the error the phases refuse a body of n bytes
// with, read or rewritten (413 body_too_large on a request, Refusal): n
// over max (limits.max_body; <= 0: DefaultMaxBody); nil when it fits.
func BodySizeError(n, max int64) error {
	if n > maxBodyOf(max) {
		return errTooLarge
	}
	return nil
}

// maxBodyOf is limits.max_body as the phases apply it: max, or
// DefaultMaxBody when max <= 0.
func maxBodyOf(max int64) int64 {
	if max <= 0 {
		return DefaultMaxBody
	}
	return max
}

// GatewayRules are the gateway's rules as the routes/dryrun.Rules a dry
// run applies (`aliasgate routes test`, the inspector's preview):
// BodySizeError under MaxBody, BodyError, Refusal, GuardAnswer.
type GatewayRules struct {
	// MaxBody is limits.max_body; 0: DefaultMaxBody.
	MaxBody int64
}

// BodyError is BodySizeError, then BodyError.
func (g GatewayRules) BodyError(cts []string, body []byte, redacting bool) error {
	if err := BodySizeError(int64(len(body)), g.MaxBody); err != nil {
		return err
	}
	return BodyError(cts, body, redacting)
}

// SizeError is BodySizeError under MaxBody.
func (g GatewayRules) SizeError(n int) error { return BodySizeError(int64(n), g.MaxBody) }

// Refusal is Refusal.
func (GatewayRules) Refusal(phase routes.Phase, err error) (int, string) { return Refusal(phase, err) }

// Guard is GuardAnswer under MaxBody.
func (g GatewayRules) Guard(phase routes.Phase, mode routes.LeakGuard, r *http.Request, header, trailer http.Header, body []byte, made func(digits string) bool) (int, string) {
	return GuardAnswer(phase, mode, r, header, trailer, body, maxBodyOf(g.MaxBody), made)
}

// errContentTypes: a request has Content-Type fields that name different
// media types or parameters (on a route that redacts request bodies).
var errContentTypes = fmt.Errorf("%w: Content-Type fields that differ", rewrite.ErrMalformed)

// contentTypesDiffer reports whether the Content-Type values cts name more
// than one media type or set of parameters (a boundary, a charset). The
// filters read a body by the first, but an app may read it by the last
// (gunicorn hands Django and Flask the last one): a multipart body sent
// with an urlencoded type first is read by the form locator as a form
// holding no field, and its parts reach the app unread.
func contentTypesDiffer(cts []string) bool {
	if len(cts) < 2 {
		return false
	}
	mt, params := parseMediaType(cts[0])
	for _, ct := range cts[1:] {
		if m, p := parseMediaType(ct); m != mt || !maps.Equal(p, params) {
			return true
		}
	}
	return false
}

// parseMediaType returns the media type of a Content-Type value, lower
// case, and its parameters (mime.ParseMediaType); a value it refuses gives
// what precedes the first ';', trimmed and lower case, and no parameters.
// A value that is already a bare lower-case media type ("application/json",
// the usual case) is returned as it is, without mime's parse and its map.
func parseMediaType(ct string) (string, map[string]string) {
	// The usual value of both phases compared whole: bareMediaType's
	// byte loop costs ~270 instructions, once a phase.
	if ct == "" || ct == "application/json" {
		return ct, nil
	}
	if bareMediaType(ct) {
		return ct, nil
	}
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil {
		mt, _, _ = strings.Cut(ct, ";")
		return strings.ToLower(strings.TrimSpace(mt)), nil
	}
	return mt, params
}

// bareMediaType reports whether mime.ParseMediaType returns ct unchanged
// with no parameters: a token of lower-case token characters (RFC 2045),
// optionally followed by "/" and another such token.
func bareMediaType(ct string) bool {
	slash := -1
	for i := 0; i < len(ct); i++ {
		switch c := ct[i]; {
		case c == '/' && slash < 0 && i > 0 && i < len(ct)-1:
			slash = i
		case notBareByte[c]:
			return false
		}
	}
	return true
}

// notBareByte marks the bytes bareMediaType refuses: control characters
// and space, non-ASCII, upper-case letters and RFC 2045's tspecials ('/'
// where it does not separate type and subtype). A table: the media type
// of every request and response is read with it.
var notBareByte = func() (t [256]bool) {
	for c := 0; c < 256; c++ {
		t[c] = c <= ' ' || c >= 0x7f || 'A' <= c && c <= 'Z' || strings.IndexByte(`()<>@,;:\"/[]?=`, byte(c)) >= 0
	}
	return t
}()

// safeMediaType returns a media type for a log line: the client's, unless it
// holds a digit (then "(client-supplied)"), so no card number is logged
// through it.
func safeMediaType(mt string) string {
	if strings.ContainsAny(mt, "0123456789") || len(mt) > 80 {
		return "(client-supplied)"
	}
	return mt
}

// timedTokenizer adds the time of each vault call to the request's
// RouteInfo (vault_ms of the access line) and records the aliases a
// redaction made for the leak guard and, when the exchange is captured,
// for the Capturer (Exchange.Made).
type timedTokenizer struct{ t rewrite.Tokenizer }

func (tt timedTokenizer) Redact(ctx context.Context, items []rewrite.RedactItem) ([]string, error) {
	start := time.Now()
	defer func() { obs.AddVaultTime(ctx, time.Since(start)) }()
	got, err := tt.t.Redact(ctx, items)
	if st := stateFrom(ctx); st != nil && err == nil {
		if st.made == nil {
			// The first redaction of the exchange (the usual only one):
			// its answer, which nothing writes to, rather than a copy.
			// Clipped: a later append copies instead of writing past it.
			st.made = slices.Clip(got)
		} else {
			st.made = append(st.made, got...)
		}
		if st.route.Internal() && len(got) == len(items) {
			if st.redacted == nil {
				st.redacted = redacted.Values{}
			}
			for i, a := range got {
				st.redacted[a] = items[i].Value
			}
		}
		if st.rec != nil {
			st.rec.noteMade(got)
		}
	}
	return got, err
}

func (tt timedTokenizer) Reveal(ctx context.Context, aliases []string) ([]string, error) {
	start := time.Now()
	defer func() { obs.AddVaultTime(ctx, time.Since(start)) }()
	return tt.t.Reveal(ctx, aliases)
}

// knownAliases asks the vault which of list are aliases, timing the call.
func (p *pipeline) knownAliases(ctx context.Context, list []string) ([]vault.Presence, error) {
	start := time.Now()
	defer func() { obs.AddVaultTime(ctx, time.Since(start)) }()
	got, err := p.known.Known(ctx, list)
	if err == nil && len(got) != len(list) {
		err = fmt.Errorf("%d answers for %d candidates", len(got), len(list))
	}
	return got, err
}

var _ = pan.MinLen
