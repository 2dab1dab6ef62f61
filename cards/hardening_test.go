package cards

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aliasgate/aliasgate/internal/obs/obstest"
	"github.com/aliasgate/aliasgate/internal/pan"
	"github.com/aliasgate/aliasgate/vault"
	"github.com/aliasgate/aliasgate/vault/memstore"
)

// TestTraceIDsHoldNoCardLikeRun is the regression test of a FuzzCardsAPI
// finding (testdata/fuzz/FuzzCardsAPI/e6c05b4cfd19cbd4): trace ids are
// logged and returned, and a random 32-hex-digit id holds a Luhn-valid run
// of 13+ digits about once in 300, which log and answer scans flag as card
// data. A client's trace id holding such a run is not used either.
func TestTraceIDsHoldNoCardLikeRun(t *testing.T) {
	for range 20000 {
		if id := traceID(""); pan.ContainsAllString(id) || len(id) != 32 {
			t.Fatalf("generated trace id %s holds a card-like run", id)
		}
	}
	const withPAN = "00-4111111111111111abcdef0123456789-00f067aa0ba902b7-01"
	if id := traceID(withPAN); strings.Contains(withPAN, id) || pan.Contains([]byte(id)) {
		t.Fatalf("traceID(%q) = %s", withPAN, id)
	}
	// One that starts with a number whose value is a card number (18e14 is
	// 1800000000000000, Luhn-valid), which the log scrubber masks.
	const withNumber = "00-18e14abcdef0123456789abcdef0123-00f067aa0ba902b7-01"
	if id := traceID(withNumber); strings.Contains(withNumber, id) || pan.ContainsAllString(id) {
		t.Fatalf("traceID(%q) = %s", withNumber, id)
	}
}

// TestCardUpdateIDsHoldNoCardLikeRun: card update ids (random UUIDs) are
// returned, published in card.updated events and printed by tsp simulate;
// about one random UUID in 400 reads as a card number (its digit groups
// joined by dashes), so none is used.
func TestCardUpdateIDsHoldNoCardLikeRun(t *testing.T) {
	re := regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	seen := map[string]bool{}
	for range 20000 {
		id := newUUID()
		if pan.ContainsAllString(id) || !re.MatchString(id) || seen[id] {
			t.Fatalf("card update id %s: card-like %v, a v4 UUID %v, repeated %v", pan.MaskAll(id), pan.ContainsAllString(id), re.MatchString(id), seen[id])
		}
		seen[id] = true
	}
}

// TestRepeatedAttributeIsRefused: a document that repeats an attribute
// (encoding/json would keep the last PAN, a rewriting proxy in front the
// first) is refused with 400 naming it, and stores nothing.
func TestRepeatedAttributeIsRefused(t *testing.T) {
	e := setup(t)
	for _, body := range []string{
		`{"data":{"type":"cards","attributes":{"pan":"4242424242424242","pan":"4111111111111111","exp_month":5,"exp_year":28}}}`,
		`{"data":{"type":"cards","attributes":{"pan":"4111111111111111","exp_month":5,"exp_year":28,"meta":{"k":"a","k":"b"}}}}`,
		`{"data":` + strings.Repeat(`{"a":`, 200) + `1` + strings.Repeat(`}`, 200) + `}`,
	} {
		checkBad(t, e, "POST", "/cards", badCase{name: body[:40], body: body, code: 400})
	}
	r := e.do("POST", "/cards", `{"data":{"type":"cards","attributes":{"pan":"4242424242424242","pan":"4111111111111111","exp_month":5,"exp_year":28}}}`, pci)
	if !strings.Contains(string(r.body), `"pointer":"/data/attributes/pan"`) {
		t.Errorf("the error does not name the member: %s", r.body)
	}
	if len(e.store.cards) != 0 {
		t.Fatal("a refused document stored a card")
	}
}

// writeFailing is a vault store whose writes fail while fail is set.
type writeFailing struct {
	vault.Store
	fail atomic.Bool
}

func (w *writeFailing) Put(ctx context.Context, items []vault.PutItem) ([]vault.PutResult, error) {
	if w.fail.Load() {
		return nil, errors.New("write vault.db: no space left on device")
	}
	return w.Store.Put(ctx, items)
}

// TestFullDiskIs503AndLosesNothing: when the vault cannot write, creating a
// card answers 503 without detail and stores no card; cards created before
// still read back with their PAN; once the vault writes again the create
// succeeds.
func TestFullDiskIs503AndLosesNothing(t *testing.T) {
	p := memstore.New(memstore.Options{SweepInterval: -1})
	v := memstore.New(memstore.Options{SweepInterval: -1})
	t.Cleanup(func() { p.Close(); v.Close() })
	kr, err := vault.OpenKeyring(context.Background(), p, bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	disk := &writeFailing{Store: p}
	svc, err := vault.New(disk, v, kr, vault.Options{VolatileTTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	st := newMemStore()
	h, err := New(st, svc, fakeGuard{}, Options{VaultID: "tnt-test", FingerprintKey: bytes.Repeat([]byte{9}, 32),
		Now: func() time.Time { return time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC) }, Logger: obstest.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, h: h, vault: svc, store: st}
	id, _ := e.create(`"pan":"4111111111111111","exp_month":5,"exp_year":28`)
	disk.fail.Store(true)
	r := e.do("POST", "/cards", cardBody(`"pan":"5555555555554444","cvc":"737","exp_month":5,"exp_year":28`), pci)
	if r.code != http.StatusServiceUnavailable || strings.Contains(string(r.body), "space") || strings.Contains(string(r.body), "737") {
		t.Fatalf("full disk: %d %s", r.code, r.body)
	}
	obstest.AssertNoPAN(t, "503 body", r.body)
	if len(st.cards) != 1 {
		t.Fatalf("%d cards stored", len(st.cards))
	}
	if r := e.do("GET", "/cards/"+id, "", pci); r.code != 200 || !strings.Contains(string(r.body), `"pan":"4111111111111111"`) {
		t.Fatalf("a card created before: %d %s", r.code, r.body)
	}
	disk.fail.Store(false)
	e.create(`"pan":"5555555555554444","cvc":"737","exp_month":5,"exp_year":28`)
}
