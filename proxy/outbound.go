package proxy

// The outbound forward proxy: merchants' backends send their calls to
// payment processors through it (HTTPS_PROXY plus the gateway CA), and it
// puts card data back into the requests of routed destinations.
//
// # Decisions
//
//   - Every request needs Proxy-Authorization: Basic when Authenticate is
//     set (407 otherwise). Inside an intercepted tunnel every request is
//     checked again (ProxyClient.Recheck; the gateway's reads the client's
//     state through the auth cache), so a client revoked, or whose secret
//     was rotated, while its tunnel is open is refused: 407, and the
//     tunnel is closed. A passthrough tunnel is rechecked while bytes flow,
//     at most once a second (recheckConn), and closed once refused; it is
//     closed too at its next bytes once a route reload has given its host
//     an outbound route (new CONNECTs to it are intercepted), as an
//     intercepted tunnel whose route a reload removed is. Wrong
//     credentials are charged to the sender's address (Lockout, a table
//     apart from the APIs' client credentials'): past its free failures it gets 429
//     locked_out with Retry-After and its credentials are not checked; the
//     rechecks inside a tunnel are no guesses and are not charged.
//   - Each CONNECT, each plain-HTTP request and each request inside an
//     intercepted tunnel of a sender whose credentials passed is asked of
//     OutboundOptions.Limit under the sender's key (its proxy client,
//     else its address): over it, 429 rate_limited with Retry-After and
//     X-RateLimit-Remaining: 0 in the proxy's error shape, nothing
//     revealed or forwarded, the tunnel left open. So an outbound client
//     (or its stolen credentials) cannot make the gateway reveal, or try,
//     aliases at speed. A passthrough tunnel's bytes are not requests:
//     its CONNECT is counted.
//   - A request refused 422 unknown_alias is charged each distinct
//     unknown alias its refusing filter met (rewrite.Message.UnknownValues),
//     one refused 422 unknown_card (a network_token filter's card
//     reference that is no card of the account) one, to its sender's
//     budget of unknown aliases (OutboundOptions.Misses, same key); known
//     aliases cost nothing, and so do the values a filter with
//     on_error: pass forwards as they are (the route says its targets may
//     hold other values: charging them stopped a merchant's payments
//     after 30 a minute; each is logged and counted passed_on_error).
//     While the budget is spent, every request of a route that reveals in
//     requests is refused 429 too_many_unknown_aliases before anything is
//     revealed, known aliases included: refusing only the unknown ones
//     would answer the guess. Every charge is taken whole
//     (MissBudget.Debit), into debt when concurrent requests passed the
//     check together or one request holds more unknown aliases than the
//     budget: a wave or a batch of guesses is paid for in full before the
//     next.
//   - CONNECT to a host with an outbound route is intercepted with a leaf
//     certificate of the gateway CA; CONNECT to a Passthrough host is
//     tunnelled untouched (the proxy dials it before answering 200);
//     any other CONNECT gets 403. The destination is resolved and its
//     addresses checked (netguard.ForbiddenAddr) before the tunnel is answered, and
//     every dial checks again and dials the checked address.
//   - Requests inside an intercepted tunnel are served in goproxy's own
//     loop: the request hook (onRequest) runs the request phase, goproxy
//     makes the round trip through our RoundTripper (our transport, our
//     checked dialer, errors turned into JSON:API answers), and the
//     response hook (onResponse) runs the response phase. No goroutine,
//     pipe or second reverse proxy per request. Plain-HTTP absolute-form
//     requests go through the same hooks (goproxy's HTTP handler).
//   - A route that reveals in requests (routes.Route.RevealsInRequests)
//     is served over TLS only: an absolute-form http:// request or plain
//     HTTP inside a CONNECT is refused (403 reveal_needs_tls) before any
//     filter runs, unless the route says
//     unsafe_reveal_over_plain_http: true.
//   - Inside an intercepted tunnel the client's SNI (when it sends one) and
//     each request's Host must name the CONNECT host (403 otherwise), so a
//     route bound to a host reveals only towards that host. The request
//     goes out with the Host that was checked (plain HTTP: the absolute
//     URL's host that was routed), in its normalised form with the port,
//     if it gave one, in decimal (sentHost): another spelling of the name
//     or the port would reach the destination as another virtual host (a
//     non-ASCII name as the Punycode of its characters).
//   - A CONNECT inside an intercepted tunnel, or a plain-HTTP request of
//     that method in any letter case, is refused (405 connect_refused), as
//     on the inbound listener: it is never forwarded.
//   - A request acts for the account of its proxy client (Authenticate's
//     ProxyClient; the CONNECT's client for a whole tunnel): its reveals
//     reach that account's aliases only, another account's alias being
//     refused exactly as an unknown one. A route with accounts refuses
//     the clients of other accounts (403 account_not_allowed) before any
//     filter runs. Without Authenticate requests act for the vault's
//     default account, and such routes refuse them.
//   - Request filters run without the leak guard (revealed PANs are the
//     point); an alias a reveal target holds that the vault does not know
//     (or that expired) refuses the request with 422 naming the target,
//     unless on_error: pass, from the filter's one Reveal call. Response
//     filters and the leak guard run as on the inbound side (Range is not
//     forwarded where they read the response: it is guarded whole; the
//     destination's reason phrase is replaced by the standard one); the leak
//     guard of a route that reveals is redact by default, so a processor
//     echoing a PAN gets it masked and the merchant still gets the
//     processor's answer (the payment was made: an error would invite a
//     retry that charges twice).
//   - A routed request's call to its destination is not cancelled when
//     its client goes away (inside a tunnel goproxy does not watch the
//     client while it waits; a plain-HTTP request's context is made apart
//     from its connection's): once a processor has the request, cutting
//     the call does not undo a charge, only leaves its outcome unknown
//     while the merchant retries. It runs to its end, bounded by
//     UpstreamTimeout, and its access line has the destination's status.
//   - The proxy's own answers (refusals, upstream failures) keep their
//     status and carry a top-level "error" object beside JSON:API's
//     "errors" and the Aliasgate-Error header (outerror.go), so an SDK
//     that decides by the body alone raises.
//   - Upgrade is never forwarded (removeHopByHop): a destination that
//     answers 101 Switching Protocols anyway gets the client a 502
//     (errProtocolSwitch) and its connection is closed.
//   - An outbound route cannot have host "*" (routes refuses it at load)
//     and the passthrough list cannot hold "*" (ErrPassthroughAny).
//   - The destination's TLS certificate is always verified against
//     RootCAs (502 when it does not verify; nothing is sent).
//   - One access line per request: the listener's obs.AccessLog writes the
//     lines of CONNECTs and plain-HTTP requests, this file those of the
//     requests inside intercepted tunnels (obs.Line, started with the request).
//   - The requests inside an intercepted tunnel are held to
//     OutboundOptions.MaxHeaderBytes as the listener's are (goproxy reads
//     them without a limit): 431 and the tunnel closed, and a client that
//     sends far more without ending a request's headers has its tunnel
//     dropped (headerGuard); and to OutboundOptions.TunnelHeaderTimeout
//     (limits.read_header_timeout), from the CONNECT for the first request
//     (the TLS handshake included) and from its first byte for each next
//     one: past it the tunnel is closed; and, body included, to
//     OutboundOptions.TunnelReadTimeout (limits.read_timeout): past it the
//     body's read fails as a timeout and the tunnel ends.

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/textproto"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/elazarl/goproxy"

	"github.com/aliasgate/aliasgate/internal/bodybudget"
	"github.com/aliasgate/aliasgate/internal/jsonapi"
	"github.com/aliasgate/aliasgate/internal/lockout"
	"github.com/aliasgate/aliasgate/internal/netguard"
	"github.com/aliasgate/aliasgate/internal/obs"
	"github.com/aliasgate/aliasgate/routes"
	"github.com/aliasgate/aliasgate/routes/rewrite"
	"github.com/aliasgate/aliasgate/vault"
)

// OutboundOptions configures NewOutbound.
type OutboundOptions struct {
	// Table holds the current route set (required). Only outbound routes
	// are used.
	Table *routes.Table
	// Tokenizer is the vault (required).
	Tokenizer rewrite.Tokenizer
	// Known tells the response leak guard which card-like numbers are
	// aliases; nil: the Tokenizer, which must then implement AliasChecker.
	Known AliasChecker
	// CA signs the certificates of intercepted hosts (required).
	CA *CA
	// Authenticate checks proxy credentials (the user and password of
	// Proxy-Authorization: Basic) and returns the client they name; nil
	// requires none (the requests then act for the vault's default
	// account). An error that wraps ErrAuthUnavailable says the
	// credentials could not be checked (a store failure) rather than that
	// they are refused.
	Authenticate func(ctx context.Context, user, pass string) (ProxyClient, error)
	// Lockout, when set, charges failed proxy credentials to the sender's
	// address (lockout.Key of the TCP peer: no trusted proxy stands in
	// front of this listener) before Authenticate checks them, by
	// internal/lockout's rule (cmd/aliasgate gives a table of its own,
	// apart from the APIs' client credentials'): past its free failures the
	// address is answered 429 locked_out with Retry-After and its
	// credentials are not checked. An error that wraps ErrAuthUnavailable
	// or ErrNotProxyClient is not charged.
	Lockout *lockout.Table
	// Passthrough lists host patterns (as route hosts: "api.example.com",
	// "*.example.com") that may be tunnelled without a route; "*" is
	// refused (ErrPassthroughAny).
	Passthrough []string
	// AllowPrivate lets the proxy dial loopback, private, link-local and
	// other addresses netguard.ForbiddenAddr refuses.
	AllowPrivate bool
	// RootCAs verifies destinations; nil: the system roots.
	RootCAs *x509.CertPool
	// MaxBody bounds a buffered body; default DefaultMaxBody.
	MaxBody int64
	// Budget bounds the bytes of the bodies the phases hold in memory at
	// once, shared by both proxies and the APIs
	// (limits.max_buffered_bytes); nil: no bound.
	Budget *bodybudget.Budget
	// UpstreamTimeout bounds the wait for a destination's response
	// headers; default DefaultUpstreamTimeout.
	UpstreamTimeout time.Duration
	// Logger may be nil.
	Logger *slog.Logger
	// Metrics may be nil.
	Metrics *obs.Metrics
	// Resolver resolves destinations; nil: net.DefaultResolver.
	Resolver interface {
		LookupIPAddr(ctx context.Context, host string) ([]net.IPAddr, error)
	}
	// Payments resolves the card references of network_token filters;
	// nil: such filters refuse their requests (503 network_tokens_off).
	Payments CardPayments
	// Capturer, when set, gets every request served (plain HTTP and inside
	// intercepted tunnels; see capture.go); nil costs nothing.
	Capturer Capturer
	// TunnelIdleTimeout closes a hijacked client connection (a CONNECT
	// tunnel, intercepted or passed through: http.Server's timeouts end at
	// the hijack) after this long without a byte read from or written to
	// the client, so a client that opens a tunnel and goes quiet (or sends
	// a byte now and then slower than this) does not hold it for ever.
	// The deadline is moved at most once every 1/16 of the timeout, so a
	// quiet tunnel is closed between this long and 17/16 of it after its
	// last byte. 0: no limit.
	TunnelIdleTimeout time.Duration
	// TunnelHeaderTimeout bounds the wait for each request's line and
	// headers inside an intercepted tunnel, as
	// http.Server.ReadHeaderTimeout bounds the listener's
	// (limits.read_header_timeout): from the CONNECT for the first request
	// (the TLS handshake included), from its first byte for each next one
	// (a tunnel quiet between requests is TunnelIdleTimeout's). Past it
	// the tunnel is closed. 0: no limit. See headerGuard.
	TunnelHeaderTimeout time.Duration
	// TunnelReadTimeout bounds the reading of each request inside an
	// intercepted tunnel, its body included, as http.Server.ReadTimeout
	// bounds the listener's (limits.read_timeout): from the start of the
	// wait for its headers (as TunnelHeaderTimeout) to the end of its
	// body. Past it the body's read fails as a timeout (408) and the
	// tunnel ends. 0: no limit. See headerGuard.
	TunnelReadTimeout time.Duration
	// TunnelWriteTimeout bounds each write to a tunnel's client (one that
	// stops reading), with the same 1/16 of slack; 0: no limit.
	TunnelWriteTimeout time.Duration
	// MaxHeaderBytes bounds the request line and headers of a request
	// inside an intercepted tunnel, as http.Server.MaxHeaderBytes bounds
	// the listener's (limits.max_header_bytes); 0:
	// http.DefaultMaxHeaderBytes. See headerGuard.
	MaxHeaderBytes int
	// Limit, when set, is asked once for each CONNECT, each plain-HTTP
	// request and each request inside an intercepted tunnel, once its
	// credentials pass (requests refused 407 or locked_out are no
	// client's), with the sender's key: "client:" and the proxy client's
	// ID, or, without one (no Authenticate), "source:" and the peer's
	// address as lockout.Key counts it. When it says no, the request is
	// answered 429 rate_limited with Retry-After (the wait in whole
	// seconds, rounded up, at least 1) and X-RateLimit-Remaining: 0, in
	// the proxy's error shape, and nothing is revealed or sent; a tunnel
	// stays open. cmd/aliasgate gives a token bucket per key
	// (limits.outbound_client_rate). nil: no limit.
	Limit func(key string) (ok bool, wait time.Duration)
	// Misses, when set, bounds the unknown aliases a sender's reveals may
	// meet, under the key Limit uses: a request refused 422 unknown_alias
	// is charged each distinct alias its refusing filter found that the
	// vault does not know (that expired, or of another account), one
	// refused 422 unknown_card (a network_token filter's card reference
	// that is no card of the account) one; what an on_error: pass filter
	// forwards is not charged. While
	// the sender's budget is spent every request of a route that reveals
	// in requests is answered 429 too_many_unknown_aliases with
	// Retry-After before anything is revealed, known aliases or not
	// (refusing only the unknown ones would answer the guess).
	// cmd/aliasgate gives a token bucket per key
	// (limits.outbound_unknown_aliases). nil: no bound.
	Misses MissBudget
}

// MissBudget is a budget of unknown aliases per sender
// (OutboundOptions.Misses); *ratelimit.Limiter is one.
type MissBudget interface {
	// Peek reports whether key may meet an unknown alias now, taking
	// nothing, and when it may not, how long until it may.
	Peek(key string) (ok bool, wait time.Duration)
	// Debit spends n of key's budget whatever it holds, leaving it in
	// debt when it holds less: every request of a wave that passed Peek
	// together and met an unknown alias is charged (Limiter.Charge would
	// take nothing from a bucket under one token), and every unknown
	// alias of a request.
	Debit(key string, n int)
	// Charge takes n of key's budget before a cost is known (the inbound
	// leak guard's candidates, InboundOptions.Misses) when it holds
	// min(n, its burst), leaving it in debt when n is more than it
	// holds; when it does not, it takes nothing and reports how long
	// until it does (ratelimit.Limiter.Charge).
	Charge(key string, n int) (ok bool, wait time.Duration, left int)
	// Give puts back n of what Charge took that proved not to be spent
	// (the candidates the vault holds as aliases), up to the burst.
	Give(key string, n int)
}

// Outbound is the outbound forward proxy, an http.Handler. Wrap it in
// obs.AccessLog (listener "outbound") for the lines of CONNECTs and
// plain-HTTP requests; it writes the line of each request inside an
// intercepted tunnel itself, to the same logger and metrics.
type Outbound struct {
	table       *routes.Table
	ca          *CA
	auth        func(ctx context.Context, user, pass string) (ProxyClient, error)
	lockout     *lockout.Table
	limit       func(key string) (bool, time.Duration) // nil: no rate limit
	misses      MissBudget                             // nil: no bound on unknown aliases
	passthrough []string
	log         *slog.Logger
	m           *obs.Metrics
	pipe        *pipeline
	dialer      *netguard.Dialer
	transport   *http.Transport
	upstream    http.RoundTripper // timeoutTransport over transport (and capture)
	gp          *goproxy.ProxyHttpServer
	// roundTripper is roundTrip as goproxy's per-request RoundTripper,
	// made once.
	roundTripper goproxy.RoundTripper
	capture      Capturer // nil: no capture

	// tunnels holds the hijacked client connections and passthrough
	// destinations (OutboundOptions.Tunnel*Timeout), for Close.
	tunnels connSet
	// recheckEvery is how often a passthrough tunnel that carries bytes
	// asks its client's Recheck (recheckConn).
	recheckEvery time.Duration
	// maxHeaderBytes bounds the headers of the requests inside an
	// intercepted tunnel (headerGuard).
	maxHeaderBytes int
	// headerTimeout bounds the wait for each request's headers inside an
	// intercepted tunnel (headerGuard).
	headerTimeout time.Duration
	// readTimeout bounds the reading of each request inside an
	// intercepted tunnel, body included (headerGuard).
	readTimeout time.Duration
}

// ErrAuthUnavailable is wrapped by an Authenticate error that says the
// credentials could not be checked (the client store failed), not that they
// are wrong. A CONNECT or a plain-HTTP request still gets 407 (a client
// cannot act on a 503 answering its CONNECT); a request inside an open
// tunnel gets 503 vault_unavailable and the tunnel stays open.
var ErrAuthUnavailable = errors.New("proxy: proxy credentials cannot be checked now")

// ErrNotProxyClient is wrapped by an Authenticate error that says the
// credentials are right but are not a proxy client's (an API client's):
// refused (407), but no guess, so not charged to the sender's address
// (OutboundOptions.Lockout).
var ErrNotProxyClient = errors.New("proxy: not proxy client credentials")

// ErrPassthroughAny is NewOutbound's refusal of "*" among the passthrough
// hosts: the proxy would tunnel to any destination.
var ErrPassthroughAny = errors.New(`proxy: outbound passthrough "*" would tunnel to any destination; list the hosts`)

// NewOutbound returns the outbound proxy.
func NewOutbound(opts OutboundOptions) (*Outbound, error) {
	switch {
	case opts.Table == nil:
		return nil, errors.New("proxy: NewOutbound needs a route table")
	case opts.Tokenizer == nil:
		return nil, errors.New("proxy: NewOutbound needs a tokenizer")
	case opts.CA == nil:
		return nil, errors.New("proxy: NewOutbound needs a CA")
	}
	setDefaults(&opts.MaxBody, &opts.UpstreamTimeout, &opts.Logger)
	pass := make([]string, 0, len(opts.Passthrough))
	for _, p := range opts.Passthrough {
		if p = routes.NormalizePattern(strings.TrimSpace(p)); p == "*" {
			return nil, ErrPassthroughAny
		} else if p != "" {
			pass = append(pass, p)
		}
	}
	known, err := checker(opts.Known, opts.Tokenizer)
	if err != nil {
		return nil, err
	}
	o := &Outbound{
		table: opts.Table, ca: opts.CA, auth: opts.Authenticate, lockout: opts.Lockout, limit: opts.Limit, misses: opts.Misses, passthrough: pass,
		log: opts.Logger, m: opts.Metrics,
		pipe:         newPipeline(opts.Tokenizer, known, opts.MaxBody, opts.Logger, opts.Metrics, opts.Budget),
		dialer:       netguard.NewDialer(opts.Resolver, opts.AllowPrivate),
		tunnels:      connSet{idle: opts.TunnelIdleTimeout, write: opts.TunnelWriteTimeout},
		recheckEvery: time.Second, maxHeaderBytes: opts.MaxHeaderBytes, headerTimeout: opts.TunnelHeaderTimeout,
		readTimeout: opts.TunnelReadTimeout,
	}
	o.pipe.pay = opts.Payments
	o.transport = &http.Transport{
		Proxy:                 nil,
		DialContext:           o.dialer.DialContext,
		TLSClientConfig:       &tls.Config{RootCAs: opts.RootCAs, MinVersion: tls.VersionTLS12},
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          512,
		MaxIdleConnsPerHost:   64,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
		// No ResponseHeaderTimeout: timeoutTransport (o.upstream, the
		// transport of every request goproxy forwards) bounds the same
		// wait, from before the request is written, with one timer.
	}
	o.upstream = &timeoutTransport{rt: o.transport, d: opts.UpstreamTimeout}
	if opts.Capturer != nil {
		o.capture = opts.Capturer
		o.upstream = captureTransport{o.upstream}
	}

	gp := goproxy.NewProxyHttpServer()
	gp.Verbose = false
	gp.Logger = goproxyLogger{l: opts.Logger, m: opts.Metrics}
	gp.Tr = o.transport          // every request goes through ctx.RoundTripper (o.roundTrip); this one verifies TLS all the same
	gp.KeepAcceptEncoding = true // onRequest decides
	// onRequest removes the hop-by-hop headers of every request it
	// forwards (removeHopByHop: goproxy's RemoveProxyHeaders removes a
	// subset of them), and toDestination clears RequestURI; goproxy's
	// pass, skipped, formatted the request's URL for a log line it does
	// not write.
	gp.KeepHeader = true
	gp.ConnectDialWithReq = o.connectDial
	o.roundTripper = goproxy.RoundTripperFunc(o.roundTrip)
	gp.OnRequest().HandleConnect(goproxy.FuncHttpsHandler(o.handleConnect))
	gp.OnRequest().DoFunc(o.onRequest)
	gp.OnResponse().DoFunc(o.onResponse)
	o.gp = gp
	return o, nil
}

// ServeHTTP implements http.Handler: CONNECT opens a tunnel, an
// absolute-form http:// request is forwarded, anything else gets 400.
func (o *Outbound) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.Method == http.MethodConnect:
		o.serveConnect(w, r)
	case r.URL.IsAbs() && r.URL.Host != "":
		if o.capture != nil && captureFrom(r.Context()) == nil {
			serveCaptured(o.capture, o.pipe.budget, o.table, routes.Outbound, w, r, o.servePlain)
			return
		}
		o.servePlain(w, r)
	default:
		writeOutboundError(w, jsonapi.NewError(http.StatusBadRequest, "not_a_proxy_request", "Bad Request",
			"this is a forward proxy: send absolute-form requests or CONNECT"))
	}
}

// Close closes every hijacked client connection and tunnel (intercepted or
// passed through) and the idle destination connections. Later CONNECTs are
// refused. Close the http.Server first (Shutdown does not see hijacked
// connections).
func (o *Outbound) Close() error {
	o.tunnels.close()
	o.transport.CloseIdleConnections()
	return nil
}

// tunnel is what an intercepted CONNECT established.
type tunnel struct {
	host     string // lower case, no port, no brackets
	port     string
	hostport string      // net.JoinHostPort(host, port), made once per tunnel
	client   ProxyClient // who authenticated the CONNECT
	// source is the CONNECT's peer address, the caller of the abuse limits
	// when client has no ID (goproxy gives every request of the tunnel the
	// CONNECT's RemoteAddr): read once per tunnel, not per request.
	source string
	// limitKey is the tunnel's sender's key in OutboundOptions.Limit,
	// made once per tunnel.
	limitKey string
	// guard bounds the headers of the tunnel's requests.
	guard *headerGuard
}

// ProxyClient is the outbound client a request comes from. Its requests
// act for its account: their reveals reach only the aliases that account
// owns, and a route with accounts refuses the other accounts' clients.
type ProxyClient struct {
	ID      string
	Account string // "": the vault's default account (no authentication)
	// Recheck, when set, says whether the client may still act with the
	// credentials that named it: the proxy asks it for each request inside
	// a CONNECT tunnel (a revocation or a secret rotation since the
	// CONNECT ends the tunnel). An error that wraps ErrAuthUnavailable
	// says it could not be told.
	Recheck func(ctx context.Context) error
}

type clientKey struct{}

// connectState carries the CONNECT decision from serveConnect to the
// goproxy hooks.
type connectState struct {
	t    *tunnel
	mu   sync.Mutex
	conn net.Conn // passthrough: the destination, dialled before the 200
}

type connectKey struct{}

// authorize checks Proxy-Authorization and answers 407 when it fails (429
// locked_out, with Retry-After, without a check when the sender's address
// is locked out: guarded); it returns the client the credentials name.
func (o *Outbound) authorize(w http.ResponseWriter, r *http.Request) (ProxyClient, bool) {
	if o.auth == nil {
		return ProxyClient{}, true
	}
	if user, pass, ok := proxyBasicAuth(r.Header.Get("Proxy-Authorization")); ok {
		var c ProxyClient
		locked, wait, err := o.guarded(r, func() (err error) {
			c, err = o.checkCreds(r.Context(), user, pass, r.RemoteAddr)
			return err
		})
		if locked {
			w.Header().Set("Retry-After", lockout.RetryAfter(wait))
			writeOutboundError(w, jsonapi.NewError(http.StatusTooManyRequests, "locked_out", "Too Many Requests",
				"too many failed proxy credentials from this address; retry after "+lockout.RetryAfter(wait)+" s"))
			return ProxyClient{}, false
		}
		if err == nil {
			return c, true
		}
	}
	w.Header().Set("Proxy-Authenticate", proxyAuthenticate)
	writeOutboundError(w, errProxyAuth())
	return ProxyClient{}, false
}

// errAuthUnavailable answers a request inside a tunnel whose credentials
// could not be checked (ErrAuthUnavailable): the vault's own 503.
func errAuthUnavailable() *jsonapi.Error { return refusal(routes.Request, "vault_unavailable") }

// proxyAuthenticate is the challenge of a 407.
const proxyAuthenticate = `Basic realm="aliasgate"`

// errProxyAuth is the proxy's answer to missing or refused credentials.
func errProxyAuth() *jsonapi.Error {
	return jsonapi.NewError(http.StatusProxyAuthRequired, "proxy_auth_required", "Proxy Authentication Required",
		"send Proxy-Authorization: Basic with outbound client credentials")
}

// limitKey is the key of a sender in OutboundOptions.Limit: its proxy
// client, else its address (remote, a peer address) as lockout.Key counts
// it.
func limitKey(c ProxyClient, remote string) string {
	if c.ID != "" {
		return "client:" + c.ID
	}
	return "source:" + lockout.Key(remote)
}

// overLimit asks OutboundOptions.Limit for one request of the sender of
// key; when it is refused it returns the 429 to answer with and the value
// of its Retry-After.
func (o *Outbound) overLimit(key string) (*jsonapi.Error, string) {
	if o.limit == nil {
		return nil, ""
	}
	ok, wait := o.limit(key)
	if ok {
		return nil, ""
	}
	after := lockout.RetryAfter(wait)
	return jsonapi.NewError(http.StatusTooManyRequests, "rate_limited", "Too Many Requests",
		"this proxy client is over its request rate (limits.outbound_client_rate); retry after "+after+" s"), after
}

// missesSpent answers a request of a sender whose budget of unknown
// aliases is spent (OutboundOptions.Misses): 429 too_many_unknown_aliases
// with Retry-After, the wait rounded up to whole seconds.
func (o *Outbound) missesSpent(lr *loopReq, req *http.Request, wait time.Duration) *http.Response {
	after := lockout.RetryAfter(wait)
	resp := o.answer(lr, req, jsonapi.NewError(http.StatusTooManyRequests, "too_many_unknown_aliases", "Too Many Requests",
		"this proxy client sent too many aliases that do not exist (limits.outbound_unknown_aliases); retry after "+after+" s"))
	resp.Header.Set("Retry-After", after)
	return resp
}

// setRateLimited sets the headers of a 429 rate_limited answer.
func setRateLimited(h http.Header, after string) {
	h.Set("Retry-After", after)
	h.Set("X-RateLimit-Remaining", "0")
}

// admit asks the limit for a CONNECT or a plain-HTTP request of client
// (authorize passed) and answers 429 when it is refused.
func (o *Outbound) admit(w http.ResponseWriter, r *http.Request, client ProxyClient) bool {
	e, after := o.overLimit(limitKey(client, r.RemoteAddr))
	if e == nil {
		return true
	}
	setRateLimited(w.Header(), after)
	writeOutboundError(w, e)
	return false
}

// guarded runs check, a check of r's proxy credentials, through the
// lockout (OutboundOptions.Lockout) under r's peer address: locked is set,
// and check does not run, while the address is locked out; otherwise err
// is check's. The failure that locks the address out is logged with the
// address, never the credentials.
func (o *Outbound) guarded(r *http.Request, check func() error) (locked bool, wait time.Duration, err error) {
	if o.lockout == nil {
		return false, 0, check()
	}
	addr := lockout.Key(r.RemoteAddr)
	v, wait := o.lockout.Attempt(addr, func() lockout.Outcome {
		err = check()
		switch {
		case err == nil:
			return lockout.Pass
		case errors.Is(err, ErrAuthUnavailable), errors.Is(err, ErrNotProxyClient):
			return lockout.Void
		}
		return lockout.Fail
	})
	switch {
	case v == lockout.LockedOut:
		return true, wait, nil
	case v == lockout.Denied && wait > 0:
		o.log.LogAttrs(r.Context(), slog.LevelWarn, "proxy: address locked out after failed proxy credentials",
			slog.String("remote", r.RemoteAddr), slog.String("address", addr), slog.String("for", wait.String()))
	}
	return false, 0, err
}

// checkCreds asks Authenticate about user and pass, and logs a refusal or
// a check that could not be made (with the sender's address and the error,
// never the credentials).
func (o *Outbound) checkCreds(ctx context.Context, user, pass, remote string) (ProxyClient, error) {
	c, err := o.auth(ctx, user, pass)
	if err != nil {
		o.logCredsRefused(ctx, err, remote)
		return ProxyClient{}, fmt.Errorf("proxy: proxy credentials: %w", err)
	}
	return c, nil
}

// logCredsRefused logs credentials refused, or that could not be checked
// (ErrAuthUnavailable), with the sender's address and the error, never the
// credentials.
func (o *Outbound) logCredsRefused(ctx context.Context, err error, remote string) {
	level, msg := slog.LevelInfo, "proxy: proxy credentials refused"
	if errors.Is(err, ErrAuthUnavailable) {
		level, msg = slog.LevelWarn, "proxy: proxy credentials could not be checked"
	}
	o.log.LogAttrs(ctx, level, msg, slog.String("remote", remote), slog.String("reason", err.Error()))
}

func proxyBasicAuth(v string) (user, pass string, ok bool) {
	if v == "" {
		return "", "", false
	}
	r := http.Request{Header: http.Header{"Authorization": {v}}}
	return r.BasicAuth()
}

// splitHost splits "host:port", "[v6]:port" or "host" as routes.SplitHost
// does (the one host normalisation), with def as the port when none is
// given.
func splitHost(hp, def string) (string, string) {
	host, port := routes.SplitHost(hp)
	if port == "" {
		port = def
	}
	return host, port
}

// sentHost is the Host a request whose Host h was checked and routed as
// host (routes.SplitHost's form) and port ("": h gave none) is forwarded
// with: that name, with h's port as routed (in decimal: routes match a
// port by its number, and the dialer dials "0443" as 443). Any other
// spelling of the name in h (letter case, a trailing dot, brackets, a
// non-ASCII spelling IDNA maps to it) or of the port (leading zeros) is
// the client's, not the destination's: the transport sends a non-ASCII
// name as the Punycode of its characters as written ("ｐｓｐ.example.com"
// as "xn--1i7cai.example.com"), and a front end may take a trailing dot,
// or a port it does not list, for another name, so the request would
// reach, behind the checked address and certificate, a virtual host no
// route names. h itself when it is already that form (no allocation).
func sentHost(h, host, port string) string {
	if p := strings.TrimLeft(port, "0"); len(p) < len(port) {
		// Digits only: a URL's port (url.Parse), or the CONNECT's that
		// the Host's port was found equal to.
		if p == "" {
			p = "0"
		}
		port = p
	}
	if port == "" {
		if h == host {
			return h
		}
		if strings.IndexByte(host, ':') >= 0 {
			return "[" + host + "]"
		}
		return host
	}
	if len(h) == len(host)+1+len(port) && strings.HasPrefix(h, host) && h[len(host)] == ':' && strings.HasSuffix(h, port) {
		return h
	}
	return net.JoinHostPort(host, port)
}

func (o *Outbound) routed(host, port string) bool { return routedIn(o.table.Load(), host, port) }

// routedIn reports whether set has an outbound route for host and port.
func routedIn(set *routes.Set, host, port string) bool {
	for _, r := range set.Routes {
		if r.Direction == routes.Outbound && r.MatchesHost(host, port) {
			return true
		}
	}
	return false
}

// errDestinationNotAllowed is the refusal of default deny: a destination
// with no outbound route and no passthrough entry.
func errDestinationNotAllowed() *jsonapi.Error {
	return jsonapi.NewError(http.StatusForbidden, "destination_not_allowed", "Forbidden",
		"the destination has no outbound route and is not listed in outbound.passthrough")
}

func (o *Outbound) passes(host string) bool {
	for _, p := range o.passthrough {
		if routes.HostMatches(p, host) {
			return true
		}
	}
	return false
}

func (o *Outbound) serveConnect(w http.ResponseWriter, r *http.Request) {
	client, ok := o.authorize(w, r)
	if !ok || !o.admit(w, r, client) {
		return
	}
	host, port := splitHost(r.Host, "443")
	if host == "" || port == "" {
		writeOutboundError(w, jsonapi.NewError(http.StatusBadRequest, "bad_connect", "Bad Request", "CONNECT needs host:port"))
		return
	}
	ctx := r.Context()
	mitm := o.routed(host, port)
	if !mitm && !o.passes(host) {
		o.log.LogAttrs(ctx, slog.LevelInfo, "proxy: CONNECT refused: no outbound route or passthrough entry", slog.Any("host", obs.Untrusted(host)))
		writeOutboundError(w, errDestinationNotAllowed())
		return
	}
	var peers *Sources // no trusted proxies in front of the outbound listener
	cs := &connectState{t: &tunnel{host: host, port: port, hostport: net.JoinHostPort(host, port), client: client,
		source: peers.Of(r)}}
	if o.limit != nil || o.misses != nil {
		cs.t.limitKey = limitKey(client, r.RemoteAddr)
	}
	tw := &trackingWriter{ResponseWriter: w, set: &o.tunnels}
	if mitm {
		if _, err := o.dialer.Resolve(ctx, host); err != nil {
			o.destinationError(w, r, err)
			return
		}
		cs.t.guard = newHeaderGuard(o.maxHeaderBytes, o.headerTimeout, o.readTimeout)
		tw.guard = cs.t.guard
	} else {
		c, err := o.dialer.DialContext(ctx, "tcp", net.JoinHostPort(host, port))
		if err != nil {
			o.destinationError(w, r, err)
			return
		}
		tc, ok := o.tunnels.track(c)
		if !ok {
			writeOutboundError(w, jsonapi.NewError(http.StatusServiceUnavailable, "shutting_down", "Service Unavailable", "the proxy is shutting down"))
			return
		}
		rc := &recheckConn{Conn: tc, o: o, host: host, port: port, check: client.Recheck, remote: r.RemoteAddr, every: o.recheckEvery}
		cs.conn = rc
		defer func() { // not taken by goproxy: close it
			cs.mu.Lock()
			defer cs.mu.Unlock()
			if cs.conn != nil {
				cs.conn.Close()
			}
		}()
	}
	o.gp.ServeHTTP(tw, r.WithContext(context.WithValue(ctx, connectKey{}, cs)))
}

// destinationError answers a CONNECT whose destination cannot be used.
func (o *Outbound) destinationError(w http.ResponseWriter, r *http.Request, err error) {
	var fe *netguard.ForbiddenError
	if errors.As(err, &fe) {
		o.log.LogAttrs(r.Context(), slog.LevelWarn, "proxy: destination refused", slog.Any("host", obs.Untrusted(fe.Host)), slog.String("reason", fe.Reason))
		writeOutboundError(w, jsonapi.NewError(http.StatusForbidden, "forbidden_destination", "Forbidden",
			"the destination resolves to an address the proxy does not dial ("+fe.Reason+")"))
		return
	}
	o.log.LogAttrs(r.Context(), slog.LevelWarn, "proxy: destination unreachable", slog.String("error", err.Error()))
	writeOutboundError(w, jsonapi.NewError(http.StatusBadGateway, "destination_unreachable", "Bad Gateway", "the destination could not be reached"))
}

// handleConnect is goproxy's CONNECT hook.
func (o *Outbound) handleConnect(host string, ctx *goproxy.ProxyCtx) (*goproxy.ConnectAction, string) {
	cs, _ := ctx.Req.Context().Value(connectKey{}).(*connectState)
	if cs == nil {
		return goproxy.RejectConnect, host
	}
	if cs.conn != nil {
		return goproxy.OkConnect, host
	}
	ctx.UserData = cs.t
	ctx.RoundTripper = o.roundTripper
	return &goproxy.ConnectAction{Action: goproxy.ConnectMitm, TLSConfig: o.tlsConfig(cs.t)}, host
}

// recheckConn is a passthrough tunnel's destination connection. While
// bytes flow it checks that the route set in force still passes the tunnel
// through: once a reload has given its host an outbound route (whose new
// CONNECTs are intercepted), the tunnel is closed, as an intercepted tunnel
// of a route a reload removed is (onRequest); one load of the table per
// read or write, the routes looked at only when the set changed. And, for
// a client with a Recheck, it asks it at most once every `every` and
// closes the tunnel once the client is refused (revoked, or its secret
// rotated, since the CONNECT). A check that cannot be made
// (ErrAuthUnavailable) leaves the tunnel open: it carries no card data.
type recheckConn struct {
	net.Conn
	o          *Outbound
	host, port string
	seen       atomic.Pointer[routes.Set]  // the set last found to pass the tunnel through; nil: none yet
	check      func(context.Context) error // nil: no client recheck
	remote     string
	every      time.Duration
	next       atomic.Int64 // Unix nanoseconds of the next check
	closed     atomic.Bool
	err        atomic.Pointer[error] // why it was closed
}

// errCredsRefused ends a passthrough tunnel whose client was refused.
var errCredsRefused = errors.New("proxy: the tunnel's proxy credentials were revoked or rotated")

// errPassthroughRouted ends a passthrough tunnel whose host a reload routed.
var errPassthroughRouted = errors.New("proxy: a route reload gave the passthrough tunnel's host an outbound route")

// end closes the tunnel for err (the first reason wins).
func (c *recheckConn) end(err error) error {
	if c.closed.CompareAndSwap(false, true) {
		c.err.Store(&err)
		_ = c.Conn.Close()
		return err
	}
	if first := c.err.Load(); first != nil {
		return *first
	}
	return err
}

// allowed returns nil while the tunnel may carry bytes, else why not.
func (c *recheckConn) allowed() error {
	if c.closed.Load() {
		if err := c.err.Load(); err != nil {
			return *err
		}
		return net.ErrClosed
	}
	if set := c.o.table.Load(); set != c.seen.Load() {
		if routedIn(set, c.host, c.port) {
			c.o.log.LogAttrs(context.Background(), slog.LevelInfo, "proxy: passthrough tunnel ended: a route reload gave its host an outbound route",
				slog.Any("host", obs.Untrusted(c.host)))
			return c.end(errPassthroughRouted)
		}
		c.seen.Store(set)
	}
	if c.check == nil {
		return nil
	}
	now := time.Now().UnixNano()
	if next := c.next.Load(); now < next || !c.next.CompareAndSwap(next, now+int64(c.every)) {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := c.check(ctx)
	if err == nil {
		return nil
	}
	c.o.logCredsRefused(ctx, err, c.remote)
	if errors.Is(err, ErrAuthUnavailable) {
		return nil
	}
	return c.end(errCredsRefused)
}

// Read checks before it reads and again after: bytes a read waited for
// across a reload that routed the host are not handed on.
func (c *recheckConn) Read(b []byte) (int, error) {
	if err := c.allowed(); err != nil {
		return 0, err
	}
	n, err := c.Conn.Read(b)
	if n > 0 {
		if aerr := c.allowed(); aerr != nil {
			return 0, aerr
		}
	}
	return n, err
}

func (c *recheckConn) Write(b []byte) (int, error) {
	if err := c.allowed(); err != nil {
		return 0, err
	}
	return c.Conn.Write(b)
}

// connectDial hands goproxy the passthrough destination dialled in
// serveConnect.
func (o *Outbound) connectDial(req *http.Request, _, _ string) (net.Conn, error) {
	cs, _ := req.Context().Value(connectKey{}).(*connectState)
	if cs == nil {
		return nil, errors.New("proxy: no destination")
	}
	cs.mu.Lock()
	defer cs.mu.Unlock()
	c := cs.conn
	cs.conn = nil
	if c == nil {
		return nil, errors.New("proxy: no destination")
	}
	return c, nil
}

// tlsConfig presents the CA's leaf for the CONNECT host and refuses a
// ClientHello whose SNI names another host.
func (o *Outbound) tlsConfig(t *tunnel) func(string, *goproxy.ProxyCtx) (*tls.Config, error) {
	return func(string, *goproxy.ProxyCtx) (*tls.Config, error) {
		return &tls.Config{
			MinVersion: tls.VersionTLS12,
			GetCertificate: func(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
				if sni := routes.NormalizeHost(hello.ServerName); sni != "" && sni != t.host {
					o.log.Warn("proxy: TLS SNI differs from the CONNECT host; handshake refused", "host", obs.Untrusted(t.host))
					return nil, errors.New("proxy: SNI does not match the CONNECT host")
				}
				return o.ca.Leaf(t.host)
			},
		}, nil
	}
}

// Outbound phases: the request reveals (no leak guard; an unknown alias in
// a reveal target refuses the request), the response is guarded.
var (
	outboundRequest  = phaseOptions{strict: true}
	outboundResponse = phaseOptions{guard: true}
)

// dest is where a request is sent.
type dest struct {
	scheme   string
	hostport string
	// host is the Host the request is sent with: the name it was checked
	// and routed as, with the port it gave (sentHost).
	host string
	// ex is the state of the plain-HTTP exchange servePlain serves when a
	// route matched it (onRequest): servePlain lets go of what its
	// phases hold once it is over (pipeline.release).
	ex *reqState
	// cancel, for a plain-HTTP request with a route, ends the context of
	// its call to the destination (onRequest), once servePlain is done.
	cancel context.CancelCauseFunc
}

type plainKey struct{}

// servePlain forwards an absolute-form http:// request through goproxy's
// HTTP handler, which calls the same hooks as intercepted requests.
func (o *Outbound) servePlain(w http.ResponseWriter, r *http.Request) {
	client, ok := o.authorize(w, r)
	if !ok || !o.admit(w, r, client) {
		return
	}
	if r.URL.Scheme != "http" {
		writeOutboundError(w, jsonapi.NewError(http.StatusBadRequest, "unsupported_scheme", "Bad Request",
			"absolute-form requests must be http://; use CONNECT for https"))
		return
	}
	host, given := routes.SplitHost(r.URL.Host)
	port := given
	if port == "" {
		port = "80"
	}
	if !o.routed(host, port) && !o.passes(host) {
		o.log.LogAttrs(r.Context(), slog.LevelInfo, "proxy: request refused: no outbound route or passthrough entry", slog.Any("host", obs.Untrusted(host)))
		writeOutboundError(w, errDestinationNotAllowed())
		return
	}
	d := &dest{scheme: "http", hostport: net.JoinHostPort(host, port), host: sentHost(r.URL.Host, host, given)}
	ctx := context.WithValue(context.WithValue(r.Context(), plainKey{}, d), clientKey{}, client)
	defer func() { o.pipe.release(d.ex) }() // the exchange is over, whatever way it ended
	o.gp.ServeHTTP(w, r.WithContext(ctx))
	if d.cancel != nil {
		d.cancel(nil) // the exchange is over (see onRequest)
	}
}

// loopReq is what the hooks know of one request in goproxy's loop.
type loopReq struct {
	// ctx is the request's context: one node that answers for the loop's
	// own values (loopCtx), so the request is copied once in onRequest,
	// not once per value.
	ctx  loopCtx
	o    *Outbound
	line *obs.Line // intercepted requests only: their access line (&lineBuf)
	// lineBuf is the access line of an intercepted request, in the same
	// allocation as the rest.
	lineBuf obs.Line
	// body is the swapBody of the upstream's response (roundTrip), in the
	// same allocation; bodyUsed once it is.
	body     swapBody
	bodyUsed bool
	rec      *captureRec // capture of an intercepted request; nil when off
	st       *reqState   // nil: no route matched; else &state
	state    reqState
	canned   bool      // the answer is the proxy's own (refusal, upstream error)
	start    time.Time // set with rec
	// guard is the tunnel's headerGuard (nil: plain HTTP) and guardSeq
	// the request's number in it, for endLoop.
	guard    *headerGuard
	guardSeq int64
	// gbody is the request's body while its guard bounds its reading (in
	// the same allocation).
	gbody guardBody
	// the client's request line, for the capture
	method, host, path, rawQuery string
	// set by onResponse for the access line: the status and, unless
	// counted (the length was unknown), the body bytes
	status  int
	bytes   int64
	counted bool
}

type loopKey struct{}

func loopFrom(ctx context.Context) *loopReq {
	lr, _ := ctx.Value(loopKey{}).(*loopReq)
	return lr
}

// loopCtx is the context of a request in goproxy's loop. It answers for
// the loop request (loopKey), its route's state (stateKey, once a route
// matched) and its capture (captureKey) and asks its parent for anything
// else: one allocation (inside the loopReq) instead of a context.WithValue
// and a request copy for each. Cancellation and deadlines are the
// parent's. When values is set, the parent is a context of its own for
// cancellation (a cancelCtx under context.Background: no deadline, no
// values) and values answers for every value the parent does not (the
// cancelCtx answers for itself, so context.Cause and the registration of
// children find it): context.WithoutCancel(values) under that cancelCtx,
// without its allocation.
type loopCtx struct {
	context.Context
	lr     *loopReq
	values context.Context // nil: the parent's
}

func (c *loopCtx) Value(key any) any {
	switch key.(type) {
	case loopKey:
		return c.lr
	case stateKey:
		if c.lr.st != nil {
			return c.lr.st
		}
	case captureKey:
		if c.lr.rec != nil {
			return c.lr.rec
		}
	}
	if c.values == nil {
		return c.Context.Value(key)
	}
	if v := c.Context.Value(key); v != nil {
		return v
	}
	return c.values.Value(key)
}

// onRequest is goproxy's request hook, for requests read from an
// intercepted tunnel and for plain-HTTP requests: it checks the Host,
// makes the path canonical, runs the request phase of the matched route
// and points the request at its destination. A non-nil response is the
// proxy's own answer (goproxy then skips the round trip). The request is
// copied once (http.Request.WithContext), with every value the hooks, the
// vault and the transport read in its context.
func (o *Outbound) onRequest(req *http.Request, gctx *goproxy.ProxyCtx) (*http.Request, *http.Response) {
	gctx.RoundTripper = o.roundTripper
	lr := &loopReq{o: o, method: req.Method, host: req.Host, path: req.URL.Path, rawQuery: req.URL.RawQuery}
	parent := req.Context()
	t, intercepted := gctx.UserData.(*tunnel)
	late := false // the tunnel's header timeout passed as its headers were read
	if intercepted {
		if t.guard != nil {
			lr.guard = t.guard
			lr.guardSeq, late = t.guard.begin()
			if t.guard.readTimeout > 0 && req.Body != nil && req.Body != http.NoBody {
				lr.gbody = guardBody{ReadCloser: req.Body, g: t.guard}
				req.Body = &lr.gbody
				lr.gbody.start = t.guard.reading()
			}
		}
		// The line ends when goproxy closes the response's body, after
		// writing it (onResponse).
		parent, lr.line = lr.lineBuf.Start(o.log, o.m, "outbound", req), &lr.lineBuf
		if o.capture != nil {
			lr.rec, lr.start = startCapture(o.capture, o.pipe.budget, req), time.Now()
		}
	}

	var d dest
	var pd *dest // a plain-HTTP request's (servePlain)
	var client ProxyClient
	var refusal *jsonapi.Error
	credsRefused := false // the tunnel's credentials no longer pass
	limited := ""         // Retry-After of a request over the sender's rate
	closeTunnel := false  // the answer ends the tunnel
	if intercepted {
		client = t.client
		if late {
			// Its tunnel is being closed (guardedConn.watch): not served,
			// as a request past the listener's read_header_timeout; or
			// the reading of the request before it was cut (its reads
			// fail), as one past the listener's read_timeout.
			detail := "the request's headers took longer than limits.read_header_timeout"
			if t.guard.body.Load() == bodyExpired {
				detail = "the request before it in the tunnel took longer than limits.read_timeout to read"
			}
			refusal, closeTunnel = jsonapi.NewError(http.StatusRequestTimeout, "request_timeout", "Request Timeout", detail), true
		}
		if refusal == nil && lr.guard != nil && lr.guard.tooLarge(req) {
			refusal, closeTunnel = jsonapi.NewError(http.StatusRequestHeaderFieldsTooLarge, "headers_too_large",
				"Request Header Fields Too Large", "the request line and headers are larger than limits.max_header_bytes"), true
		}
		if refusal == nil && client.Recheck != nil {
			// A revocation or a rotation since the CONNECT ends the
			// tunnel.
			err := client.Recheck(parent)
			if err != nil {
				o.logCredsRefused(parent, err, req.RemoteAddr)
			}
			switch {
			case errors.Is(err, ErrAuthUnavailable):
				refusal = errAuthUnavailable()
			case err != nil:
				refusal, credsRefused = errProxyAuth(), true
			}
		}
		if refusal == nil {
			// Every request of the tunnel is one of its client's, as
			// its CONNECT was (serveConnect).
			refusal, limited = o.overLimit(t.limitKey)
		}
		ih, ip := splitHost(req.Host, "")
		if refusal == nil && hostMismatch(ih, ip, t.host, t.port) {
			o.log.LogAttrs(parent, slog.LevelWarn, "proxy: request Host differs from the CONNECT host; refused", slog.Any("host", obs.Untrusted(t.host)))
			refusal = errHostMismatch()
		}
		d = dest{scheme: req.URL.Scheme, hostport: t.hostport, host: sentHost(req.Host, ih, ip)}
		if d.scheme == "" {
			d.scheme = "https"
		}
	} else if pd, _ = parent.Value(plainKey{}).(*dest); pd != nil {
		d = *pd
		client, _ = parent.Value(clientKey{}).(ProxyClient)
	} else {
		refusal = jsonapi.NewError(http.StatusForbidden, "not_intercepted", "Forbidden", "no intercepted tunnel")
	}
	connect := false // a CONNECT asked to be forwarded: 405, with Allow
	var route *routes.Route
	if refusal == nil {
		path, jerr := outboundPath(req)
		if jerr != nil {
			refusal, connect = jerr, jerr.Status == http.StatusMethodNotAllowed
		} else {
			removeHopByHop(req.Header)
			DropClientFields(req, nil, path)
			if route = o.table.Load().Match(routes.Outbound, d.hostport, path); route != nil {
				lr.state = reqState{route: route, method: req.Method, path: path}
				lr.st = &lr.state
				if pd != nil && !intercepted {
					pd.ex = lr.st // released by servePlain
				}
				if o.capture != nil {
					// An intercepted request's capture, or a plain one's
					// (serveCaptured, in the parent's context).
					lr.state.rec = lr.rec
					if lr.state.rec == nil {
						lr.state.rec = captureFrom(parent)
					}
				}
				// The context the upstream timeout cancels
				// (timeoutTransport), made here with the copy. It is a
				// context of its own, under which loopCtx looks values
				// up in the request's (values): the client's leaving
				// does not cancel the call to the destination (a
				// processor's charge is not undone by cutting its call;
				// docs/DECISIONS.md, a client that leaves mid-call).
				// goproxy cancels the context of a request it read from
				// a tunnel only once the exchange is over (it is not the
				// client's connection), and net/http a plain request's
				// when its client leaves too: endLoop (intercepted) and
				// servePlain (plain) cancel this one once the exchange
				// is over instead, which also spares registering it
				// with goproxy's (a map and a channel per request).
				lr.ctx.values = parent
				parent, lr.state.cancel = context.WithCancelCause(context.Background())
				if pd != nil {
					pd.cancel = lr.state.cancel
				}
				lr.state.upstream = parent
			}
		}
	}
	if refusal == nil && route == nil && intercepted && !o.routed(t.host, t.port) && !o.passes(t.host) {
		// A reload has removed the route the tunnel was intercepted for:
		// default deny applies inside it as at a new CONNECT, and the
		// tunnel ends (as a revoked client's does).
		o.log.LogAttrs(parent, slog.LevelInfo, "proxy: request in a tunnel refused: its host has no outbound route or passthrough entry any more",
			slog.Any("host", obs.Untrusted(t.host)))
		refusal, closeTunnel = errDestinationNotAllowed(), true
	}
	lr.ctx.Context, lr.ctx.lr = parent, lr
	if refusal != nil {
		req = req.WithContext(&lr.ctx)
		resp := o.answer(lr, req, refusal)
		if connect {
			resp.Header.Set("Allow", allowedMethods)
		}
		if limited != "" {
			setRateLimited(resp.Header, limited)
		}
		if credsRefused {
			// The client's next request opens a new tunnel, whose
			// CONNECT gets the 407 a client knows.
			resp.Header.Set("Proxy-Authenticate", proxyAuthenticate)
			closeTunnel = true
		}
		if closeTunnel {
			// goproxy ends the tunnel after a response that closes.
			resp.Header.Set("Connection", "close")
			resp.Close = true
		}
		return req, resp
	}
	if route == nil {
		req = req.WithContext(&lr.ctx)
		return o.toDestination(req, d), nil
	}

	st := lr.st
	obs.SetRoute(&lr.ctx, route.ID)
	// The route and the client are the actor of audited reveals; the
	// client's account is the one whose aliases the reveals reach. One
	// context value for all of it.
	a := vault.ActorFrom(&lr.ctx)
	a.Route = route.ID
	if client.ID != "" {
		a.Client = client.ID
	} else {
		// No proxy client (outbound.require_auth off): the sender is
		// its address (the CONNECT's peer inside a tunnel), so that
		// one sender cannot spend or flag the limits of everyone on
		// the route (found in review).
		if intercepted {
			a.Source = t.source
		} else {
			var peers *Sources // no trusted proxies in front of the outbound listener
			a.Source = peers.Of(req)
		}
	}
	if client.Account != "" {
		a.Account = client.Account
	}
	rctx := vault.WithActor(&lr.ctx, a)
	req = req.WithContext(rctx)
	if !route.AllowsAccount(client.Account) {
		o.log.LogAttrs(rctx, slog.LevelWarn, "proxy: the route does not serve the proxy client's account; refused",
			slog.String("route", route.ID), slog.String("client_id", client.ID))
		return req, o.answer(lr, req, jsonapi.NewError(http.StatusForbidden, "account_not_allowed", "Forbidden",
			"this route does not serve the proxy client's account"))
	}
	if d.scheme != "https" && route.RevealsInRequests() && !route.UnsafeRevealOverPlainHTTP {
		o.log.LogAttrs(rctx, slog.LevelWarn, "proxy: a revealing route was asked over cleartext HTTP; refused",
			slog.String("route", route.ID), slog.String("client_id", client.ID))
		return req, o.answer(lr, req, jsonapi.NewError(http.StatusForbidden, "reveal_needs_tls", "Forbidden",
			"this route reveals card data and serves HTTPS only: send the request through a CONNECT tunnel with TLS (HTTPS_PROXY)"))
	}
	var missKey string // the sender's key in Misses; "": no bound
	if o.misses != nil && route.RevealsInRequests() {
		if intercepted {
			missKey = t.limitKey
		} else {
			missKey = limitKey(client, req.RemoteAddr)
		}
		if ok, wait := o.misses.Peek(missKey); !ok {
			return req, o.missesSpent(lr, req, wait)
		}
	}
	if jerr := o.pipe.request(rctx, st, outboundRequest, req); jerr != nil {
		if missKey != "" && st.misses > 0 {
			// Each unknown alias of the refused request is charged,
			// into debt (reqState.misses).
			o.misses.Debit(missKey, st.misses)
		}
		return req, o.answer(lr, req, jerr)
	}
	if route.HasPhase(routes.Response) || route.LeakGuard != routes.LeakOff {
		// gzip or no coding, decoded for the client (askGzip): the
		// response phase reads every body, whole (delRange).
		askGzip(req.Header, st)
		delRange(req.Header)
	}
	return o.toDestination(req, d), nil
}

// OutboundTarget returns the path the outbound proxy matches routes
// against, r's URL made canonical, or its refusal of a request read from
// the tunnel of a CONNECT to connect ("host:port"; "": a plain-HTTP
// request, whose Host is not checked) before any route is matched: a
// Host that names another host or port (403 host_mismatch), CONNECT (405
// connect_refused) and a target it does not forward (400 unsafe_path). It
// is the proxy's own check (onRequest); `aliasgate routes test` reads an
// outbound request file by it.
func OutboundTarget(r *http.Request, connect string) (string, *jsonapi.Error) {
	if connect != "" {
		host, port := splitHost(connect, "443")
		ih, ip := splitHost(r.Host, "")
		if hostMismatch(ih, ip, host, port) {
			return "", errHostMismatch()
		}
	}
	return outboundPath(r)
}

// hostMismatch reports that a request's Host (ih, ip: splitHost's, "" for
// no port) names another host or port than its CONNECT's.
func hostMismatch(ih, ip, host, port string) bool {
	return ih != host || (ip != "" && ip != port)
}

func errHostMismatch() *jsonapi.Error {
	return jsonapi.NewError(http.StatusForbidden, "host_mismatch", "Forbidden",
		"the request's Host must name the host of the CONNECT")
}

// outboundPath is OutboundTarget once the Host is checked: CONNECT and a
// target the proxy does not forward are refused, else r's URL is made
// canonical and its path returned.
func outboundPath(r *http.Request) (string, *jsonapi.Error) {
	// CONNECT opens the proxy's own tunnels (serveConnect); one read from a
	// tunnel, or another case of it, is never forwarded: sent to an HTTP/2
	// destination it has no path (its target is the authority, not the
	// path routes and filters matched), and a destination that proxies
	// would open a tunnel no route reads (as inbound, docs/DECISIONS.md).
	return requestTarget(r, "CONNECT opens a tunnel through the proxy; it is not forwarded")
}

// toDestination points req (the hook's own copy) at d, with d's Host.
func (o *Outbound) toDestination(req *http.Request, d dest) *http.Request {
	req.URL.Scheme, req.URL.Host = d.scheme, d.hostport
	if d.host != "" {
		req.Host = d.host
	}
	req.RequestURI = ""
	return req
}

// roundTrip is the goproxy RoundTripper of every request: our transport
// and checked dialer; a failure becomes the proxy's JSON:API answer, so
// goproxy never drops the connection or writes an error text.
func (o *Outbound) roundTrip(req *http.Request, _ *goproxy.ProxyCtx) (*http.Response, error) {
	resp, err := o.upstream.RoundTrip(req)
	if err == nil && resp.StatusCode == http.StatusSwitchingProtocols {
		// Upgrade is never forwarded (removeHopByHop): the destination
		// switched on its own, and goproxy cannot carry the connection
		// it hands over (it left the client's open, or dropped it).
		_ = resp.Body.Close()
		resp, err = nil, errProtocolSwitch
	}
	if err == nil {
		if resp.Body != nil && resp.Body != http.NoBody {
			// goproxy sends a response whose Body is no longer the one
			// the round trip returned as chunked, dropping its length;
			// onResponse swaps the reader inside instead.
			resp.Body = newSwapBody(loopFrom(req.Context()), resp.Body)
		}
		return resp, nil
	}
	route := "-"
	if st := stateFrom(req.Context()); st != nil {
		route = st.route.ID
	}
	lr := loopFrom(req.Context())
	if lr == nil {
		lr = &loopReq{}
	}
	return o.answer(lr, req, upstreamFailure(o.log, req, route, err)), nil
}

// errProtocolSwitch is the round trip's error when a destination answers
// 101 Switching Protocols, which the outbound proxy never asks for.
var errProtocolSwitch = errors.New("proxy: the destination switched protocols unasked (101)")

// onResponse is goproxy's response hook: the response phase of the
// request's route, the capture of what the client gets, and what the
// access line needs.
func (o *Outbound) onResponse(resp *http.Response, gctx *goproxy.ProxyCtx) *http.Response {
	if resp == nil || resp.Request == nil {
		return resp
	}
	req := resp.Request
	lr := loopFrom(req.Context())
	if lr == nil {
		return resp
	}
	if lr.st != nil && !lr.canned {
		// The phase reads the upstream's body itself, not through the
		// swapBody: a body it hands back unread past a prefix (too large
		// to buffer) reads on from that body, and the swapBody that now
		// reads from it must not be the body it reads from (a Read that
		// calls itself until the stack overflows, crashing the process),
		// nor count the prefix twice.
		sb, _ := resp.Body.(*swapBody)
		if sb != nil {
			resp.Body = sb.ReadCloser
		}
		if readsResponses(lr.st.route) {
			// goproxy writes the status line with the reason phrase the
			// destination sent, which nothing reads: the standard one
			// goes instead (Response.Write, given no Status).
			resp.Status = ""
		}
		if jerr := o.pipe.response(req.Context(), lr.st, outboundResponse, resp); jerr != nil {
			_ = resp.Body.Close()
			resp = o.answer(lr, req, jerr)
			resp.Header.Set(DeliveredHeader, "true")
		} else if sb != nil {
			// Keep the body goproxy knows, reading the new bytes: the
			// response goes out with its Content-Length.
			sb.ReadCloser = resp.Body
			resp.Body = sb
		}
	}
	if lr.line != nil {
		lr.status = resp.StatusCode
		hasBody := req.Method != http.MethodHead && resp.Body != nil && resp.Body != http.NoBody
		switch {
		case !hasBody:
		case resp.ContentLength >= 0:
			lr.bytes = resp.ContentLength
		default:
			lr.counted = true
		}
		// goproxy closes the body once the response is written (or its
		// writing failed): the line ends then. Every body but an empty
		// one is a swapBody (roundTrip, answer); for an empty one the
		// line ends when goproxy cancels the request's context, which it
		// does right after.
		if sb, ok := resp.Body.(*swapBody); ok {
			sb.end.Store(lr)
		} else {
			context.AfterFunc(gctx.Req.Context(), func() { o.endLoop(lr, 0) })
			if lr.guard != nil {
				// Now rather than from AfterFunc's goroutine, which
				// may run once goproxy reads the next request.
				lr.guard.end(lr.guardSeq)
			}
		}
	}
	if lr.rec != nil {
		hasBody := resp.Body != nil && resp.Body != http.NoBody
		lr.rec.begin(&lr.rec.resp[sideOut], resp.Header, hasBody)
		if hasBody {
			resp.Body = &teeBody{ReadCloser: resp.Body, rec: lr.rec, s: &lr.rec.resp[sideOut]}
		}
	}
	return resp
}

// endLoop writes the access line of an intercepted request and hands its
// capture on, once goproxy is done with it; read is what was read of a
// body whose length was unknown.
func (o *Outbound) endLoop(lr *loopReq, read int64) {
	status, n := lr.status, lr.bytes
	if lr.counted {
		n = read
	}
	if status == 0 {
		status = http.StatusBadGateway // the exchange ended without a response
	}
	lr.line.End(status, n)
	if lr.rec != nil {
		orig := &http.Request{Method: lr.method, Host: lr.host, URL: &url.URL{Path: lr.path, RawQuery: lr.rawQuery}}
		ri := obs.RouteInfoFrom(&lr.ctx)
		x := lr.rec.exchange(routes.Outbound, orig, ri, status)
		x.Start, x.Duration = lr.start, time.Since(lr.start)
		if x.Route == nil && x.RouteName != "-" {
			x.Route = routeByID(o.table.Load(), x.RouteName)
		}
		o.capture.Capture(x)
		lr.rec.done()
	}
	if lr.st != nil {
		lr.st.cancel(nil)     // the exchange is over (see onRequest)
		o.pipe.release(lr.st) // and nothing refers to its bodies any more
	}
	if lr.guard != nil {
		lr.guard.end(lr.guardSeq)
	}
}

// answer returns the proxy's own response to req: a JSON:API error
// document.
func (o *Outbound) answer(lr *loopReq, req *http.Request, e *jsonapi.Error) *http.Response {
	lr.canned = true
	rec := &recorder{h: http.Header{}}
	writeOutboundError(rec, e)
	code := rec.code
	if code == 0 {
		code = http.StatusOK
	}
	rec.h.Set("Content-Length", strconv.Itoa(rec.buf.Len()))
	return &http.Response{
		Status: strconv.Itoa(code) + " " + http.StatusText(code), StatusCode: code,
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: rec.h, Body: &swapBody{ReadCloser: io.NopCloser(bytes.NewReader(rec.buf.Bytes()))}, ContentLength: int64(rec.buf.Len()),
		Request: req,
	}
}

// swapBody is the body of every non-empty response the outbound proxy
// hands goproxy (roundTrip, answer). onResponse may swap the reader inside
// (goproxy sends a response whose Body is no longer the one it got as
// chunked, dropping its length). It counts what is read, for the access
// line of a body of unknown length, and its Close (goproxy closes the body
// once, after writing the response) ends the access line of the request
// onResponse gave it (end).
type swapBody struct {
	io.ReadCloser
	n   int64
	end atomic.Pointer[loopReq]
}

// newSwapBody returns a swapBody reading r: lr's own the first time (lr
// may be nil), else a new one.
func newSwapBody(lr *loopReq, r io.ReadCloser) *swapBody {
	if lr == nil || lr.bodyUsed {
		return &swapBody{ReadCloser: r}
	}
	lr.bodyUsed = true
	lr.body.ReadCloser = r
	return &lr.body
}

func (b *swapBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.n += int64(n)
	return n, err
}

func (b *swapBody) Close() error {
	err := b.ReadCloser.Close()
	if lr := b.end.Swap(nil); lr != nil {
		lr.o.endLoop(lr, b.n)
	}
	return err
}

// startCapture records the client side of an intercepted request (req is
// goproxy's, which the hook may change: goproxy closes the body it read).
func startCapture(c Capturer, budget *bodybudget.Budget, req *http.Request) *captureRec {
	rec := &captureRec{limit: max(c.CaptureLimit(), 1), budget: budget}
	rec.req[sideIn] = snap{seen: true, header: req.Header.Clone(), complete: true}
	if req.Body != nil && req.Body != http.NoBody {
		rec.req[sideIn].complete = false
		req.Body = &teeBody{ReadCloser: req.Body, rec: rec, s: &rec.req[sideIn]}
	}
	return rec
}

// removeHopByHop deletes the hop-by-hop headers of h (RFC 9110 §7.6.1:
// Connection, Proxy-Connection, Keep-Alive, Proxy-Authenticate,
// Proxy-Authorization, TE, Trailer, Transfer-Encoding, and Upgrade and
// HTTP2-Settings: intercepted tunnels carry HTTP/1.1 only), never
// forwarded, and those its Connection header names. The fixed names are
// found in one pass over h's keys: h holds canonical keys (Header.Del
// deletes only the canonical form of a name too), and ten Dels, each
// canonicalising its name, cost more than the pass.
func removeHopByHop(h http.Header) {
	dropConnectionNamed(h, h["Connection"])
	for k := range h {
		if hopByHop(k) {
			delete(h, k)
		}
	}
}

// hopByHop reports whether the canonical header name k is one of the fixed
// hop-by-hop fields removeHopByHop removes (Inbound.forward leaves them out
// of the outgoing request by the same list).
func hopByHop(k string) bool {
	switch k {
	case "Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate", "Proxy-Authorization",
		"Te", "Trailer", "Transfer-Encoding", "Upgrade", "Http2-Settings":
		return true
	}
	return false
}

// dropConnectionNamed deletes from h the fields the Connection values
// conn name (a comma-separated list of field names each).
func dropConnectionNamed(h http.Header, conn []string) {
	for _, c := range conn {
		for name := range strings.SplitSeq(c, ",") {
			if name = textproto.TrimString(name); name != "" {
				h.Del(name)
			}
		}
	}
}

// goproxyLogger sends goproxy's messages to the debug log, without the
// text a peer sent: goproxy quotes what it could not read (a header line
// without a colon whole, a URL with its query) in its arguments. Integer
// arguments (its session numbers) are kept, an error's text with every
// quoted part replaced by "…" (Go's parsers quote the offending input with
// %q), and any other argument (a host, a URL, an error already made a
// string) is written as "…".
//
// A request of an intercepted tunnel that goproxy cannot read ends the
// tunnel before any hook runs: its message is the only trace, so it is
// logged and counted as not served (obs.NotServed, listener "outbound"),
// as the listener's requests that net/http refuses are.
type goproxyLogger struct {
	l *slog.Logger
	m *obs.Metrics // may be nil
}

// goproxyUnreadable starts goproxy's message for a tunnel request it
// cannot read.
const goproxyUnreadable = "Cannot read request from mitm'd client"

func (g goproxyLogger) Printf(format string, v ...any) {
	if strings.Contains(format, goproxyUnreadable) {
		obs.NotServed(g.l, g.m, "outbound", "-")
	}
	if !g.l.Enabled(context.Background(), slog.LevelDebug) {
		return
	}
	safe := make([]any, len(v))
	for i, a := range v {
		switch a := a.(type) {
		case int, int8, int16, int32, int64, uint, uint8, uint16, uint32, uint64:
			safe[i] = a
		case error:
			safe[i] = quotedText.ReplaceAllString(a.Error(), `"…"`)
		default:
			safe[i] = "…"
		}
	}
	g.l.Debug("goproxy: " + fmt.Sprintf(format, safe...))
}

// quotedText matches a Go-quoted string (strconv.Quote's form).
var quotedText = regexp.MustCompile(`"(?:[^"\\]|\\.)*"`)
