package obs

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
)

// WatchUnserved makes the requests srv never hands to a handler visible:
// net/http answers a malformed request itself (a bad request line or Host
// 400, headers over MaxHeaderBytes 431, an unknown Transfer-Encoding 501,
// an unsupported HTTP version 505, an Expect it does not know 417) and
// drops one that ReadHeaderTimeout cut off or whose client left halfway,
// without calling srv.Handler, so AccessLog never sees them. Each such
// request (one that sent at least a byte) is counted in m.Unserved with
// label listener and logged at Info, message "request not served", with
// the listener and the peer's address; nothing the peer sent is logged.
// Header floods, smuggling and slowloris attempts thus show in the log and
// the metrics of every listener.
//
// It sets srv.ConnContext and srv.ConnState (they must be nil) and wraps
// srv.Handler (set it first). A connection's requests are counted when
// net/http reports it idle, hijacked or closed: each request that began
// (StateActive) since the last report beyond the handler calls made is
// unserved. (An HTTP/2 connection reports once for many streams; its
// malformed frames are refused per stream, not counted.)
func WatchUnserved(srv *http.Server, logger *slog.Logger, m *Metrics, listener string) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	var conns sync.Map // net.Conn → *connRequests
	next := srv.Handler
	srv.ConnContext = func(ctx context.Context, c net.Conn) context.Context {
		cr := &connRequests{}
		conns.Store(c, cr)
		return context.WithValue(ctx, connRequestsKey{}, cr)
	}
	srv.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if cr, _ := r.Context().Value(connRequestsKey{}).(*connRequests); cr != nil {
			cr.served.Add(1)
		}
		next.ServeHTTP(w, r)
	})
	srv.ConnState = func(c net.Conn, s http.ConnState) {
		v, ok := conns.Load(c)
		if !ok {
			return
		}
		cr := v.(*connRequests)
		switch s {
		case http.StateActive:
			cr.begun++
			return
		case http.StateIdle:
		case http.StateHijacked, http.StateClosed:
			conns.Delete(c)
		default:
			return
		}
		// No request is in a handler now. An HTTP/1 connection reports
		// each request it begins; HTTP/2 one for many streams, so served
		// is then larger.
		unserved := cr.begun - cr.served.Swap(0)
		cr.begun = 0
		for range unserved {
			NotServed(logger, m, listener, c.RemoteAddr().String())
		}
	}
}

// NotServed logs and counts one request that no handler served (see
// WatchUnserved): a line at Info, message "request not served", with the
// listener and remote (the peer's address, "-" when unknown), and one in
// m.Unserved. logger and m may be nil.
func NotServed(logger *slog.Logger, m *Metrics, listener, remote string) {
	if m != nil {
		m.Unserved.WithLabelValues(listener).Inc()
	}
	if logger != nil {
		logger.LogAttrs(context.Background(), slog.LevelInfo, "request not served",
			slog.String("listener", listener), slog.String("remote", remote))
	}
}

type connRequestsKey struct{}

// connRequests counts one connection's requests since net/http last
// reported it idle: begun (StateActive reports, on the connection's
// goroutine) and served (handler calls; HTTP/2 runs them on goroutines of
// their own).
type connRequests struct {
	begun  int64
	served atomic.Int64
}
