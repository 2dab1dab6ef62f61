package proxy

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/aliasgate/aliasgate/internal/obs/obstest"
	"github.com/aliasgate/aliasgate/routes"
)

// TestTrailersAfterAnEmptyBodyAreRead: an HTTP/2 upstream's answer with no
// content (a HEADERS frame with content-length: 0, or a 204 or 304, without
// END_STREAM) followed by trailers got a card number in a trailer to an
// HTTP/2 client through a filter that redacts that field and through
// leak_guard: block: the phase reads the trailers once the body's end is
// read, and it read no body that had no length. The empty body is now read
// to its end first, so the trailers are redacted, masked or refused as
// after a body.
func TestTrailersAfterAnEmptyBodyAreRead(t *testing.T) {
	var status int
	up := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Trailer", "X-Card")
		w.WriteHeader(status)
		w.Header().Set("X-Card", testPAN)
	}))
	up.EnableHTTP2 = true
	up.StartTLS()
	t.Cleanup(up.Close)
	doc := trailerRoutes + inboundRoute("block", "block", "    leak_guard: block\n")
	in, err := NewInbound(InboundOptions{Table: routes.NewTable(parseRoutes(t, doc, up.URL)), Tokenizer: newTestVault(t).tok,
		Transport: up.Client().Transport, Logger: obstest.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	g := httptest.NewUnstartedServer(in)
	g.EnableHTTP2 = true
	g.StartTLS()
	t.Cleanup(g.Close)
	for _, status = range []int{http.StatusOK, http.StatusCreated, http.StatusNoContent, http.StatusNotModified} {
		for _, route := range []string{"/buffered", "/streamed", "/block"} {
			resp, err := g.Client().Get(g.URL + route + "/x")
			if err != nil {
				t.Fatal(err)
			}
			body, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil {
				t.Fatal(err)
			}
			if resp.ProtoMajor != 2 {
				t.Fatalf("%s: %s, want HTTP/2", route, resp.Proto)
			}
			if strings.Contains(string(body), testPAN) || strings.Contains(resp.Trailer.Get("X-Card"), testPAN) {
				t.Errorf("status %d through %s: the client got the card number (trailer X-Card %q)", status, route, resp.Trailer.Get("X-Card"))
				continue
			}
			switch route {
			case "/block":
				if resp.StatusCode != http.StatusBadGateway || !strings.Contains(string(body), "card_data_leak") {
					t.Errorf("status %d through %s: got %d %q, want 502 card_data_leak", status, route, resp.StatusCode, body)
				}
			default:
				if resp.StatusCode != status || !strings.HasPrefix(resp.Trailer.Get("X-Card"), "tok_") {
					t.Errorf("status %d through %s: got %d, trailer X-Card %q, want an alias", status, route, resp.StatusCode, resp.Trailer.Get("X-Card"))
				}
			}
		}
	}
}
