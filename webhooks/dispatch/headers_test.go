package dispatch_test

import (
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aliasgate/aliasgate/webhooks"
)

// TestHugeAnswerHeadersAreNotRead: a receiver that answers with a
// megabyte of headers is not read past dispatch's header bound (64 KiB):
// the attempt fails as response_too_large, the delivery is not counted as
// delivered. The transport's default bound is 10 MiB an answer, and a
// dispatcher runs 4×Batch attempts at once (more with many endpoints): one
// account's receiver answering so could make the gateway hold more than
// 600 MiB of headers at a time. The body was already read to 64 KiB
// only.
func TestHugeAnswerHeadersAreNotRead(t *testing.T) {
	rc := &receiver{}
	big := strings.Repeat("x", 60<<10)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for i := range 16 { // 16 × 60 KiB ≈ 1 MiB
			w.Header().Set("X-Big-"+strconv.Itoa(i), big)
		}
		rc.ServeHTTP(w, r)
	}))
	srv.Start()
	defer srv.Close()
	s := boltStore(t)
	opts := fast(endpoint("ep1", srv.URL+"/hook"))
	opts.RetryFor = time.Millisecond // one attempt, then failed
	startWithOneEvent(t, s, opts)
	ds := waitState(t, s, 1, webhooks.StateFailed)
	if a := ds[0].Attempts; len(a) != 1 || a[0].Error != "response_too_large" || a[0].Status != 0 {
		t.Fatalf("attempts %+v, want one failed as response_too_large", a)
	}
	// A receiver within the bound is delivered to (regression cover).
	s2 := boltStore(t)
	srv2 := httptest.NewServer(rc)
	defer srv2.Close()
	startWithOneEvent(t, s2, fast(endpoint("ep1", srv2.URL+"/hook")))
	waitState(t, s2, 1, webhooks.StateDelivered)
}
