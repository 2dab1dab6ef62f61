package dispatch_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aliasgate/aliasgate/webhooks"
)

// TestExcerptMasksCardNumberCutByTheExcerpt: an answer whose card number
// straddles the excerpt's end keeps none of its middle digits. Cut first,
// then masked, the excerpt kept 15 of the 16 digits (no longer a
// Luhn-valid candidate, so not masked).
func TestExcerptMasksCardNumberCutByTheExcerpt(t *testing.T) {
	const pan = "4111111111111111"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
		// The PAN's first 15 digits end the excerpt's 200 bytes.
		io.WriteString(w, strings.Repeat("z", webhooks.ExcerptLen-15)+pan+" trailing")
	}))
	defer srv.Close()
	s := boltStore(t)
	opts := fast(endpoint("ep1", srv.URL))
	opts.RetryFor = time.Millisecond // one attempt, then failed
	o, oD, err := newPair(s, opts)
	if err != nil {
		t.Fatal(err)
	}
	start(t, oD)
	if err := o.Publish(context.Background(), "acct1", "card.updated", []byte(`{"card_id":"CRD1"}`)); err != nil {
		t.Fatal(err)
	}
	d := waitState(t, s, 1, webhooks.StateFailed)[0]
	for _, a := range d.Attempts {
		if a.Status != 503 || len(a.Excerpt) > webhooks.ExcerptLen || strings.Contains(a.Excerpt, pan[6:15]) {
			t.Fatalf("excerpt keeps the middle digits of a card number: %q", a.Excerpt)
		}
	}
}
