package webhooks_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/aliasgate/aliasgate/webhooks"
)

// TestReplayWithAnotherEventIDHeaderStillVerifies: the signature covers
// the body, not the Aliasgate-Event-Id header, so a delivery replayed
// within the tolerance with a new header value verifies; a receiver that
// deduped by the header (what the README said) handled it twice. The
// body's id is what dedupes: changing it breaks the signature.
func TestReplayWithAnotherEventIDHeaderStillVerifies(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	body := []byte(`{"id":"evt_0001","type":"card.updated","created_at":"2027-01-15T08:00:00Z","account_id":"acct1","data":{"card_id":"CRD1"}}`)
	sig := webhooks.Sign([][]byte{[]byte(secret)}, now, body)
	// The replay: the same body and signature 2 minutes later; only the
	// unsigned header (not an input of Verify) says evt_9999.
	if err := webhooks.Verify(secret, sig, body, 0, now.Add(2*time.Minute)); err != nil {
		t.Fatalf("the replay is refused: %v", err)
	}
	var env struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(body, &env); err != nil || env.ID != "evt_0001" {
		t.Fatalf("the signed body's id: %q, %v", env.ID, err)
	}
	// A new id in the body does not verify: the body's id is the key to dedupe by.
	forged := bytes.Replace(body, []byte("evt_0001"), []byte("evt_9999"), 1)
	if err := webhooks.Verify(secret, sig, forged, 0, now.Add(2*time.Minute)); !errors.Is(err, webhooks.ErrNoMatch) {
		t.Fatalf("a changed body id verified: %v", err)
	}
}
