package obs

import (
	"context"
	"log/slog"
	"net/http"
	"sync"
	"time"
)

// Line is the access line of a request that is served outside an
// http.Handler, so that AccessLog cannot wrap it: the requests goproxy's
// loop reads from an intercepted CONNECT tunnel. StartLine begins it when
// the request is read; End writes the line and counts the request, with
// the same attributes and metrics as AccessLog, once the response is
// written. End is safe to call more than once: only the first call counts.
type Line struct {
	logger   *slog.Logger
	m        *Metrics
	listener string
	r        *http.Request
	ctx      routeInfoCtx // the context StartLine returns, with its RouteInfo; one allocation with the Line
	start    time.Time
	once     sync.Once
}

// StartLine begins the access line of r and returns r's context with a new
// RouteInfo (for SetRoute, AddFilter, AddVaultTime and AddUpstreamTime),
// for the request the caller goes on to serve, and the Line to End. It
// does not copy r: the caller gives the context to the one copy it makes
// anyway (http.Request.WithContext), and the line reads r's method, Host,
// URL and remote address when it ends. A nil logger logs nothing; m may be
// nil.
func StartLine(logger *slog.Logger, m *Metrics, listener string, r *http.Request) (context.Context, *Line) {
	l := new(Line)
	return l.Start(logger, m, listener, r), l
}

// Start is StartLine for a Line the caller holds (a zero Line, inside a
// struct of its own: no allocation of its own), which must not be copied
// after; it returns the context StartLine does.
func (l *Line) Start(logger *slog.Logger, m *Metrics, listener string, r *http.Request) context.Context {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	l.logger, l.m, l.listener, l.r, l.start = logger, m, listener, r, time.Now()
	l.ctx.Context = r.Context()
	return &l.ctx
}

// End writes the access line with the status sent and the body bytes
// written.
func (l *Line) End(status int, bytes int64) {
	l.once.Do(func() {
		rw := &responseWriter{status: status, bytes: bytes, wroteHeader: true}
		finish(l.logger, l.m, l.listener, l.r, rw, &l.ctx.ri, l.start)
	})
}
