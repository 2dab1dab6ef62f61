package proxy

import (
	"net/http"
	"slices"
	"testing"
)

// TestPutFieldDoesNotGrowAFullMap: setting a field a header map of 8
// fields holds (askGzip, setContentLength) allocates nothing, and leaves
// the map as h[key] = v does.
func TestPutFieldDoesNotGrowAFullMap(t *testing.T) {
	full := func() http.Header {
		h := make(http.Header, 4)
		for _, k := range []string{"Accept-Encoding", "Content-Length", "Content-Type", "User-Agent",
			"X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto", RouteAccountHeader} {
			h[k] = []string{"x"}
		}
		return h
	}
	var cell [1]string
	st := &reqState{}
	allocs := testing.AllocsPerRun(100, func() {
		h := full()
		askGzip(h, st)
		setContentLength(h, 1029, &cell)
	})
	base := testing.AllocsPerRun(100, func() { _ = full() })
	if allocs > base+1 { // the length's string
		t.Fatalf("askGzip and setContentLength on a full map allocated %.0f times (the length's string once)", allocs-base)
	}
	h, want := full(), full()
	askGzip(h, st)
	setContentLength(h, 1029, &cell)
	want["Accept-Encoding"] = []string{"gzip"}
	want["Content-Length"] = []string{"1029"}
	if len(h) != len(want) {
		t.Fatalf("%d fields, want %d", len(h), len(want))
	}
	for k, v := range want {
		if !slices.Equal(h[k], v) {
			t.Fatalf("%s: %q, want %q", k, h[k], v)
		}
	}
}
