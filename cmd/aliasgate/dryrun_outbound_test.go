package main

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aliasgate/aliasgate/proxy"
	"github.com/aliasgate/aliasgate/routes"
	"github.com/aliasgate/aliasgate/routes/rewrite"
)

// TestRoutesTestAgreesWithTheOutboundProxy sends each request through a
// real outbound proxy (proxy.Outbound on a 127.0.0.1 listener, a CONNECT
// tunnel with TLS to the gateway CA's leaf, limits.max_body of 4 KiB, a
// recording TLS processor) and to `aliasgate routes test --direction
// outbound` with the same route file and --max-body, and asserts they
// agree on the answer (forwarded, or refused with the same status and
// code) and, when it is forwarded, on what the processor receives: the
// dry run reveals an alias to "revealed(ALIAS)", compared as the value
// the proxy's vault reveals it to. Answers of the processor go through
// --phase response with the processor's answer as the response file.
func TestRoutesTestAgreesWithTheOutboundProxy(t *testing.T) {
	type seen struct {
		header http.Header
		body   []byte
	}
	const pan = "4111111111111111"
	var mu sync.Mutex
	var last *seen
	answer := func(path string) (string, string) { // Content-Type, body
		if strings.HasPrefix(path, "/leak") || strings.HasPrefix(path, "/masked") {
			return "application/json", `{"status":"authorized","card":"` + pan + `"}`
		}
		return "application/json", `{"status":"authorized"}`
	}
	psp := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		last = &seen{header: r.Header.Clone(), body: b}
		mu.Unlock()
		ct, body := answer(r.URL.Path)
		w.Header().Set("Content-Type", ct)
		_, _ = io.WriteString(w, body)
	}))
	defer psp.Close()
	pspHost := psp.Listener.Addr().String()
	const maxBody = 4096
	doc := `routes:
  - id: psp
    direction: outbound
    host: 127.0.0.1
    path_prefix: /v1
    filters:
      - {id: json, operation: reveal, match: {content_type: json}, targets: [{json: card.number}]}
      - {id: form, operation: reveal, match: {content_type: form}, targets: [{form: card_number}]}
      - {id: xml, operation: reveal, match: {content_type: xml}, targets: [{xml: /payment/card/pan}]}
  - id: lenient
    direction: outbound
    host: 127.0.0.1
    path_prefix: /lenient
    filters:
      - {id: json, operation: reveal, on_error: pass, targets: [{json: card.number}]}
  - id: masked
    direction: outbound
    host: 127.0.0.1
    path_prefix: /masked
    leak_guard: redact
    filters:
      - {id: json, operation: reveal, targets: [{json: card.number}]}
  - id: leak
    direction: outbound
    host: 127.0.0.1
    path_prefix: /leak
    leak_guard: block
    filters:
      - {id: json, operation: reveal, targets: [{json: card.number}]}
`
	dir, routesFile, set, dtok := dryRunRoutes(t, doc)
	vtok := dtok.(dryRun).Tokenizer // reveals what it holds
	ca, err := proxy.LoadOrCreateCA(filepath.Join(dir, "ca.pem"), filepath.Join(dir, "ca.key"))
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(psp.Certificate())
	ob, err := proxy.NewOutbound(proxy.OutboundOptions{Table: routes.NewTable(set), Tokenizer: vtok, CA: ca,
		AllowPrivate: true, RootCAs: roots, MaxBody: maxBody, UpstreamTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	gw := httptest.NewServer(ob)
	defer func() { gw.Close(); _ = ob.Close() }()
	aliases, err := vtok.Redact(context.Background(), []rewrite.RedactItem{{Value: pan}})
	if err != nil {
		t.Fatal(err)
	}
	alias := aliases[0]
	const unknown = "4111110000001111"
	// A value the proxy's vault does not hold is forwarded as it is (on_error: pass).
	revealed := strings.NewReplacer("revealed("+alias+")", pan, url.QueryEscape("revealed("+alias+")"), pan,
		"revealed("+unknown+")", unknown)

	jsonCard := func(a string) string { return `{"card":{"number":"` + a + `"},"amount":100}` }
	for _, c := range []struct {
		name, method, target string
		header               []string // a Content-Type among them replaces application/json; a Host replaces the CONNECT's
		body                 string
		// unknown: the body holds a value the proxy's vault does not
		// hold, which the dry run's throw-away vault cannot tell: it
		// shows the value revealed and says, on stderr, what the proxy
		// does with one that is no alias of its vault.
		unknown bool
	}{
		{"a JSON alias revealed", "POST", "/v1/charges", nil, jsonCard(alias), false},
		{"a form alias revealed", "POST", "/v1/charges", []string{"Content-Type: application/x-www-form-urlencoded"}, "card_number=" + alias + "&amount=100", false},
		{"an XML alias revealed", "POST", "/v1/charges", []string{"Content-Type: application/xml"}, "<payment><card><pan>" + alias + "</pan></card></payment>", false},
		{"an unknown alias, on_error reject", "POST", "/v1/charges", nil, jsonCard(unknown), true},
		{"a value that is no alias, on_error reject", "POST", "/v1/charges", nil, jsonCard("not-an-alias"), true},
		{"an unknown alias, on_error pass", "POST", "/lenient/charges", nil, jsonCard(unknown), true},
		{"a gzip body revealed", "POST", "/v1/charges", []string{"Content-Encoding: gzip"}, gzipString(jsonCard(alias)), false},
		{"a gzip body that is not gzip", "POST", "/v1/charges", []string{"Content-Encoding: gzip"}, jsonCard(alias), false},
		{"an encoding the proxy cannot decode", "POST", "/v1/charges", []string{"Content-Encoding: br"}, jsonCard(alias), false},
		{"a body over max_body", "POST", "/v1/charges", nil, `{"card":{"number":"` + alias + `"},"pad":"` + strings.Repeat("x", maxBody) + `"}`, false},
		{"a path no route matches", "POST", "/v2/charges", nil, jsonCard(alias), false},
		{"a path whose dot segments leave the route", "POST", "/v1/../v2/charges", nil, jsonCard(alias), false},
		{"a path whose dot segments enter the route", "POST", "/v2/../v1/charges", nil, jsonCard(alias), false},
		{"an encoded slash", "POST", "/v1/a%2Fb", nil, jsonCard(alias), false},
		{"an opaque target", "POST", "https:v1/charges", nil, jsonCard(alias), false},
		{"CONNECT inside the tunnel", "CONNECT", "/v1/charges", nil, "", false},
		{"a Host other than the CONNECT's", "POST", "/v1/charges", []string{"Host: other.example:" + strconv.Itoa(psp.Listener.Addr().(*net.TCPAddr).Port)}, jsonCard(alias), false},
		{"a processor's answer the leak guard blocks", "POST", "/leak/charges", nil, jsonCard(alias), false},
		{"a processor's answer the leak guard masks", "POST", "/masked/charges", nil, jsonCard(alias), false},
		{"a gzip body, the processor's answer blocked", "POST", "/leak/charges", []string{"Content-Encoding: gzip"}, gzipString(jsonCard(alias)), false},
		{"a body gzipped twice", "POST", "/v1/charges", []string{"Content-Encoding: gzip, gzip"}, gzipString(gzipString(jsonCard(alias))), false},
		{"an encoding the proxy cannot decode, on_error pass", "POST", "/lenient/charges", []string{"Content-Encoding: br"}, jsonCard(alias), false},
		{"a body over max_body, on_error pass", "POST", "/lenient/charges", nil, `{"card":{"number":"` + alias + `"},"pad":"` + strings.Repeat("x", maxBody) + `"}`, false},
		{"an XML alias no filter of the route matches", "POST", "/lenient/charges", []string{"Content-Type: application/xml"}, "<payment><card><pan>" + alias + "</pan></card></payment>", false},
		{"a form field that is no alias", "POST", "/v1/charges", []string{"Content-Type: application/x-www-form-urlencoded"}, "card_number=nope&amount=100", true},
	} {
		host, ctype := pspHost, "Content-Type: application/json\r\n"
		var extra []string
		for _, h := range c.header {
			switch {
			case strings.HasPrefix(h, "Content-Type:"):
				ctype = ""
				extra = append(extra, h)
			case strings.HasPrefix(h, "Host: "):
				host = strings.TrimPrefix(h, "Host: ")
			default:
				extra = append(extra, h)
			}
		}
		raw := c.method + " " + c.target + " HTTP/1.1\r\nHost: " + host + "\r\n" + ctype +
			strings.Join(append(extra, ""), "\r\n") + "Content-Length: " + strconv.Itoa(len(c.body)) + "\r\n\r\n" + c.body

		// The outbound proxy.
		mu.Lock()
		last = nil
		mu.Unlock()
		status, code, client := sendThroughTunnel(t, gw.Listener.Addr().String(), pspHost, ca, raw)
		mu.Lock()
		got := last
		mu.Unlock()

		// routes test, the request phase.
		reqFile := writeIn(t, dir, "request.http", []byte(raw))
		args := []string{"routes", "test", "--direction", "outbound", "--routes", routesFile, "--request", reqFile, "--connect", pspHost, "--max-body", strconv.Itoa(maxBody)}
		out, stderr, err := runCmd(t, testEnv(nil), args...)
		switch {
		case c.unknown && got == nil:
			if want := strconv.Itoa(status) + " " + code; err != nil || !strings.Contains(stderr, "no live alias of it: the gateway refuses the request ("+want+")") {
				t.Errorf("%s: the proxy answers %s; routes test does not say it: %v\nstderr: %s", c.name, want, err, stderr)
			}
			continue
		case c.unknown && !strings.Contains(stderr, "no live alias of it: it is forwarded as it is (on_error: pass)"):
			t.Errorf("%s: the proxy forwards it as it is; routes test does not say it:\n%s", c.name, stderr)
		case got != nil && err != nil:
			t.Errorf("%s: the proxy forwards it, routes test refuses it: %v\n%s", c.name, err, stderr)
			continue
		case got == nil && err == nil:
			t.Errorf("%s: the proxy refuses it (%d %s), routes test forwards it:\n%s", c.name, status, code, stderr)
			continue
		case got == nil:
			if want := strconv.Itoa(status) + " " + code; !strings.Contains(err.Error(), want) || out != "" {
				t.Errorf("%s: the proxy answers %s; routes test says %v\nstderr: %s", c.name, want, err, stderr)
			}
			continue
		}
		req, err := http.ReadRequest(bufio.NewReader(strings.NewReader(out)))
		if err != nil {
			t.Fatalf("%s: routes test's request: %v\n%s", c.name, err, out)
		}
		body, _ := io.ReadAll(req.Body)
		if g, w := req.Header.Get("Content-Encoding"), got.header.Get("Content-Encoding"); g != w {
			t.Errorf("%s: the processor gets Content-Encoding %q, routes test shows %q", c.name, w, g)
		}
		body, got.body = gunzipped(t, req.Header, body), gunzipped(t, got.header, got.body)
		if g, w := revealed.Replace(string(body)), string(got.body); g != w {
			t.Errorf("%s: the processor gets\n%.300s\nroutes test shows\n%.300s", c.name, w, g)
		}

		// routes test, the response phase, with the processor's answer.
		ct, answerBody := answer(req.URL.Path)
		respFile := writeIn(t, dir, "response.http", []byte("HTTP/1.1 200 OK\r\nContent-Type: "+ct+"\r\nContent-Length: "+
			strconv.Itoa(len(answerBody))+"\r\n\r\n"+answerBody))
		out, stderr, err = runCmd(t, testEnv(nil), append(args, "--phase", "response", "--response", respFile)...)
		switch {
		case status == http.StatusOK && err == nil:
			resp, err := http.ReadResponse(bufio.NewReader(strings.NewReader(out)), nil)
			if err != nil {
				t.Fatalf("%s: routes test's answer: %v\n%s", c.name, err, out)
			}
			b, _ := io.ReadAll(resp.Body)
			if string(b) != client {
				t.Errorf("%s: the client gets\n%.300s\nroutes test shows\n%.300s", c.name, client, b)
			}
		case status == http.StatusOK && err != nil:
			t.Errorf("%s: the proxy sends the answer on, routes test refuses it: %v\n%s", c.name, err, stderr)
		case status != http.StatusOK && err == nil:
			t.Errorf("%s: the proxy answers %d %s, routes test sends the answer on:\n%s", c.name, status, code, stderr)
		case status != http.StatusOK:
			if want := strconv.Itoa(status) + " " + code; !strings.Contains(err.Error(), want) {
				t.Errorf("%s: the proxy answers %s; routes test says %v\nstderr: %s", c.name, want, err, stderr)
			}
		}
	}
}

// sendThroughTunnel opens a CONNECT tunnel to target through the outbound
// proxy at addr, trusting ca, writes raw inside it and returns the
// answer's status, error code ("" for a 200) and body.
func sendThroughTunnel(t *testing.T, addr, target string, ca *proxy.CA, raw string) (int, string, string) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(conn, "CONNECT "+target+" HTTP/1.1\r\nHost: "+target+"\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, &http.Request{Method: http.MethodConnect})
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("CONNECT %s: %v %v", target, err, resp)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca.Certificate())
	host, _, _ := net.SplitHostPort(target)
	tc := tls.Client(conn, &tls.Config{RootCAs: pool, ServerName: host})
	if _, err := io.WriteString(tc, raw); err != nil {
		t.Fatal(err)
	}
	return readAnswer(t, bufio.NewReader(tc))
}

// readAnswer reads an answer and returns its status, its error code (""
// for a 200) and its body.
func readAnswer(t *testing.T, br *bufio.Reader) (int, string, string) {
	t.Helper()
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode == http.StatusOK {
		return resp.StatusCode, "", string(b)
	}
	var answer struct {
		Errors []struct{ Code string } `json:"errors"`
	}
	if err := json.Unmarshal(b, &answer); err != nil || len(answer.Errors) == 0 {
		t.Fatalf("the proxy answered %d %q", resp.StatusCode, b)
	}
	return resp.StatusCode, answer.Errors[0].Code, string(b)
}

// gzipString is s gzipped.
func gzipString(s string) string {
	var b bytes.Buffer
	w := gzip.NewWriter(&b)
	_, _ = io.WriteString(w, s)
	_ = w.Close()
	return b.String()
}
