package main

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// metricValue returns the value of the metrics line that starts with
// series ("name{labels}") on the admin listener, and whether there is one.
func metricValue(t *testing.T, g *gatewayProc, series string) (float64, bool) {
	t.Helper()
	_, body := call(t, "GET", g.admin+"/metrics", "", "", nil)
	sc := bufio.NewScanner(bytes.NewReader(body))
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, series+" ") {
			continue
		}
		v, err := strconv.ParseFloat(line[len(series)+1:], 64)
		if err != nil {
			t.Fatalf("metrics line %q: %v", line, err)
		}
		return v, true
	}
	return 0, false
}

// TestRequestsRefusedByTheHTTPServerAreCounted: net/http answers a
// malformed request itself (a bad request line or Host 400, headers over
// limits.max_header_bytes 431, a Transfer-Encoding it does not know 501)
// and drops one cut off by limits.read_header_timeout, without calling any
// handler: such requests (header floods, smuggling and slowloris attempts)
// left no access line and no count on any listener. Each is counted in
// aliasgate_http_unserved_total{listener} and logged ("request not
// served", with the listener and the peer's address) on every listener.
func TestRequestsRefusedByTheHTTPServerAreCounted(t *testing.T) {
	g := startGateway(t, limitsEnv(nil), "--data-dir", filepath.Join(t.TempDir(), "data"))
	bad := []string{
		"GARBAGE\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a b\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: x\r\nX-Flood: " + strings.Repeat("a", 8<<10) + "\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: never ends", // cut off by read_header_timeout (1 s)
	}
	for name, base := range map[string]string{"inbound": g.inbound, "outbound": g.outbound, "admin": g.admin} {
		for _, req := range bad {
			c, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
			if err != nil {
				t.Fatal(err)
			}
			_ = c.SetDeadline(time.Now().Add(10 * time.Second))
			_, _ = io.WriteString(c, req)
			got, _ := io.ReadAll(c) // until the server closes
			c.Close()
			if len(got) > 0 && !bytes.HasPrefix(got, []byte("HTTP/1.")) {
				t.Errorf("%s: %q answered %q", name, req[:min(len(req), 20)], got)
			}
		}
	}
	// The server counts a connection once it has closed it (its state
	// hook), which may come just after the client read the close: the
	// counts are awaited, then checked exactly.
	counts := func() (vals map[string]float64, lines int) {
		vals = map[string]float64{}
		for _, name := range []string{"inbound", "outbound", "admin"} {
			if v, ok := metricValue(t, g, `aliasgate_http_unserved_total{listener="`+name+`"}`); ok {
				vals[name] = v
			}
		}
		return vals, strings.Count(g.stderr.String(), `"msg":"request not served"`)
	}
	waitFor(10*time.Second, func() bool {
		vals, lines := counts()
		return lines >= 3*len(bad) && vals["inbound"] >= float64(len(bad)) && vals["outbound"] >= float64(len(bad)) && vals["admin"] >= float64(len(bad))
	})
	vals, lines := counts()
	for _, name := range []string{"inbound", "outbound", "admin"} {
		if v, ok := vals[name]; !ok || v != float64(len(bad)) {
			t.Errorf("%s: aliasgate_http_unserved_total %v (present %v), want %d", name, v, ok, len(bad))
		}
	}
	if lines != 3*len(bad) {
		t.Errorf("%d \"request not served\" lines, want %d", lines, 3*len(bad))
	}
}
