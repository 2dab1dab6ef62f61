package main

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/aliasgate/aliasgate/auth"
	"github.com/aliasgate/aliasgate/config"
	"github.com/aliasgate/aliasgate/internal/ratelimit"
	"github.com/aliasgate/aliasgate/internal/vaulttok"
	"github.com/aliasgate/aliasgate/proxy"
)

// CA files in the data dir.
const (
	caCertFile = "ca.pem"
	caKeyFile  = "ca.key"
)

// loadCA loads the gateway CA: the configured files (outbound.ca_cert and
// ca_key, which must exist), or the data dir's, created on first use. An
// expired one is refused (proxy.ErrCAExpired), and so is one not valid yet
// (proxy.ErrNotYetValid).
func loadCA(cfg config.Config) (*proxy.CA, error) {
	if o := cfg.Outbound; o.CACert != "" {
		for _, f := range []struct{ key, path string }{{"outbound.ca_cert", o.CACert}, {"outbound.ca_key", o.CAKey}} {
			if _, err := os.Stat(f.path); err != nil {
				if errors.Is(err, fs.ErrNotExist) {
					err = fmt.Errorf("%w (configured CA files are never created: make them, or leave out outbound.ca_cert and ca_key for the data dir's CA)", err)
				}
				return nil, wherePath(fmt.Errorf("outbound CA: %s: %w", f.key, err), f.path)
			}
		}
		return proxy.LoadOrCreateCA(o.CACert, o.CAKey)
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("data dir: %w", err)
	}
	return proxy.LoadOrCreateCA(caCertPath(cfg), filepath.Join(cfg.DataDir, caKeyFile))
}

// caCertPath is the gateway CA's certificate file: outbound.ca_cert, or
// the data dir's.
func caCertPath(cfg config.Config) string {
	if cfg.Outbound.CACert != "" {
		return cfg.Outbound.CACert
	}
	return filepath.Join(cfg.DataDir, caCertFile)
}

// expiryWarning is how long before its NotAfter the gateway CA, or a
// listener's certificate, is warned about at start.
const expiryWarning = 30 * 24 * time.Hour

// rootCAs returns the system roots plus the PEM file bundle (none when
// empty), set by the key named key (outbound.ca_bundle, webhooks.ca_bundle).
func rootCAs(key, bundle string) (*x509.CertPool, error) {
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	if bundle == "" {
		return pool, nil
	}
	pem, err := os.ReadFile(bundle)
	if err != nil {
		return nil, wherePath(fmt.Errorf("%s: %w", key, err), bundle)
	}
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%s %s: no PEM certificate in it", key, bundle)
	}
	return pool, nil
}

// errNotOutbound: API credentials used on the outbound proxy.
// It wraps proxy.ErrNotProxyClient: refused, not charged as a guess.
var errNotOutbound = fmt.Errorf("not outbound proxy credentials: %w", proxy.ErrNotProxyClient)

// outboundHandler is the forward proxy. Proxy credentials are clients made
// with "clients create --outbound"; outbound.require_auth: false (loopback
// listeners only, checked by config) turns the check off.
func (gw *gateway) outboundHandler() (*proxy.Outbound, error) {
	ca, err := loadCA(gw.cfg)
	if err != nil {
		return nil, err
	}
	notAfter := ca.NotAfter()
	registerOnce(gw.metrics.Registry, prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "aliasgate_outbound_ca_not_after_seconds",
		Help: "When the outbound CA expires (Unix time): the leaves it signs expire with it."},
		func() float64 { return float64(notAfter.Unix()) }))
	if time.Until(notAfter) < expiryWarning {
		gw.logger.Warn("outbound CA expires soon: renew it and give the new certificate to the clients that trust it, "+
			"or their TLS connections through the outbound proxy fail from then on",
			"file", caCertPath(gw.cfg), "not_after", ca.NotAfter().UTC().Format(time.RFC3339))
	}
	roots, err := rootCAs("outbound.ca_bundle", gw.cfg.Outbound.CABundle)
	if err != nil {
		return nil, err
	}
	var authenticate func(ctx context.Context, user, pass string) (proxy.ProxyClient, error)
	if gw.cfg.Outbound.RequireAuth {
		// The client's account is the one whose aliases its requests'
		// reveals reach.
		authenticate = func(ctx context.Context, user, pass string) (proxy.ProxyClient, error) {
			c, err := gw.auth.Authenticate(ctx, user, pass)
			if err != nil {
				if !errors.Is(err, auth.ErrInvalidCredentials) {
					// Not checked (the store failed): inside an open
					// tunnel a 503, not the end of the tunnel.
					err = fmt.Errorf("%w: %w", proxy.ErrAuthUnavailable, err)
				}
				return proxy.ProxyClient{}, err
			}
			if !c.Outbound {
				return proxy.ProxyClient{}, fmt.Errorf("client %s: %w", c.ID, errNotOutbound)
			}
			since := time.Now()
			return proxy.ProxyClient{ID: c.ID, Account: c.Account, Recheck: func(ctx context.Context) error {
				// Inside a tunnel: the client's state through the auth
				// cache (a map lookup while fresh), not the record and a
				// hash for every request.
				err := gw.auth.CheckClient(ctx, c, since)
				if err != nil && !errors.Is(err, auth.ErrInvalidCredentials) {
					err = fmt.Errorf("%w: %w", proxy.ErrAuthUnavailable, err)
				}
				return err
			}}, nil
		}
	}
	return proxy.NewOutbound(proxy.OutboundOptions{
		Table:           gw.routes,
		Tokenizer:       vaulttok.New(gw.vault),
		CA:              ca,
		Authenticate:    authenticate,
		Lockout:         gw.outLockout,
		Passthrough:     gw.cfg.Outbound.Passthrough,
		AllowPrivate:    gw.cfg.Outbound.AllowPrivateDestinations,
		RootCAs:         roots,
		MaxBody:         gw.cfg.Limits.MaxBody.Int64(),
		Budget:          gw.buffered,
		UpstreamTimeout: gw.cfg.Limits.UpstreamTimeout.Std(),
		// http.Server's timeouts end when a CONNECT hijacks the connection.
		TunnelIdleTimeout:   gw.cfg.Limits.IdleTimeout.Std(),
		TunnelHeaderTimeout: gw.cfg.Limits.ReadHeaderTimeout.Std(),
		TunnelReadTimeout:   gw.cfg.Limits.ReadTimeout.Std(),
		TunnelWriteTimeout:  gw.cfg.Limits.WriteTimeout.Std(),
		MaxHeaderBytes:      int(gw.cfg.Limits.MaxHeaderBytes),
		Logger:              gw.logger,
		Metrics:             gw.metrics,
		Capturer:            gw.capturer(),
		Payments:            gw.payments(),
		Limit:               gw.outboundLimit(),
		Misses:              gw.outboundMisses(),
	})
}

// outboundMisses is the outbound proxy's budget of unknown aliases: a
// token bucket per proxy client (per source address without
// outbound.require_auth) of limits.outbound_unknown_aliases a minute,
// bursts of limits.outbound_unknown_burst; the requests it refuses are
// counted in aliasgate_abuse_refused_total{limit="outbound_unknown_aliases"}.
// nil: no bound.
func (gw *gateway) outboundMisses() proxy.MissBudget {
	l := ratelimit.NewPer(gw.cfg.Limits.OutboundUnknownAliases, time.Minute, gw.cfg.Limits.OutboundUnknownBurst, nil)
	if l == nil {
		return nil
	}
	return countedMisses{Limiter: l, refused: gw.metrics.AbuseRefused.WithLabelValues("outbound_unknown_aliases")}
}

// inboundMisses is the inbound proxy's budget of card-like numbers that
// are no alias: a token bucket per source address (vault.Actor.Source, an
// IPv6 address by its /64) of
// limits.inbound_unknown_numbers a minute, bursts of
// limits.inbound_unknown_burst; the requests it refuses are counted in
// aliasgate_abuse_refused_total{limit="inbound_unknown_numbers"}. nil: no
// bound.
func (gw *gateway) inboundMisses() proxy.MissBudget {
	l := ratelimit.NewPer(gw.cfg.Limits.InboundUnknownNumbers, time.Minute, gw.cfg.Limits.InboundUnknownBurst, nil)
	if l == nil {
		return nil
	}
	return countedMisses{Limiter: l, refused: gw.metrics.AbuseRefused.WithLabelValues("inbound_unknown_numbers")}
}

// countedMisses counts the requests its budget refuses.
type countedMisses struct {
	*ratelimit.Limiter
	refused prometheus.Counter
}

// Peek is the Limiter's, counting a refusal.
func (m countedMisses) Peek(key string) (bool, time.Duration) {
	ok, wait := m.Limiter.Peek(key)
	if !ok {
		m.refused.Inc()
	}
	return ok, wait
}

// Charge is the Limiter's, counting a refusal.
func (m countedMisses) Charge(key string, n int) (bool, time.Duration, int) {
	ok, wait, left := m.Limiter.Charge(key, n)
	if !ok {
		m.refused.Inc()
	}
	return ok, wait, left
}

// outboundLimit is the outbound proxy's rate limit: a token bucket per
// proxy client (per source address without outbound.require_auth) of
// limits.outbound_client_rate a second, bursts of
// limits.outbound_client_burst, apart from the APIs' buckets
// (limits.client_rate); refusals are counted in
// aliasgate_rate_limited_total{api="outbound"}. nil: no limit.
func (gw *gateway) outboundLimit() func(key string) (bool, time.Duration) {
	l := ratelimit.New(gw.cfg.Limits.OutboundClientRate, gw.cfg.Limits.OutboundClientBurst, nil)
	if l == nil {
		return nil
	}
	refused := gw.metrics.RateLimited.WithLabelValues("outbound")
	return func(key string) (bool, time.Duration) {
		ok, wait := l.Allow(key)
		if !ok {
			refused.Inc()
		}
		return ok, wait
	}
}

var _ http.Handler = (*proxy.Outbound)(nil)

const caCertUsage = `Prints the gateway CA certificate (PEM) that clients of the outbound proxy
must trust (curl --cacert, SSL_CERT_FILE, a JVM trust store…). The CA is
created in the data dir on first use; its key never leaves it.`

func runCACert(_ context.Context, e env, args []string) error {
	fs := newFlagSet("ca cert [--config F | --data-dir D]", caCertUsage)
	cfgPath := fs.String("config", "", "configuration `file`")
	dataDir := fs.String("data-dir", "", "data `dir`ectory (overrides data_dir)")
	if err := parseFlags(fs, e, args); err != nil {
		return helpOK(err)
	}
	cfg, err := loadConfig(*cfgPath, *dataDir, e.getenv)
	if err != nil {
		return err
	}
	ca, err := loadCA(cfg)
	if err != nil {
		return err
	}
	_, err = e.stdout.Write(ca.CertPEM())
	return err
}
