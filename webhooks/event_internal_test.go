package webhooks

import (
	"encoding/binary"
	"encoding/hex"
	"strings"
	"testing"
	"time"

	"github.com/aliasgate/aliasgate/internal/pan"
)

// idTime is the creation time an id carries.
func idTime(t *testing.T, id string) int64 {
	t.Helper()
	b, err := hex.DecodeString(id[strings.IndexByte(id, '_')+1:])
	if err != nil || len(b) != 16 {
		t.Fatalf("id %q is not 32 hex digits", id)
	}
	return int64(binary.BigEndian.Uint64(b[:8]))
}

// TestIDsHoldNoCardNumber: event and delivery ids are sent, logged and
// listed, so none holds a card-like run, even when the time's own hex
// digits spell a Luhn-valid number (the time then moves on a few
// nanoseconds); ids stay distinct and sorted by creation.
func TestIDsHoldNoCardNumber(t *testing.T) {
	// 0x4111111111111111 ns: the time's 16 hex digits are the Visa test card.
	spelled := time.Unix(0, 0x4111111111111111)
	for range 200 {
		id := newID("evt_", spelled)
		if pan.ContainsString(id) {
			t.Fatalf("id %s holds a card-like run", pan.Mask(id))
		}
		if d := idTime(t, id) - spelled.UnixNano(); d < 0 || d > int64(time.Millisecond) {
			t.Fatalf("id %s moved the time by %d ns", pan.Mask(id), d)
		}
	}
	seen := map[string]bool{}
	prev := ""
	now := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
	for i := range 100000 {
		id := newID("dlv_", now.Add(time.Duration(i)*time.Microsecond))
		if pan.ContainsString(id) || seen[id] || id <= prev {
			t.Fatalf("id %d %s: card-like %v, repeated %v, not after %s", i, pan.Mask(id), pan.ContainsString(id), seen[id], prev)
		}
		seen[id], prev = true, id
	}
}
