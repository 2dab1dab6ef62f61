package main

import (
	"net/http"
	"runtime/debug"
	"time"

	"github.com/aliasgate/aliasgate/auth"
	"github.com/aliasgate/aliasgate/cards"
	"github.com/aliasgate/aliasgate/config"
	"github.com/aliasgate/aliasgate/internal/bodybudget"
	"github.com/aliasgate/aliasgate/proxy"
	"github.com/aliasgate/aliasgate/vault"
	"github.com/aliasgate/aliasgate/vaultapi"
)

// apiAuth is what the Card Management API and the vault API authenticate
// with: the client's credentials (auth.Service.Require), then, with
// limits.client_rate, the client's token bucket (gw.limiter; 429 with
// Retry-After above limits.client_rate and limits.client_burst; every
// answer after authentication carries X-RateLimit-Remaining), then its
// scope (a request its scopes do not cover takes from its bucket). Every
// mount of an API, and /oauth/token (api "oauth": a token request of an
// authenticated client takes from its bucket too), shares the buckets;
// refusals are counted in aliasgate_rate_limited_total{api}.
func (gw *gateway) apiAuth(api string) *auth.Service {
	if gw.limiter == nil {
		return gw.auth
	}
	return gw.auth.WithLimit(func(clientID string) (bool, time.Duration, int) {
		ok, wait, left := gw.limiter.Take(clientID, 1)
		if !ok {
			gw.metrics.RateLimited.WithLabelValues(api).Inc()
		}
		return ok, wait, left
	})
}

// closeAfterChunked closes an HTTP/1 connection after answering a request
// that came with Transfer-Encoding. net/http reads such a request by its
// Transfer-Encoding alone and drops a Content-Length sent with it (RFC 9112
// §6.3) without telling the handler, then keeps the connection open; RFC
// 9112 §6.1 requires the connection to be closed after such a request,
// since a front end that framed it by Content-Length would read the rest of
// the stream differently (request smuggling). Not knowing which chunked
// requests carried a Content-Length, the gateway closes after each one:
// bytes that follow on the connection are never read as a request.
//
// Connection: close is set as the final response is written
// (closingWriter), not before the handler runs: a handler may clear the
// header map in between, as httputil.ReverseProxy does after forwarding an
// upstream's 1xx interim response (103 Early Hints), which kept the
// connection open and let a smuggled request through.
func closeAfterChunked(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ProtoMajor != 1 || len(r.TransferEncoding) == 0 {
			next.ServeHTTP(w, r)
			return
		}
		cw := &closingWriter{ResponseWriter: w}
		next.ServeHTTP(cw, r)
		cw.setClose() // a handler that wrote nothing: net/http's own answer
	})
}

// closingWriter sets Connection: close on the header map just before the
// final response header goes out: at a WriteHeader of a final status, the
// first Write or Flush, or when the handler returns having written nothing.
// A 1xx interim response goes out without it. http.ResponseController
// reaches the connection through Unwrap (Hijack, deadlines).
type closingWriter struct {
	http.ResponseWriter
	set bool
}

func (w *closingWriter) setClose() {
	if !w.set {
		w.set = true
		w.ResponseWriter.Header().Set("Connection", "close")
	}
}

func (w *closingWriter) WriteHeader(code int) {
	if code < 100 || code > 199 || code == http.StatusSwitchingProtocols {
		w.setClose()
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *closingWriter) Write(b []byte) (int, error) {
	w.setClose()
	return w.ResponseWriter.Write(b)
}

// FlushError flushes through http.ResponseController (the header first).
func (w *closingWriter) FlushError() error {
	w.setClose()
	return http.NewResponseController(w.ResponseWriter).Flush()
}

func (w *closingWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// newBodyBudget returns the budget of the body bytes the proxies hold in
// memory at once: limits.max_buffered_bytes (its default from
// limits.max_body and the Go memory limit, config.Limits.BufferedBytes),
// of which one sender may hold limits.source_buffered_share percent, never
// less than what one exchange may hold at once (a share under it would
// refuse such an exchange for ever, 429 or 502 with a Retry-After that
// never helps), the whole budget at most: its request body as a phase
// read it (at most limits.max_body, kept until the exchange is over) or as
// an API reads its document (largest), both behind a route in front of an
// in-process API (proxy.HoldBodies: the API reads its own copy), and its
// response as the phase reads it (max_body; the API holds its copy until
// it returns, while the phase reads its answer). The inspector's copies of
// bodies in flight (proxy.CaptureHolder), which are kept partial rather
// than refused, hold the share's percentage at most, without that floor:
// with it they could take up to the whole budget from every route that
// reads bodies, for a sender whose unread bodies count in no share.
func newBodyBudget(l config.Limits, largest int64) *bodybudget.Budget {
	total := l.BufferedBytes(debug.SetMemoryLimit(-1))
	pct := int64(l.SourceBufferedShare)
	share := total/100*pct + total%100*pct/100 // total*pct/100 without overflow
	body := int64(l.MaxBody)
	exchange := body + max(largest, body+min(body, largest))
	b := bodybudget.New(total, max(share, exchange))
	b.Limit(proxy.CaptureHolder, share)
	return b
}

// largestDocument is the largest request document the gateway's own
// endpoints read whole (proxy.HoldBodies): the token endpoint's, the Card
// Management API's, the vault API's when they are on.
func largestDocument(cfg config.Config) int64 {
	n := int64(auth.MaxTokenRequestBody)
	if cfg.Cards.Enabled {
		n = max(n, int64(cards.MaxBody))
	}
	if cfg.VaultAPI.Enabled {
		v := cfg.Vault.MaxValueSize.Int64()
		if v <= 0 {
			v = vault.DefaultMaxValueLen
		}
		n = max(n, vaultapi.MaxBodyFor(v))
	}
	return n
}
