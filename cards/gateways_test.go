package cards

// Two gateways on one store (issue 22 review): two Handlers, each with its
// own card locks, write the same card records. The compare-and-swap writes
// (cas.go) must keep every change: on one real PostgreSQL database (two
// pools, two vault services, as two gateway processes), and on one bbolt
// file and one memory store shared by both Handlers.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aliasgate/aliasgate/cards/tsp"
	"github.com/aliasgate/aliasgate/internal/jsonapi"
	"github.com/aliasgate/aliasgate/internal/obs/obstest"
	"github.com/aliasgate/aliasgate/internal/pgtest"
	"github.com/aliasgate/aliasgate/vault"
	"github.com/aliasgate/aliasgate/vault/boltstore"
	"github.com/aliasgate/aliasgate/vault/memstore"
	"github.com/aliasgate/aliasgate/vault/pgstore"
)

const gwAccount = "ACTaccountA"

// cryptoRecorder is the token service both gateways share (the network):
// the simulator, recording the counter of every cryptogram it makes and
// which were made after the suspension was stored (after). It never
// learns of the suspension itself, so only the gateways can refuse.
type cryptoRecorder struct {
	*tsp.Simulator
	after *atomic.Bool

	mu        sync.Mutex
	during    func() // run once, at the first cryptogram
	counters  map[uint64]int
	madeAfter map[string]bool // cryptogram value → made after the suspension was stored
}

func (r *cryptoRecorder) Cryptogram(ctx context.Context, tokenPAN string, counter uint64, use tsp.Use, now time.Time) (tsp.Cryptogram, error) {
	r.mu.Lock()
	during := r.during
	r.during = nil
	r.mu.Unlock()
	if during != nil {
		during()
	}
	after := r.after.Load()
	c, err := r.Simulator.Cryptogram(ctx, tokenPAN, counter, use, now)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.counters[counter]++
	if err == nil && after {
		r.madeAfter[c.Value] = true
	}
	return c, err
}

// notingStore is a gateway's store that sets suspended once a card record
// with a suspended token has been stored.
type notingStore struct {
	Store
	suspended *atomic.Bool
}

func (s notingStore) UpdateCard(ctx context.Context, account, id string, old, record, update []byte) error {
	err := s.Store.UpdateCard(ctx, account, id, old, record, update)
	if err == nil && bytes.Contains(record, []byte(`"state":"suspended"`)) {
		s.suspended.Store(true)
	}
	return err
}

// hookStore runs before (once) ahead of the first UpdateCard: another
// gateway's write lands between this gateway's read and its write.
type hookStore struct {
	Store
	mu     sync.Mutex
	before func()
}

func (s *hookStore) UpdateCard(ctx context.Context, account, id string, old, record, update []byte) error {
	s.mu.Lock()
	before := s.before
	s.before = nil
	s.mu.Unlock()
	if before != nil {
		before()
	}
	return s.Store.UpdateCard(ctx, account, id, old, record, update)
}

// gateways are two Handlers on one store.
type gateways struct {
	t         *testing.T
	a, b      *Handler
	reader    Store // reads the shared store
	tsp       *cryptoRecorder
	suspended *atomic.Bool // a record with the token suspended was stored
	hookA     *hookStore
}

// gatewayStore opens the store of each gateway, with the vault service
// over it: for PostgreSQL two pools on one database, else one store shared.
type gatewayStore func(t *testing.T, now func() time.Time) (a, b Store, va, vb *vault.Service)

func sharedStore(open func(t *testing.T, now func() time.Time) interface {
	Store
	vault.Store
}) gatewayStore {
	return func(t *testing.T, now func() time.Time) (Store, Store, *vault.Service, *vault.Service) {
		p := open(t, now)
		svc := vaultOver(t, p, now)
		return p, p, svc, svc
	}
}

func vaultOver(t *testing.T, p vault.Store, now func() time.Time) *vault.Service {
	t.Helper()
	vol := memstore.New(memstore.Options{Now: now, SweepInterval: -1})
	t.Cleanup(func() { vol.Close() })
	kr, err := vault.OpenKeyring(context.Background(), p, bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	svc, err := vault.New(p, vol, kr, vault.Options{Env: "sandbox", VolatileTTL: time.Hour, Now: now, DefaultAccount: gwAccount})
	if err != nil {
		t.Fatal(err)
	}
	return svc
}

var gatewayStores = []struct {
	name string
	open gatewayStore
}{
	{"postgres", func(t *testing.T, now func() time.Time) (Store, Store, *vault.Service, *vault.Service) {
		url := pgtest.NewDatabase(t, "aliasgate_cards_cas")
		var ss [2]*pgstore.Store
		for i := range ss {
			s, err := pgstore.Open(context.Background(), url, pgstore.Options{Now: now})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			ss[i] = s
		}
		return ss[0], ss[1], vaultOver(t, ss[0], now), vaultOver(t, ss[1], now)
	}},
	{"bbolt", sharedStore(func(t *testing.T, now func() time.Time) interface {
		Store
		vault.Store
	} {
		s, err := boltstore.Open(filepath.Join(t.TempDir(), "vault.db"), boltstore.Options{Now: now})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	})},
	{"memstore", sharedStore(func(t *testing.T, now func() time.Time) interface {
		Store
		vault.Store
	} {
		s := memstore.New(memstore.Options{Now: now, SweepInterval: -1})
		t.Cleanup(func() { s.Close() })
		return s
	})},
}

func newGateways(t *testing.T, open gatewayStore) *gateways {
	t.Helper()
	clk := &clock{t: time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)}
	sa, sb, va, vb := open(t, clk.Now)
	g := &gateways{t: t, reader: sa, suspended: new(atomic.Bool)}
	g.tsp = &cryptoRecorder{Simulator: tsp.NewSimulator(bytes.Repeat([]byte{6}, 32)), after: g.suspended,
		counters: map[uint64]int{}, madeAfter: map[string]bool{}}
	g.hookA = &hookStore{Store: sa}
	mk := func(st Store, v *vault.Service) *Handler {
		h, err := New(st, v, fakeGuard{}, Options{VaultID: "tnt-test", FingerprintKey: bytes.Repeat([]byte{9}, 32),
			Now: clk.Now, Logger: obstest.Logger(t), TSP: g.tsp,
			Settings: fixedSettings{gwAccount: {NetworkTokens: true}}})
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	g.a = mk(g.hookA, va)
	g.b = mk(notingStore{Store: sb, suspended: g.suspended}, vb)
	return g
}

// serve sends a request to gateway h.
func (g *gateways) serve(h *Handler, method, path, body string) (int, []byte) {
	r := httptest.NewRequest(method, path, strings.NewReader(body))
	if body != "" {
		r.Header.Set("Content-Type", jsonapi.MediaType)
	}
	r.Header.Set("X-Test-PCI", "1")
	r.Header.Set("X-Test-Scopes", "cards:read cards:write network-tokens:write")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w.Code, w.Body.Bytes()
}

// card creates a card with a network token on gateway A.
func (g *gateways) card() string {
	g.t.Helper()
	code, body := g.serve(g.a, "POST", "/cards", cardBody(`"pan":"4111111111111111","exp_month":4,"exp_year":30`))
	if code != http.StatusCreated {
		g.t.Fatalf("create: %d %s", code, body)
	}
	var doc struct {
		Data struct{ ID string } `json:"data"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		g.t.Fatal(err)
	}
	if rec := g.stored(doc.Data.ID); rec.activeToken() == nil {
		g.t.Fatalf("the card has no active token: %+v", rec.Tokens)
	}
	return doc.Data.ID
}

// stored reads card id from the shared store.
func (g *gateways) stored(id string) *record {
	g.t.Helper()
	b, ok, err := g.reader.GetCard(context.Background(), gwAccount, id)
	if err != nil || !ok {
		g.t.Fatalf("GetCard %s = %v, %v", id, ok, err)
	}
	rec, err := decodeRecord(b)
	if err != nil {
		g.t.Fatal(err)
	}
	return rec
}

// suspend has the network's suspension of card id's token reach gateway B.
func (g *gateways) suspend(id string) error {
	rec := g.stored(id)
	ctx := vault.WithAccount(vault.WithRoute(context.Background(), tspActor), gwAccount)
	out, err := g.b.vault.Reveal(ctx, []string{rec.currentToken().PANAlias})
	if err != nil || out[0].Err != nil {
		g.t.Fatalf("reveal the token PAN: %v %v", err, out)
	}
	return g.b.applyTokenEvent(context.Background(), tsp.Event{Type: tsp.EventTokenSuspended,
		Requestor: requestorRef(gwAccount, id), TokenPAN: out[0].Value})
}

// isCardConflict reports a 409 card_conflict (mutate lost casTries races).
func isCardConflict(err error) bool {
	var je *jsonapi.Error
	return errors.As(err, &je) && len(je.Objects) > 0 && je.Objects[0].Code == "card_conflict"
}

func payCtx() context.Context {
	return vault.WithAccount(vault.WithClient(context.Background(), "ACHproxy"), gwAccount)
}

// checkCounters: no counter value was given to two cryptograms, and none
// is above the stored token's counter (every one was reserved in the
// record first).
func (g *gateways) checkCounters(stored uint64) {
	g.t.Helper()
	g.tsp.mu.Lock()
	defer g.tsp.mu.Unlock()
	for c, n := range g.tsp.counters {
		if n != 1 {
			g.t.Errorf("counter %d was used by %d cryptograms", c, n)
		}
		if c > stored {
			g.t.Errorf("counter %d was used but the stored token's counter is %d", c, stored)
		}
	}
}

// TestSuspensionDuringAPaymentOnAnotherGateway: gateway A is making a
// payment's cryptogram (its counter reserved, the token active) when the
// network's suspension is stored through gateway B. A must not return that
// cryptogram, and must not write the token back active: the card stays
// suspended, and later payments on either gateway make no cryptogram.
func TestSuspensionDuringAPaymentOnAnotherGateway(t *testing.T) {
	for _, st := range gatewayStores {
		t.Run(st.name, func(t *testing.T) {
			g := newGateways(t, st.open)
			id := g.card()
			if v, err := g.a.Payment(payCtx(), gwAccount, id, false, ""); err != nil || !v.Token {
				t.Fatalf("payment before the suspension = %+v, %v", v, err)
			}
			g.tsp.mu.Lock()
			g.tsp.during = func() {
				if err := g.suspend(id); err != nil {
					t.Errorf("suspend on gateway B: %v", err)
				}
			}
			g.tsp.mu.Unlock()
			v, err := g.a.Payment(payCtx(), gwAccount, id, false, "")
			if !errors.Is(err, ErrNoActiveToken) || v.Cryptogram != "" {
				t.Fatalf("payment racing the suspension = %+v, %v; want ErrNoActiveToken and no cryptogram", v, err)
			}
			for _, h := range []*Handler{g.a, g.b} {
				if v, err := h.Payment(payCtx(), gwAccount, id, false, ""); !errors.Is(err, ErrNoActiveToken) || v.Cryptogram != "" {
					t.Errorf("payment after the suspension = %+v, %v", v, err)
				}
				code, body := g.serve(h, "POST", "/cards/"+id+"/cryptogram", "")
				if code != http.StatusConflict || !bytes.Contains(body, []byte("no_active_network_token")) {
					t.Errorf("cryptogram after the suspension: %d %s", code, body)
				}
			}
			rec := g.stored(id)
			tok := rec.currentToken()
			if tok == nil || tok.State != TokenSuspended {
				t.Fatalf("stored token %+v; want suspended", tok)
			}
			if tok.Counter != 2 {
				t.Errorf("stored counter %d; want 2 (two reservations)", tok.Counter)
			}
			g.checkCounters(tok.Counter)
		})
	}
}

// TestPaymentsOnTwoGatewaysWhileSuspended: both gateways make payments
// with the card's token concurrently while the suspension is stored
// through gateway B. Afterwards the token is suspended, no counter was
// used twice, no returned cryptogram was made after the suspension was
// stored, and no payment begun after it returned a token.
func TestPaymentsOnTwoGatewaysWhileSuspended(t *testing.T) {
	for _, st := range gatewayStores {
		t.Run(st.name, func(t *testing.T) {
			g := newGateways(t, st.open)
			id := g.card()
			const perPayer = 30
			var (
				wg        sync.WaitGroup
				paid      atomic.Int64
				mu        sync.Mutex
				returned  []string // cryptograms handed out
				lateToken int      // token payments begun after the suspension returned
			)
			suspendedDone := new(atomic.Bool)
			start, tenPaid, payersDone := make(chan struct{}), make(chan struct{}), make(chan struct{})
			var payers sync.WaitGroup
			for _, h := range []*Handler{g.a, g.b, g.a, g.b} {
				payers.Add(1)
				go func() {
					defer payers.Done()
					<-start
					for range perPayer {
						late := suspendedDone.Load()
						v, err := h.Payment(payCtx(), gwAccount, id, false, "")
						switch {
						case err == nil && v.Token:
							if paid.Add(1) == 10 {
								close(tenPaid)
							}
							mu.Lock()
							returned = append(returned, v.Cryptogram)
							if late {
								lateToken++
							}
							mu.Unlock()
						case errors.Is(err, ErrNoActiveToken):
						case isCardConflict(err): // lost 8 races in a row: refused, nothing made
						default:
							t.Errorf("payment = %+v, %v", v, err)
						}
					}
				}()
			}
			go func() { payers.Wait(); close(payersDone) }()
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				select { // in the middle of the payments
				case <-tenPaid:
				case <-payersDone:
				}
				if err := g.suspend(id); err != nil {
					t.Errorf("suspend on gateway B: %v", err)
				}
				suspendedDone.Store(true)
			}()
			close(start)
			wg.Wait()
			<-payersDone
			rec := g.stored(id)
			tok := rec.currentToken()
			if tok == nil || tok.State != TokenSuspended {
				t.Fatalf("stored token %+v after the payments; want suspended", tok)
			}
			g.checkCounters(tok.Counter)
			g.tsp.mu.Lock()
			defer g.tsp.mu.Unlock()
			for _, c := range returned {
				if g.tsp.madeAfter[c] {
					t.Error("a cryptogram made after the suspension was stored was returned")
				}
			}
			if lateToken != 0 {
				t.Errorf("%d payments begun after the suspension returned a token", lateToken)
			}
			if len(returned) < 10 {
				t.Errorf("only %d token payments before the suspension", len(returned))
			}
			t.Logf("%d token payments, %d cryptograms made, counter %d", len(returned), len(g.tsp.counters), tok.Counter)
		})
	}
}

// TestPatchesOfTwoGatewaysAreAllKept: gateway A reads the card for a
// PATCH of its expiry, gateway B stores a PATCH of its meta before A
// writes: A's write is refused, A re-reads and re-applies, and both
// changes are in the card with two card updates. Then both gateways PATCH
// different fields concurrently: every change is kept.
func TestPatchesOfTwoGatewaysAreAllKept(t *testing.T) {
	for _, st := range gatewayStores {
		t.Run(st.name, func(t *testing.T) {
			g := newGateways(t, st.open)
			id := g.card()
			patch := func(h *Handler, attrs string) {
				t.Helper()
				code, body := g.serve(h, "PATCH", "/cards/"+id, `{"data":{"type":"cards","id":"`+id+`","attributes":{`+attrs+`}}}`)
				if code != http.StatusOK {
					t.Errorf("PATCH %s: %d %s", attrs, code, body)
				}
			}
			g.hookA.mu.Lock()
			g.hookA.before = func() { patch(g.b, `"meta":{"from":"B"}`) }
			g.hookA.mu.Unlock()
			patch(g.a, `"exp_month":7`)
			rec := g.stored(id)
			if rec.ExpMonth != 7 || rec.Meta["from"] != "B" {
				t.Fatalf("after interleaved PATCHes: exp_month %d, meta %v", rec.ExpMonth, rec.Meta)
			}
			if tok := rec.currentToken(); tok == nil || tok.ExpMonth != 7 {
				t.Errorf("the token did not follow the expiry: %+v", tok)
			}
			ups, err := g.reader.CardUpdates(context.Background(), gwAccount, id)
			if err != nil || len(ups) != 2 {
				t.Fatalf("card updates = %d, %v; want 2", len(ups), err)
			}

			const rounds = 15
			var wg sync.WaitGroup
			for i, h := range []*Handler{g.a, g.b} {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for r := 1; r <= rounds; r++ {
						if i == 0 {
							patch(h, fmt.Sprintf(`"exp_year":%d`, 30+r))
						} else {
							patch(h, fmt.Sprintf(`"meta":{"from":"B","round":"%d"}`, r))
						}
					}
				}()
			}
			wg.Wait()
			rec = g.stored(id)
			if rec.ExpYear != 30+rounds || rec.Meta["round"] != fmt.Sprint(rounds) || rec.ExpMonth != 7 {
				t.Fatalf("after concurrent PATCHes: exp %d/%d, meta %v; want 7/%d and round %d", rec.ExpMonth, rec.ExpYear,
					rec.Meta, 30+rounds, rounds)
			}
			if ups, _ := g.reader.CardUpdates(context.Background(), gwAccount, id); len(ups) != 2+2*rounds {
				t.Errorf("card updates = %d; want %d (one per PATCH)", len(ups), 2+2*rounds)
			}
		})
	}
}

// TestPatchOfACardAnotherGatewayDeletes: gateway A reads the card for a
// PATCH, gateway B deletes it before A writes: A's write finds no card and
// answers 404, and the card stays deleted.
func TestPatchOfACardAnotherGatewayDeletes(t *testing.T) {
	for _, st := range gatewayStores {
		t.Run(st.name, func(t *testing.T) {
			g := newGateways(t, st.open)
			id := g.card()
			g.hookA.mu.Lock()
			g.hookA.before = func() {
				if code, body := g.serve(g.b, "DELETE", "/cards/"+id, ""); code != http.StatusNoContent {
					t.Errorf("DELETE on gateway B: %d %s", code, body)
				}
			}
			g.hookA.mu.Unlock()
			code, body := g.serve(g.a, "PATCH", "/cards/"+id, `{"data":{"type":"cards","id":"`+id+`","attributes":{"meta":{"k":"v"}}}}`)
			if code != http.StatusNotFound {
				t.Fatalf("PATCH of a card deleted meanwhile: %d %s; want 404", code, body)
			}
			if _, ok, err := g.reader.GetCard(context.Background(), gwAccount, id); ok || err != nil {
				t.Fatalf("the deleted card is back: %v, %v", ok, err)
			}
		})
	}
}
