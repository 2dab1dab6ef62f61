package proxy

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"testing"

	"github.com/aliasgate/aliasgate/internal/abuse"
	"github.com/aliasgate/aliasgate/internal/bodybudget"
	"github.com/aliasgate/aliasgate/routes/rewrite"
	"github.com/aliasgate/aliasgate/vault"
)

// benchBody is about 1 KiB of JSON with two targets.
func benchBody() string {
	var b strings.Builder
	b.WriteString(`{"card":{"number":"` + testPAN + `","holder":"` + testPAN2 + `"},"items":[`)
	for i := 0; b.Len() < 990; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`{"sku":"SKU-00042","qty":1,"price":1999}`)
	}
	b.WriteString(`],"ok":true}`)
	return b.String()
}

// BenchmarkInbound compares the proxy (redacting two targets of a 1 KiB
// JSON body through a real vault, values already known) with a bare
// httputil.ReverseProxy in front of the same upstream, both over loopback.
func BenchmarkInbound(b *testing.B) {
	body := benchBody()
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"ok":true}`)
	}))
	defer up.Close()
	doc := `routes:
  - id: bench
    direction: inbound
    host: "*"
    upstream: ` + up.URL + `
    filters:
      - id: cards
        match: {methods: [POST], content_type: json}
        operation: redact
        targets:
          - {json: card.number, format: FPE_SIX_T_FOUR}
          - {json: card.holder}
`
	tv := newTestVault(b)
	// Known PANs: redact once before the loop, as a steady state has them.
	if _, err := tv.tok.Redact(context.Background(), []rewrite.RedactItem{{Value: testPAN, Format: "FPE_SIX_T_FOUR"}, {Value: testPAN2}}); err != nil {
		b.Fatal(err)
	}
	g := newGateway(b, parseRoutes(b, doc, up.URL), tv, gwOptions{logger: slog.New(slog.DiscardHandler)})
	target, _ := url.Parse(up.URL)
	bare := httptest.NewServer(&httputil.ReverseProxy{Rewrite: func(pr *httputil.ProxyRequest) {
		pr.SetURL(target)
		pr.SetXForwarded()
	}})
	defer bare.Close()

	run := func(b *testing.B, srvURL string) { benchPosts(b, srvURL+"/checkout", body) }
	// The same with the gateway's default abuse limits as the vault's
	// Admission (issue 19: they must not cost more than 5%).
	tvl := newTestVaultWith(b, vault.Options{Admission: abuse.New(abuse.DefaultLimits(), abuse.Options{}),
		MaxValuesPerCall: 1000, MaxNewPerCall: 100})
	if _, err := tvl.tok.Redact(context.Background(), []rewrite.RedactItem{{Value: testPAN, Format: "FPE_SIX_T_FOUR"}, {Value: testPAN2}}); err != nil {
		b.Fatal(err)
	}
	// And the gateway's default body budget (limits.max_buffered_bytes,
	// 32 × max_body, a quarter of it a sender's share).
	gl := newGateway(b, parseRoutes(b, doc, up.URL), tvl, gwOptions{logger: slog.New(slog.DiscardHandler),
		budget: bodybudget.New(32*DefaultMaxBody, 8*DefaultMaxBody)})
	b.Run("aliasgate", func(b *testing.B) { run(b, g.URL) })
	b.Run("aliasgate-limits", func(b *testing.B) { run(b, gl.URL) })
	b.Run("bare", func(b *testing.B) { run(b, bare.URL) })
}
