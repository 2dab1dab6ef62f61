package obs_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/aliasgate/aliasgate/internal/obs"
	"github.com/aliasgate/aliasgate/internal/obs/obstest"
)

// TestAccessLineMasksNumbersADecodingReaderSees: through a real server, a
// path whose card number a reader sees once the path is decoded again
// (groups apart by `%252F`, the request's `%25252F`) or written in another
// script's digits (Arabic-Indic, sent percent-encoded as browsers do) is
// written masked in the access line (failed before: both in clear).
func TestAccessLineMasksNumbersADecodingReaderSees(t *testing.T) {
	capture := obstest.NewCapture(t)
	srv := httptest.NewServer(obs.AccessLog(capture.Logger, nil, "inbound", http.NotFoundHandler()))
	defer srv.Close()
	arabic := func(s string) string {
		var b strings.Builder
		for _, r := range s {
			if r >= '0' && r <= '9' {
				r += 0x660 - '0'
			}
			b.WriteRune(r)
		}
		return b.String()
	}
	for _, target := range []string{
		"/x/4539%25252F5787%25252F6362%25252F1486",
		"/x/" + url.PathEscape(arabic("4539 5787 6362 1486")),
	} {
		resp, err := http.Get(srv.URL + target)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	srv.Close()
	lines := capture.Messages("request")
	if len(lines) != 2 {
		t.Fatalf("lines:\n%s", capture.String())
	}
	for i, want := range []string{
		"/x/4539%252F57**%252F****%252F1486",
		"/x/" + arabic("4539 57") + "****" + " " + "********" + arabic(" 1486"),
	} {
		if got := lines[i]["path"]; got != want {
			t.Errorf("line %d: path %q, want %q", i, got, want)
		}
	}
}
