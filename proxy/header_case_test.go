package proxy

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"crypto/tls"
	"crypto/x509"
	"go/ast"
	"go/parser"
	"go/token"
	"go/types"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestHeaderMapKeysAreCanonical: the proxy reads and writes headers of
// every request by indexing the header map with a constant key
// (headerValue, h["Content-Length"], delete(h, "Expect")…) instead of
// Header.Get, Set and Del, which canonicalise the key first. That is the
// same only for a key in canonical form: a key spelled otherwise
// ("content-type") would find nothing where Get found the client's
// Content-Type, and the body filters and the leak guard would read no
// body. Every such constant key in the proxy and routes packages is
// canonical.
func TestHeaderMapKeysAreCanonical(t *testing.T) {
	headerish := regexp.MustCompile(`(?i)(header|trailer)|^(h|dst|hdr)$`)
	fset := token.NewFileSet()
	sites := 0
	check := func(n ast.Node, x ast.Expr, key ast.Expr) {
		lit, ok := key.(*ast.BasicLit)
		if !ok || lit.Kind != token.STRING {
			return
		}
		if !headerish.MatchString(lastName(types.ExprString(x))) {
			return
		}
		k, err := strconv.Unquote(lit.Value)
		if err != nil {
			t.Fatal(err)
		}
		sites++
		if http.CanonicalHeaderKey(k) != k {
			t.Errorf("%s: header key %q indexed directly is not canonical (%q): Header.Get would find the header, this does not",
				fset.Position(n.Pos()), k, http.CanonicalHeaderKey(k))
		}
	}
	for _, dir := range []string{".", "../routes"} {
		files, err := filepath.Glob(filepath.Join(dir, "*.go"))
		if err != nil {
			t.Fatal(err)
		}
		for _, name := range files {
			if strings.HasSuffix(name, "_test.go") {
				continue
			}
			f, err := parser.ParseFile(fset, name, nil, 0)
			if err != nil {
				t.Fatal(err)
			}
			ast.Inspect(f, func(n ast.Node) bool {
				switch n := n.(type) {
				case *ast.IndexExpr:
					check(n, n.X, n.Index)
				case *ast.CallExpr:
					if id, ok := n.Fun.(*ast.Ident); ok && len(n.Args) == 2 && (id.Name == "delete" || id.Name == "headerValue") {
						check(n, n.Args[0], n.Args[1])
					}
				}
				return true
			})
		}
	}
	// The sites of the change are found: headerValue's four calls, the
	// deletes of Accept-Encoding (twice), Expect, Content-Length and
	// delRange's three, the Content-Length and Content-Type indexes.
	if sites < 15 {
		t.Fatalf("found %d header map sites, want at least 15", sites)
	}
}

// lastName returns the last selector of a printed expression ("pr.Out.Header": "Header").
func lastName(s string) string { return s[strings.LastIndexByte(s, '.')+1:] }

// lowerCaseResponse hijacks w and writes an upstream answer whose header
// names are all lower case, as an HTTP/1.1 server may send them.
func lowerCaseResponse(w http.ResponseWriter, headers string, body []byte) {
	conn, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		return
	}
	defer conn.Close()
	_, _ = brw.WriteString("HTTP/1.1 200 OK\r\n" + headers + "content-length: " + strconv.Itoa(len(body)) + "\r\nconnection: close\r\n\r\n")
	_, _ = brw.Write(body)
	_ = brw.Flush()
}

func gzipped(t testing.TB, s string) []byte {
	t.Helper()
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	if _, err := io.WriteString(zw, s); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// decoded returns body, gunzipped when its header says gzip.
func decoded(t testing.TB, h http.Header, body []byte) []byte {
	t.Helper()
	if !strings.EqualFold(h.Get("Content-Encoding"), "gzip") {
		return body
	}
	zr, err := gzip.NewReader(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("gzip body: %v", err)
	}
	b, err := io.ReadAll(zr)
	if err != nil {
		t.Fatalf("gzip body: %v", err)
	}
	return b
}

// TestLowerCaseHeaderNamesAreRead: the header names a client or an
// upstream spells in lower case (any HTTP/2 peer does; an HTTP/1.1 peer
// may) still reach the body filters and the refusals that read headers by
// their canonical key: Content-Type and Content-Encoding of a request and
// of a response (the card number is replaced in each), Upgrade of a
// request to a route whose filters read bodies (refused), through the
// gateway over HTTP/1.1 and HTTP/2.
func TestLowerCaseHeaderNamesAreRead(t *testing.T) {
	card := `{"card":{"number":"` + testPAN + `"}}`
	up := newUpstream(t, nil)
	up.reply = func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/respredact/ct":
			lowerCaseResponse(w, "content-type: application/json\r\n", []byte(card))
		case "/respredact/gzip":
			lowerCaseResponse(w, "content-type: application/json\r\ncontent-encoding: gzip\r\n", gzipped(t, card))
		default:
			w.Header().Set("Content-Type", "application/json")
			_, _ = io.WriteString(w, `{"ok":true}`)
		}
	}
	g := newGateway(t, parseRoutes(t, testRoutes, up.URL), nil, gwOptions{})
	h2 := httptest.NewUnstartedServer(g.Config.Handler)
	h2.EnableHTTP2 = true
	h2.StartTLS()
	t.Cleanup(h2.Close)

	type exchange struct {
		status   int
		header   http.Header
		body     []byte
		upstream int // requests the upstream got
	}
	// http1 sends the request with its header names as written.
	http1 := func(t *testing.T, method, path, headers string, body []byte) exchange {
		before := len(up.requests())
		conn, err := net.Dial("tcp", g.Listener.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
		req := method + " " + path + " HTTP/1.1\r\nhost: gw.test\r\n" + headers
		if body != nil {
			req += "content-length: " + strconv.Itoa(len(body)) + "\r\n"
		}
		if _, err := conn.Write(append([]byte(req+"\r\n"), body...)); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(bufio.NewReader(conn), &http.Request{Method: method})
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return exchange{resp.StatusCode, resp.Header, decoded(t, resp.Header, b), len(up.requests()) - before}
	}
	// http2 sends the request over HTTP/2, where every header name is
	// lower case on the wire.
	client2 := h2.Client()
	client2.Transport.(*http.Transport).DisableCompression = true
	http2 := func(t *testing.T, method, path, headers string, body []byte) exchange {
		before := len(up.requests())
		req, err := http.NewRequest(method, h2.URL+path, bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(strings.TrimSpace(headers), "\r\n") {
			if k, v, ok := strings.Cut(line, ":"); ok {
				req.Header[k] = append(req.Header[k], strings.TrimSpace(v)) // as written: the client lower-cases it anyway
			}
		}
		resp, err := client2.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.ProtoMajor != 2 {
			t.Fatalf("proto %s", resp.Proto)
		}
		b, _ := io.ReadAll(resp.Body)
		return exchange{resp.StatusCode, resp.Header, decoded(t, resp.Header, b), len(up.requests()) - before}
	}
	for _, tr := range []struct {
		name string
		send func(t *testing.T, method, path, headers string, body []byte) exchange
	}{{"HTTP/1.1", http1}, {"HTTP/2", http2}} {
		t.Run(tr.name+"/request content-type", func(t *testing.T) {
			ex := tr.send(t, "POST", "/json/pay", "content-type: application/json\r\n", []byte(card))
			got := up.last(t)
			if ex.status != 200 || ex.upstream != 1 || bytes.Contains(got.Body, []byte(testPAN)) || !bytes.Contains(got.Body, []byte(`"number":"`)) {
				t.Fatalf("status %d, %d upstream requests, upstream got %q", ex.status, ex.upstream, got.Body)
			}
		})
		t.Run(tr.name+"/request content-encoding", func(t *testing.T) {
			ex := tr.send(t, "POST", "/json/pay", "content-type: application/json\r\ncontent-encoding: gzip\r\n", gzipped(t, card))
			got := up.last(t)
			if body := decoded(t, got.Header, got.Body); ex.status != 200 || ex.upstream != 1 || bytes.Contains(body, []byte(testPAN)) || !bytes.Contains(body, []byte(`"number":"`)) {
				t.Fatalf("status %d, %d upstream requests, upstream got %q", ex.status, ex.upstream, body)
			}
		})
		for _, path := range []string{"/respredact/ct", "/respredact/gzip"} {
			t.Run(tr.name+" response "+path, func(t *testing.T) {
				ex := tr.send(t, "GET", path, "", nil)
				if ex.status != 200 || bytes.Contains(ex.body, []byte(testPAN)) || !bytes.Contains(ex.body, []byte(`"number":"`)) {
					t.Fatalf("status %d, client got %q", ex.status, ex.body)
				}
			})
		}
	}
	t.Run("HTTP/1.1/upgrade", func(t *testing.T) {
		ex := http1(t, "GET", "/json/ws", "connection: upgrade\r\nupgrade: websocket\r\n", nil)
		if ex.status < 400 || ex.upstream != 0 {
			t.Fatalf("status %d, %d upstream requests", ex.status, ex.upstream)
		}
	})
}

// TestLowerCaseHeaderNamesAreReadThroughTheMITM: the same through the
// outbound proxy's MITM: a client's request written inside the CONNECT
// tunnel with lower-case header names (content-type, content-encoding) is
// revealed for the processor, and the processor's answer with lower-case
// names (content-type, content-encoding: gzip) passes the route's response
// filter, which replaces its card number.
func TestLowerCaseHeaderNamesAreReadThroughTheMITM(t *testing.T) {
	echo := `{"echo":{"pan":"` + testPAN + `"}}`
	psp := newTLSUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/gzip" {
			lowerCaseResponse(w, "content-type: application/json\r\ncontent-encoding: gzip\r\n", gzipped(t, echo))
			return
		}
		lowerCaseResponse(w, "content-type: application/json\r\n", []byte(echo))
	})
	g := newOutGateway(t, nil, outOpts{allowPrivate: true, roots: []*x509.Certificate{psp.Certificate()}})
	panA, _ := aliases(t, g.vault)
	card := `{"card":{"number":"` + panA + `"}}`
	pool := x509.NewCertPool()
	pool.AddCert(g.ca.Certificate())
	for _, tc := range []struct {
		path, headers string
		body          []byte
	}{
		{"/plain", "content-type: application/json\r\n", []byte(card)},
		{"/gzip", "content-type: application/json\r\ncontent-encoding: gzip\r\n", gzipped(t, card)},
	} {
		t.Run(tc.path, func(t *testing.T) {
			resp, conn, _ := rawConnect(t, g.srv.Listener.Addr().String(), "psp.example.com:"+psp.port(), "cli", "s3cret")
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("CONNECT: %d", resp.StatusCode)
			}
			tlsConn := tls.Client(conn, &tls.Config{ServerName: "psp.example.com", RootCAs: pool})
			_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
			req := "POST " + tc.path + " HTTP/1.1\r\nhost: psp.example.com:" + psp.port() + "\r\n" + tc.headers +
				"content-length: " + strconv.Itoa(len(tc.body)) + "\r\n\r\n"
			if _, err := tlsConn.Write(append([]byte(req), tc.body...)); err != nil {
				t.Fatal(err)
			}
			r, err := http.ReadResponse(bufio.NewReader(tlsConn), &http.Request{Method: "POST"})
			if err != nil {
				t.Fatal(err)
			}
			defer r.Body.Close()
			b, _ := io.ReadAll(r.Body)
			b = decoded(t, r.Header, b)
			got := psp.last(t)
			if sent := decoded(t, got.Header, got.Body); !bytes.Contains(sent, []byte(testPAN)) {
				t.Fatalf("status %d: the processor got %q, not the card number", r.StatusCode, sent)
			}
			if r.StatusCode != 200 || bytes.Contains(b, []byte(testPAN)) || !bytes.Contains(b, []byte(`"pan":"`)) {
				t.Fatalf("status %d, client got %q", r.StatusCode, b)
			}
		})
	}
}
