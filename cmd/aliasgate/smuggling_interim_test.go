package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestChunkedRequestClosesPastAnInterimResponse: the inbound listener
// closes the connection after a request that came with Transfer-Encoding
// (closeAfterChunked), so the bytes a Content-Length framing would have
// read as body are never read as a second request. It did so with a
// Connection: close header set before the handler ran, and ReverseProxy
// clears the header map after forwarding an upstream's 1xx (103 Early
// Hints): behind an upstream that sends one, the connection stayed open and
// the smuggled request was read and forwarded. The header is now set when
// the final response is written; both on a route whose responses are read
// (the 103 is dropped) and on one that streams them (it is forwarded).
func TestChunkedRequestClosesPastAnInterimResponse(t *testing.T) {
	var mu sync.Mutex
	var paths []string
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		mu.Lock()
		paths = append(paths, r.URL.Path)
		mu.Unlock()
		w.Header().Set("Link", "</style.css>; rel=preload")
		w.WriteHeader(http.StatusEarlyHints)
		w.Header().Del("Link")
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"ok":true}`)
	}))
	t.Cleanup(up.Close)
	routesFile := filepath.Join(t.TempDir(), "routes.yaml")
	limWrite(t, routesFile, `routes:
  - id: pay
    direction: inbound
    host: "*"
    path_prefix: /pay
    upstream: `+up.URL+`
    leak_guard: block
    filters:
      - {id: card, match: {content_type: json}, operation: redact, targets: [{json: card.number}]}
  - id: stream
    direction: inbound
    host: "*"
    path_prefix: /stream
    upstream: `+up.URL+`
    leak_guard: "off"
`)
	g := startGateway(t, limitsEnv(map[string]string{"ALIASGATE_ROUTES_FILE": routesFile}),
		"--data-dir", filepath.Join(t.TempDir(), "data"))
	addr := strings.TrimPrefix(g.inbound, "http://")
	const card = `{"card":{"number":"4111111111111111"}}`
	for _, prefix := range []string{"/pay", "/stream"} {
		smuggled := "GET " + prefix + "/smuggled HTTP/1.1\r\nHost: x\r\n\r\n"
		chunked := fmt.Sprintf("%x\r\n%s\r\n0\r\n\r\n", len(card), card)
		raw := "POST " + prefix + " HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: " +
			fmt.Sprint(len(chunked)+len(smuggled)) + "\r\nTransfer-Encoding: chunked\r\n\r\n" + chunked + smuggled
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.WriteString(c, raw)
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		br := bufio.NewReader(c)
		res, err := http.ReadResponse(br, nil)
		for err == nil && res.StatusCode/100 == 1 {
			res, err = http.ReadResponse(br, nil) // past the 103 where it is forwarded
		}
		if err != nil {
			c.Close()
			t.Fatalf("%s: %v", prefix, err)
		}
		_, _ = io.Copy(io.Discard, res.Body)
		if res.StatusCode != http.StatusOK {
			t.Errorf("%s: status %d", prefix, res.StatusCode)
		}
		if extra, err := br.ReadByte(); err != io.EOF {
			t.Errorf("%s: after the answer: %q %v, want EOF (the connection closed)", prefix, extra, err)
		}
		c.Close()
	}
	mu.Lock()
	defer mu.Unlock()
	for _, p := range paths {
		if strings.Contains(p, "smuggled") {
			t.Errorf("the upstream got the smuggled request %s", p)
		}
	}
	if len(paths) != 2 {
		t.Errorf("the upstream got %q, want the two POSTs", paths)
	}
}
