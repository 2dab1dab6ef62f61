package obs

import (
	"bufio"
	"context"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/aliasgate/aliasgate/internal/pan"
)

// RouteInfo is the per-request holder that [AccessLog] puts into the request
// context. Handlers below the middleware record in it which route matched,
// which filters ran and how long the vault and the upstream took, using
// [SetRoute], [AddFilter], [AddVaultTime] and [AddUpstreamTime]; the access
// line and the metrics read it when the request ends. It is safe for
// concurrent use. Everything recorded must come from configuration (route
// and filter ids), never from the request.
type RouteInfo struct {
	mu       sync.Mutex
	route    string
	filters  []string
	vault    time.Duration
	upstream time.Duration
	refused  string // SetRefused
	// fbuf holds the first filter ids, sparing an allocation per request
	// in the common case of a route with few filters.
	fbuf [2]string
}

type routeInfoKey struct{}

// WithRouteInfo returns a context carrying a new, empty RouteInfo, and that
// RouteInfo. AccessLog calls it for every request; tests of a handler that
// run it without AccessLog can call it to see which route the handler chose.
func WithRouteInfo(ctx context.Context) (context.Context, *RouteInfo) {
	c := &routeInfoCtx{Context: ctx}
	return c, &c.ri
}

// accessRequest is what AccessLog makes for a request, in one allocation:
// the writer it hands the handler and the context with the RouteInfo.
type accessRequest struct {
	rw  responseWriter
	ctx routeInfoCtx
}

// routeInfoCtx is the context WithRouteInfo and StartLine return: what
// context.WithValue(parent, routeInfoKey{}, &ri) would be, with the
// RouteInfo in the same allocation (one per request instead of two).
// Everything but the RouteInfo's key goes to the parent.
type routeInfoCtx struct {
	context.Context
	ri RouteInfo
}

func (c *routeInfoCtx) Value(key any) any {
	if _, ok := key.(routeInfoKey); ok {
		return &c.ri
	}
	return c.Context.Value(key)
}

// RouteInfoFrom returns the RouteInfo in ctx, or nil when there is none. The
// methods of a nil *RouteInfo are safe to call and report nothing.
func RouteInfoFrom(ctx context.Context) *RouteInfo {
	ri, _ := ctx.Value(routeInfoKey{}).(*RouteInfo)
	return ri
}

// SetRoute records the id of the route that handles the request (a route id
// from the configuration, or a built-in name such as "internal:cards"). It
// becomes the route field of the access line and the route label of the
// HTTP metrics. It does nothing when ctx holds no RouteInfo.
func SetRoute(ctx context.Context, route string) {
	if ri := RouteInfoFrom(ctx); ri != nil {
		ri.mu.Lock()
		ri.route = route
		ri.mu.Unlock()
	}
}

// AddFilter records the id of a filter (from the configuration) that was
// applied to the request or its response; the access line lists them in
// order. It does nothing when ctx holds no RouteInfo.
func AddFilter(ctx context.Context, id string) {
	if ri := RouteInfoFrom(ctx); ri != nil {
		ri.mu.Lock()
		if ri.filters == nil {
			ri.filters = ri.fbuf[:0]
		}
		ri.filters = append(ri.filters, id)
		ri.mu.Unlock()
	}
}

// SetRefused records why the gateway refused the request before its
// filters could judge it, as a fixed code (such as "gateway_busy": the
// bodies in memory took limits.max_buffered_bytes); it becomes the
// refused field of the access line. It does nothing when ctx holds no
// RouteInfo.
func SetRefused(ctx context.Context, reason string) {
	if ri := RouteInfoFrom(ctx); ri != nil {
		ri.mu.Lock()
		ri.refused = reason
		ri.mu.Unlock()
	}
}

// AddVaultTime adds d to the time the request spent in vault calls
// (vault_ms in the access line). It does nothing when ctx holds no
// RouteInfo.
func AddVaultTime(ctx context.Context, d time.Duration) {
	if ri := RouteInfoFrom(ctx); ri != nil {
		ri.mu.Lock()
		ri.vault += d
		ri.mu.Unlock()
	}
}

// AddUpstreamTime adds d to the time the request spent waiting for the
// upstream (upstream_ms in the access line). It does nothing when ctx holds
// no RouteInfo.
func AddUpstreamTime(ctx context.Context, d time.Duration) {
	if ri := RouteInfoFrom(ctx); ri != nil {
		ri.mu.Lock()
		ri.upstream += d
		ri.mu.Unlock()
	}
}

// Route returns the route id recorded with SetRoute, or "-" when none was
// (or ri is nil).
func (ri *RouteInfo) Route() string {
	if ri == nil {
		return "-"
	}
	ri.mu.Lock()
	defer ri.mu.Unlock()
	if ri.route == "" {
		return "-"
	}
	return ri.route
}

// Filters returns a copy of the filter ids recorded with AddFilter.
func (ri *RouteInfo) Filters() []string {
	if ri == nil {
		return nil
	}
	ri.mu.Lock()
	defer ri.mu.Unlock()
	return append([]string(nil), ri.filters...)
}

// filtersSoFar returns the filter ids recorded so far without copying
// them: AddFilter only appends, so the elements seen here never change
// (a later append writes past them or into a new array).
func (ri *RouteInfo) filtersSoFar() []string {
	if ri == nil {
		return nil
	}
	ri.mu.Lock()
	defer ri.mu.Unlock()
	return ri.filters[:len(ri.filters):len(ri.filters)]
}

// Durations returns the times added with AddVaultTime and AddUpstreamTime
// (zero for a nil ri).
func (ri *RouteInfo) Durations() (vault, upstream time.Duration) {
	if ri == nil {
		return 0, 0
	}
	return ri.times()
}

func (ri *RouteInfo) times() (vault, upstream time.Duration) {
	ri.mu.Lock()
	defer ri.mu.Unlock()
	return ri.vault, ri.upstream
}

// Refused returns the code recorded with SetRefused, "" when none was (or
// ri is nil).
func (ri *RouteInfo) Refused() string {
	if ri == nil {
		return ""
	}
	ri.mu.Lock()
	defer ri.mu.Unlock()
	return ri.refused
}

// AccessLog wraps next so that every request writes one line at Info level,
// message "request", with these attributes:
//
//	listener     the listener name given here
//	method       the request method
//	host         the Host header, card-like runs masked
//	path         the URL path, masked (see below); the query string is never
//	             logged because it may hold aliases (GET /aliases?q=…)
//	query_len    the length of the raw query string
//	route        the route id set with SetRoute, "-" when unset
//	filters      filter ids added with AddFilter (only when there are some)
//	status       the status code sent (200 when the handler wrote nothing;
//	             StatusClientClosedRequest, 499, when it wrote nothing and the
//	             client went away)
//	refused      the code set with SetRefused (only when set)
//	bytes        body bytes written
//	duration_ms  total time in milliseconds, a float (never nanoseconds: a
//	             13–19 digit integer could look like a card number); the
//	             process logger's line (NewLogger) has the instant it ends
//	             as its time, one reading of the clock for both
//	vault_ms, upstream_ms  times added with AddVaultTime and AddUpstreamTime
//	             (only when non-zero)
//	remote       the client address (ip:port)
//	hijacked     true when the handler took over the connection
//
// In the method, host and path every card number (any spelling package pan
// reads: [pan.Find]'s, and numbers in exponent notation or fractions whose
// value is one, [pan.FindExponent]) is replaced by its [pan.MaskAll] form;
// in the path every "tok_…" alias is cut to
// its first 9 characters followed by "…" (tok_live_…), and every UUID segment (a RAW_UUID alias looks like one) to
// its first 8 characters followed by "…". Other alias formats cannot be told
// apart from ordinary ids in a path and are not masked.
//
// When m is not nil the request is counted in m.HTTPRequests with labels
// listener, route ("-" when unset), method (a standard method or "OTHER") and
// status (the code, or "hijacked"), and its duration observed in
// m.HTTPDuration. listener must be a fixed name such as "inbound". A nil
// logger logs nothing.
//
// The ResponseWriter passed to next supports http.Flusher and, through
// Unwrap, http.ResponseController; it also implements http.Hijacker for
// forward-proxy CONNECT handlers that assert it directly. For a hijacked
// connection the duration ends when next returns.
func AccessLog(logger *slog.Logger, m *Metrics, listener string, next http.Handler) http.Handler {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		ar := &accessRequest{rw: responseWriter{ResponseWriter: w}, ctx: routeInfoCtx{Context: r.Context()}}
		ctx, ri, rw := &ar.ctx, &ar.ctx.ri, &ar.rw
		panicked := true
		defer func() {
			if panicked && !rw.wroteHeader && !rw.hijacked {
				// net/http answers 500 (or drops the connection) after a
				// handler panic; count it as such.
				rw.status = http.StatusInternalServerError
			}
			finish(logger, m, listener, r, rw, ri, start)
		}()
		next.ServeHTTP(rw, r.WithContext(ctx))
		panicked = false
	})
}

// StatusClientClosedRequest (499, nginx's code) is the status the access
// line and the request metrics give a request whose client closed its
// connection before it was answered: the proxies answer it so when their
// upstream's answer was cut short by it, and AccessLog logs it so when the
// handler wrote nothing and the request's context ended.
const StatusClientClosedRequest = 499

// finish counts the request that started at start and writes its access
// line. The request ends now: one reading of the clock is the end of its
// duration and the line's time.
func finish(logger *slog.Logger, m *Metrics, listener string, r *http.Request, rw *responseWriter, ri *RouteInfo, start time.Time) {
	end := time.Now()
	d := end.Sub(start)
	route := ri.Route()
	status := rw.status
	if status == 0 && !rw.hijacked {
		status = http.StatusOK
		if r.Context().Err() != nil {
			// Nothing written to a client that went away: not a success.
			status = StatusClientClosedRequest
		}
	}
	if m != nil {
		k := httpKey{listener: listener, route: route, method: methodLabel(r.Method), status: status}
		if rw.hijacked && !rw.wroteHeader {
			k.status = statusHijacked
		}
		m.observeHTTP(k, d)
	}
	ctx := r.Context()
	if !logger.Enabled(ctx, slog.LevelInfo) {
		return
	}
	line := accessLine{
		listener: listener,
		method:   maskShown(r.Method),
		host:     maskHost(r.Host),
		path:     MaskPath(r.URL.Path),
		queryLen: len(r.URL.RawQuery),
		route:    route,
		filters:  ri.filtersSoFar(),
		status:   status,
		bytes:    rw.bytes,
		d:        d,
		remote:   r.RemoteAddr,
		hijacked: rw.hijacked,
	}
	line.vault, line.upstream = ri.times()
	line.refused = ri.Refused()
	if rh, ok := logger.Handler().(*redactingHandler); ok && rh.sink != nil {
		// The process logger: the line is encoded by hand, exactly as
		// slog's JSON handler would write it (TestAccessLineEncoding).
		rh.sink.writeAccess(end, &line)
		return
	}
	logger.LogAttrs(ctx, slog.LevelInfo, "request", line.attrs()...)
}

// accessLine is what one access line says.
type accessLine struct {
	listener, method, host, path, route, remote string
	refused                                     string
	queryLen, status                            int
	filters                                     []string
	bytes                                       int64
	d, vault, upstream                          time.Duration
	hijacked                                    bool
}

// attrs returns the line's attributes in their order.
func (l *accessLine) attrs() []slog.Attr {
	attrs := make([]slog.Attr, 0, 16)
	attrs = append(attrs,
		slog.String("listener", l.listener),
		slog.String("method", l.method),
		slog.String("host", l.host),
		slog.String("path", l.path),
		slog.Int("query_len", l.queryLen),
		slog.String("route", l.route),
	)
	if len(l.filters) > 0 {
		attrs = append(attrs, slog.Any("filters", l.filters))
	}
	attrs = append(attrs, slog.Int("status", l.status))
	if l.refused != "" {
		attrs = append(attrs, slog.String("refused", l.refused))
	}
	attrs = append(attrs,
		slog.Int64("bytes", l.bytes),
		slog.Float64("duration_ms", millis(l.d)),
	)
	if l.vault > 0 {
		attrs = append(attrs, slog.Float64("vault_ms", millis(l.vault)))
	}
	if l.upstream > 0 {
		attrs = append(attrs, slog.Float64("upstream_ms", millis(l.upstream)))
	}
	attrs = append(attrs, slog.String("remote", l.remote))
	if l.hijacked {
		attrs = append(attrs, slog.Bool("hijacked", true))
	}
	return attrs
}

// millis returns d in milliseconds with microsecond resolution.
func millis(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// methodLabel keeps the method label to a fixed vocabulary.
func methodLabel(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions, http.MethodConnect, http.MethodTrace:
		return m
	}
	return "OTHER"
}

// maskHost returns a request's Host as AccessLog logs it: an IP address
// literal, with or without a port, as it is (no card number is written as
// a valid address: an octet is at most 255, a port 65535; read as a reader
// reads text, about one 10.a.b.c:port in seven spelled a Luhn-valid number
// and was masked in every line), anything else masked by pan.MaskShown.
func maskHost(h string) string {
	if !addrBytes(h) {
		// A name: no address literal parses (and the two failed parses
		// allocated their errors, once a request).
		return maskShown(h)
	}
	// Not with a zone: its text is free ("fe80::1%4111…").
	if ap, err := netip.ParseAddrPort(h); err == nil && ap.Addr().Zone() == "" {
		return h
	}
	if a, err := netip.ParseAddr(strings.Trim(h, "[]")); err == nil && a.Zone() == "" {
		return h
	}
	return maskShown(h)
}

// addrBytes reports whether h is made only of the bytes an address literal
// without a zone is written with, with or without a port and brackets:
// hex digits, '.', ':', '[' and ']'. maskHost's parses fail on anything
// else (a zone, after '%', is refused by maskHost either way).
func addrBytes(h string) bool {
	for i := 0; i < len(h); i++ {
		switch c := h[i]; {
		case '0' <= c && c <= '9', 'a' <= c && c <= 'f', 'A' <= c && c <= 'F', c == '.', c == ':', c == '[', c == ']':
		default:
			return false
		}
	}
	return true
}

// MaskPath returns p as AccessLog logs it: each "tok_" alias (a "tok_" not
// preceded by a letter, digit or '_', with the letters, digits, '_' and '-'
// after it) longer than 9 characters is cut to its first 9 followed by "…",
// each path segment that is a UUID is cut to its first 8 characters followed
// by "…", and then every card number in any spelling package pan reads
// (plain, in groups, full-width, escaped, or a number in exponent notation
// or a fraction whose value is one: "4111111111111111000e-3") and every
// one a reader sees there (groups apart by any other character: '_', '/',
// a tab) is masked by pan.MaskShown.
func MaskPath(p string) string {
	if strings.Contains(p, "tok_") {
		p = maskTokAliases(p)
	}
	if strings.Count(p, "-") >= 4 {
		segs := strings.Split(p, "/")
		for i, s := range segs {
			if isUUID(s) {
				segs[i] = s[:8] + "…"
			}
		}
		p = strings.Join(segs, "/")
	}
	return maskShown(p)
}

// maskShown is pan.MaskShown(s), without its scan of a string mayHoldCard
// rules out.
func maskShown(s string) string {
	if !mayHoldCard(s) {
		return s
	}
	return pan.MaskShown(s)
}

// mayHoldCard reports whether s may spell a card number in any way package
// pan reads. It is false when s has no byte a digit is written with (an
// ASCII digit, a byte of a character outside ASCII, which may be another
// script's digit, or an escape's '%', '\\' or '&'), and when s is shorter
// than the shortest card number (each digit, in any spelling, takes a byte
// at least) and has no byte a number in exponent notation, a fraction or an
// escape starts from (pan.MayHoldNumber: only those write a number with
// fewer bytes than digits). maskNumbers applies the second rule to bytes
// (TestMaskShownAgainstPan, FuzzMaskShownAgainstPan).
func mayHoldCard(s string) bool {
	return hasDigitByte(s) && (len(s) >= pan.MinLen || pan.MayHoldNumber(s))
}

// hasDigitByte reports whether s has an ASCII digit, a byte of a character
// outside ASCII, '%', '\\' or '&' (mayHoldCard). It reads 8 bytes at a
// time, as plainLen does: every field of every access line goes through it
// (TestHasDigitByteAgainstPrevious, FuzzHasDigitByteAgainstPrevious).
func hasDigitByte(s string) bool {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	for ; len(s) >= 8; s = s[8:] {
		w := s[:8] // constant indices into 8 bytes: one load, no bounds checks
		v := uint64(w[0]) | uint64(w[1])<<8 | uint64(w[2])<<16 | uint64(w[3])<<24 |
			uint64(w[4])<<32 | uint64(w[5])<<40 | uint64(w[6])<<48 | uint64(w[7])<<56
		if v&highs != 0 {
			return true // a byte past ASCII
		}
		// Every byte is under 0x80 now, so no addition below carries
		// into the next byte. A byte's high bit in ge0 says it is '0'
		// or above, in ge10 that it is past '9': a digit sets the first
		// and not the second. A byte equal to c is a zero byte of v^c,
		// which (x-ones)&^x marks (whether any byte is one, exactly).
		ge0, ge10 := v+(0x80-'0')*ones, v+(0x80-'9'-1)*ones
		pc, bs, am := v^('%'*ones), v^('\\'*ones), v^('&'*ones)
		if (ge0&^ge10|(pc-ones)&^pc|(bs-ones)&^bs|(am-ones)&^am)&highs != 0 {
			return true
		}
	}
	for i := 0; i < len(s); i++ {
		if digitByte[s[i]] {
			return true
		}
	}
	return false
}

// digitByte marks the bytes hasDigitByte looks for: an ASCII digit, a
// byte of a character outside ASCII, '%', '\\' and '&'.
var digitByte = func() (t [256]bool) {
	for c := 0; c < 256; c++ {
		t[c] = '0' <= c && c <= '9' || c >= utf8.RuneSelf || c == '%' || c == '\\' || c == '&'
	}
	return t
}()

func maskTokAliases(p string) string {
	var b strings.Builder
	for {
		i := strings.Index(p, "tok_")
		if i < 0 {
			b.WriteString(p)
			return b.String()
		}
		if i > 0 && isAliasByte(p[i-1]) {
			b.WriteString(p[:i+4])
			p = p[i+4:]
			continue
		}
		j := i + 4
		for j < len(p) && (isAliasByte(p[j]) || p[j] == '-') {
			j++
		}
		b.WriteString(p[:i])
		if j-i > 9 {
			b.WriteString(p[i : i+9])
			b.WriteString("…")
		} else {
			b.WriteString(p[i:j])
		}
		p = p[j:]
	}
}

func isAliasByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_'
}

// isUUID reports whether s has the 8-4-4-4-12 hex digit form of a UUID.
func isUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
				return false
			}
		}
	}
	return true
}

// responseWriter records the status and body size for AccessLog.
type responseWriter struct {
	http.ResponseWriter
	status      int
	bytes       int64
	wroteHeader bool
	hijacked    bool
}

func (w *responseWriter) WriteHeader(code int) {
	w.ResponseWriter.WriteHeader(code)
	if w.wroteHeader {
		return
	}
	if code >= 100 && code <= 199 && code != http.StatusSwitchingProtocols {
		return // informational (e.g. 103 Early Hints); the final status follows
	}
	w.status = code
	w.wroteHeader = true
}

func (w *responseWriter) Write(b []byte) (int, error) {
	if !w.wroteHeader {
		w.status = http.StatusOK
		w.wroteHeader = true
	}
	n, err := w.ResponseWriter.Write(b)
	w.bytes += int64(n)
	return n, err
}

// FlushError flushes the underlying writer through http.ResponseController,
// which reports http.ErrNotSupported when it cannot flush.
func (w *responseWriter) FlushError() error {
	err := http.NewResponseController(w.ResponseWriter).Flush()
	if err == nil && !w.wroteHeader {
		w.status = http.StatusOK
		w.wroteHeader = true
	}
	return err
}

// Flush implements http.Flusher.
func (w *responseWriter) Flush() { _ = w.FlushError() }

// Hijack implements http.Hijacker through http.ResponseController.
func (w *responseWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	c, rw, err := http.NewResponseController(w.ResponseWriter).Hijack()
	if err == nil {
		w.hijacked = true
	}
	return c, rw, err
}

// Unwrap returns the underlying ResponseWriter for http.ResponseController.
func (w *responseWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
