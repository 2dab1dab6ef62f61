package main

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/http"
	"os"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aliasgate/aliasgate/internal/gctune"
)

// The baselines come in two kinds (-baselines). A tuned baseline gets what
// the gateway gives itself and a stock one does not: the garbage
// collector's policy of `aliasgate serve` (internal/gctune) and, for
// httputil.ReverseProxy, a BufferPool of 32 KiB buffers. Both kinds use the
// same upstream transport as the gateway (transport settings below): a
// stock http.Transport keeps 2 idle connections per host, which would
// measure connection churn towards the upstream, not the proxy. Stock is
// what this harness ran as its baselines before issue 21.
const (
	kindTuned = "tuned"
	kindStock = "stock"
)

// baselineKinds returns the kinds a -baselines value runs, the one the
// targets are judged against first.
func baselineKinds(v string) ([]string, error) {
	switch v {
	case "both":
		return []string{kindTuned, kindStock}, nil
	case kindTuned, kindStock:
		return []string{v}, nil
	}
	return nil, fmt.Errorf("-baselines %q: tuned, stock or both", v)
}

// The gateway's upstream transport settings, copied (not imported: the
// proxy package's internals are not an API) from NewInbound in
// proxy/inbound.go and NewOutbound in proxy/outbound.go (checked at
// 2bfe550 and again after the pipeline rewrite, 2ed7c5b). Keep them in step
// when the proxies' transports change.
const (
	gwDialTimeout           = 10 * time.Second // net.Dialer.Timeout (outbound: internal/netguard's Dialer)
	gwDialKeepAlive         = 30 * time.Second // net.Dialer.KeepAlive
	gwForceAttemptHTTP2     = true             // HTTP/2 towards upstreams when TLS negotiates it
	gwMaxIdleConns          = 512
	gwMaxIdleConnsPerHostIn = 128 // inbound proxy
	gwMaxIdleConnsPerHost   = 64  // outbound proxy (MITM destinations)
	gwIdleConnTimeout       = 90 * time.Second
	gwTLSHandshakeTimeout   = 10 * time.Second
	gwExpectContinueTimeout = time.Second
	// gwResponseHeaderTimeout bounds the wait for the upstream's answer: the
	// gateway's timeoutTransport does (proxy.DefaultUpstreamTimeout, one timer
	// a request, its transports set no ResponseHeaderTimeout); a baseline has
	// no other bound, so its transport keeps this one (also one timer a
	// request).
	gwResponseHeaderTimeout = 60 * time.Second
	gwTLSMinVersion         = tls.VersionTLS12 // outbound TLSClientConfig: RootCAs + MinVersion only
	gwCopyBufferSize        = 32 << 10         // proxy/body.go copyBuffers: the ReverseProxy BufferPool
)

// upstreamTransport is the transport of both baselines, with the settings
// of the gateway's own upstream transports: the inbound proxy's without
// roots, the outbound proxy's (its TLS client configuration and idle
// connections per host) with them.
func upstreamTransport(roots *x509.CertPool) *http.Transport {
	tr := &http.Transport{
		Proxy:                 nil,
		DialContext:           (&net.Dialer{Timeout: gwDialTimeout, KeepAlive: gwDialKeepAlive}).DialContext,
		ForceAttemptHTTP2:     gwForceAttemptHTTP2,
		MaxIdleConns:          gwMaxIdleConns,
		MaxIdleConnsPerHost:   gwMaxIdleConnsPerHostIn,
		IdleConnTimeout:       gwIdleConnTimeout,
		TLSHandshakeTimeout:   gwTLSHandshakeTimeout,
		ExpectContinueTimeout: gwExpectContinueTimeout,
		ResponseHeaderTimeout: gwResponseHeaderTimeout,
	}
	if roots != nil {
		tr.TLSClientConfig = &tls.Config{RootCAs: roots, MinVersion: gwTLSMinVersion}
		tr.MaxIdleConnsPerHost = gwMaxIdleConnsPerHost
	}
	return tr
}

// bufferPool is an httputil.BufferPool of gwCopyBufferSize buffers, as
// the proxy package's copyBuffers.
type bufferPool struct{ p sync.Pool }

func (bp *bufferPool) Get() []byte {
	if b, ok := bp.p.Get().(*[]byte); ok {
		return *b
	}
	return make([]byte, gwCopyBufferSize)
}

func (bp *bufferPool) Put(b []byte) {
	if cap(b) != gwCopyBufferSize {
		return
	}
	b = b[:cap(b)]
	bp.p.Put(&b)
}

// tuneGC is cmd/aliasgate serve's tuneGC: gctune with its defaults (GOGC
// from the live heap, 400 while it is small, down to 100 from 64 MiB live)
// unless the environment sets GOGC. It returns the stop function and a
// description of the policy in effect.
func tuneGC() (stop func(), policy string) {
	if v := os.Getenv("GOGC"); v != "" {
		return func() {}, "GOGC=" + v + " from the environment"
	}
	stop = gctune.Start(gctune.Options{})
	p := debug.SetGCPercent(-1) // read back what gctune set
	debug.SetGCPercent(p)
	return stop, fmt.Sprintf("gctune (GOGC %d at start)", p)
}

// stockGC describes a stock baseline's collector policy.
func stockGC() string {
	if v := os.Getenv("GOGC"); v != "" {
		return "GOGC=" + v + " from the environment"
	}
	return "Go's default GOGC 100"
}

// baselineName is a baseline's name in the tables: "ReverseProxy (tuned)".
func baselineName(base, kind string) string { return base + " (" + kind + ")" }

// envFlag parses a NAME=value flag of the child processes' environment.
func envFlag(dst *[]string, also ...*[]string) func(string) error {
	return func(v string) error {
		if k, _, ok := strings.Cut(v, "="); !ok || k == "" || strings.HasPrefix(k, "ALIASGATE_") || k == roleEnv {
			return fmt.Errorf("want NAME=value, not an ALIASGATE_ setting (use the configuration) nor %s", roleEnv)
		}
		*dst = append(*dst, v)
		for _, d := range also {
			*d = append(*d, v)
		}
		return nil
	}
}

// baselineArgs are the role flags of a baseline of the kind.
func baselineArgs(kind string, args ...string) []string {
	return append(slices.Clone(args), "-tuned="+fmt.Sprint(kind == kindTuned))
}
