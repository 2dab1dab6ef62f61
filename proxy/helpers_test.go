package proxy

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/aliasgate/aliasgate/internal/bodybudget"
	"github.com/aliasgate/aliasgate/internal/obs"
	"github.com/aliasgate/aliasgate/internal/vaulttok"
	"github.com/aliasgate/aliasgate/routes"
	"github.com/aliasgate/aliasgate/routes/rewrite"
	"github.com/aliasgate/aliasgate/vault"
	"github.com/aliasgate/aliasgate/vault/memstore"
)

const (
	testPAN  = "4111111111111111"
	testPAN2 = "5555555555554444"
	testCVC  = "737"
)

// received is one request as the upstream saw it.
type received struct {
	Method string
	Path   string
	Query  string
	Header http.Header
	Body   []byte
	Host   string // the request's Host
	// Trailer holds the trailer fields that arrived after the body.
	Trailer http.Header
}

// upstream is a test server that records exactly what it received.
type upstream struct {
	*httptest.Server
	mu    sync.Mutex
	got   []received
	reply http.HandlerFunc // nil: 200 {"ok":true}
}

func newUpstream(t testing.TB, reply http.HandlerFunc) *upstream {
	t.Helper()
	u := &upstream{reply: reply}
	u.Server = httptest.NewServer(u.handler())
	t.Cleanup(u.Close)
	return u
}

func (u *upstream) requests() []received {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]received(nil), u.got...)
}

func (u *upstream) last(t testing.TB) received {
	t.Helper()
	got := u.requests()
	if len(got) == 0 {
		t.Fatal("upstream received nothing")
	}
	return got[len(got)-1]
}

// testVault is a real vault over memstores with a fixed key.
type testVault struct {
	svc        *vault.Service
	persistent *memstore.Store
	tok        *vaulttok.Tokenizer
}

func newTestVault(t testing.TB) *testVault {
	t.Helper()
	return newTestVaultWith(t, vault.Options{})
}

// newTestVaultWith is newTestVault with Service options (Env is "test").
func newTestVaultWith(t testing.TB, opts vault.Options) *testVault {
	t.Helper()
	p := memstore.New(memstore.Options{SweepInterval: -1})
	v := memstore.New(memstore.Options{SweepInterval: -1})
	t.Cleanup(func() { p.Close(); v.Close() })
	return newTestVaultOver(t, p, v, opts)
}

// newTestVaultOver is newTestVaultWith over the stores given (the fixed
// key: two over the same persistent store share their keys).
func newTestVaultOver(t testing.TB, p *memstore.Store, v vault.Store, opts vault.Options) *testVault {
	t.Helper()
	kr, err := vault.OpenKeyring(context.Background(), p, bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	opts.Env = "test"
	svc, err := vault.New(p, v, kr, opts)
	if err != nil {
		t.Fatal(err)
	}
	return &testVault{svc: svc, persistent: p, tok: vaulttok.New(svc)}
}

// gateway is the proxy under test behind a real listener.
type gateway struct {
	*httptest.Server
	in      *Inbound
	table   *routes.Table
	metrics *obs.Metrics
	vault   *testVault
}

type gwOptions struct {
	maxBody  int64
	timeout  time.Duration
	internal map[string]http.Handler
	fallback http.Handler
	logger   *slog.Logger
	// budget is the Budget; nil: none.
	budget *bodybudget.Budget
	// tok, when set, is the Tokenizer instead of the vault's.
	tok rewrite.Tokenizer
	// misses is the Misses; nil: none.
	misses MissBudget
	// sources is the Sources; nil: the peer's address.
	sources *Sources
	// known, when set, is the Known instead of the vault's.
	known AliasChecker
}

// parseRoutes loads a route document with {{UP}} replaced by up.
func parseRoutes(t testing.TB, doc, up string) *routes.Set {
	t.Helper()
	set, err := routes.Parse([]byte(strings.ReplaceAll(doc, "{{UP}}", up)), "test.yaml", routes.Options{})
	if err != nil {
		t.Fatalf("routes: %v", err)
	}
	return set
}

func newGateway(t testing.TB, set *routes.Set, tv *testVault, o gwOptions) *gateway {
	t.Helper()
	if tv == nil {
		tv = newTestVault(t)
	}
	m := obs.NewMetrics()
	table := routes.NewTable(set)
	var tok rewrite.Tokenizer = tv.tok
	if o.tok != nil {
		tok = o.tok
	}
	var known AliasChecker = tv.tok
	if o.known != nil {
		known = o.known
	}
	in, err := NewInbound(InboundOptions{
		Table: table, Tokenizer: tok, Known: known, Internal: o.internal, Fallback: o.fallback,
		MaxBody: o.maxBody, UpstreamTimeout: o.timeout, Logger: o.logger, Metrics: m, Budget: o.budget, Misses: o.misses, Sources: o.sources,
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(obs.AccessLog(o.logger, m, "inbound", in))
	t.Cleanup(srv.Close)
	return &gateway{Server: srv, in: in, table: table, metrics: m, vault: tv}
}

func (g *gateway) do(t testing.TB, method, path, ctype string, body io.Reader, hdr map[string]string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, g.URL+path, body)
	if err != nil {
		t.Fatal(err)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := g.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

func counterValue(c prometheus.Counter) float64 {
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		return -1
	}
	return m.GetCounter().GetValue()
}

func (g *gateway) filterCount(route, filter, result string) float64 {
	return counterValue(g.metrics.ProxyFilterResults.WithLabelValues(route, filter, result))
}

func (g *gateway) leakCount(route, action string) float64 {
	return counterValue(g.metrics.LeakGuardHits.WithLabelValues(route, action))
}

func writeFile(t testing.TB, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// handler records what the upstream receives and answers with reply, or
// {"ok":true}.
func (u *upstream) handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		u.mu.Lock()
		u.got = append(u.got, received{r.Method, r.URL.Path, r.URL.RawQuery, r.Header.Clone(), b, r.Host, r.Trailer.Clone()})
		u.mu.Unlock()
		if u.reply != nil {
			u.reply(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"ok":true}`)
	})
}

// inboundRoute is the YAML of a routes document's item: an inbound route
// for every host on path_prefix /prefix to {{UP}}, with more (its other
// keys, lines indented by four spaces; "" for none).
func inboundRoute(id, prefix, more string) string {
	return "  - id: " + id + "\n    direction: inbound\n    host: \"*\"\n    path_prefix: /" + prefix + "\n    upstream: {{UP}}\n" + more
}

// responseRedact is the filters key of a route whose one filter redacts
// card.number in its responses, matching match (a YAML flow mapping, or ""
// for every response).
func responseRedact(match string) string {
	s := "    filters:\n      - id: card-out\n        phase: response\n"
	if match != "" {
		s += "        match: " + match + "\n"
	}
	return s + "        operation: redact\n        targets: [{json: card.number}]\n"
}
