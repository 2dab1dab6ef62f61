package proxy

import (
	"net/http"
	"testing"
)

// TestAskGzipSetsTheFieldFromTheState: askGzip's Accept-Encoding is
// exactly "gzip", one value, whatever the client sent, capped at one (an
// Add copies it), and marks the exchange; with a state it costs no
// allocation (Header.Set canonicalised the key again and made the slice).
func TestAskGzipSetsTheFieldFromTheState(t *testing.T) {
	for _, st := range []*reqState{nil, {}} {
		h := http.Header{"Accept-Encoding": {"br, zstd"}}
		askGzip(h, st)
		if got := h["Accept-Encoding"]; len(got) != 1 || got[0] != "gzip" || cap(got) != 1 || h.Get("Accept-Encoding") != "gzip" {
			t.Fatalf("Accept-Encoding %q (cap %d)", got, cap(got))
		}
		h.Add("Accept-Encoding", "identity")
		if st != nil && (st.acceptGzip[0] != "gzip" || !st.gunzip) {
			t.Fatalf("state %q, gunzip %v", st.acceptGzip[0], st.gunzip)
		}
	}
	st := &reqState{}
	h := http.Header{}
	if n := testing.AllocsPerRun(50, func() { askGzip(h, st) }); n != 0 {
		t.Errorf("askGzip: %v allocations, want 0", n)
	}
}
