package proxy

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/aliasgate/aliasgate/internal/abuse"
	"github.com/aliasgate/aliasgate/internal/bodybudget"
	"github.com/aliasgate/aliasgate/internal/obs"
	"github.com/aliasgate/aliasgate/internal/vaulttok"
	"github.com/aliasgate/aliasgate/routes"
	"github.com/aliasgate/aliasgate/vault"
	"github.com/aliasgate/aliasgate/vault/boltstore"
	"github.com/aliasgate/aliasgate/vault/memstore"
)

// scenario1Body is issue 21's scenario 1 checkout (the bench harness's
// checkoutBody): about 1 KiB of JSON with a card number and a CVC.
func scenario1Body(number, cvc string) string {
	var b strings.Builder
	b.WriteString(`{"order":{"id":"ord_8f1c2a","currency":"EUR","amount":12999,"items":[`)
	for i := range 6 {
		if i > 0 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, `{"sku":"SKU-%04d","name":"Item number %d","qty":%d,"price":%d}`, i, i, i+1, 1000+i)
	}
	b.WriteString(`]},"customer":{"email":"jane.doe@example.com","name":"Jane Doe","address":{"line1":"1 Main Street","city":"Springfield","zip":"12345","country":"US"}},`)
	b.WriteString(`"card":{"number":"` + number + `","cvc":"` + cvc + `","exp_month":"12","exp_year":"2030","holder":"JANE DOE"},`)
	b.WriteString(`"meta":{"ip":"203.0.113.7","ua":"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko)","session":"s_0123456789abcdef"}}`)
	return b.String()
}

// echoUpstream answers every request with its own body and Content-Type,
// as the bench harness's echo role does.
func echoUpstream() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var buf bytes.Buffer
		if _, err := buf.ReadFrom(r.Body); err != nil {
			http.Error(w, "read error", http.StatusBadRequest)
			return
		}
		ct := r.Header.Get("Content-Type")
		if ct == "" {
			ct = "application/octet-stream"
		}
		w.Header().Set("Content-Type", ct)
		w.Header().Set("Content-Length", strconv.Itoa(buf.Len()))
		_, _ = w.Write(buf.Bytes())
	})
}

// scenario1Handler is the gateway of issue 21's scenario 1 as the
// listener serves it: the harness's checkout route (card.number FPE,
// card.cvc volatile) in front of upstream, reached through rt (nil: the
// proxy's own transport), a bbolt vault in dir with the default abuse
// limits but the volatile ones, the default body budget, and the process
// logger's access line (JSON, to io.Discard) and request metrics.
func scenario1Handler(tb testing.TB, dir, upstream string, rt http.RoundTripper) http.Handler {
	tb.Helper()
	doc := `routes:
  - id: checkout
    direction: inbound
    host: "*"
    path_prefix: /checkout
    upstream: ` + upstream + `
    filters:
      - id: card-in
        phase: request
        match: {methods: [POST], content_type: json}
        operation: redact
        targets:
          - {json: card.number, format: FPE_SIX_T_FOUR, classifiers: [pan]}
          - {json: card.cvc, storage: volatile}
`
	p, err := boltstore.Open(filepath.Join(dir, "vault.db"), boltstore.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	v := memstore.New(memstore.Options{})
	tb.Cleanup(func() { v.Close(); p.Close() })
	kr, err := vault.OpenKeyring(context.Background(), p, bytes.Repeat([]byte{7}, 32))
	if err != nil {
		tb.Fatal(err)
	}
	lim := abuse.DefaultLimits()
	lim.SourceVolatile, lim.SourceVolatileBurst = 0, 0
	svc, err := vault.New(p, v, kr, vault.Options{Env: "test", Admission: abuse.New(lim, abuse.Options{}),
		MaxValuesPerCall: 1000, MaxNewPerCall: 100})
	if err != nil {
		tb.Fatal(err)
	}
	logger, err := obs.NewLogger(io.Discard, "info", "json")
	if err != nil {
		tb.Fatal(err)
	}
	m := obs.NewMetrics()
	in, err := NewInbound(InboundOptions{Table: routes.NewTable(parseRoutes(tb, doc, upstream)), Tokenizer: vaulttok.New(svc),
		Logger: logger, Metrics: m, Budget: bodybudget.New(32*DefaultMaxBody, 8*DefaultMaxBody), Transport: rt})
	if err != nil {
		tb.Fatal(err)
	}
	return obs.AccessLog(logger, m, "inbound", in)
}

// benchPosts posts body to url once per iteration of b over one client's
// kept-alive connections, each answer read whole and 200.
func benchPosts(b *testing.B, url, body string) {
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16}}
	defer client.CloseIdleConnections()
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		resp, err := client.Post(url, "application/json", strings.NewReader(body))
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			b.Fatalf("status %d", resp.StatusCode)
		}
	}
}

// BenchmarkInboundScenario1 is issue 21's scenario 1 through the real
// handler: POST /checkout with the harness's 1 KiB JSON, card.number
// redacted FPE (already in the vault) and card.cvc volatile, forwarded to
// an upstream that echoes it, the leak guard on the redacted request and
// on the echoed response, one access line, the request metrics.
func BenchmarkInboundScenario1(b *testing.B) {
	up := httptest.NewServer(echoUpstream())
	defer up.Close()
	srv := httptest.NewServer(scenario1Handler(b, b.TempDir(), up.URL, nil))
	defer srv.Close()
	body := scenario1Body("4111111111111111", "123")
	// The card number is in the vault before the loop, as in the harness.
	resp, err := http.Post(srv.URL+"/checkout", "application/json", strings.NewReader(body))
	if err != nil {
		b.Fatal(err)
	}
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || bytes.Contains(got, []byte("4111111111111111")) || !bytes.Contains(got, []byte(`"cvc":"tok_`)) {
		b.Fatalf("not redacted (%d): %s", resp.StatusCode, got)
	}
	benchPosts(b, srv.URL+"/checkout", body)
}

// BenchmarkInboundScenario1Bare is BenchmarkInboundScenario1's exchange
// through a bare httputil.ReverseProxy in front of the same echoing
// upstream: the baseline the gateway's cost is compared with.
func BenchmarkInboundScenario1Bare(b *testing.B) {
	up := httptest.NewServer(echoUpstream())
	defer up.Close()
	target, _ := url.Parse(up.URL)
	srv := httptest.NewServer(&httputil.ReverseProxy{Rewrite: func(pr *httputil.ProxyRequest) {
		pr.SetURL(target)
		pr.SetXForwarded()
	}})
	defer srv.Close()
	benchPosts(b, srv.URL+"/checkout", scenario1Body("4111111111111111", "123"))
}

// benchEchoTransport answers every request in process with its own body and
// Content-Type, as echoUpstream does over the network.
type benchEchoTransport struct{}

func (benchEchoTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	b, err := io.ReadAll(r.Body)
	r.Body.Close()
	if err != nil {
		return nil, err
	}
	ct := r.Header.Get("Content-Type")
	if ct == "" {
		ct = "application/octet-stream"
	}
	return &http.Response{StatusCode: http.StatusOK, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header:        http.Header{"Content-Type": {ct}, "Content-Length": {strconv.Itoa(len(b))}},
		Body:          io.NopCloser(bytes.NewReader(b)),
		ContentLength: int64(len(b)), Request: r}, nil
}

// BenchmarkInboundScenario1InProcess is BenchmarkInboundScenario1 without
// the network: the same route, vault, body budget and access line, the
// handler called directly and the upstream echoing in process
// (benchEchoTransport). What it counts is the gateway's own work on the
// exchange, with less of the scheduler's and the sockets' noise. Under
// callgrind, run it with GOGC=off too to compare two builds: with the
// collector on, where its cycles fall in the run (which any change of
// the allocations moves) changes the count by several percent.
func BenchmarkInboundScenario1InProcess(b *testing.B) {
	h := scenario1Handler(b, b.TempDir(), "http://upstream.test", benchEchoTransport{})
	body := scenario1Body("4111111111111111", "123")
	post := func() *httptest.ResponseRecorder {
		r := httptest.NewRequest(http.MethodPost, "http://gw.test/checkout", strings.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
		r.RemoteAddr = "192.0.2.7:40000"
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != http.StatusOK {
			b.Fatalf("status %d: %s", w.Code, w.Body)
		}
		return w
	}
	if got := post().Body.String(); strings.Contains(got, "4111111111111111") || !strings.Contains(got, `"cvc":"tok_`) {
		b.Fatalf("not redacted: %s", got)
	}
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		post()
	}
}
