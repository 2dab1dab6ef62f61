package proxy

import (
	"net/http"
	"slices"
	"testing"
)

// TestRemoveHopByHop: every hop-by-hop header goes, and so does every
// header a Connection header names (in any case, among other tokens, over
// several Connection lines); end-to-end headers stay.
func TestRemoveHopByHop(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   [][2]string // name, value, set through Header.Add (canonical keys)
		keep []string    // the keys left, sorted
	}{
		{"none", [][2]string{{"Content-Type", "application/json"}, {"Authorization", "Bearer x"}},
			[]string{"Authorization", "Content-Type"}},
		{"every fixed name", [][2]string{{"Connection", "close"}, {"Proxy-Connection", "keep-alive"}, {"Keep-Alive", "timeout=5"},
			{"Proxy-Authenticate", "Basic"}, {"Proxy-Authorization", "Basic eDp5"}, {"TE", "trailers"}, {"Trailer", "X-Sum"},
			{"Transfer-Encoding", "chunked"}, {"Upgrade", "h2c"}, {"HTTP2-Settings", "AAMAAABkAAQ"}, {"Accept", "*/*"}},
			[]string{"Accept"}},
		{"named by Connection", [][2]string{{"Connection", "x-trace, Keep-Alive"}, {"X-Trace", "1"}, {"Keep-Alive", "5"}, {"X-Other", "2"}},
			[]string{"X-Other"}},
		{"several Connection lines, spaces and empty tokens", [][2]string{{"Connection", " x-a ,, "}, {"Connection", "X-B"},
			{"X-A", "1"}, {"X-B", "2"}, {"X-C", "3"}},
			[]string{"X-C"}},
		{"Connection names an end-to-end header", [][2]string{{"Connection", "Content-Type"}, {"Content-Type", "text/plain"}, {"Content-Length", "3"}},
			[]string{"Content-Length"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := http.Header{}
			for _, kv := range tc.in {
				h.Add(kv[0], kv[1])
			}
			removeHopByHop(h)
			var got []string
			for k := range h {
				got = append(got, k)
			}
			slices.Sort(got)
			if !slices.Equal(got, tc.keep) {
				t.Fatalf("kept %q, want %q", got, tc.keep)
			}
		})
	}
}

func BenchmarkRemoveHopByHop(b *testing.B) {
	base := http.Header{"Host": {"psp.example.com"}, "User-Agent": {"Go-http-client/1.1"}, "Content-Type": {"application/json"},
		"Content-Length": {"1024"}, "Accept-Encoding": {"gzip"}, "Authorization": {"Bearer x"}, "Idempotency-Key": {"k"}}
	h := http.Header{}
	b.ReportAllocs()
	for b.Loop() {
		clear(h)
		for k, v := range base {
			h[k] = v
		}
		removeHopByHop(h)
	}
}
