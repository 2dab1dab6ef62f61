package proxy

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/elazarl/goproxy"

	"github.com/aliasgate/aliasgate/routes"
	"github.com/aliasgate/aliasgate/routes/rewrite"
)

// BenchmarkOutbound compares the outbound proxy (CONNECT MITM, reveal of two
// aliases in a 1 KiB JSON body through a real vault) with goproxy MITM and
// no rewrite, both in front of the same TLS processor over loopback, with
// keep-alive clients (one CONNECT per connection).
func BenchmarkOutbound(b *testing.B) {
	psp := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"ok":true}`)
	}))
	defer psp.Close()
	_, port, _ := net.SplitHostPort(psp.Listener.Addr().String())
	doc := `routes:
  - id: bench
    direction: outbound
    host: psp.example.com
    filters:
      - id: reveal
        phase: request
        match: {methods: [POST], content_type: json}
        operation: reveal
        targets:
          - {json: card.number}
          - {json: card.holder}
`
	tv := newTestVault(b)
	got, err := tv.tok.Redact(context.Background(), []rewrite.RedactItem{{Value: testPAN}, {Value: testPAN2}})
	if err != nil {
		b.Fatal(err)
	}
	body := strings.Replace(strings.Replace(benchBody(), testPAN, got[0], 1), testPAN2, got[1], 1)
	dir := b.TempDir()
	ca, err := LoadOrCreateCA(filepath.Join(dir, "ca.pem"), filepath.Join(dir, "ca.key"))
	if err != nil {
		b.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(psp.Certificate())
	ob, err := NewOutbound(OutboundOptions{
		Table: routes.NewTable(parseRoutes(b, doc, "")), Tokenizer: tv.tok, CA: ca,
		AllowPrivate: true, RootCAs: roots, Logger: slog.New(slog.DiscardHandler),
		Resolver: mapResolver{"psp.example.com": "127.0.0.1"},
	})
	if err != nil {
		b.Fatal(err)
	}
	agSrv := httptest.NewServer(ob)
	defer func() { agSrv.Close(); ob.Close() }()

	// Baseline: goproxy MITM with the same CA, verifying the processor.
	gp := goproxy.NewProxyHttpServer()
	gp.Logger = goproxyLogger{l: slog.New(slog.DiscardHandler)}
	caTLS := &tls.Certificate{Certificate: [][]byte{ca.cert.Raw}, PrivateKey: ca.key, Leaf: ca.cert}
	gp.OnRequest().HandleConnect(goproxy.FuncHttpsHandler(func(host string, _ *goproxy.ProxyCtx) (*goproxy.ConnectAction, string) {
		return &goproxy.ConnectAction{Action: goproxy.ConnectMitm, TLSConfig: goproxy.TLSConfigFromCA(caTLS)}, host
	}))
	gp.Tr = &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			_, p, _ := net.SplitHostPort(addr)
			return (&net.Dialer{}).DialContext(ctx, network, "127.0.0.1:"+p)
		},
		TLSClientConfig: &tls.Config{RootCAs: roots}, MaxIdleConnsPerHost: 64, IdleConnTimeout: 90 * time.Second,
	}
	gpSrv := httptest.NewServer(gp)
	defer gpSrv.Close()

	clientRoots := x509.NewCertPool()
	clientRoots.AddCert(ca.Certificate())
	target := "https://psp.example.com:" + port + "/v1/charges"
	run := func(b *testing.B, proxyURL string) {
		pu, _ := url.Parse(proxyURL)
		tr := &http.Transport{Proxy: http.ProxyURL(pu), TLSClientConfig: &tls.Config{RootCAs: clientRoots}, MaxIdleConnsPerHost: 16}
		client := &http.Client{Transport: tr}
		defer tr.CloseIdleConnections()
		b.SetBytes(int64(len(body)))
		b.ReportAllocs()
		b.ResetTimer()
		for b.Loop() {
			resp, err := client.Post(target, "application/json", strings.NewReader(body))
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
	b.Run("aliasgate", func(b *testing.B) { run(b, agSrv.URL) })
	b.Run("goproxy", func(b *testing.B) { run(b, gpSrv.URL) })
}
