package proxy

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/aliasgate/aliasgate/internal/bodybudget"
)

// TestHoldBodiesReservesAChunkedDocumentAsItIsRead: HoldBodies reserved
// the API's most (the vault API's 2 × vault.max_value_size + 64 KiB)
// for every request document of unknown length, before the handler ran:
// with a budget smaller than that most (limits.max_buffered_bytes is
// valid from one max_body up, and max_body may be less than the vault
// API's most) every chunked document was refused 503 gateway_busy, a
// 10-byte one with nothing else in flight, however long the client waited
// as Retry-After told it to; under a smaller share, 429 source_busy. Now
// such a document is reserved as the API reads it, as the phases reserve
// a body of unknown length: it holds what it sent. One that does not fit
// as it is read is still refused (the API's own answer to its failed read
// replaced), and everything is given back.
func TestHoldBodiesReservesAChunkedDocumentAsItIsRead(t *testing.T) {
	const apiMax = 5000 // the API's most: more than the budget
	b := bodybudget.New(1000, 0)
	read := make(chan int64, 1)
	h := HoldBodies(b, apiMax, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, apiMax+1))
		if err != nil {
			w.Header().Set("X-Api", "its own answer")
			http.Error(w, "unreadable", http.StatusBadRequest)
			return
		}
		read <- b.Used()
		w.WriteHeader(http.StatusCreated)
		_, _ = w.Write(body[:min(len(body), 3)])
	}))
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	chunked := func(body string) (*http.Response, string) {
		t.Helper()
		req, _ := http.NewRequest("POST", srv.URL, io.NopCloser(struct{ io.Reader }{strings.NewReader(body)}))
		req.ContentLength = -1
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp, string(got)
	}

	resp, got := chunked(strings.Repeat("x", 10))
	if resp.StatusCode != http.StatusCreated || got != "xxx" {
		t.Fatalf("a 10-byte chunked document with the budget free: %d %s, want 201", resp.StatusCode, got)
	}
	if held := <-read; held != 10 {
		t.Errorf("a 10-byte chunked document held %d bytes once read, want 10", held)
	}
	waitGivenBack(t, b, "chunked document")

	// Past the budget as it is read: 503 gateway_busy, not the API's 400.
	resp, got = chunked(strings.Repeat("x", 2000))
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") != "1" ||
		!strings.Contains(got, "gateway_busy") || resp.Header.Get("X-Api") != "" {
		t.Errorf("a 2000-byte chunked document over a 1000-byte budget: %d %v %s, want 503 gateway_busy alone", resp.StatusCode, resp.Header, got)
	}
	waitGivenBack(t, b, "refused chunked document")

	// Past the sender's share as it is read: 429 source_busy.
	share := bodybudget.New(100000, 1000)
	srv.Config.Handler = HoldBodies(share, apiMax, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := io.ReadAll(r.Body); err != nil {
			http.Error(w, "unreadable", http.StatusBadRequest)
			return
		}
		w.WriteHeader(http.StatusCreated)
	}))
	resp, got = chunked(strings.Repeat("x", 2000))
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") != "1" || !strings.Contains(got, "source_busy") {
		t.Errorf("a 2000-byte chunked document over a 1000-byte share: %d %v %s, want 429 source_busy", resp.StatusCode, resp.Header, got)
	}
	waitGivenBack(t, share, "refused chunked document (share)")
}
