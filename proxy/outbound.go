package proxy

// The outbound forward proxy: merchants' backends send their calls to
// payment processors through it (HTTPS_PROXY plus the gateway CA), and it
// puts card data back into the requests of routed destinations.
//
// # Decisions
//
//   - Every request needs Proxy-Authorization: Basic when Authenticate is
//     set (407 otherwise). A MITM tunnel is authenticated once, at CONNECT.
//   - CONNECT to a host with an outbound route is intercepted with a leaf
//     certificate of the gateway CA; CONNECT to a Passthrough host is
//     tunnelled untouched (the proxy dials it before answering 200);
//     any other CONNECT gets 403. The destination is resolved and its
//     addresses checked (ForbiddenAddr) before the tunnel is answered, and
//     every dial checks again and dials the checked address.
//   - Inside an intercepted tunnel the client's SNI (when it sends one) and
//     each request's Host must name the CONNECT host (403 otherwise), so a
//     route bound to a host reveals only towards that host.
//   - Request filters run without the leak guard (revealed PANs are the
//     point); an alias a reveal target holds that the vault does not know
//     (or that expired) refuses the request with 422 naming the target,
//     unless on_error: pass. Response filters and the leak guard run as on
//     the inbound side, so a processor echoing a PAN gets it redacted.
//   - The destination's TLS certificate is always verified against
//     RootCAs (502 when it does not verify; nothing is sent).

import (
	"bufio"
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
	"net/http/httputil"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/elazarl/goproxy"

	"github.com/aliasgate/aliasgate/internal/jsonapi"
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
	// CA signs the certificates of intercepted hosts (required).
	CA *CA
	// Authenticate checks proxy credentials (the user and password of
	// Proxy-Authorization: Basic); nil requires none.
	Authenticate func(ctx context.Context, user, pass string) error
	// Passthrough lists host patterns (as route hosts: "api.example.com",
	// "*.example.com") that may be tunnelled without a route.
	Passthrough []string
	// AllowPrivate lets the proxy dial loopback, private, link-local and
	// other addresses ForbiddenAddr refuses.
	AllowPrivate bool
	// RootCAs verifies destinations; nil: the system roots.
	RootCAs *x509.CertPool
	// MaxBody bounds a buffered body; default DefaultMaxBody.
	MaxBody int64
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
	// Capturer, when set, gets every request served (plain HTTP and inside
	// intercepted tunnels; see capture.go); nil costs nothing.
	Capturer Capturer
	// TunnelIdleTimeout closes a hijacked client connection (a CONNECT
	// tunnel, intercepted or passed through: http.Server's timeouts end at
	// the hijack) after this long without a byte read from or written to
	// the client, so a client that opens a tunnel and goes quiet (or sends
	// a byte now and then slower than this) does not hold it for ever.
	// 0: no limit.
	TunnelIdleTimeout time.Duration
	// TunnelWriteTimeout bounds each write to a tunnel's client (one that
	// stops reading); 0: no limit.
	TunnelWriteTimeout time.Duration
}

// Outbound is the outbound forward proxy, an http.Handler that writes its
// own access lines (listener "outbound"): one per CONNECT, one per request
// inside an intercepted tunnel, one per plain-HTTP request.
type Outbound struct {
	table       *routes.Table
	ca          *CA
	auth        func(ctx context.Context, user, pass string) error
	passthrough []string
	log         *slog.Logger
	m           *obs.Metrics
	core        *Inbound // filter machinery shared with the inbound side
	dialer      *destDialer
	transport   *http.Transport
	rp          *httputil.ReverseProxy
	gp          *goproxy.ProxyHttpServer
	front       http.Handler // access-logged entry point
	inner       http.Handler // access-logged handler of intercepted requests

	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	closed bool

	tunnelIdle, tunnelWrite time.Duration // OutboundOptions.Tunnel*Timeout
}

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
		if p = strings.ToLower(strings.TrimSpace(p)); p != "" {
			pass = append(pass, p)
		}
	}
	o := &Outbound{
		table: opts.Table, ca: opts.CA, auth: opts.Authenticate, passthrough: pass,
		log: opts.Logger, m: opts.Metrics,
		core: &Inbound{table: opts.Table, tok: timedTokenizer{opts.Tokenizer}, max: opts.MaxBody,
			log: opts.Logger, m: opts.Metrics},
		dialer:      newDestDialer(opts.Resolver, opts.AllowPrivate),
		conns:       map[net.Conn]struct{}{},
		tunnelIdle:  opts.TunnelIdleTimeout,
		tunnelWrite: opts.TunnelWriteTimeout,
	}
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
		ResponseHeaderTimeout: opts.UpstreamTimeout,
	}
	o.rp = &httputil.ReverseProxy{
		Rewrite:        o.rewrite,
		Transport:      &timeoutTransport{rt: o.transport, d: opts.UpstreamTimeout},
		ModifyResponse: o.modifyResponse,
		ErrorHandler:   o.errorHandler,
		ErrorLog:       slog.NewLogLogger(opts.Logger.Handler(), slog.LevelWarn),
		BufferPool:     copyBuffers,
	}
	o.enableCapture(opts.Capturer)

	gp := goproxy.NewProxyHttpServer()
	gp.Verbose = false
	gp.Logger = goproxyLogger{opts.Logger}
	gp.Tr = o.transport // never used for a request: the handler below answers them all
	gp.ConnectDialWithReq = o.connectDial
	gp.OnRequest().HandleConnect(goproxy.FuncHttpsHandler(o.handleConnect))
	gp.OnRequest().DoFunc(o.handleIntercepted)
	o.gp = gp

	o.front = obs.AccessLog(opts.Logger, opts.Metrics, "outbound", http.HandlerFunc(o.serveFront))
	o.inner = obs.AccessLog(opts.Logger, opts.Metrics, "outbound", http.HandlerFunc(o.serveRequest))
	return o, nil
}

// ServeHTTP implements http.Handler.
func (o *Outbound) ServeHTTP(w http.ResponseWriter, r *http.Request) { o.front.ServeHTTP(w, r) }

// Close closes every hijacked client connection and tunnel (intercepted or
// passed through) and the idle destination connections. Later CONNECTs are
// refused. Close the http.Server first (Shutdown does not see hijacked
// connections).
func (o *Outbound) Close() error {
	o.mu.Lock()
	o.closed = true
	conns := make([]net.Conn, 0, len(o.conns))
	for c := range o.conns {
		conns = append(conns, c)
	}
	o.mu.Unlock()
	for _, c := range conns {
		_ = c.Close()
	}
	o.transport.CloseIdleConnections()
	return nil
}

// track registers c for Close; it returns false (and closes c) after Close.
func (o *Outbound) track(c net.Conn) (net.Conn, bool) {
	tc := &trackedConn{Conn: c, o: o, idle: o.tunnelIdle, write: o.tunnelWrite}
	tc.touch()
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		_ = c.Close()
		return nil, false
	}
	o.conns[tc] = struct{}{}
	return tc, true
}

type trackedConn struct {
	net.Conn
	o           *Outbound
	once        sync.Once
	idle, write time.Duration
}

// touch moves the read deadline idle ahead: any traffic, either way, keeps
// the tunnel open.
func (c *trackedConn) touch() {
	if c.idle > 0 {
		_ = c.Conn.SetReadDeadline(time.Now().Add(c.idle))
	}
}

func (c *trackedConn) Read(p []byte) (int, error) {
	c.touch()
	return c.Conn.Read(p)
}

func (c *trackedConn) Write(p []byte) (int, error) {
	c.touch()
	if c.write > 0 {
		_ = c.Conn.SetWriteDeadline(time.Now().Add(c.write))
	}
	return c.Conn.Write(p)
}

func (c *trackedConn) Close() error {
	c.once.Do(func() {
		c.o.mu.Lock()
		delete(c.o.conns, c)
		c.o.mu.Unlock()
	})
	return c.Conn.Close()
}

// trackingWriter registers the connection goproxy hijacks.
type trackingWriter struct {
	http.ResponseWriter
	o *Outbound
}

func (w *trackingWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	h, ok := w.ResponseWriter.(http.Hijacker)
	if !ok {
		return nil, nil, errors.New("proxy: connection cannot be hijacked")
	}
	c, rw, err := h.Hijack()
	if err != nil {
		return nil, nil, err
	}
	tc, ok := w.o.track(c)
	if !ok {
		return nil, nil, errors.New("proxy: shutting down")
	}
	return tc, rw, nil
}

// tunnel is what an intercepted CONNECT established.
type tunnel struct {
	host string // lower case, no port, no brackets
	port string
}

// connectState carries the CONNECT decision from serveConnect to the
// goproxy hooks.
type connectState struct {
	t    *tunnel
	mu   sync.Mutex
	conn net.Conn // passthrough: the destination, dialled before the 200
}

type connectKey struct{}
type destKey struct{}

// dest is where serveRequest sends a request.
type dest struct {
	scheme   string
	hostport string
}

func (o *Outbound) serveFront(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.Method == http.MethodConnect:
		o.serveConnect(w, r)
	case r.URL.IsAbs() && r.URL.Host != "":
		o.serveRequest(w, r)
	default:
		writeError(w, jsonapi.NewError(http.StatusBadRequest, "not_a_proxy_request", "Bad Request",
			"this is a forward proxy: send absolute-form requests or CONNECT"))
	}
}

// authorize checks Proxy-Authorization and answers 407 when it fails.
func (o *Outbound) authorize(w http.ResponseWriter, r *http.Request) bool {
	if o.auth == nil {
		return true
	}
	if user, pass, ok := proxyBasicAuth(r.Header.Get("Proxy-Authorization")); ok {
		if err := o.auth(r.Context(), user, pass); err == nil {
			return true
		}
		o.log.LogAttrs(r.Context(), slog.LevelInfo, "proxy: proxy credentials refused", slog.String("remote", r.RemoteAddr))
	}
	w.Header().Set("Proxy-Authenticate", `Basic realm="aliasgate"`)
	writeError(w, jsonapi.NewError(http.StatusProxyAuthRequired, "proxy_auth_required", "Proxy Authentication Required",
		"send Proxy-Authorization: Basic with outbound client credentials"))
	return false
}

func proxyBasicAuth(v string) (user, pass string, ok bool) {
	if v == "" {
		return "", "", false
	}
	r := http.Request{Header: http.Header{"Authorization": {v}}}
	return r.BasicAuth()
}

// splitHost splits "host:port", "[v6]:port" or "host" into a lower-case
// host without brackets or trailing dot and a port (def when absent).
func splitHost(hp, def string) (string, string) {
	host, port, err := net.SplitHostPort(hp)
	if err != nil {
		host, port = strings.TrimSuffix(strings.TrimPrefix(hp, "["), "]"), def
	}
	return strings.ToLower(strings.TrimSuffix(host, ".")), port
}

func (o *Outbound) routed(host string) bool {
	for _, r := range o.table.Load().Routes {
		if r.Direction == routes.Outbound && routes.HostMatches(r.Host, host) {
			return true
		}
	}
	return false
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
	if !o.authorize(w, r) {
		return
	}
	host, port := splitHost(r.Host, "443")
	if host == "" || port == "" {
		writeError(w, jsonapi.NewError(http.StatusBadRequest, "bad_connect", "Bad Request", "CONNECT needs host:port"))
		return
	}
	ctx := r.Context()
	mitm := o.routed(host)
	if !mitm && !o.passes(host) {
		o.log.LogAttrs(ctx, slog.LevelInfo, "proxy: CONNECT refused: no outbound route or passthrough entry", slog.Any("host", obs.Untrusted(host)))
		writeError(w, jsonapi.NewError(http.StatusForbidden, "destination_not_allowed", "Forbidden",
			"the destination has no outbound route and is not listed in outbound.passthrough"))
		return
	}
	cs := &connectState{t: &tunnel{host: host, port: port}}
	if mitm {
		if _, err := o.dialer.resolve(ctx, host); err != nil {
			o.destinationError(w, r, err)
			return
		}
	} else {
		c, err := o.dialer.DialContext(ctx, "tcp", net.JoinHostPort(host, port))
		if err != nil {
			o.destinationError(w, r, err)
			return
		}
		tc, ok := o.track(c)
		if !ok {
			writeError(w, jsonapi.NewError(http.StatusServiceUnavailable, "shutting_down", "Service Unavailable", "the proxy is shutting down"))
			return
		}
		cs.conn = tc
		defer func() { // not taken by goproxy: close it
			cs.mu.Lock()
			defer cs.mu.Unlock()
			if cs.conn != nil {
				cs.conn.Close()
			}
		}()
	}
	o.gp.ServeHTTP(&trackingWriter{ResponseWriter: w, o: o}, r.WithContext(context.WithValue(ctx, connectKey{}, cs)))
}

// destinationError answers a CONNECT whose destination cannot be used.
func (o *Outbound) destinationError(w http.ResponseWriter, r *http.Request, err error) {
	var fe *ForbiddenError
	if errors.As(err, &fe) {
		o.log.LogAttrs(r.Context(), slog.LevelWarn, "proxy: destination refused", slog.Any("host", obs.Untrusted(fe.Host)), slog.String("reason", fe.Reason))
		writeError(w, jsonapi.NewError(http.StatusForbidden, "forbidden_destination", "Forbidden",
			"the destination resolves to an address the proxy does not dial ("+fe.Reason+")"))
		return
	}
	o.log.LogAttrs(r.Context(), slog.LevelWarn, "proxy: destination unreachable", slog.String("error", err.Error()))
	writeError(w, jsonapi.NewError(http.StatusBadGateway, "destination_unreachable", "Bad Gateway", "the destination could not be reached"))
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
	return &goproxy.ConnectAction{Action: goproxy.ConnectMitm, TLSConfig: o.tlsConfig(cs.t)}, host
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
				if sni := strings.ToLower(strings.TrimSuffix(hello.ServerName, ".")); sni != "" && sni != t.host {
					o.log.Warn("proxy: TLS SNI differs from the CONNECT host; handshake refused", "host", obs.Untrusted(t.host))
					return nil, errors.New("proxy: SNI does not match the CONNECT host")
				}
				return o.ca.Leaf(t.host)
			},
		}, nil
	}
}

// handleIntercepted is goproxy's hook for each request read from an
// intercepted tunnel: it runs the request through o.inner and gives
// goproxy the response to write, streaming its body.
func (o *Outbound) handleIntercepted(req *http.Request, ctx *goproxy.ProxyCtx) (*http.Request, *http.Response) {
	t, _ := ctx.UserData.(*tunnel)
	pw := newPipeResponse(req)
	r := req.WithContext(context.WithValue(req.Context(), tunnelKey{}, t))
	go func() {
		defer func() {
			if v := recover(); v != nil {
				if v != http.ErrAbortHandler {
					o.log.Error("proxy: panic serving an intercepted request", "panic", fmt.Sprint(v))
				}
				pw.abort()
				return
			}
			pw.finish()
		}()
		if t == nil {
			writeError(pw, jsonapi.NewError(http.StatusForbidden, "not_intercepted", "Forbidden", "no intercepted tunnel"))
			return
		}
		o.inner.ServeHTTP(pw, r)
	}()
	return req, pw.response()
}

type tunnelKey struct{}

// serveRequest serves a request inside an intercepted tunnel or a
// plain-HTTP absolute-form request.
func (o *Outbound) serveRequest(w http.ResponseWriter, r *http.Request) {
	if o.core.capture != nil && captureFrom(r.Context()) == nil {
		serveCaptured(o.core.capture, o.table, routes.Outbound, w, r, o.serveRequest)
		return
	}
	ctx := r.Context()
	var host, port, scheme string
	if t, _ := ctx.Value(tunnelKey{}).(*tunnel); t != nil {
		ih, ip := splitHost(r.Host, "")
		if ih != t.host || (ip != "" && ip != t.port) {
			o.log.LogAttrs(ctx, slog.LevelWarn, "proxy: request Host differs from the CONNECT host; refused", slog.Any("host", obs.Untrusted(t.host)))
			writeError(w, jsonapi.NewError(http.StatusForbidden, "host_mismatch", "Forbidden",
				"the request's Host must name the host of the CONNECT"))
			return
		}
		host, port, scheme = t.host, t.port, r.URL.Scheme
		if scheme == "" {
			scheme = "https"
		}
	} else {
		if !o.authorize(w, r) {
			return
		}
		if r.URL.Scheme != "http" {
			writeError(w, jsonapi.NewError(http.StatusBadRequest, "unsupported_scheme", "Bad Request",
				"absolute-form requests must be http://; use CONNECT for https"))
			return
		}
		host, port = splitHost(r.URL.Host, "80")
		scheme = "http"
		if !o.routed(host) && !o.passes(host) {
			o.log.LogAttrs(ctx, slog.LevelInfo, "proxy: request refused: no outbound route or passthrough entry", slog.Any("host", obs.Untrusted(host)))
			writeError(w, jsonapi.NewError(http.StatusForbidden, "destination_not_allowed", "Forbidden",
				"the destination has no outbound route and is not listed in outbound.passthrough"))
			return
		}
	}
	ctx = context.WithValue(ctx, destKey{}, &dest{scheme: scheme, hostport: net.JoinHostPort(host, port)})
	if route := o.table.Load().Match(routes.Outbound, host, r.URL.Path); route != nil {
		obs.SetRoute(ctx, route.ID)
		st := &reqState{route: route, method: r.Method, path: r.URL.Path}
		ctx = context.WithValue(vault.WithRoute(ctx, route.ID), stateKey{}, st) // the route is the actor of audited reveals
		r = r.WithContext(ctx)
		if jerr := o.requestPhase(r, st); jerr != nil {
			writeError(w, jerr)
			return
		}
	} else {
		r = r.WithContext(ctx)
	}
	o.rp.ServeHTTP(w, r)
}

func (o *Outbound) rewrite(pr *httputil.ProxyRequest) {
	d := pr.In.Context().Value(destKey{}).(*dest)
	pr.Out.URL.Scheme = d.scheme
	pr.Out.URL.Host = d.hostport
	pr.Out.Host = pr.In.Host
	if st, _ := pr.In.Context().Value(stateKey{}).(*reqState); st != nil && st.route.HasPhase(routes.Response) {
		pr.Out.Header.Del("Accept-Encoding")
	}
}

func (o *Outbound) modifyResponse(resp *http.Response) error {
	st, _ := resp.Request.Context().Value(stateKey{}).(*reqState)
	if st == nil {
		return nil
	}
	return o.core.responsePhase(resp.Request.Context(), st, resp)
}

func (o *Outbound) errorHandler(w http.ResponseWriter, r *http.Request, err error) {
	var fe *ForbiddenError
	var uae x509.UnknownAuthorityError
	var he x509.HostnameError
	var cie x509.CertificateInvalidError
	var cve *tls.CertificateVerificationError
	switch {
	case errors.As(err, &fe):
		o.log.LogAttrs(r.Context(), slog.LevelWarn, "proxy: destination refused", slog.Any("host", obs.Untrusted(fe.Host)), slog.String("reason", fe.Reason))
		writeError(w, jsonapi.NewError(http.StatusForbidden, "forbidden_destination", "Forbidden",
			"the destination resolves to an address the proxy does not dial ("+fe.Reason+")"))
	case errors.As(err, &cve), errors.As(err, &uae), errors.As(err, &he), errors.As(err, &cie):
		o.log.LogAttrs(r.Context(), slog.LevelWarn, "proxy: destination certificate does not verify", slog.String("error", safeErr(err)))
		writeError(w, jsonapi.NewError(http.StatusBadGateway, "destination_certificate_invalid", "Bad Gateway",
			"the destination's TLS certificate does not verify"))
	default:
		o.core.errorHandler(w, r, err)
	}
}

// requestPhase applies the route's matched request filters, like
// Inbound.process but without the leak guard (revealed card data is what
// the destination expects) and with reveal targets strict: an alias the
// vault does not know refuses the request (422) unless on_error: pass.
func (o *Outbound) requestPhase(r *http.Request, st *reqState) *jsonapi.Error {
	ctx := r.Context()
	mt, params := parseMediaType(r.Header.Get("Content-Type"))
	x := routes.Exchange{Method: r.Method, Path: r.URL.Path, MediaType: mt}
	filters := st.route.Matching(routes.Request, x)
	if len(filters) == 0 {
		return nil
	}
	needBody := needsBody(filters)
	hasBody := r.Body != nil && r.Body != http.NoBody && r.ContentLength != 0
	enc := contentEncoding(r.Header.Get("Content-Encoding"))
	var raw, body []byte
	var bodyErr error
	buffered := false
	if hasBody && needBody {
		if r.ContentLength > o.core.max {
			bodyErr = errTooLarge
		} else {
			b, err := readBody(r.Body, r.ContentLength, o.core.max)
			switch {
			case errors.Is(err, errTooLarge):
				bodyErr = errTooLarge
				r.Body = rejoin(b, r.Body)
			case err != nil:
				o.log.Warn("proxy: reading body failed", "route", st.route.ID, "phase", "request", "error", err.Error())
				return refusal(routes.Request, "body_unreadable")
			default:
				raw, buffered = b, true
				if body, err = decodeBody(enc, raw, o.core.max); err != nil {
					bodyErr, body = err, nil
				}
			}
		}
	}
	changed := false
	for _, f := range filters {
		if f.Program.HasBody() && bodyErr != nil {
			if o.core.filterFailed(ctx, st, f, bodyErr) {
				return refusal(routes.Request, reason(bodyErr))
			}
			continue
		}
		msg := &rewrite.Message{Header: r.Header, Body: body, MediaType: mt, Params: params}
		tok := o.core.tok
		if f.Program.Operation() == rewrite.Reveal {
			tok = strictReveal{tok}
		}
		changes, err := f.Program.Apply(ctx, msg, tok)
		if err != nil && errors.Is(err, errUnknownAlias) {
			kind, path := o.unknownAliasTarget(ctx, f, msg)
			pass := f.OnError == routes.Pass
			result := "rejected"
			if pass {
				result = "passed_on_error"
			}
			if o.m != nil {
				o.m.ProxyFilterResults.WithLabelValues(st.route.ID, f.ID, result).Inc()
			}
			o.log.LogAttrs(ctx, slog.LevelWarn, "proxy: reveal target holds an unknown or expired alias",
				slog.String("route", st.route.ID), slog.String("filter", f.ID), slog.String("target", string(kind)+":"+path),
				slog.Bool("forwarded", pass))
			if !pass {
				return jsonapi.NewError(http.StatusUnprocessableEntity, "unknown_alias", "Unprocessable Entity",
					fmt.Sprintf("%s target %q holds an alias that does not exist or has expired", kind, path))
			}
			// on_error: pass: reveal what is known, leave the rest.
			changes, err = f.Program.Apply(ctx, msg, o.core.tok)
		}
		if err != nil {
			if o.core.filterFailed(ctx, st, f, err) {
				return refusal(routes.Request, reason(err))
			}
			continue
		}
		o.core.filterApplied(ctx, st, f)
		for _, c := range changes {
			if c.Kind != rewrite.KindHeader {
				changed = true
				body = msg.Body
				break
			}
		}
	}
	if buffered {
		out := raw
		if changed {
			var err error
			if out, err = encodeBody(enc, body); err != nil {
				o.log.Error("proxy: re-encoding body failed", "route", st.route.ID, "phase", "request", "error", err.Error())
				return refusal(routes.Request, "internal_error")
			}
		}
		r.Body = io.NopCloser(bytes.NewReader(out))
		r.ContentLength = int64(len(out))
		r.TransferEncoding = nil
		r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(out)), nil }
		r.Header.Set("Content-Length", strconv.Itoa(len(out)))
		r.Header.Del("Expect")
	}
	return nil
}

// unknownAliasTarget finds the first target of f whose values include an
// alias the vault does not know, by applying each target alone.
func (o *Outbound) unknownAliasTarget(ctx context.Context, f *routes.Filter, msg *rewrite.Message) (rewrite.Kind, string) {
	for _, spec := range f.Program.Targets() {
		p, err := rewrite.Compile(rewrite.Reveal, []rewrite.TargetSpec{spec})
		if err != nil {
			continue
		}
		m := &rewrite.Message{Header: msg.Header.Clone(), Body: msg.Body, MediaType: msg.MediaType, Params: msg.Params}
		if _, err := p.Apply(ctx, m, strictReveal{o.core.tok}); errors.Is(err, errUnknownAlias) {
			return spec.Kind, spec.Path
		}
	}
	return "body", "unknown"
}

var errUnknownAlias = errors.New("proxy: alias not found or expired")

// unknownAliasError says which item of a Reveal call was not an alias.
type unknownAliasError struct{ Item int }

func (e *unknownAliasError) Error() string {
	return fmt.Sprintf("proxy: item %d of the reveal is not a live alias", e.Item)
}
func (e *unknownAliasError) Unwrap() error { return errUnknownAlias }

// strictReveal turns the "" a Tokenizer answers for an unknown alias into
// an error naming the item.
type strictReveal struct{ t rewrite.Tokenizer }

func (s strictReveal) Redact(ctx context.Context, items []rewrite.RedactItem) ([]string, error) {
	return s.t.Redact(ctx, items)
}

func (s strictReveal) Reveal(ctx context.Context, aliases []string) ([]string, error) {
	got, err := s.t.Reveal(ctx, aliases)
	if err != nil {
		return nil, err
	}
	for i, v := range got {
		if v == "" {
			clear(got)
			return nil, &unknownAliasError{Item: i}
		}
	}
	return got, nil
}

// goproxyLogger sends goproxy's messages to the debug log.
type goproxyLogger struct{ l *slog.Logger }

func (g goproxyLogger) Printf(format string, v ...any) {
	if g.l.Enabled(context.Background(), slog.LevelDebug) {
		g.l.Debug("goproxy: " + fmt.Sprintf(format, v...))
	}
}

// pipeResponse is an http.ResponseWriter whose response goproxy writes to
// the intercepted client while the handler still produces the body.
type pipeResponse struct {
	req   *http.Request
	h     http.Header
	pr    *io.PipeReader
	pw    *io.PipeWriter
	ready chan struct{}
	resp  *http.Response
	wrote bool
}

func newPipeResponse(req *http.Request) *pipeResponse {
	pr, pw := io.Pipe()
	return &pipeResponse{req: req, h: http.Header{}, pr: pr, pw: pw, ready: make(chan struct{})}
}

func (p *pipeResponse) Header() http.Header { return p.h }

func (p *pipeResponse) WriteHeader(code int) {
	if p.wrote || code >= 100 && code < 200 {
		return
	}
	p.wrote = true
	h := p.h.Clone()
	cl := int64(-1)
	if v := h.Get("Content-Length"); v != "" {
		if n, err := strconv.ParseInt(v, 10, 64); err == nil && n >= 0 {
			cl = n
		}
	}
	var body io.ReadCloser = p.pr
	if p.req.Method == http.MethodHead || code == http.StatusNoContent || code == http.StatusNotModified {
		body = http.NoBody
		go func() { _, _ = io.Copy(io.Discard, p.pr) }()
	}
	p.resp = &http.Response{
		Status: strconv.Itoa(code) + " " + http.StatusText(code), StatusCode: code,
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: h, Body: body, ContentLength: cl, Request: p.req,
	}
	close(p.ready)
}

func (p *pipeResponse) Write(b []byte) (int, error) {
	if !p.wrote {
		p.WriteHeader(http.StatusOK)
	}
	return p.pw.Write(b)
}

func (p *pipeResponse) finish() {
	if !p.wrote {
		p.WriteHeader(http.StatusOK)
	}
	_ = p.pw.Close()
}

func (p *pipeResponse) abort() {
	if !p.wrote {
		p.h = http.Header{"Content-Type": {jsonapi.MediaType}}
		p.WriteHeader(http.StatusInternalServerError)
	}
	_ = p.pw.CloseWithError(http.ErrAbortHandler)
}

func (p *pipeResponse) response() *http.Response {
	<-p.ready
	return p.resp
}
