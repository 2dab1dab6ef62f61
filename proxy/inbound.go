// Package proxy holds aliasgate's two proxies. The inbound reverse proxy
// routes requests by Host and path to an upstream URL or to an in-process
// upstream (internal:cards, internal:aliases); the outbound forward proxy
// (outbound.go) takes merchants' calls to payment processors through
// CONNECT tunnels it intercepts with goproxy. Both run every request and
// response through one phase runner (pipeline.go): match the route's
// filters, read and decode the body, apply the filters (redact card data in
// requests before anything is sent upstream; redact or reveal in responses
// and in outbound requests), run the leak guard (leak.go), encode the body
// again.
//
// # Accounts
//
// An inbound route acts for its account (routes.Route.Account, the route
// key account; "": the vault's default account): the aliases its filters
// make belong to it, and its response reveals reach its aliases only. The
// outbound proxy acts for the account of each request's proxy client
// (outbound.go).
//
// # Paths
//
// A request's path is made canonical (routes.CanonicalPath: merged
// slashes, dot segments resolved, ";" parameters removed, unreserved
// escapes decoded) before routes and filters are matched, and the upstream
// receives that canonical path, so what was matched is what is sent. A path
// with no canonical form (an encoded slash or backslash, a control byte) is
// refused with 400.
//
// # Routes in front of the gateway's own APIs
//
// A route whose upstream is internal:cards or internal:aliases hands the
// request to the API in process, with the values its request filters
// redacted by the alias each became (package internal/redacted): the Card
// Management API hashes an Idempotency-Key's request as the client sent
// it, so a retry whose CVC the route redacted into a new volatile alias is
// the same request. The request is marked as a route's
// (vault.WithRouteAccount): the route acts for its account (its
// redactions are made there, its leak guard judges the answer there), so
// the APIs serve that account's clients only (403 account_not_allowed).
// A route whose upstream is a URL may reach the same APIs (below): when
// it acts for its account on the exchange (filters, or a leak guard that
// refuses or masks) it sends RouteAccountHeader with its account, and
// /cards and /aliases of every gateway serve such a request to that
// account's clients only.
//
// A request through a route whose upstream is internal:cards or
// internal:aliases carries the aliases its redactions created
// (vault.WithCreations); what its filters created before the proxy handed
// the request on is the route's (vault.HandOff, vault.RouteAliases), what
// the API's own work creates after (a network token's PAN) is not. When
// the API stores nothing of the request — any refusal, the guard's, the
// validation's, the idempotency check's, a failure — it releases the
// route's aliases, and so does the proxy (InboundOptions.Release) when its
// own request phase refuses the request after a redaction, or when the
// API returned without claiming the release (vault.ClaimRelease: the body
// budget in front of it refused the document, 503 gateway_busy or 429
// source_busy). The rule is cards.Handler.ReleaseRouteAliases: a volatile
// alias is deleted, one of a card number leaves the vault unless a card
// has it; an alias the account held before the request was found, not
// created, and stays. A route whose upstream is a URL does not: it cannot tell the
// gateway's /cards behind a balancer from a merchant's upstream that
// keeps an alias it answered 4xx for, and nothing the upstream answers
// can be trusted to say "stored nothing" (any upstream could then have the
// gateway delete aliases): the aliases such a route made stay, as any
// redacting route's whose upstream refused the request.
//
// The Card Management API (/cards) and the vault API (/aliases) decide
// what their clients see in clear (--pci with cards:read, aliases:reveal),
// so no route may reveal in their answers. A route whose upstream is
// internal:cards or internal:aliases cannot (refused at load, package
// routes); a route whose upstream is a URL may reach them all the same:
// the gateway's own listener, another name of it, a load balancer in
// front of it, another gateway of the cluster. So a request forwarded by a
// route with a response reveal filter that may apply to its answer (the
// filter's match taken as far as the request decides it: method, path,
// query, request Content-Type) carries RevealRouteHeader (the route's id),
// and a request carrying it to /cards or /aliases is answered
// 403 forwarded_by_reveal_route by every gateway, before any route or API
// reads it. The header passes through routes that do not reveal, so a
// chain of gateways refuses it at the last hop too.
//
// # Fields of the gateway's names
//
// A field a client sends under a name the gateway writes
// (Aliasgate-Route-Account, Aliasgate-Reveal-Route, Aliasgate-Redacted,
// and the names of its answers), in any letter case or with '_' for '-',
// in the header or the trailer, is removed before a route's filters run,
// on both listeners (DropClientFields): an app sees the gateway's values
// only. The two fields above under their own names go on to an upstream
// path of the gateway's APIs (/cards, /aliases), where they only narrow:
// that is how a chain of gateways carries them.
//
// # What is buffered and what streams
//
// A body is buffered, up to MaxBody bytes, when a matched filter has body
// targets, when the route's leak guard is on (log or block, the default
// being log), or on the request phase of a route that redacts request
// bodies. Other messages stream through untouched: a request that asks for
// no upgrade by the package's own code (Inbound.forward), which does what
// httputil.ReverseProxy does with the same hooks, as the upstream and the
// client see it (TestForwardMatchesReverseProxy,
// FuzzForwardAgainstReverseProxy; the few differences are listed at
// forward, an Http2-Settings field dropped as hop-by-hop the visible one),
// without its per-request header work; upgrades through
// httputil.ReverseProxy. That includes WebSocket upgrades (refused with
// 403 on a route with filters that have body targets, in either phase, or
// whose leak guard is block or redact: nothing reads the frames). Upgrade is forwarded for WebSocket only:
// any other Upgrade (h2c) is removed with its HTTP2-Settings header. An
// upgraded connection is closed after UpgradeIdleTimeout without a byte
// either way, and by Close.
//
// The answer of an in-process upstream (internal:cards, internal:aliases)
// on a route with response filters or a leak guard is read the same way as
// an external upstream's, under MaxBody and the Budget, with the same
// refusals and the same leak guard: its
// handler runs on a goroutine of its own and writes into a pipe the
// response phase reads (internalAnswer), so a refused answer stops its
// writes, where it was buffered whole before the phase looked at it, and
// so does a client that left: what the handler writes after is not read
// on nor filtered, as an external upstream's body read ends with the
// request; its upstream time is the wait for its header, as an external
// upstream's.
// Without response filters, on a route whose leak_guard is off, the
// handler writes to the client itself.
//
// A pooled buffer a body was read into is cleared before it goes back to the
// pool or is dropped, on every path (a message refused, a body that broke
// off or was longer than declared, a response sent and closed), except the
// buffer of a request body sent as it was read, which GetBody reads for as
// long as the request lives. The request's target the leak guard reads
// (method, Host, path, query) is written into the exchange's state by the
// request phase, which runs once an exchange, and never again: strings of
// it stay valid (reqState.guardTarget).
//
// # Routes that redact request bodies
//
// On a route with request filters that redact body targets, a request body
// is always read and decoded, and its syntax decides which filters apply: a
// body that parses as JSON, a form or XML is matched as that media type
// whatever its Content-Type says. A body that no such filter matched (other
// method, path, Content-Type or syntax) is refused with 422
// no_matching_filter unless the route says unmatched_body: pass; so is a
// body in UTF-16 or UTF-32 or declared in a charset that is not a superset
// of ASCII (EBCDIC, UTF-7, ISO-2022, an unknown name: 415, and a block or
// redact guard refuses such a body on any message), in an encoding the proxy cannot decode
// (415) or over MaxBody (413). A body the filters rewrite is held under
// the same bounds: longer than MaxBody once rewritten (an alias longer than
// the number it replaces) it is refused, 413 (502 on a response), and
// what the rewrite adds to it is reserved of the Budget before it goes on
// (503 gateway_busy, 429 source_busy where it does not fit). The values
// a reveal filter asks of the vault are bounded by MaxBody before they are
// decrypted (vault.WithRevealLimit; an alias named n times counts n
// times): longer together they would make a body over it, and are
// refused so, whatever the filter's on_error.
//
// # The leak guard is no oracle of aliases
//
// A route whose leak guard blocks forwards a live alias and refuses any
// other card-like number (422 card_data_leak); one that masks forwards
// them differently: so anyone who can reach it could post the 100,000
// FPE candidates of a card whose first six and last four digits they
// know and learn its alias. Each request whose guard (block or redact,
// request phase) found card-like numbers this exchange's filters did not
// make takes each distinct one (one request of many candidates is a
// guess at each) from its source's budget (InboundOptions.Misses, under
// vault.Actor.Source, an IPv6 address by its /64: budgetSource;
// limits.inbound_unknown_numbers) before the vault is asked about them,
// and gets back those that prove to be aliases (all of them when the
// vault answered for none: the answer then does not depend on the
// numbers): requests sent together cannot all pass a check made before
// any is charged. When the budget
// does not hold them (min(count, burst)) the request is refused 429
// too_many_unknown_numbers with Retry-After before the vault is asked,
// live aliases included (pipeline.missCheck). A checkout page re-posting
// the aliases it got, a body without card numbers, and a card number a
// filter of the route tokenizes cost nothing and pass while the budget
// holds one.
//
// # Content encodings
//
// gzip and deflate bodies (identity tokens ignored) are decoded for
// rewriting and scanning (the decoded size is bounded by MaxBody: a
// compression bomb gets 413) and re-encoded after; Content-Length is
// recomputed. There is no brotli decoder in the standard library: a body in
// br, zstd, an unknown or a stacked encoding that a filter or the leak
// guard must read is refused with 415 (502 for a response) unless the
// filter says on_error: pass or the guard only logs. For routes with
// response filters or the leak guard on, the proxy replaces the client's
// Accept-Encoding towards the upstream by gzip, so the upstream answers in
// identity or gzip, and gives the client the body decoded (askGzip: the
// proxy asks, not the transport, whose own gzip decoding hid a second
// coding from the response phase), and drops its Range, If-Range and
// Request-Range, so the upstream
// answers with the whole body: ranges would split a card number between responses, each
// guarded alone.
//
// # Revealed answers are not stored
//
// A response a filter revealed card data into goes out with
// Cache-Control: no-store and without Expires, Surrogate-Control or
// CDN-Cache-Control fields (noStore): the upstream wrote them for aliases.
//
// # Trailers
//
// The header targets of a redacting response filter apply to the
// response's trailer fields of the same names: redacted when the phase read
// the body, dropped when the body streamed past it (trailerTargets). An
// answer without content (Content-Length: 0, 204, 304) is read to its end
// first, so that the filters and the leak guard read the trailers an
// HTTP/2 upstream may send after it (emptyBodyTrailers). The trailers of an
// in-process upstream whose answer the phase reads are not forwarded
// (internalAnswer.WriteHeader).
//
// All the bodies buffered at once, by both proxies, are bounded by the
// Budget of their options (limits.max_buffered_bytes, package
// internal/bodybudget): a body's bytes are reserved before it is read (its
// Content-Length; a body of unknown length as it is read, as its buffer grows;
// its decoded copy as it is decoded, alike; the body the filters rewrote
// whole, as the body read is still in memory) and given back when the
// exchange is over, however it ended (pipeline.release); the body read of
// a body the filters rewrote as soon as the phase drops it (pipeline.unhold
// at the end of pipeline.run). A body that does not fit is refused
// at once: the request with 503 gateway_busy, or 429 source_busy when its
// sender holds its share of the budget, both with Retry-After; the response
// with 502, as any response refusal. Streamed bodies are not counted.
//
// # Failing closed
//
// When a matched filter cannot be applied the request is refused with a
// JSON:API error and nothing reaches the upstream: 400 (malformed body),
// 413 (body over MaxBody), 415 (unsupported encoding or charset), 422
// (target of the wrong type, duplicate or differently spelled key, value the
// vault refuses, body no filter matched, or a leak blocked), 503 (vault
// unavailable: vault.Unavailable, with Retry-After), 500 (a vault failure
// no retry mends: a record that does not decrypt, a key version the vault
// has no key for). A value the vault refuses (422 value_refused: it does not
// fit its target's alias format, or is empty or too long) is named by its
// target in the detail, "(json target "card.number" of filter "f" of route
// "r")", never by its value (rewrite.TargetError), and so is the log line.
// A response is never given unguarded: see below. on_error: pass forwards the message
// unchanged; it is logged and counted. Upstream errors give 502, upstream
// timeouts 504. No error body or log line holds body bytes.
//
// The response phase runs after the request was delivered, so it never
// turns a response into an error a client would retry: a response filter
// that fails (on_error: reject) lets the response through with its status,
// the filters named in Aliasgate-Filter-Failed and every card number that
// is not an alias masked by the leak guard (FilterFailedHeader). Only a
// response the guard cannot read, or one it blocks (leak_guard: block),
// is withheld: 502 with Aliasgate-Request-Delivered: true. On a route whose
// response filters redact body targets, a response body is read by its
// syntax as a request's is, and one that no filter with body targets
// matched (a format the client asked for with Accept, a status the filters
// do not match), or that one matched and left a card number in at a path
// it does not name (a list's array, an envelope), has its card numbers
// that are not aliases masked the same way (redact, or block when the
// route blocks), unless the route says unmatched_body: pass. On a route whose
// responses are read (response filters, or the leak guard on) the upstream's
// 1xx interim responses (103 Early Hints) are dropped, not forwarded: their
// headers would reach the client before the response phase, unread.
package proxy

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/http/httputil"
	"net/textproto"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/aliasgate/aliasgate/internal/bodybudget"
	"github.com/aliasgate/aliasgate/internal/jsonapi"
	"github.com/aliasgate/aliasgate/internal/netguard"
	"github.com/aliasgate/aliasgate/internal/obs"
	"github.com/aliasgate/aliasgate/internal/redacted"
	"github.com/aliasgate/aliasgate/routes"
	"github.com/aliasgate/aliasgate/routes/rewrite"
	"github.com/aliasgate/aliasgate/vault"
	"golang.org/x/net/http/httpguts"
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
	// it.
	Tokenizer rewrite.Tokenizer
	// Known tells the leak guard which card-like numbers are aliases, in
	// one call per message; nil: the Tokenizer, which must then implement
	// AliasChecker.
	Known AliasChecker
	// Internal maps internal upstream names (routes.UpstreamCards,
	// routes.UpstreamAliases) to their handlers, called in process after the
	// request filters.
	Internal map[string]http.Handler
	// Release releases the aliases the request filters of a route in
	// front of an internal upstream made when the API does not: the
	// request phase itself refuses the request after a redaction (a later
	// filter failed, the leak guard), or the API returned without
	// claiming the release (vault.ClaimRelease: what stands in front of
	// it refused, as the body budget's HoldBodies, or the upstream is
	// off). Optional: without it they stay.
	Release RouteAliasReleaser
	// Fallback serves requests that match no inbound route (the built-in
	// mounts); nil answers 404.
	Fallback http.Handler
	// DefaultAccount is the vault's default account, the one a route
	// naming no account acts for: RouteAccountHeader names it for such a
	// route (an empty value, which an intermediary may drop, when unset).
	DefaultAccount string
	// MaxBody bounds a buffered body, decoded; default DefaultMaxBody.
	MaxBody int64
	// Budget bounds the bytes of the bodies the phases hold in memory at
	// once, shared by both proxies and the APIs
	// (limits.max_buffered_bytes); nil: no bound.
	Budget *bodybudget.Budget
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
	// Sources finds each request's source address (vault.Actor.Source,
	// for per-sender limits); nil: the peer's address.
	Sources *Sources
	// Misses, when set, bounds per source address (an IPv6 address by
	// its /64) the card-like numbers the leak guard of a route whose
	// leak_guard is block or redact found to be no alias (refused 422
	// card_data_leak, or masked): a request takes each distinct number
	// its filters did not make before the vault is asked
	// (MissBudget.Charge, into debt past the burst) and gets back the
	// aliases (MissBudget.Give); while the source's budget does not hold
	// them, the request is answered 429 too_many_unknown_numbers with
	// Retry-After before the vault is asked, live aliases included, since
	// refusing only the
	// others would answer the guess ("does this number exist as an
	// alias?"). cmd/aliasgate gives a token bucket per source
	// (limits.inbound_unknown_numbers). nil: no bound.
	Misses MissBudget
	// UpgradeIdleTimeout closes an upgraded (WebSocket) connection after
	// this long without a byte read from or written to the client
	// (http.Server's timeouts end when ReverseProxy hijacks it), as
	// OutboundOptions.TunnelIdleTimeout does a tunnel; 0: no limit.
	UpgradeIdleTimeout time.Duration
	// UpgradeWriteTimeout bounds each write to an upgraded connection's
	// client; 0: no limit.
	UpgradeWriteTimeout time.Duration
}

// Inbound is the inbound reverse proxy, an http.Handler. Wrap it in
// obs.AccessLog for the access line and request metrics.
type Inbound struct {
	table    *routes.Table
	pipe     *pipeline
	internal map[string]http.Handler
	release  RouteAliasReleaser // InboundOptions.Release
	fallback http.Handler
	defAcct  string // InboundOptions.DefaultAccount
	log      *slog.Logger
	rp       *httputil.ReverseProxy
	capture  Capturer // nil: no capture
	sources  *Sources
	// upgraded holds the upgraded connections, for their deadlines and
	// Close.
	upgraded connSet
	// viaReverseProxy sends every request through rp, forward's
	// reference (set only by tests: TestForwardMatchesReverseProxy).
	viaReverseProxy bool
}

// Inbound phases: the leak guard on both, unknown aliases in reveal
// targets left as they are.
var (
	inboundRequest  = phaseOptions{guard: true}
	inboundResponse = phaseOptions{guard: true}
)

// checker returns known, or tok when it can answer Known.
func checker(known AliasChecker, tok rewrite.Tokenizer) (AliasChecker, error) {
	if known != nil {
		return known, nil
	}
	if k, ok := tok.(AliasChecker); ok {
		return k, nil
	}
	return nil, errors.New("proxy: the Tokenizer cannot tell aliases (Known); set Known")
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
			// No ResponseHeaderTimeout: timeoutTransport bounds the
			// same wait (from before the request is written) with one
			// timer, where both made two per request.
		}
	}
	known, err := checker(opts.Known, opts.Tokenizer)
	if err != nil {
		return nil, err
	}
	in := &Inbound{
		table:    opts.Table,
		pipe:     newPipeline(opts.Tokenizer, known, opts.MaxBody, opts.Logger, opts.Metrics, opts.Budget).withMisses(opts.Misses),
		internal: opts.Internal,
		release:  opts.Release,
		fallback: opts.Fallback,
		defAcct:  opts.DefaultAccount,
		log:      opts.Logger,
		sources:  opts.Sources,
		upgraded: connSet{idle: opts.UpgradeIdleTimeout, write: opts.UpgradeWriteTimeout},
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

// withSource returns ctx with the request's source address in its
// vault.Actor, unless one is there already.
func (in *Inbound) withSource(ctx context.Context, r *http.Request) context.Context {
	if vault.ActorFrom(ctx).Source != "" {
		return ctx
	}
	return vault.WithSource(ctx, in.sources.Of(r))
}

// allowedMethods is the Allow header of a CONNECT refused 405
// (connect_refused) by either proxy.
const allowedMethods = "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS"

// ServeHTTP implements http.Handler.
func (in *Inbound) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if in.capture != nil && captureFrom(r.Context()) == nil {
		serveCaptured(in.capture, in.pipe.budget, in.table, routes.Inbound, w, r, in.ServeHTTP)
		return
	}
	path, jerr := InboundTarget(r)
	if jerr != nil {
		if jerr.Status == http.StatusMethodNotAllowed {
			w.Header().Set("Allow", allowedMethods)
		}
		writeError(w, jerr)
		return
	}
	if jerr := RevealRouteRefusal(path, r.Header); jerr != nil {
		writeError(w, jerr)
		return
	}
	if p := routes.ReservedPath(path); p == "/cards" || p == "/aliases" {
		// Routes that forwarded it here act for their accounts: the APIs
		// serve only those accounts' clients (RouteAccountHeader), marked
		// in one step (a client may send thousands of values). A
		// balancer may join a chain's lines into one ("acct_a, acct_a",
		// RFC 9110 5.3): account names hold no comma, so each element
		// is one route's.
		if vals := r.Header.Values(RouteAccountHeader); len(vals) > 0 {
			accts := make([]string, 0, len(vals))
			for _, v := range vals {
				for a := range strings.SplitSeq(v, ",") {
					accts = append(accts, strings.TrimSpace(a))
				}
			}
			r = r.WithContext(vault.WithRouteAccount(r.Context(), accts...))
		}
	}
	route := in.table.Load().Match(routes.Inbound, r.Host, path)
	if route == nil {
		if in.fallback != nil {
			in.fallback.ServeHTTP(w, r.WithContext(in.withSource(r.Context(), r)))
			return
		}
		writeError(w, jsonapi.NewError(http.StatusNotFound, "no_route", "Not Found", "no route for this host and path"))
		return
	}
	// The access line and the metrics name the route, refusals included.
	obs.SetRoute(r.Context(), route.ID)
	if jerr := InboundUpgrade(route, r.Header); jerr != nil {
		writeError(w, jerr)
		return
	}
	// The upstream sees the gateway's own Aliasgate-* fields only.
	DropClientFields(r, route, path)
	// The route is the actor of audited reveals; the source, the caller of
	// the per-sender limits.
	a := vault.ActorFrom(r.Context())
	a.Route = route.ID
	if a.Source == "" {
		a.Source = in.sources.Of(r)
	}
	if route.Account != "" {
		// The route's account owns the aliases its filters make and is the
		// only one whose aliases its reveals reach ("": the default).
		a.Account = route.Account
	}
	ctx := vault.WithActor(r.Context(), a)
	if route.Upstream == routes.UpstreamCards || route.Upstream == routes.UpstreamAliases {
		// The Card Management API asks which aliases this request's
		// redactions created: a pan_alias made here is the card's
		// (vault.CreatedUnder, cards/delete.go); it and the vault API
		// release them when the request stores nothing (a refusal:
		// cards.Handler.ReleaseRouteAliases).
		ctx = vault.WithCreations(ctx)
	}
	sc := &stateCtx{st: reqState{route: route, method: r.Method, path: path}}
	st := &sc.st
	// The bodies the phases read are let go once the exchange is over,
	// whatever way it ends (a refusal, a client gone, a panic).
	defer in.pipe.release(st)
	if in.capture != nil {
		st.rec = captureFrom(r.Context())
	}
	// The context the upstream timeout cancels (timeoutTransport), made
	// with this copy of the request rather than another in the transport.
	st.upstream, st.cancel = context.WithCancelCause(ctx)
	sc.Context = st.upstream
	ctx = sc
	r = r.WithContext(ctx)

	if jerr := in.pipe.request(ctx, st, inboundRequest, r); jerr != nil {
		writeError(w, jerr)
		if route.Internal() && in.release != nil {
			// A filter may have redacted before the refusal; the API,
			// which releases what a request it refuses made, never ran.
			in.release.ReleaseRouteAliases(r)
		}
		return
	}
	if route.Internal() {
		in.serveInternal(w, r, st)
		return
	}
	if route.UpstreamURL == nil {
		writeError(w, jsonapi.NewError(http.StatusBadGateway, "no_upstream", "Bad Gateway", "the route has no usable upstream"))
		return
	}
	if headerValue(r.Header, "Upgrade") != "" {
		// The connection ReverseProxy hijacks when the upstream answers
		// 101 gets the upgrade deadlines and is closed by Close.
		w = &trackingWriter{ResponseWriter: w, set: &in.upgraded}
	}
	if readsResponses(route) {
		sc.iw.ResponseWriter = w
		w = &sc.iw
	}
	if _, up := r.Header["Upgrade"]; !up && !in.viaReverseProxy {
		in.forward(w, r, sc)
		return
	}
	in.rp.ServeHTTP(w, r)
}

// forwardBody is the outgoing request's body on the lean path: the
// client's, whose Close only marks it closed (the transport closes the
// outgoing body, and the client's is the server's to close); forward
// closes it when it returns, after which a Read fails, so a transport
// goroutine that outlives the handler reads nothing of a finished request
// (as ReverseProxy does, go.dev/issue/46866).
type forwardBody struct {
	rc     io.ReadCloser
	closed atomic.Bool
}

// errForwardBodyClosed is a Read of the request body after forward returned.
var errForwardBodyClosed = errors.New("proxy: read of a request body after its exchange ended")

func (b *forwardBody) Read(p []byte) (int, error) {
	if b.closed.Load() {
		return 0, errForwardBodyClosed
	}
	return b.rc.Read(p)
}

func (b *forwardBody) Close() error {
	b.closed.Store(true)
	return nil
}

// errUnaskedSwitch is a 101 Switching Protocols to a request that asked
// for no upgrade (ReverseProxy answers it through its error handler).
var errUnaskedSwitch = errors.New("proxy: the upstream switched protocols when no upgrade was requested")

// forward sends a request that asks for no upgrade to the route's
// upstream and copies the answer to w, with the observable behaviour of
// in.rp (httputil.ReverseProxy with in.rewrite, in.modifyResponse and
// in.errorHandler) without its per-request work: the outgoing request is
// built in one pass (hop-by-hop fields, those the Connection field names,
// Forwarded and X-Forwarded-* dropped; Te: trailers kept when the client
// asked for trailers; the query re-encoded when ReverseProxy would
// (cleanQuery); the URL as ProxyRequest.SetURL makes it; X-Forwarded-For,
// -Host and -Proto as SetXForwarded sets them; an empty User-Agent when
// the client sent none), and the response is copied as ReverseProxy
// copies it (hop-by-hop fields dropped, announced and unannounced
// trailers, a flush after each write and of the header from a timer of no
// delay when the length is unknown or the body is text/event-stream, a
// read error logged and the response aborted). Differences, on purpose:
// Http2-Settings is dropped as a hop-by-hop field (removeHopByHop's list,
// in both directions); on a route whose responses are read no 1xx hook is
// installed (interimWriter drops them anyway), so there the transport
// counts the 1xx interim responses' headers within its response header
// limit; the connection of a 101 answer to a request that asked for no
// upgrade is closed (ReverseProxy leaves it open), its 502 the same; a
// GODEBUG urlmaxqueryparams setting, with which ReverseProxy re-encodes
// every query, is not followed (cleanQuery keeps net/url's default).
// TestForwardMatchesReverseProxy and FuzzForwardAgainstReverseProxy
// compare both paths (HTTP/1.1 clients and upstreams).
func (in *Inbound) forward(w http.ResponseWriter, r *http.Request, sc *stateCtx) {
	st := &sc.st
	target := st.route.UpstreamURL
	out := &sc.out
	*out = *r
	u := &sc.outURL
	*u = *r.URL
	u.RawQuery = cleanQuery(u.RawQuery)
	out.URL, out.Close = u, false
	if target.Path == "" && target.RawPath == "" && target.RawQuery == "" &&
		r.URL.RawPath == "" && strings.HasPrefix(r.URL.Path, "/") {
		// SetURL's result in this case (TestForwardCommonURLIsSetURLs).
		u.Scheme, u.Host = target.Scheme, target.Host
		out.Host = ""
	} else {
		(&httputil.ProxyRequest{In: r, Out: out}).SetURL(target)
	}
	// A snapshot, as Request.Clone's: values of a streamed request's
	// trailers arrive in r.Trailer after the body and are not forwarded.
	out.Trailer = r.Trailer.Clone()
	h := make(http.Header, len(r.Header)+4)
	for k, vv := range r.Header {
		switch {
		case hopByHop(k):
		case k == "Forwarded", k == "X-Forwarded-For", k == "X-Forwarded-Host", k == "X-Forwarded-Proto":
		default:
			h[k] = vv[:len(vv):len(vv)]
		}
	}
	dropConnectionNamed(h, r.Header["Connection"])
	if te := r.Header["Te"]; len(te) > 0 && httpguts.HeaderValuesContainsToken(te, "trailers") {
		h["Te"] = []string{"trailers"}
	}
	if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		h["X-Forwarded-For"] = []string{host}
	}
	h["X-Forwarded-Host"] = []string{r.Host}
	if r.TLS == nil {
		h["X-Forwarded-Proto"] = []string{"http"}
	} else {
		h["X-Forwarded-Proto"] = []string{"https"}
	}
	out.Header = h
	if r.ContentLength == 0 {
		out.Body = nil
	} else if r.Body != nil {
		sc.outBody.rc = r.Body
		out.Body = &sc.outBody
		defer sc.outBody.Close()
	}
	reads := in.markOut(h, st)
	if _, ok := h["User-Agent"]; !ok {
		h["User-Agent"] = []string{""}
	}
	var fw *interimForwarder
	if !reads {
		// 1xx interim responses go to the client as they come (a route
		// whose responses are read drops them: interimWriter).
		fw = &interimForwarder{w: w}
		out = out.WithContext(httptrace.WithClientTrace(out.Context(), &httptrace.ClientTrace{Got1xxResponse: fw.got1xx}))
	}
	res, err := in.rp.Transport.RoundTrip(out)
	if fw != nil {
		fw.mu.Lock()
		fw.done = true
		fw.mu.Unlock()
	}
	if err != nil {
		in.errorHandler(w, out, err)
		return
	}
	if res.StatusCode == http.StatusSwitchingProtocols {
		// ReverseProxy runs the response hook on it first, then refuses
		// it through the error handler.
		err := in.modifyResponse(res)
		res.Body.Close()
		if err == nil {
			err = errUnaskedSwitch
		}
		in.errorHandler(w, out, err)
		return
	}
	removeHopByHop(res.Header)
	if err := in.modifyResponse(res); err != nil {
		res.Body.Close()
		in.errorHandler(w, out, err)
		return
	}
	dst := w.Header()
	for k, vv := range res.Header {
		if ck := textproto.CanonicalMIMEHeaderKey(k); len(dst[ck]) == 0 {
			dst[ck] = vv[:len(vv):len(vv)]
		} else {
			dst[ck] = append(dst[ck], vv...)
		}
	}
	announced := len(res.Trailer)
	if announced > 0 {
		keys := make([]string, 0, announced)
		for k := range res.Trailer {
			keys = append(keys, k)
		}
		dst.Add("Trailer", strings.Join(keys, ", "))
	}
	w.WriteHeader(res.StatusCode)
	if err := in.copyBody(w, res.Body, res.ContentLength == -1 || eventStream(res.Header)); err != nil {
		res.Body.Close()
		if r.Context().Value(http.ServerContextKey) == nil {
			in.rp.ErrorLog.Printf("suppressing panic for copyResponse error in test; copy error: %v", err)
			return
		}
		panic(http.ErrAbortHandler)
	}
	res.Body.Close() // fills res.Trailer
	if len(res.Trailer) > 0 {
		http.NewResponseController(w).Flush()
	}
	if len(res.Trailer) == announced {
		for k, vv := range res.Trailer {
			for _, v := range vv {
				dst.Add(k, v)
			}
		}
		return
	}
	for k, vv := range res.Trailer {
		for _, v := range vv {
			dst.Add(http.TrailerPrefix+k, v)
		}
	}
}

// copyBody copies an upstream body to w with the pooled buffer and logs a
// read error (one other than io.EOF and context.Canceled) on
// in.rp.ErrorLog as ReverseProxy does. Its error is the first read or
// write error. When flush is set it streams as ReverseProxy does (its
// maxLatencyWriter with a negative latency): a flush after each write, and
// the header flushed by a timer of no delay unless a write came first.
func (in *Inbound) copyBody(w http.ResponseWriter, body io.Reader, flush bool) error {
	buf := copyBuffers.Get()
	defer copyBuffers.Put(buf)
	var dst io.Writer = w
	if flush {
		sw := &streamWriter{w: w, rc: http.NewResponseController(w), pending: true}
		sw.t = time.AfterFunc(0, sw.flushHeader)
		defer sw.stop()
		dst = sw
	}
	for {
		n, rerr := body.Read(buf)
		if rerr != nil && rerr != io.EOF && rerr != context.Canceled {
			in.rp.ErrorLog.Printf("httputil: ReverseProxy read error during body copy: %v", rerr)
		}
		if n > 0 {
			wn, werr := dst.Write(buf[:n])
			if werr != nil {
				return werr
			}
			if wn != n {
				return io.ErrShortWrite
			}
		}
		if rerr == io.EOF {
			return nil
		}
		if rerr != nil {
			return rerr
		}
	}
}

// streamWriter is copyBody's writer of a streamed body: each write
// flushed; the header flushed from the timer t unless stopped first.
type streamWriter struct {
	w       http.ResponseWriter
	rc      *http.ResponseController
	t       *time.Timer
	mu      sync.Mutex // w, rc and pending
	pending bool
}

func (s *streamWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n, err := s.w.Write(p)
	_ = s.rc.Flush()
	return n, err
}

func (s *streamWriter) flushHeader() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.pending {
		_ = s.rc.Flush()
		s.pending = false
	}
}

func (s *streamWriter) stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pending = false
	s.t.Stop()
}

// eventStream reports whether h's Content-Type is text/event-stream (its
// media type as mime.ParseMediaType reads it), which ReverseProxy flushes
// after each write. Only a value that holds "event-stream" is parsed.
func eventStream(h http.Header) bool {
	ct := h.Get("Content-Type")
	if len(ct) < len("text/event-stream") || !containsFold(ct, "event-stream") {
		return false
	}
	mt, _, _ := mime.ParseMediaType(ct)
	return mt == "text/event-stream"
}

// containsFold reports whether s holds sub (ASCII lower case) in any case.
func containsFold(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if strings.EqualFold(s[i:i+len(sub)], sub) {
			return true
		}
	}
	return false
}

// cleanQuery is the query ReverseProxy forwards for q: re-encoded by
// url.ParseQuery and Values.Encode (pairs that do not parse dropped) when
// it holds a ';', a '%' not followed by two hex digits, or more than
// maxQueryParams parameters, so the upstream never reads a query the
// gateway's filters read differently; q itself otherwise.
func cleanQuery(q string) string {
	if strings.Count(q, "&") >= maxQueryParams {
		return reencodeQuery(q)
	}
	for i := 0; i < len(q); i++ {
		switch q[i] {
		case ';':
			return reencodeQuery(q)
		case '%':
			if i+2 >= len(q) || !isHexDigit(q[i+1]) || !isHexDigit(q[i+2]) {
				return reencodeQuery(q)
			}
			i += 2
		}
	}
	return q
}

// maxQueryParams is net/url's default limit on a query's parameters.
const maxQueryParams = 10000

func reencodeQuery(q string) string {
	v, _ := url.ParseQuery(q)
	return v.Encode()
}

func isHexDigit(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// interimForwarder writes the upstream's 1xx interim responses to w until
// the round trip returns (as ReverseProxy's Got1xxResponse).
type interimForwarder struct {
	w    http.ResponseWriter
	mu   sync.Mutex
	done bool
}

func (f *interimForwarder) got1xx(code int, header textproto.MIMEHeader) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.done {
		return nil
	}
	h := f.w.Header()
	for k, vv := range header {
		for _, v := range vv {
			h.Add(k, v)
		}
	}
	f.w.WriteHeader(code)
	clear(h)
	return nil
}

// Close closes every upgraded connection; later upgrades fail (502).
// Close the http.Server first: Shutdown does not see hijacked
// connections.
func (in *Inbound) Close() error {
	in.upgraded.close()
	return nil
}

// RouteAliasReleaser releases the aliases the inbound route a request
// came through made (vault.CreatedAliases) and that nothing keeps, in the
// route's account (cards.Handler.ReleaseRouteAliases).
type RouteAliasReleaser interface {
	ReleaseRouteAliases(r *http.Request)
}

// RevealRouteRefusal returns the inbound gateway's answer to a request for
// path (canonical: InboundTarget's) with header h that a route revealing
// in its answers forwarded to the gateway's own /cards or /aliases (it
// carries RevealRouteHeader): 403 forwarded_by_reveal_route, before any
// route or API reads it; nil for any other request. `aliasgate routes
// test` refuses such a request by it, as the listener does.
func RevealRouteRefusal(path string, h http.Header) *jsonapi.Error {
	p := routes.ReservedPath(path)
	if p != "/cards" && p != "/aliases" || len(h.Values(RevealRouteHeader)) == 0 {
		return nil
	}
	return jsonapi.NewError(http.StatusForbidden, "forwarded_by_reveal_route", "Forbidden",
		"a route that reveals in its answers forwarded this request here: the gateway's own "+p+
			" decides what its clients see in clear, so it does not answer through such a route")
}

// MarkForwarded adds to h, the header of a request the inbound route
// forwards (x: the request as the route matched it), what the gateway
// adds for the route: RevealRouteHeader when a response reveal filter of
// the route may apply to its answer, RouteAccountHeader with the route's
// account (defaultAccount for a route naming none) when the route acts
// for its account on the exchange (actsForAccount). See "Routes in front
// of the gateway's own APIs" in the package doc. `aliasgate routes test`
// shows the request with them, as the upstream receives it.
func MarkForwarded(h http.Header, route *routes.Route, x routes.Exchange, defaultAccount string) {
	// h.Set and h.Add without their canonicalisation of names written
	// canonical (TestGatewayFieldNamesCanonical).
	if route.MayRevealInResponse(x) {
		h[RevealRouteHeader] = []string{route.ID}
	}
	if actsForAccount(route) {
		// The upstream may be the gateway's own /cards or /aliases: it
		// serves only this route's account's clients. Added to what
		// earlier routes of a chain of gateways sent; by name.
		acct := route.Account
		if acct == "" {
			acct = defaultAccount
		}
		h[RouteAccountHeader] = append(h[RouteAccountHeader], acct)
	}
}

// RevealRouteHeader marks a request forwarded by an inbound route that
// reveals in its responses; its value is the route's id. The gateway's
// own /cards and /aliases refuse a request that carries it (403
// forwarded_by_reveal_route): see "Routes in front of the gateway's own
// APIs" in the package doc.
const RevealRouteHeader = "Aliasgate-Reveal-Route"

// RouteAccountHeader marks a request forwarded by an inbound route that
// acts for its account on it (actsForAccount); its value is the route's
// account, the default account's name for a route naming none
// (InboundOptions.DefaultAccount): never empty, as an intermediary may
// drop an empty field value (RFC 9110 lets a recipient ignore empty list
// elements) and the request would then reach the APIs unmarked. An empty
// value received still means the default account. The gateway's own
// /cards and /aliases serve such a request to the clients of that
// account only (403 account_not_allowed once authenticated,
// vault.Service.RouteServes), as a route in front of internal:cards or
// internal:aliases: see "Routes in front of the gateway's own APIs" in
// the package doc. A client sending it itself only narrows what it is
// served, and reaches no upstream but one whose path is the APIs'
// (DropClientFields).
const RouteAccountHeader = "Aliasgate-Route-Account"

// actsForAccount reports whether the route acts for its account on the
// exchanges it forwards: its filters make and reveal aliases there, and a
// leak guard that refuses or masks judges numbers there (log changes no
// answer).
func actsForAccount(route *routes.Route) bool {
	return len(route.Filters) > 0 || route.LeakGuard == routes.LeakBlock || route.LeakGuard == routes.LeakRedact
}

// readsResponses reports whether the response phase reads the route's
// responses: it has response filters or its leak guard is on.
func readsResponses(route *routes.Route) bool {
	return route.HasPhase(routes.Response) || route.LeakGuard != routes.LeakOff
}

// delRange removes a request's Range and If-Range headers on a route whose
// responses are read: a byte range splits a body between responses, each
// guarded alone, so a card number cut in two by the client's ranges would
// pass the filters and the leak guard in pieces. The upstream then answers
// with the whole body (a server may ignore Range, RFC 9110 §14.2).
// Request-Range goes too: Apache httpd reads it (the draft spelling
// Netscape sent) when there is no Range.
func delRange(h http.Header) {
	if len(h["Range"]) > 0 || len(h["If-Range"]) > 0 || len(h["Request-Range"]) > 0 {
		delete(h, "Range")
		delete(h, "If-Range")
		delete(h, "Request-Range")
	}
}

// interimWriter drops the 1xx interim responses (103 Early Hints, 100
// Continue) ReverseProxy forwards to the client as the upstream sends them
// (httptrace Got1xxResponse), before the response phase: their headers would
// reach the client read by neither the filters nor the leak guard. 101
// Switching Protocols is a final response (an upgrade): it goes on.
// Anything else goes to the ResponseWriter it wraps, and
// http.ResponseController reaches that one through Unwrap (Flush, Hijack).
type interimWriter struct{ http.ResponseWriter }

func (w *interimWriter) WriteHeader(code int) {
	if code >= 100 && code <= 199 && code != http.StatusSwitchingProtocols {
		return
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *interimWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// stateCtx is the context of a routed inbound request: what
// context.WithValue(parent, stateKey{}, &st) would be, with the reqState in
// the same allocation (one per request instead of two). Everything but
// the reqState's key goes to the parent.
type stateCtx struct {
	context.Context
	st reqState
	// iw is the ResponseWriter the route's response is written to when
	// its responses are read (interimWriter), in the same allocation.
	iw interimWriter
	// out, outURL and outBody are the outgoing request of forward, its
	// URL and its body, in the same allocation.
	out     http.Request
	outURL  url.URL
	outBody forwardBody
}

func (c *stateCtx) Value(key any) any {
	if _, ok := key.(stateKey); ok {
		return &c.st
	}
	return c.Context.Value(key)
}

// InboundUpgrade strips from h an Upgrade other than WebSocket
// (stripUpgrade) and returns the inbound listener's refusal of a WebSocket
// upgrade on route (403 upgrade_refused), nil when it lets it through.
// Nothing reads WebSocket frames: a route whose filters rewrite bodies
// (either way: the upstream's frames would pass its response filters
// too) or that promises card data never passes through unread (redact and
// block refuse what they cannot read) does not open a tunnel.
// `aliasgate routes test` reads a request file by it.
func InboundUpgrade(route *routes.Route, h http.Header) *jsonapi.Error {
	if len(h["Upgrade"]) == 0 {
		return nil // nothing to strip nor refuse: one look-up, not two
	}
	stripUpgrade(h)
	if headerValue(h, "Upgrade") != "" && (route.ReadsBodies() || route.LeakGuard == routes.LeakBlock || route.LeakGuard == routes.LeakRedact) {
		return jsonapi.NewError(http.StatusForbidden, "upgrade_refused", "Forbidden",
			"this route's filters or leak guard read bodies, which WebSocket frames would carry unread")
	}
	return nil
}

// InboundTarget returns the path the inbound listener matches routes
// against, r's URL made canonical (canonicalize), or its refusal of the
// request before any route is matched: CONNECT (405 connect_refused) and
// a target it does not forward (400 unsafe_path). `aliasgate routes test`
// reads a request file by it.
func InboundTarget(r *http.Request) (string, *jsonapi.Error) {
	// A reverse proxy has no tunnel to give: forwarded, a CONNECT reached
	// the upstream as a request of that method (an upstream that is itself
	// a proxy would open a tunnel the routes never read). The outbound
	// listener is where CONNECT belongs. In any case: net/http reads
	// "Connect /x" as another method and would forward it as sent, to an
	// upstream whose parser may fold case.
	return requestTarget(r, "the inbound listener is a reverse proxy: CONNECT belongs to the outbound listener")
}

// requestTarget is the rule both listeners apply to a request's target
// before routes are matched (InboundTarget, outboundPath): CONNECT, in any
// letter case, is refused 405 connect_refused with detail, a target
// canonicalize does not take 400 unsafe_path; else the canonical path.
func requestTarget(r *http.Request, connectDetail string) (string, *jsonapi.Error) {
	if strings.EqualFold(r.Method, http.MethodConnect) {
		return "", jsonapi.NewError(http.StatusMethodNotAllowed, "connect_refused", "Method Not Allowed", connectDetail)
	}
	path, err := canonicalize(r)
	if err != nil {
		return "", jsonapi.NewError(http.StatusBadRequest, "unsafe_path", "Bad Request",
			"the path holds an encoded slash or backslash, a control character or a malformed escape, or the target is no path")
	}
	return path, nil
}

// canonicalize makes r's URL path canonical (routes.CanonicalPath) and
// returns it unescaped, as routes match it. A URL with an opaque part (a
// target such as "https:v1/charges", an absolute URI without "//", which
// no HTTP request may be) has no path: the transport would send the
// opaque part as the target, not the path routes matched, so it is
// routes.ErrUnsafePath.
func canonicalize(r *http.Request) (string, error) {
	if r.URL.Opaque != "" {
		return "", routes.ErrUnsafePath
	}
	raw := r.URL.EscapedPath()
	c, err := routes.CanonicalPath(raw)
	if err != nil {
		return "", err
	}
	if c != raw {
		p, err := url.PathUnescape(c)
		if err != nil {
			return "", err
		}
		r.URL.Path, r.URL.RawPath = p, c
		if r.URL.EscapedPath() == p {
			r.URL.RawPath = ""
		}
	}
	return r.URL.Path, nil
}

// stripUpgrade removes an Upgrade other than WebSocket (h2c in particular:
// an upstream that switches to HTTP/2 would read later requests past the
// filters) with its HTTP2-Settings header.
func stripUpgrade(h http.Header) {
	up := h["Upgrade"]
	if len(up) == 0 {
		return
	}
	if len(up) == 1 && strings.EqualFold(strings.TrimSpace(up[0]), "websocket") {
		return
	}
	h.Del("Upgrade")
	h.Del("Http2-Settings")
	for _, c := range h.Values("Connection") {
		for _, tok := range strings.Split(c, ",") {
			if t := strings.TrimSpace(tok); strings.EqualFold(t, "upgrade") || strings.EqualFold(t, "http2-settings") {
				h.Del("Connection")
			}
		}
	}
}

// rewrite is the ReverseProxy's Rewrite hook (upgrades; forward builds
// the outgoing request of every other exchange itself, to the same result).
func (in *Inbound) rewrite(pr *httputil.ProxyRequest) {
	st := stateFrom(pr.In.Context())
	pr.SetURL(st.route.UpstreamURL)
	pr.SetXForwarded()
	in.markOut(pr.Out.Header, st)
}

// markOut adds to h, the outgoing request's header of either way of
// forwarding (rewrite, forward), what the gateway says to the upstream
// (MarkForwarded) and, on a route whose responses are read, what it asks
// of the answer; it reports whether the route reads its responses.
func (in *Inbound) markOut(h http.Header, st *reqState) (readsResp bool) {
	MarkForwarded(h, st.route, routes.Exchange{Method: st.method, Path: st.path, Query: st.query, RequestContentType: st.ctype}, in.defAcct)
	if !readsResponses(st.route) {
		return false
	}
	// Ask for gzip or no coding rather than have the upstream answer in an
	// encoding the filters and the leak guard cannot read; the client gets
	// the body decoded (askGzip).
	askGzip(h, st)
	delRange(h)
	return true
}

// modifyResponse is the response hook of both ways of forwarding
// (forward, and the ReverseProxy's ModifyResponse for upgrades).
func (in *Inbound) modifyResponse(resp *http.Response) error {
	st := stateFrom(resp.Request.Context())
	if st == nil {
		return nil
	}
	if jerr := in.pipe.response(resp.Request.Context(), st, inboundResponse, resp); jerr != nil {
		return &responseRefused{jerr}
	}
	return nil
}

// responseRefused is a refusal of the response phase: the request was
// delivered (DeliveredHeader).
type responseRefused struct{ jerr *jsonapi.Error }

func (e *responseRefused) Error() string { return e.jerr.Error() }
func (e *responseRefused) Unwrap() error { return e.jerr }

// serveInternal hands the request to an in-process upstream. On a route
// without response filters whose leak_guard is off the upstream writes to
// the client itself: its answer streams. Otherwise its answer is read by
// the response phase as an external upstream's is (internalAnswer), the
// leak guard included (a card number in an answer is refused, masked or
// logged as the route says, as in an external upstream's): under
// limits.max_body and the body budget, with the same refusals (502
// body_too_large, gateway_busy, ...), so the proxy holds no more of it than
// of an external upstream's answer.
func (in *Inbound) serveInternal(w http.ResponseWriter, r *http.Request, st *reqState) {
	// What the route's filters created is the route's; what the API's own
	// work creates after (a network token's PAN) is not (RouteAliases).
	vault.HandOff(r.Context())
	if in.release != nil && len(vault.RouteAliases(r.Context())) > 0 {
		// The API releases what the route made when it stores nothing
		// and claims that (vault.ClaimRelease); what refused the request
		// before it ran (the body budget in front of it: HoldBodies, an
		// API that is off) did not, nor will: the proxy releases.
		// Deferred first, so it runs once a panic or the upstream's
		// goroutine (a.finish) is over.
		defer func() {
			if !vault.ReleaseClaimed(r.Context()) {
				in.release.ReleaseRouteAliases(r)
			}
		}()
	}
	h := in.internal[st.route.Upstream]
	if h == nil {
		writeError(w, jsonapi.NewError(http.StatusBadGateway, "no_upstream", "Bad Gateway", "the route's internal upstream is not enabled"))
		return
	}
	// The upstream may read the request as the client sent it (package
	// internal/redacted: cards' Idempotency-Key). The values are handed
	// on: the response phase's redactions, which run while the upstream
	// may still read them, go to a map of their own.
	// The API serves the route's account's clients only
	// (vault.WithRouteAccount): the route's filters and leak guard act for
	// that account.
	r = r.WithContext(redacted.With(vault.WithRouteAccount(r.Context(), st.route.Account), st.redacted))
	st.redacted = nil
	start := time.Now()
	if !st.route.HasPhase(routes.Response) && st.route.LeakGuard == routes.LeakOff {
		h.ServeHTTP(w, r)
		obs.AddUpstreamTime(r.Context(), time.Since(start))
		return
	}
	a := startInternal(h, r)
	// Whatever way this ends (an answer sent, a refusal, a client gone, a
	// panic), the upstream's next write fails and it is waited for, before
	// ServeHTTP gives the exchange's budget back; a panic of the upstream
	// is raised again here, as when it ran on this goroutine.
	defer a.finish()
	resp := a.response(r)
	obs.AddUpstreamTime(r.Context(), time.Since(start))
	if resp == nil {
		return // the upstream panicked before its header (finish), or wrote nothing to a client that left
	}
	// The phase's redactions are not the upstream's request's: the Card
	// Management API releases the aliases its request made when it stores
	// no card (vault.CreatedAliases), possibly after its header.
	ctx := vault.WithoutCreations(r.Context())
	if jerr := in.pipe.response(ctx, st, inboundResponse, resp); jerr != nil {
		switch {
		case a.panicked():
		case r.Context().Err() != nil:
			// Its client left: the answer broke off with it (internalAnswer),
			// no failure of the upstream's.
			writeError(w, clientClosed(in.log, st.route.ID))
		default:
			in.errorHandler(w, r, &responseRefused{jerr})
		}
		return
	}
	dst := w.Header()
	for k, v := range resp.Header {
		dst[k] = v
	}
	if resp.ContentLength >= 0 {
		dst["Content-Length"] = []string{strconv.FormatInt(resp.ContentLength, 10)}
	}
	w.WriteHeader(resp.StatusCode)
	_, _ = io.Copy(w, resp.Body)
	_ = resp.Body.Close() // a buffer of bodyBuffers goes back (memBody); the pipe is closed
}

// internalAnswer is the ResponseWriter of an in-process upstream on a
// route with response filters, and the response it makes: the upstream
// runs on a goroutine of its own (startInternal) and writes its body into
// a pipe, which the response phase reads as it reads an external
// upstream's body, so a body too large or over the budget is refused
// after at most about limits.max_body of it was written, where a buffer
// took the whole answer before the phase looked at it. The upstream's
// writes wait for the reader; once the exchange is over (finish) they
// fail, and the upstream ends. Once the client has gone (the request's
// context is done) they fail too, and the body ends with that error
// rather than at its end, as an external upstream's body read fails with
// the request's context: what the upstream wrote for nobody is neither
// read on nor filtered.
//
// header, pw, wrote and noBody are the upstream goroutine's; it sets code
// and sent before it closes head, and pv before it closes done; pr is the
// proxy's.
type internalAnswer struct {
	ctx      context.Context // the upstream's request's
	header   http.Header     // the upstream's
	pw       *io.PipeWriter
	wrote    bool // the header was written (head closed)
	noBody   bool // HEAD, 204, 304: no body is sent
	code     int  // 0 after head: the upstream panicked before its header, or wrote nothing for a client that left
	sent     http.Header
	head     chan struct{} // closed once the header is final
	done     chan struct{} // closed once the upstream returned
	pv       any           // the upstream's panic, when it panicked
	didPanic atomic.Bool   // pv is set (before the pipe fails with errInternalPanic)
	pr       *io.PipeReader
}

// startInternal runs h on r on a goroutine of its own, writing into an
// internalAnswer.
func startInternal(h http.Handler, r *http.Request) *internalAnswer {
	pr, pw := io.Pipe()
	a := &internalAnswer{ctx: r.Context(), header: http.Header{}, pw: pw, pr: pr, noBody: r.Method == http.MethodHead,
		head: make(chan struct{}), done: make(chan struct{})}
	go a.serve(h, r)
	return a
}

// errInternalPanic ends the body of an upstream that panicked;
// errAnswerOver fails the writes of an upstream whose exchange is over.
var (
	errInternalPanic = errors.New("proxy: the in-process upstream panicked")
	errAnswerOver    = errors.New("proxy: the exchange is over: the answer is not read any more")
)

func (a *internalAnswer) serve(h http.Handler, r *http.Request) {
	defer close(a.done)
	defer func() {
		if v := recover(); v != nil {
			a.pv = v
			a.didPanic.Store(true)
			_ = a.pw.CloseWithError(errInternalPanic)
		} else if err := context.Cause(r.Context()); err != nil {
			// Its client left: what it wrote, or did not, is no answer
			// (as when the upstream writes to the client itself: the
			// access line's 499).
			_ = a.pw.CloseWithError(err)
		} else {
			if !a.wrote {
				a.WriteHeader(http.StatusOK) // an answer without a write: 200, empty
			}
			_ = a.pw.Close()
		}
		if !a.wrote {
			a.wrote = true
			close(a.head) // code 0: no response
		}
	}()
	h.ServeHTTP(a, r)
}

func (a *internalAnswer) Header() http.Header { return a.header }

// WriteHeader makes the header final; 1xx interim responses are dropped,
// and so are trailers: the answer's trailer fields, set after the header
// or before it under http.TrailerPrefix, are not forwarded.
func (a *internalAnswer) WriteHeader(code int) {
	if a.wrote || code >= 100 && code <= 199 {
		return
	}
	a.wrote = true
	a.code = code
	a.sent = a.header.Clone()
	for k := range a.sent {
		if strings.HasPrefix(k, http.TrailerPrefix) {
			// A trailer, whose name no header target is: dropped, as
			// those set after the header are (never copied).
			delete(a.sent, k)
		}
	}
	if code == http.StatusNoContent || code == http.StatusNotModified {
		a.noBody = true
	}
	close(a.head)
}

func (a *internalAnswer) Write(b []byte) (int, error) {
	if !a.wrote {
		a.WriteHeader(http.StatusOK)
	}
	if a.noBody {
		return 0, http.ErrBodyNotAllowed
	}
	if err := context.Cause(a.ctx); err != nil {
		return 0, err // its client left
	}
	return a.pw.Write(b)
}

// response waits for the upstream's header and returns its response, as
// a transport gives an external upstream's: the body is read from the
// pipe; its length is the declared Content-Length, else unknown (-1); no
// body for HEAD, 204 and 304. nil: the upstream panicked first, or
// returned without a write after its client left.
func (a *internalAnswer) response(r *http.Request) *http.Response {
	<-a.head
	if a.code == 0 {
		return nil
	}
	resp := &http.Response{StatusCode: a.code, Header: a.sent, Body: a.pr, ContentLength: -1, Request: r}
	if v := a.sent["Content-Length"]; len(v) == 1 {
		if n, err := strconv.ParseInt(v[0], 10, 64); err == nil && n >= 0 {
			resp.ContentLength = n
		}
	}
	if resp.ContentLength < 0 {
		delete(a.sent, "Content-Length") // not a length the body can be held to
	}
	if r.Method == http.MethodHead || a.code == http.StatusNoContent || a.code == http.StatusNotModified {
		resp.Body = http.NoBody
	}
	return resp
}

// panicked reports whether the upstream panicked, once its body ended
// with that (a read of the pipe failed).
func (a *internalAnswer) panicked() bool { return a.didPanic.Load() }

// finish ends the exchange with the upstream: its next write fails, it is
// waited for, and its panic, if any, is raised again.
func (a *internalAnswer) finish() {
	_ = a.pr.CloseWithError(errAnswerOver)
	<-a.done
	if a.pv != nil {
		panic(a.pv)
	}
}

// recorder buffers a response written by the proxy itself (the outbound
// proxy's error documents).
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

// errorHandler is the error handler of both ways of forwarding (forward,
// and the ReverseProxy's ErrorHandler for upgrades): refusals of the response
// phase, upstream timeouts (504) and other upstream errors (502).
func (in *Inbound) errorHandler(w http.ResponseWriter, r *http.Request, err error) {
	route := "-"
	if st := stateFrom(r.Context()); st != nil {
		route = st.route.ID
	}
	var rr *responseRefused
	if errors.As(err, &rr) {
		w.Header().Set(DeliveredHeader, "true")
	}
	writeError(w, upstreamFailure(in.log, r, route, err))
}

// upstreamFailure returns the answer to a request whose round trip to the
// upstream (or destination) failed, and logs why: a refusal of the response
// phase as it is, a destination that resolves to a forbidden address 403, a
// certificate that does not verify 502, a timeout 504, a client that went
// away obs.StatusClientClosedRequest (499: not the upstream's failure), a
// request body the client did not send in time 408 and one that does not
// parse 400 body_unreadable (clientBody), anything else 502.
func upstreamFailure(log *slog.Logger, r *http.Request, route string, err error) *jsonapi.Error {
	var je *jsonapi.Error
	var fe *netguard.ForbiddenError
	var uae x509.UnknownAuthorityError
	var he x509.HostnameError
	var cie x509.CertificateInvalidError
	var cve *tls.CertificateVerificationError
	ctx := r.Context()
	switch {
	case errors.As(err, &je):
		return je
	case errors.Is(err, errClientTimeout):
		log.Debug("proxy: the client did not send its request body in time", "route", route)
		return jsonapi.NewError(http.StatusRequestTimeout, "request_timeout", "Request Timeout",
			"the request body did not arrive in time")
	case errors.Is(err, errClientGone):
		return clientClosed(log, route)
	case errors.Is(err, errClientBody) && ctx.Err() != nil:
		// An HTTP/2 client that reset its stream: the server fails the
		// body's read with a stream error and cancels the request.
		return clientClosed(log, route)
	case errors.Is(err, errClientBody):
		log.Debug("proxy: the client's request body could not be read", "route", route, "error", safeErr(err))
		return refusal(routes.Request, "body_unreadable")
	case errors.As(err, &fe):
		log.LogAttrs(ctx, slog.LevelWarn, "proxy: destination refused", slog.String("route", route),
			slog.Any("host", obs.Untrusted(fe.Host)), slog.String("reason", fe.Reason))
		return jsonapi.NewError(http.StatusForbidden, "forbidden_destination", "Forbidden",
			"the destination resolves to an address the proxy does not dial ("+fe.Reason+")")
	case errors.As(err, &cve), errors.As(err, &uae), errors.As(err, &he), errors.As(err, &cie):
		log.LogAttrs(ctx, slog.LevelWarn, "proxy: destination certificate does not verify", slog.String("route", route), slog.String("error", safeErr(err)))
		return jsonapi.NewError(http.StatusBadGateway, "destination_certificate_invalid", "Bad Gateway",
			"the destination's TLS certificate does not verify")
	case isTimeout(err):
		log.Warn("proxy: upstream timed out", "route", route, "error", safeErr(err))
		return jsonapi.NewError(http.StatusGatewayTimeout, "upstream_timeout", "Gateway Timeout", "the upstream did not answer in time")
	}
	if ctx.Err() != nil {
		return clientClosed(log, route)
	}
	log.Warn("proxy: upstream unavailable", "route", route, "error", safeErr(err))
	return jsonapi.NewError(http.StatusBadGateway, "upstream_unavailable", "Bad Gateway", "the upstream could not be reached")
}

// clientClosed is upstreamFailure's answer to a request whose client went
// away. Nobody reads it; its status is what the access line and the
// request metrics say, which must not blame the upstream.
func clientClosed(log *slog.Logger, route string) *jsonapi.Error {
	log.Debug("proxy: client went away", "route", route)
	return jsonapi.NewError(obs.StatusClientClosedRequest, "client_closed_request", "Client Closed Request",
		"the client closed the connection before the answer")
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

var errUpstreamTimeout = errors.New("proxy: upstream timeout")

// timeoutTransport bounds the wait for response headers by d, whatever the
// underlying RoundTripper, without cutting a response body that streams
// longer, and records the wait as upstream time. It cancels the context
// the proxy made for it with its copy of the request (reqState.upstream)
// when there is one, and otherwise a copy of its own. A failed round trip
// cancels only a context of its own: the proxy's is the request's, which
// upstreamFailure reads to tell a client that went away from an upstream
// that failed, and ends with the request.
type timeoutTransport struct {
	rt http.RoundTripper
	d  time.Duration
	// timers holds the stopped upstreamTimers of earlier round trips
	// (*upstreamTimer): a timer and its function a round trip rather
	// than two allocations.
	timers sync.Pool
}

// upstreamTimer cancels a round trip's context with errUpstreamTimeout
// when its time is up. Its time.Timer is made once, with fire as its
// function, and started again for each round trip (startTimer); one that
// fired is never used again (its function may still be running), one
// stopped before it fired goes back to its pool (stopTimer).
type upstreamTimer struct {
	t      *time.Timer
	mu     sync.Mutex
	cancel context.CancelCauseFunc // the round trip's; nil while pooled
}

func (u *upstreamTimer) fire() {
	u.mu.Lock()
	cancel := u.cancel
	u.mu.Unlock()
	if cancel != nil {
		cancel(errUpstreamTimeout)
	}
}

// startTimer returns a timer that cancels with errUpstreamTimeout after
// t.d, a pooled one when there is one.
func (t *timeoutTransport) startTimer(cancel context.CancelCauseFunc) *upstreamTimer {
	u, _ := t.timers.Get().(*upstreamTimer)
	if u == nil {
		u = &upstreamTimer{cancel: cancel}
		u.t = time.AfterFunc(t.d, u.fire)
		return u
	}
	u.mu.Lock()
	u.cancel = cancel
	u.mu.Unlock()
	u.t.Reset(t.d)
	return u
}

// stopTimer stops u and reports whether it stopped it before it fired:
// then its function never runs, and u goes back to the pool carrying no
// round trip's cancel.
func (t *timeoutTransport) stopTimer(u *upstreamTimer) bool {
	if !u.t.Stop() {
		return false
	}
	u.mu.Lock()
	u.cancel = nil
	u.mu.Unlock()
	t.timers.Put(u)
	return true
}

func (t *timeoutTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	var ctx context.Context
	var cancel context.CancelCauseFunc
	out, own := req, false
	st := stateFrom(req.Context())
	if st != nil && st.cancel != nil {
		// The proxy made req's context cancellable when it copied the
		// request for its route (reqState.upstream): req is a copy of the
		// proxy's own (ReverseProxy's outgoing request, the outbound
		// hook's), used as it is.
		ctx, cancel = st.upstream, st.cancel
	} else {
		ctx, cancel = context.WithCancelCause(req.Context())
		out, own = req.WithContext(ctx), true
	}
	timer := t.startTimer(cancel)
	start := time.Now()
	var body *clientBody // the request body read from the client, if streamed
	if req.GetBody != nil && req.ContentLength > 0 {
		// A body the proxy buffered: hand the transport a reader it knows is
		// in memory (ReverseProxy hides it behind a wrapper), so headers and
		// body go out in one write rather than two: the request phase's
		// own reader while nothing has read it (the bytes GetBody reads),
		// else one from GetBody.
		if mb := st.requestBody(req.ContentLength); mb != nil {
			out.Body = io.NopCloser(&mb.Reader)
		} else if b, err := req.GetBody(); err == nil {
			out.Body = b
		}
	} else if out.Body != nil && out.Body != http.NoBody {
		// A body streamed from the client: its failures are the
		// client's (clientBody).
		cb := &clientBody{}
		if st != nil {
			cb = &st.reqBody
		}
		cb.ReadCloser, out.Body = out.Body, cb
		cb.start = start
		cb.waited.Store(0)
		body = cb
	}
	resp, err := t.rt.RoundTrip(out)
	obs.AddUpstreamTime(req.Context(), time.Since(start))
	stopped := t.stopTimer(timer)
	if err != nil {
		if own {
			cancel(nil)
		}
		if body != nil {
			switch body.failed.Load() {
			case clientSlow:
				return nil, fmt.Errorf("%w: %w", errClientTimeout, err)
			case clientGone:
				return nil, fmt.Errorf("%w: %w", errClientGone, err)
			case clientBad:
				return nil, fmt.Errorf("%w: %w", errClientBody, err)
			case upstreamSlow:
				return nil, fmt.Errorf("%w: the client's read deadline passed while the upstream took its body: %w", errUpstreamTimeout, err)
			}
		}
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
	if !own && !st.respBodyUsed {
		// The exchange's own (no allocation).
		st.respBodyUsed = true
		st.respBody = cancelBody{ReadCloser: resp.Body, cancel: cancel}
		resp.Body = &st.respBody
		return resp, nil
	}
	resp.Body = &cancelBody{ReadCloser: resp.Body, cancel: cancel}
	return resp, nil
}

// clientBody is a request body the transport reads from the client as it
// sends it. A read that fails (the client too slow for the listener's
// read_timeout or the tunnel's idle timeout, gone halfway, or sending a
// chunked body that does not parse) is the client's failure, not the
// upstream's: timeoutTransport then fails with errClientTimeout,
// errClientGone or errClientBody, which upstreamFailure tells from the
// upstream's (an attacker sending slow bodies made a healthy upstream
// look slow: 504 upstream_timeout). A read after Close (the transport
// closes the body when the exchange ends) is not counted.
//
// A read that times out is the client's only when the gateway spent most of
// the round trip waiting for the client's bytes: the listener's read_timeout
// (and a tunnel's idle deadline) also passes while the gateway waits for an
// upstream that takes the body slowly or not at all, and the next read then
// fails at once though the client sent everything (upstreamSlow: 504).
type clientBody struct {
	io.ReadCloser
	closed atomic.Bool
	failed atomic.Int32 // 0, clientSlow, clientGone, clientBad or upstreamSlow: the first failure
	start  time.Time    // when the round trip began
	waited atomic.Int64 // nanoseconds spent in reads from the client
}

const (
	clientSlow = 1 + iota
	clientGone
	clientBad // a body that does not parse (chunked encoding, trailer)
	upstreamSlow
)

// errClientTimeout and errClientGone are timeoutTransport's errors when
// the request body could not be read from the client: it did not send it
// in time, or it went away.
var (
	errClientTimeout = errors.New("proxy: the client did not send its request body in time")
	errClientGone    = errors.New("proxy: the client went away while sending its request body")
	errClientBody    = errors.New("proxy: the client's request body could not be read")
)

func (b *clientBody) Read(p []byte) (int, error) {
	t0 := time.Now()
	n, err := b.ReadCloser.Read(p)
	waited := b.waited.Add(int64(time.Since(t0)))
	if err != nil && err != io.EOF && !b.closed.Load() {
		why := int32(clientBad)
		if wentAway(err) {
			why = clientGone
		}
		if isTimeout(err) {
			why = clientSlow
			if 2*waited < int64(time.Since(b.start)) {
				why = upstreamSlow // the gateway mostly waited for the upstream
			}
		}
		b.failed.CompareAndSwap(0, why)
	}
	return n, err
}

// wentAway reports whether a read from a client failed because its
// connection ended (closed halfway through the body, reset, or closed by
// the gateway), rather than on what it sent (a chunked body or trailer
// that does not parse: the client is there to read the answer).
func wentAway(err error) bool {
	var oe *net.OpError
	return errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) || errors.As(err, &oe)
}

func (b *clientBody) Close() error {
	b.closed.Store(true)
	return b.ReadCloser.Close()
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
