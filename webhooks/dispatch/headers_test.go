package dispatch_test

import (
	"crypto/x509"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aliasgate/aliasgate/webhooks"
)

// TestHugeAnswerHeadersAreNotRead: a receiver that answers with a
// megabyte of headers is not read past dispatch's header bound (64 KiB),
// over HTTP/1 or HTTP/2: the attempt fails (response_too_large; over
// HTTP/2 a connection failure), the delivery is not counted as delivered. The transport's default bound is 10 MiB an answer, and a
// dispatcher runs 4×Batch attempts at once (more with many endpoints): one
// account's receiver answering so could make the gateway hold more than
// 600 MiB of headers at a time. The body was already read to 64 KiB
// only.
func TestHugeAnswerHeadersAreNotRead(t *testing.T) {
	rc := &receiver{}
	big := strings.Repeat("x", 60<<10)
	for _, h2 := range []bool{false, true} {
		srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			for i := range 16 { // 16 × 60 KiB ≈ 1 MiB
				w.Header().Set("X-Big-"+strconv.Itoa(i), big)
			}
			rc.ServeHTTP(w, r)
		}))
		srv.Config.ErrorLog = log.New(io.Discard, "", 0)
		opts := fast()
		if h2 {
			srv.EnableHTTP2 = true
			srv.StartTLS()
			opts.RootCAs = x509.NewCertPool()
			opts.RootCAs.AddCert(srv.Certificate())
		} else {
			srv.Start()
		}
		defer srv.Close()
		s := boltStore(t)
		opts.Endpoints = []webhooks.Endpoint{endpoint("ep1", srv.URL+"/hook")}
		opts.RetryFor = time.Millisecond // one attempt, then failed
		startWithOneEvent(t, s, opts)
		ds := waitState(t, s, 1, webhooks.StateFailed)
		// Over HTTP/2 the transport ends the connection (PROTOCOL_ERROR):
		// a connection failure.
		want := "response_too_large"
		if h2 {
			want = "connection"
		}
		if a := ds[0].Attempts; len(a) != 1 || a[0].Error != want || a[0].Status != 0 {
			t.Fatalf("HTTP/2 %v: attempts %+v, want one failed as %s", h2, a, want)
		}
	}
	// A receiver within the bound is delivered to (regression cover).
	s2 := boltStore(t)
	srv2 := httptest.NewServer(rc)
	defer srv2.Close()
	startWithOneEvent(t, s2, fast(endpoint("ep1", srv2.URL+"/hook")))
	waitState(t, s2, 1, webhooks.StateDelivered)
}
