package main

import (
	"net/http"
	"time"

	"github.com/aliasgate/aliasgate/auth"
)

// apiAuth is what the Card Management API and the vault API authenticate
// with: the client's credentials and scope (auth.Service.Require), then,
// with limits.client_rate, the client's token bucket (gw.limiter; 429 with
// Retry-After above limits.client_rate and limits.client_burst; every
// answer after authentication carries X-RateLimit-Remaining). Every
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
func closeAfterChunked(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ProtoMajor == 1 && len(r.TransferEncoding) > 0 {
			w.Header().Set("Connection", "close")
		}
		next.ServeHTTP(w, r)
	})
}
