package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestSlowClientBodyIsNotAnUpstreamFailure: on a route that streams
// bodies, a client that sends its body too slowly for limits.read_timeout
// (the listener cuts it off) had its request logged and counted as 504
// upstream_timeout, and one that sent part of its body and closed the
// connection as 502 or 499 depending on what the transport saw first: the
// transport's error reading the client's body was taken for the
// upstream's. Anyone could make a healthy upstream look slow (and page
// whoever alerts on 504s) by sending slow bodies. A body the client did not
// send in time is 408 request_timeout; the upstream's own failures keep
// their statuses.
func TestSlowClientBodyIsNotAnUpstreamFailure(t *testing.T) {
	up, _ := limRecorder(t)
	g := startStreamGateway(t, up.URL)
	c, err := net.Dial("tcp", strings.TrimPrefix(g.inbound, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, _ = io.WriteString(c, "POST /stream/x HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nContent-Length: 100\r\n\r\nab")
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, _ = io.Copy(io.Discard, c) // until read_timeout (2 s) ends the connection
	g.stop(t)
	var statuses []float64
	for _, l := range strings.Split(g.stderr.String(), "\n") {
		var line map[string]any
		if json.Unmarshal([]byte(l), &line) == nil && line["msg"] == "request" && line["path"] == "/stream/x" {
			statuses = append(statuses, line["status"].(float64))
		}
	}
	if len(statuses) != 1 || statuses[0] != http.StatusRequestTimeout {
		t.Fatalf("access lines with status %v, want one 408", statuses)
	}
}

// TestUpstreamThatReadsSlowlyIsNotASlowClient: on a route that streams
// bodies, a client that sends its whole body at once to an upstream that
// stops reading it for longer than limits.read_timeout is not a slow
// client. The gateway's next read from the client fails at once (the
// listener's deadline passed while the gateway waited for the upstream),
// which clientBody took for the client's failure: 408 request_timeout,
// logged at Debug, so a stalled upstream was hidden from whoever alerts on
// 5xx. The gateway waited for the upstream: 504 upstream_timeout.
func TestUpstreamThatReadsSlowlyIsNotASlowClient(t *testing.T) {
	stalled := make(chan struct{})
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// A stalled upstream: it reads nothing for longer than the
		// gateway's read_timeout (2 s), then reads on.
		select {
		case <-time.After(3 * time.Second):
		case <-r.Context().Done():
		}
		close(stalled)
		_, _ = io.Copy(io.Discard, r.Body)
	}))
	defer up.Close()
	g := startStreamGateway(t, up.URL)
	const size = 64 << 20 // more than the loopback buffers hold
	c, err := net.Dial("tcp", strings.TrimPrefix(g.inbound, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	go func() {
		// The client sends as fast as the gateway takes it.
		_, _ = fmt.Fprintf(c, "POST /stream/x HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\nContent-Length: %d\r\n\r\n", size)
		_, _ = io.CopyN(c, zeroReader{}, size)
	}()
	_ = c.SetReadDeadline(time.Now().Add(30 * time.Second))
	_, _ = io.Copy(io.Discard, c)
	<-stalled
	g.stop(t)
	var statuses []float64
	for _, l := range strings.Split(g.stderr.String(), "\n") {
		var line map[string]any
		if json.Unmarshal([]byte(l), &line) == nil && line["msg"] == "request" && line["path"] == "/stream/x" {
			statuses = append(statuses, line["status"].(float64))
		}
	}
	if len(statuses) != 1 || statuses[0] < 500 {
		t.Fatalf("access lines with status %v, want one 5xx (the upstream stalled, the client sent its body)", statuses)
	}
}

// zeroReader reads zeros.
type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// TestMalformedStreamedBodyIsABadRequest: on a route that streams bodies,
// a chunked body that does not parse (a chunk length that is no number, a
// trailer too long) was answered and logged 499 client_closed_request,
// though the client was there to read the answer: clientBody took every
// failed read for a client that went away. It is 400 body_unreadable, as on
// a route that reads bodies.
func TestMalformedStreamedBodyIsABadRequest(t *testing.T) {
	up, _ := limRecorder(t)
	g := startStreamGateway(t, up.URL)
	for _, body := range []string{
		"5\r\nhello\r\nzz\r\n",
		"5\r\nhello\r\n0\r\nX-T: " + strings.Repeat("t", 8<<10) + "\r\n\r\n",
	} {
		c, err := net.Dial("tcp", strings.TrimPrefix(g.inbound, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.WriteString(c, "POST /stream/x HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n"+body)
		_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatalf("%.20q: no answer: %v", body, err)
		}
		resp.Body.Close()
		c.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("%.20q: status %d, want 400", body, resp.StatusCode)
		}
	}
}

// startStreamGateway starts a gateway with one inbound route, /stream, to
// upstream, with no filters and the leak guard off: bodies stream through
// unread, as the tests of slow and broken client bodies need.
func startStreamGateway(t *testing.T, upstream string) *gatewayProc {
	t.Helper()
	routesFile := filepath.Join(t.TempDir(), "routes.yaml")
	limWrite(t, routesFile, `routes:
  - id: stream
    direction: inbound
    host: "*"
    path_prefix: /stream
    upstream: `+upstream+`
    leak_guard: "off"
`)
	return startGateway(t, limitsEnv(map[string]string{"ALIASGATE_ROUTES_FILE": routesFile}),
		"--data-dir", filepath.Join(t.TempDir(), "data"))
}
