package obs

import (
	"maps"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics holds aliasgate's Prometheus registry and the metrics shared by
// several packages. Packages that own further metrics (body bytes, reload
// results, …) create them and register them on Registry.
//
// Every label value comes from a fixed vocabulary: listener names
// ("inbound", "outbound", "admin"), route ids from the configuration (or
// "-" when no route matched, or a built-in name such as "internal:cards"),
// HTTP methods (the standard ones, anything else counted as "OTHER"), status
// codes, vault operation names ("redact", "reveal", "delete", …), store
// names ("bolt", "postgres", "redis", "memory", "-") and results ("ok",
// "not_found", "error", …). No alias, vault value, card data, request path
// with ids in it, host name taken from a request, client id or client secret
// ever goes into a label: labels are visible to anyone who can scrape
// /metrics, and unbounded values would also explode the series count.
type Metrics struct {
	// Registry is the registry Handler serves. It already holds the Go and
	// process collectors and the metrics below.
	Registry *prometheus.Registry

	// HTTPRequests counts finished requests:
	// aliasgate_http_requests_total{listener, route, method, status}.
	HTTPRequests *prometheus.CounterVec
	// HTTPDuration observes request durations in seconds:
	// aliasgate_http_request_duration_seconds{listener, route}.
	HTTPDuration *prometheus.HistogramVec
	// VaultOps counts vault store operations:
	// aliasgate_vault_operations_total{op, store, result}. op is the vault
	// call that made them ("redact", "reveal", "describe", "known",
	// "delete", "update"), store the store's name, or "-" for a call the
	// vault refused before any store (result "busy" or "canceled": its
	// concurrency bound; "share_full": limits.account_volatile_share), and
	// result "ok", "not_found", "error" or "refused" (the store refused
	// the gateway's permissions, credentials or data: vault.ErrStoreRefused,
	// an operator must act). Fed by ObserveVault.
	VaultOps *prometheus.CounterVec
	// VaultDuration observes vault store operation durations in seconds
	// (with store "-", the wait of a refused call):
	// aliasgate_vault_operation_duration_seconds{op, store}.
	VaultDuration *prometheus.HistogramVec
	// StoreUp is 1 while a store answers its health check, else 0:
	// aliasgate_store_up{store}.
	StoreUp *prometheus.GaugeVec

	// ProxyFilterResults counts matched route filters by outcome:
	// aliasgate_proxy_filter_results_total{route, filter, result} with
	// result "applied", "passed_on_error" or "rejected" (and
	// "unmatched_body", filter "-", for a body no filter matched, and
	// "unmatched_header", the filter whose header a request carried where
	// no filter redacting it applied). Route
	// and filter are ids from the configuration. Fed by CountFilterResult.
	ProxyFilterResults *prometheus.CounterVec
	// LeakGuardHits counts card-like numbers that no filter redacted, found
	// in bodies about to leave the proxy:
	// aliasgate_leak_guard_hits_total{route, action} with action "log" or
	// "block".
	LeakGuardHits *prometheus.CounterVec
	// RouteReloads counts route set reloads:
	// aliasgate_route_reloads_total{result} with result "ok" or "invalid".
	RouteReloads *prometheus.CounterVec
	// RateLimited counts requests refused with 429 because their client
	// was over its rate: aliasgate_rate_limited_total{api} with api
	// "cards", "aliases" or "oauth" (limits.client_rate), or "outbound"
	// (the outbound proxy, limits.outbound_client_rate).
	RateLimited *prometheus.CounterVec
	// AbuseRefused counts vault calls refused by an abuse limit:
	// aliasgate_abuse_refused_total{limit} with limit "enumeration",
	// "duplicates", "source_new_values" or "source_volatile_values"; and
	// the outbound proxy's requests refused after too many unknown
	// aliases, limit "outbound_unknown_aliases"; the inbound proxy's
	// after too many card-like numbers that are no alias, limit
	// "inbound_unknown_numbers".
	AbuseRefused *prometheus.CounterVec
	// Unserved counts requests net/http answered or dropped itself,
	// without calling any handler (malformed, over the header limit, cut
	// off by the read-header timeout):
	// aliasgate_http_unserved_total{listener}. Fed by WatchUnserved.
	Unserved *prometheus.CounterVec
	// ConnsRefused counts connections closed as they were accepted because
	// their source held limits.max_conns_per_source already:
	// aliasgate_conns_refused_total{listener}.
	ConnsRefused *prometheus.CounterVec
	// AbuseAlerts counts callers flagged by an abuse detector:
	// aliasgate_abuse_alerts_total{kind, caller} with kind "enumeration"
	// or "duplicates" and caller "client" or "source" (never the id).
	AbuseAlerts *prometheus.CounterVec

	// The children of the metrics counted on every request, cached per
	// label tuple (see series): hashing the label values on each
	// observation cost about as much as the observation. The keys are the
	// label values themselves, bounded as above, so each cache holds one
	// entry per series the registry holds, no more.
	vaultSeries  seriesCache[vaultKey, *vaultSeries]        // ObserveVault
	httpSeries   seriesCache[httpKey, *httpSeries]          // AccessLog, Line
	filterSeries seriesCache[filterKey, prometheus.Counter] // CountFilterResult
}

// seriesCache maps label tuples to their children. It is read on every
// request and written once per label tuple, so it is copied on write: a
// read is an atomic load and a lookup in a map typed by K, with no lock
// (a sync.Map hashed its interface keys through the type's generic hash
// function, most of a lookup's cost). A new tuple copies the map, which
// holds one entry per series the registry holds.
type seriesCache[K comparable, V any] struct {
	m  atomic.Pointer[map[K]V]
	mu sync.Mutex // serialises the copies
}

// series returns the children cached under k in c, made by mk the first
// time k is seen.
func series[K comparable, V any](c *seriesCache[K, V], m *Metrics, k K, mk func(*Metrics, K) V) V {
	if cur := c.m.Load(); cur != nil {
		if v, ok := (*cur)[k]; ok {
			return v
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	var next map[K]V
	if cur := c.m.Load(); cur != nil {
		if v, ok := (*cur)[k]; ok {
			return v // added by a racing caller
		}
		next = maps.Clone(*cur)
	}
	if next == nil {
		next = map[K]V{}
	}
	v := mk(m, k)
	next[k] = v
	c.m.Store(&next)
	return v
}

type vaultKey struct{ op, store, result string }

type vaultSeries struct {
	ops prometheus.Counter
	dur prometheus.Observer
}

func newVaultSeries(m *Metrics, k vaultKey) *vaultSeries {
	return &vaultSeries{
		ops: m.VaultOps.WithLabelValues(k.op, k.store, k.result),
		dur: m.VaultDuration.WithLabelValues(k.op, k.store),
	}
}

// httpKey is one label tuple of HTTPRequests; status is the code, or
// statusHijacked for the "hijacked" label.
type httpKey struct {
	listener, route, method string
	status                  int
}

const statusHijacked = -1

type httpSeries struct {
	reqs prometheus.Counter
	dur  prometheus.Observer
}

func newHTTPSeries(m *Metrics, k httpKey) *httpSeries {
	status := "hijacked"
	if k.status != statusHijacked {
		status = strconv.Itoa(k.status)
	}
	return &httpSeries{
		reqs: m.HTTPRequests.WithLabelValues(k.listener, k.route, k.method, status),
		dur:  m.HTTPDuration.WithLabelValues(k.listener, k.route),
	}
}

type filterKey struct{ route, filter, result string }

func newFilterSeries(m *Metrics, k filterKey) prometheus.Counter {
	return m.ProxyFilterResults.WithLabelValues(k.route, k.filter, k.result)
}

// NewMetrics returns a fresh registry with the Go runtime and process
// collectors and aliasgate's shared metrics registered on it. Each call
// builds an independent registry, so tests can create as many as they like.
func NewMetrics() *Metrics {
	m := &Metrics{
		Registry: prometheus.NewRegistry(),
		HTTPRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "aliasgate_http_requests_total",
			Help: "HTTP requests served, by listener, route id, method and status code.",
		}, []string{"listener", "route", "method", "status"}),
		HTTPDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "aliasgate_http_request_duration_seconds",
			Help:    "Time from receiving a request to the end of its response, by listener and route id.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60},
		}, []string{"listener", "route"}),
		VaultOps: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "aliasgate_vault_operations_total",
			Help: "Vault operations, by operation, store and result.",
		}, []string{"op", "store", "result"}),
		VaultDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "aliasgate_vault_operation_duration_seconds",
			Help:    "Vault operation durations, by operation and store.",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}, []string{"op", "store"}),
		StoreUp: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "aliasgate_store_up",
			Help: "1 when the store answered its last health check, 0 otherwise.",
		}, []string{"store"}),
		ProxyFilterResults: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "aliasgate_proxy_filter_results_total",
			Help: "Matched route filters, by route id, filter id and result (applied, passed_on_error, rejected).",
		}, []string{"route", "filter", "result"}),
		LeakGuardHits: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "aliasgate_leak_guard_hits_total",
			Help: "Card-like numbers no filter redacted in bodies leaving the proxy, by route id and action (log, block).",
		}, []string{"route", "action"}),
		RouteReloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "aliasgate_route_reloads_total",
			Help: "Route set reloads, by result (ok, invalid).",
		}, []string{"result"}),
		RateLimited: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "aliasgate_rate_limited_total",
			Help: "Requests refused with 429 because their client was over its rate, by API (cards, aliases, oauth: limits.client_rate; outbound: the outbound proxy, limits.outbound_client_rate).",
		}, []string{"api"}),
		AbuseRefused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "aliasgate_abuse_refused_total",
			Help: "Vault calls refused with 429 by an abuse limit, by limit (enumeration, duplicates, source_new_values, source_volatile_values), outbound proxy requests refused after too many unknown aliases (outbound_unknown_aliases), and inbound proxy requests refused after too many card-like numbers that are no alias (inbound_unknown_numbers).",
		}, []string{"limit"}),
		ConnsRefused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "aliasgate_conns_refused_total",
			Help: "Connections closed as they were accepted because their source address held limits.max_conns_per_source already, by listener.",
		}, []string{"listener"}),
		Unserved: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "aliasgate_http_unserved_total",
			Help: "Requests the HTTP server answered or dropped without a handler (malformed, headers too large, read-header timeout), by listener.",
		}, []string{"listener"}),
		AbuseAlerts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "aliasgate_abuse_alerts_total",
			Help: "Callers flagged by an abuse detector, by kind (enumeration, duplicates) and caller type (client, source).",
		}, []string{"kind", "caller"}),
	}
	m.Registry.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.HTTPRequests, m.HTTPDuration, m.VaultOps, m.VaultDuration, m.StoreUp,
		m.ProxyFilterResults, m.LeakGuardHits, m.RouteReloads, m.RateLimited,
		m.AbuseRefused, m.AbuseAlerts, m.Unserved, m.ConnsRefused,
	)
	return m
}

// ObserveVault implements vault.Observer (the vault passes plain strings,
// so this package does not import it): it counts one vault store operation
// in VaultOps and observes its duration in VaultDuration.
func (m *Metrics) ObserveVault(op, store, result string, d time.Duration) {
	s := series(&m.vaultSeries, m, vaultKey{op, store, result}, newVaultSeries)
	s.ops.Inc()
	s.dur.Observe(d.Seconds())
}

// observeHTTP counts one finished request in HTTPRequests and observes
// its duration in HTTPDuration. k.method must already be methodLabel's and
// k.route a configured id (or "-"): the label values are those of the key.
func (m *Metrics) observeHTTP(k httpKey, d time.Duration) {
	s := series(&m.httpSeries, m, k, newHTTPSeries)
	s.reqs.Inc()
	s.dur.Observe(d.Seconds())
}

// CountFilterResult counts one matched route filter in ProxyFilterResults.
// route and filter are ids from the configuration (filter "-" for none)
// and result one of the fixed results listed there.
func (m *Metrics) CountFilterResult(route, filter, result string) {
	series(&m.filterSeries, m, filterKey{route, filter, result}, newFilterSeries).Inc()
}

// Handler serves the registry in the Prometheus exposition format, for
// /metrics on the admin listener. A collector that fails is reported in the
// response and in promhttp_metric_handler_errors_total; the others are
// still served.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{
		Registry:      m.Registry,
		ErrorHandling: promhttp.ContinueOnError,
	})
}
