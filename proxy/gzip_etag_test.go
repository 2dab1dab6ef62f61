package proxy

import (
	"net/http"
	"strconv"
	"testing"

	"github.com/aliasgate/aliasgate/internal/obs/obstest"
)

// TestDecodedGzipAnswersKeepTheirHeadersTrue: the proxy asks an upstream
// whose responses a route reads for gzip itself (askGzip) and gives its
// client the body decoded. The headers must describe what the client gets:
// a strong ETag names the gzip bytes, not the decoded ones (a cache or a
// Range request holding it would mix representations: weakened, as
// nginx's gzip does), and a HEAD must answer the headers the GET answers
// (it kept Content-Encoding: gzip and the compressed Content-Length, so a
// client believed the body it then got with GET to be gzip).
func TestDecodedGzipAnswersKeepTheirHeadersTrue(t *testing.T) {
	plain := []byte(`{"ok":true,"note":"padding padding padding padding"}`)
	zipped := gz(t, plain)
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Encoding", "gzip")
		w.Header().Set("ETag", `"v1-abc"`)
		w.Header().Set("Content-Length", strconv.Itoa(len(zipped)))
		if r.Method != http.MethodHead {
			_, _ = w.Write(zipped)
		}
	})
	g := newGateway(t, parseRoutes(t, stackedRoutes, up.URL), nil, gwOptions{logger: obstest.Logger(t)})
	for _, route := range []string{"/block", "/redact", "/filter", "/stream"} {
		resp, body := g.do(t, "GET", route+"/x", "", nil, map[string]string{"Accept-Encoding": "identity"})
		if resp.StatusCode != 200 || string(body) != string(plain) || resp.Header.Get("Content-Encoding") != "" {
			t.Fatalf("GET %s: %d %q %q", route, resp.StatusCode, resp.Header.Get("Content-Encoding"), body)
		}
		if got := resp.Header.Get("ETag"); got != `W/"v1-abc"` {
			t.Errorf("GET %s: ETag %q on the decoded body, want W/\"v1-abc\"", route, got)
		}
		head, _ := g.do(t, "HEAD", route+"/x", "", nil, map[string]string{"Accept-Encoding": "identity"})
		if head.StatusCode != 200 {
			t.Fatalf("HEAD %s: %d", route, head.StatusCode)
		}
		if ce := head.Header.Get("Content-Encoding"); ce != "" {
			t.Errorf("HEAD %s: Content-Encoding %q, the GET answers none", route, ce)
		}
		if cl := head.Header.Get("Content-Length"); cl == strconv.Itoa(len(zipped)) {
			t.Errorf("HEAD %s: Content-Length %s is the gzip body's", route, cl)
		}
		if got := head.Header.Get("ETag"); got != `W/"v1-abc"` {
			t.Errorf("HEAD %s: ETag %q, want W/\"v1-abc\" as the GET", route, got)
		}
	}
}
