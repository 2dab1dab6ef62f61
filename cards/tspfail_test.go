package cards

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aliasgate/aliasgate/cards/tsp"
	"github.com/aliasgate/aliasgate/internal/obs/obstest"
	"github.com/aliasgate/aliasgate/vault"
	"github.com/aliasgate/aliasgate/vault/boltstore"
	"github.com/aliasgate/aliasgate/vault/memstore"
)

// scriptedTSP is the simulator with answers a test sets: an error for
// every call (down), the token PAN a provisioning answers, the cryptogram
// every cryptogram request answers. It counts the tokens it deleted.
type scriptedTSP struct {
	*tsp.Simulator
	mu       sync.Mutex
	down     error
	tokenPAN string            // answered by Provision when set
	answers  map[string]string // card PAN → the token PAN Provision answers for it
	par      *string           // the payment account reference Provision answers when set
	crypt    *tsp.Cryptogram   // answered by Cryptogram when set
	deleted  []string
	// deleteDown, when set, is the error of every Delete (only).
	deleteDown error
	// hang makes every call wait until its context ends (a token service
	// that accepts the connection and never answers) and count itself.
	hang  bool
	hangs int
}

// hung waits for ctx when the service hangs and returns its error.
func (s *scriptedTSP) hung(ctx context.Context) error {
	s.mu.Lock()
	hang := s.hang
	if hang {
		s.hangs++
	}
	s.mu.Unlock()
	if !hang {
		return nil
	}
	<-ctx.Done()
	return ctx.Err()
}

func (s *scriptedTSP) script(f func(s *scriptedTSP)) { s.mu.Lock(); f(s); s.mu.Unlock() }

func (s *scriptedTSP) state() (error, string, *tsp.Cryptogram) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.down, s.tokenPAN, s.crypt
}

func (s *scriptedTSP) Provision(ctx context.Context, pan, m, y string) (tsp.Token, error) {
	if err := s.hung(ctx); err != nil {
		return tsp.Token{}, err
	}
	down, tokenPAN, _ := s.state()
	if down != nil {
		return tsp.Token{}, down
	}
	tok, err := s.Simulator.Provision(ctx, pan, m, y)
	if err == nil && tokenPAN != "" {
		tok.PAN = tokenPAN
	}
	s.mu.Lock()
	if a, ok := s.answers[pan]; ok && err == nil {
		tok.PAN = a
	}
	if s.par != nil {
		tok.PAR = *s.par
	}
	s.mu.Unlock()
	return tok, err
}

func (s *scriptedTSP) Update(ctx context.Context, tokenPAN, m, y string) error {
	if err := s.hung(ctx); err != nil {
		return err
	}
	if down, _, _ := s.state(); down != nil {
		return down
	}
	return s.Simulator.Update(ctx, tokenPAN, m, y)
}

func (s *scriptedTSP) Delete(ctx context.Context, ref, tokenPAN string) error {
	if err := s.hung(ctx); err != nil {
		return err
	}
	if down, _, _ := s.state(); down != nil {
		return down
	}
	s.mu.Lock()
	if s.deleteDown != nil {
		s.mu.Unlock()
		return s.deleteDown
	}
	s.deleted = append(s.deleted, tokenPAN)
	s.mu.Unlock()
	return s.Simulator.Delete(ctx, ref, tokenPAN)
}

func (s *scriptedTSP) Cryptogram(ctx context.Context, tokenPAN string, counter uint64, use tsp.Use, now time.Time) (tsp.Cryptogram, error) {
	if err := s.hung(ctx); err != nil {
		return tsp.Cryptogram{}, err
	}
	down, _, c := s.state()
	if down != nil {
		return tsp.Cryptogram{}, down
	}
	if c != nil {
		return *c, nil
	}
	return s.Simulator.Cryptogram(ctx, tokenPAN, counter, use, now)
}

// tspEnv is setup on a bbolt file (cards and vault), with the vault
// refusing to delete a card's PAN alias (AliasUse, as serve wires it) and
// a scripted token service.
func tspEnv(t *testing.T) (*env, *scriptedTSP) {
	t.Helper()
	return tspEnvWith(t, Options{})
}

// tspEnvWith is tspEnv with extra options (TokenServiceTimeout, Settings).
func tspEnvWith(t *testing.T, extra Options) (*env, *scriptedTSP) {
	t.Helper()
	return tspEnvOn(t, extra, nil)
}

// tspEnvOn is tspEnvWith whose cards (Handler and AliasUse) are stored
// through wrap(the bbolt store) when wrap is not nil.
func tspEnvOn(t *testing.T, extra Options, wrap func(*boltstore.Store) Store) (*env, *scriptedTSP) {
	t.Helper()
	return tspEnvWrapped(t, extra, wrap, nil)
}

// tspEnvWrapped is tspEnvOn whose Handler calls the vault through
// wrapVault(the vault service) when wrapVault is not nil.
func tspEnvWrapped(t *testing.T, extra Options, wrap func(*boltstore.Store) Store, wrapVault func(Vault) Vault) (*env, *scriptedTSP) {
	t.Helper()
	clk := &clock{t: time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)}
	fpKey := bytes.Repeat([]byte{9}, 32)
	st, err := boltstore.Open(filepath.Join(t.TempDir(), "vault.db"), boltstore.Options{Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	var cs Store = st
	if wrap != nil {
		cs = wrap(st)
	}
	use, err := NewAliasUse(cs, fpKey)
	if err != nil {
		t.Fatal(err)
	}
	kr, err := vault.OpenKeyring(context.Background(), st, bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	vol := memstore.New(memstore.Options{Now: clk.Now, SweepInterval: -1})
	t.Cleanup(func() { vol.Close() })
	svc, err := vault.New(st, vol, kr, vault.Options{Env: "sandbox", VolatileTTL: time.Hour, Now: clk.Now,
		DefaultAccount: "ACTaccountA", InUse: use})
	if err != nil {
		t.Fatal(err)
	}
	sim := &scriptedTSP{Simulator: tsp.NewSimulator(bytes.Repeat([]byte{3}, 32))}
	var hv Vault = svc
	if wrapVault != nil {
		hv = wrapVault(svc)
	}
	numbers := vault.NewNumbers(st, st, kr)
	opts := Options{VaultID: "tnt-test", FingerprintKey: fpKey, Now: clk.Now, Logger: obstest.Logger(t), TSP: sim,
		TokenServiceTimeout: extra.TokenServiceTimeout, Settings: extra.Settings, Numbers: extra.Numbers}
	if opts.Numbers == nil {
		opts.Numbers = numbers // as serve wires it
	}
	h, err := New(cs, hv, fakeGuard{}, opts)
	if err != nil {
		t.Fatal(err)
	}
	use.RestoreWith(h) // as serve wires it
	return &env{t: t, h: h, vault: svc, clk: clk, bolt: st, numbers: numbers, opts: opts}, sim
}

// provisioned provisions card id a token and returns its token PAN.
func (e *env) provisioned(id string) string {
	e.t.Helper()
	r := e.do("POST", "/cards/"+id+"/network-tokens", "", ntw, pci)
	if r.code != http.StatusOK {
		e.t.Fatalf("provision %s: %d %s", id, r.code, r.body)
	}
	return attrsOf(e.t, r.doc)["network_token"].(string)
}

// wantTokenServiceError checks a 502 token_service_unavailable answer
// that holds none of secrets.
func wantTokenServiceError(t *testing.T, what string, code int, body []byte, secrets ...string) {
	t.Helper()
	if code != http.StatusBadGateway || !strings.Contains(string(body), `"token_service_unavailable"`) {
		t.Errorf("%s: %d %s, want 502 token_service_unavailable", what, code, body)
	}
	obstest.AssertNoPAN(t, what, body)
	for _, s := range secrets {
		if s != "" && strings.Contains(string(body), s) {
			t.Errorf("%s: the answer holds %q", what, s)
		}
	}
}

// TestTokenServiceAnsweringAnotherCardsNumberIsRefused: a token service
// whose provisioning answers a number the account already stores —
// another card's token PAN, another card's PAN, the card's own PAN — or
// no card number at all is refused (502 token_service_unavailable, the
// card left without a token); the other card is untouched: its token is
// not deleted at the token service, its token PAN and PAN stay in the
// vault, and it still makes cryptograms. Before, the number was taken:
// two cards shared one token alias, and deleting one's token deleted the
// other's at the token service and in the vault (its cryptograms then
// answered 409 card_data_gone); a card whose token was its own PAN sent
// its PAN as the "token" and its token could never be deleted (500).
func TestTokenServiceAnsweringAnotherCardsNumberIsRefused(t *testing.T) {
	e, sim := tspEnv(t)
	a, _ := e.create(`"pan":"4111111111111111","cvc":"737","exp_month":4,"exp_year":2030`, pci)
	b, _ := e.create(`"pan":"4012888888881881","cvc":"737","exp_month":4,"exp_year":2030`, pci)
	tokenA := e.provisioned(a)
	for _, c := range []struct{ name, answer string }{
		{"another card's token PAN", tokenA},
		{"another card's PAN", "4111111111111111"},
		{"the card's own PAN", "4012888888881881"},
		{"not a card number", "4895370000000001"},
		{"too long", "48953700000000000000000006"},
	} {
		sim.script(func(s *scriptedTSP) { s.tokenPAN = c.answer })
		r := e.do("POST", "/cards/"+b+"/network-tokens", "", ntw, pci)
		wantTokenServiceError(t, c.name, r.code, r.body, c.answer)
		if tok := e.tokenOf(b); tok != nil {
			t.Errorf("%s: card B has a token: %v", c.name, tok)
		}
	}
	sim.script(func(s *scriptedTSP) { s.tokenPAN = "" })
	if tok := e.tokenOf(a); tok == nil || tok["network_token"] != tokenA || tok["state"] != "active" {
		t.Fatalf("card A's token after B's refused provisionings: %v", tok)
	}
	if r := e.do("POST", "/cards/"+a+"/cryptogram", `{"data":{"attributes":{}}}`, ntw, pci); r.code != http.StatusOK {
		t.Fatalf("card A's cryptogram: %d %s", r.code, r.body)
	}
	if r := e.do("GET", "/cards/"+a, "", pci); r.code != 200 || attrsOf(t, r.doc)["pan"] != "4111111111111111" {
		t.Fatalf("card A: %d %s", r.code, r.body)
	}
	sim.mu.Lock()
	deleted := append([]string(nil), sim.deleted...)
	sim.mu.Unlock()
	for _, d := range deleted {
		if d == tokenA {
			t.Fatal("card A's token was deleted at the token service")
		}
	}
	// B provisions normally once the token service answers a token of its own.
	if tok := e.provisioned(b); tok == tokenA || tok == "4012888888881881" {
		t.Fatalf("card B's token %s", tok)
	}
}

// TestTokenServiceCryptogramThatCannotBeUsedIsRefused: a cryptogram
// answer without a value, ECI or type, or whose value is not base64, is
// refused (502 token_service_unavailable) by POST …/cryptogram and by a
// network_token payment, which never gets the token PAN without a usable
// cryptogram. Before, POST …/cryptogram answered 200 with an empty
// cryptogram, and the outbound proxy sent the token PAN to the processor
// with empty cryptogram and ECI fields.
func TestTokenServiceCryptogramThatCannotBeUsedIsRefused(t *testing.T) {
	e, sim := tspEnv(t)
	id, _ := e.create(`"pan":"5555555555554444","cvc":"737","exp_month":4,"exp_year":2030`, pci)
	tokenPAN := e.provisioned(id)
	for _, c := range []struct {
		name string
		c    tsp.Cryptogram
	}{
		{"empty", tsp.Cryptogram{}},
		{"no value", tsp.Cryptogram{ECI: "06", Type: "UCAF"}},
		{"no ECI", tsp.Cryptogram{Type: "UCAF", Value: "AAECAwQFBgcICQoLDA0ODxAREhM="}},
		{"no type", tsp.Cryptogram{ECI: "06", Value: "AAECAwQFBgcICQoLDA0ODxAREhM="}},
		{"ECI not two digits", tsp.Cryptogram{ECI: "6", Type: "UCAF", Value: "AAECAwQFBgcICQoLDA0ODxAREhM="}},
		{"value not base64", tsp.Cryptogram{ECI: "06", Type: "UCAF", Value: `a","x":"`}},
	} {
		sim.script(func(s *scriptedTSP) { s.crypt = &c.c })
		r := e.do("POST", "/cards/"+id+"/cryptogram", `{"data":{"attributes":{}}}`, ntw, pci)
		wantTokenServiceError(t, c.name, r.code, r.body, tokenPAN)
		ctx := vault.WithAccount(context.Background(), "ACTaccountA")
		v, err := e.h.Payment(ctx, "ACTaccountA", id, true, "")
		if err == nil || v.PAN != "" || v.Cryptogram != "" {
			t.Errorf("%s: payment %+v, %v; want an error and no values", c.name, v, err)
		}
	}
	sim.script(func(s *scriptedTSP) { s.crypt = nil })
	if r := e.do("POST", "/cards/"+id+"/cryptogram", `{"data":{"attributes":{}}}`, ntw, pci); r.code != http.StatusOK {
		t.Fatalf("cryptogram: %d %s", r.code, r.body)
	}
}

// TestTokenServiceOutageAnswers502AndChangesNothing: with the token
// service down, provisioning, a cryptogram, deleting the token, a PATCH
// of the expiry (the token follows it) and deleting the card answer 502
// token_service_unavailable (they answered 500 internal_error) and leave
// the token as it was; once the token service is back, a provisioning
// retried returns the one token (never a second), and each request
// retried succeeds.
func TestTokenServiceOutageAnswers502AndChangesNothing(t *testing.T) {
	e, sim := tspEnv(t)
	fresh, _ := e.create(`"pan":"4012888888881881","cvc":"737","exp_month":4,"exp_year":2030`, pci)
	id, _ := e.create(`"pan":"4111111111111111","cvc":"737","exp_month":4,"exp_year":2030`, pci)
	tokenPAN := e.provisioned(id)
	sim.script(func(s *scriptedTSP) { s.down = errors.New("dial tcp 10.0.0.1:443: connect: connection refused") })
	r := e.do("POST", "/cards/"+fresh+"/network-tokens", "", ntw, pci)
	wantTokenServiceError(t, "provision", r.code, r.body)
	if tok := e.tokenOf(fresh); tok != nil {
		t.Errorf("a token after a failed provisioning: %v", tok)
	}
	r = e.do("POST", "/cards/"+id+"/cryptogram", `{"data":{"attributes":{}}}`, ntw, pci)
	wantTokenServiceError(t, "cryptogram", r.code, r.body, tokenPAN)
	code, body := e.doNoContent("DELETE", "/cards/"+id+"/network-tokens", ntw, pci)
	wantTokenServiceError(t, "delete the token", code, body, tokenPAN)
	r = e.do("PATCH", "/cards/"+id, cardBody(`"exp_month":5,"exp_year":2031`), ntw, pci)
	wantTokenServiceError(t, "patch the expiry", r.code, r.body, tokenPAN)
	if tok := e.tokenOf(id); tok == nil || tok["network_token"] != tokenPAN || tok["state"] != "active" ||
		tok["exp_month"] != float64(4) {
		t.Fatalf("the token after the outage: %v", tok)
	}
	code, body = e.doNoContent("DELETE", "/cards/"+id, ntw, pci)
	wantTokenServiceError(t, "delete the card", code, body, tokenPAN)

	sim.script(func(s *scriptedTSP) { s.down = nil })
	a := e.provisioned(fresh)
	if b := e.provisioned(fresh); b != a {
		t.Fatalf("a retried provisioning made a second token")
	}
	if code, body := e.doNoContent("DELETE", "/cards/"+id, ntw, pci); code != http.StatusNoContent {
		t.Fatalf("the card's delete retried: %d %s", code, body)
	}
	sim.mu.Lock()
	defer sim.mu.Unlock()
	if len(sim.deleted) != 1 || sim.deleted[0] != tokenPAN {
		t.Fatalf("tokens deleted at the token service: %d", len(sim.deleted))
	}
}

// TestPaymentWhenTheTokenServiceFailsSaysSo: a network_token payment whose
// cryptogram the token service cannot make (down, or an answer that
// cannot be used) is refused with the code token_service_unavailable
// (the outbound proxy answers it 502), never with the card's PAN, even on
// a route that falls back: the card has an active token. It was a plain
// error, which the proxy answered 503 vault_unavailable.
func TestPaymentWhenTheTokenServiceFailsSaysSo(t *testing.T) {
	e, sim := tspEnv(t)
	id, _ := e.create(`"pan":"4111111111111111","cvc":"737","exp_month":4,"exp_year":2030`, pci)
	e.provisioned(id)
	ctx := vault.WithAccount(context.Background(), "ACTaccountA")
	for name, f := range map[string]func(s *scriptedTSP){
		"down":    func(s *scriptedTSP) { s.down, s.crypt = errors.New("i/o timeout"), nil },
		"garbage": func(s *scriptedTSP) { s.down, s.crypt = nil, &tsp.Cryptogram{ECI: "07", Type: "TAVV"} },
	} {
		sim.script(f)
		for _, fallback := range []bool{false, true} {
			v, err := e.h.Payment(ctx, "ACTaccountA", id, fallback, "")
			var pe *PaymentError
			if !errors.As(err, &pe) || pe.PaymentCode() != "token_service_unavailable" || v != (PaymentValues{}) {
				t.Errorf("%s (fallback %t): %+v, %v; want the refusal token_service_unavailable", name, fallback, v, err)
			}
		}
	}
}

// TestTokenDeletedAtTheTokenServiceIsRetiredWhenUsed: a token the token
// service deleted without the card hearing of it (a notification lost)
// is retired the first time the token service answers that it is deleted
// — a cryptogram, a network_token payment, a PATCH of the expiry — as the
// notification would have: state deleted (not shown), its token PAN out of
// the vault, a card update with source network-token-status. The request
// itself answers as for a card without a token (409 no_active_network_token,
// a payment's fallback to the PAN), a PATCH succeeds, and a new token can
// be provisioned. Before, the card kept showing the dead token as active
// for good: provisioning returned it (200), every cryptogram answered 409,
// and every PATCH of the expiry failed.
func TestTokenDeletedAtTheTokenServiceIsRetiredWhenUsed(t *testing.T) {
	e, sim := tspEnv(t)
	ctx := vault.WithAccount(context.Background(), "ACTaccountA")
	for _, how := range []string{"cryptogram", "payment", "patch"} {
		id, _ := e.create(`"pan":"4111111111111111","cvc":"737","exp_month":4,"exp_year":2030`, pci)
		tokenPAN := e.provisioned(id)
		alias := func() string {
			rec, err := e.h.loadID(e.h.lifecycleRequest(context.Background(), "ACTaccountA"), id)
			if err != nil || len(rec.Tokens) != 1 {
				t.Fatalf("%s: card record: %v", how, err)
			}
			return rec.Tokens[0].PANAlias
		}()
		sim.Simulator.Delete(context.Background(), "", tokenPAN) // the network deleted it; the card was not told
		switch how {
		case "cryptogram":
			r := e.do("POST", "/cards/"+id+"/cryptogram", `{"data":{"attributes":{}}}`, ntw, pci)
			if r.code != http.StatusConflict || !strings.Contains(string(r.body), "no_active_network_token") {
				t.Errorf("%s: %d %s", how, r.code, r.body)
			}
		case "payment":
			v, err := e.h.Payment(ctx, "ACTaccountA", id, true, "")
			if err != nil || v.Token || v.PAN != "4111111111111111" {
				t.Errorf("%s: %+v %v, want the PAN (fallback)", how, v.Token, err)
			}
		case "patch":
			r := e.do("PATCH", "/cards/"+id, cardBody(`"exp_month":5,"exp_year":2031`), ntw, pci)
			if r.code != http.StatusOK || attrsOf(t, r.doc)["exp_month"] != float64(5) {
				t.Errorf("%s: %d %s", how, r.code, r.body)
			}
		}
		if tok := e.tokenOf(id); tok != nil {
			t.Errorf("%s: the card still shows its token deleted at the token service: %v", how, tok)
		}
		if _, err := e.reveal("ACTaccountA", alias); !errors.Is(err, vault.ErrNotFound) {
			t.Errorf("%s: the deleted token's PAN is still in the vault: %v", how, err)
		}
		found := false
		r := e.do("GET", "/cards/"+id+"?include=card_updates", "")
		inc, _ := r.doc["included"].([]any)
		for _, x := range inc {
			a := x.(map[string]any)["attributes"].(map[string]any)
			found = found || (a["event"] == "network-token-status" && strings.Contains(string(r.body), `"new_value":"deleted"`))
		}
		if !found {
			t.Errorf("%s: no network-token-status card update: %s", how, r.body)
		}
		if tok := e.provisioned(id); tok == tokenPAN {
			t.Errorf("%s: provisioning returned the dead token", how)
		}
		if code, _ := e.doNoContent("DELETE", "/cards/"+id, ntw, pci); code != http.StatusNoContent {
			t.Fatalf("%s: delete the card: %d", how, code)
		}
	}
}

// TestProvisionStoredGoesPastACardWhoseTokenCannotBeUsed: the background
// provisioning of stored cards (cards.provision_stored) whose token
// service answers one card with a number it cannot take (here another
// card's PAN) marks that card enrollment_status "failed", as a card
// provisioned at its creation is, and goes on with the next cards. It
// stopped there and tried the same card again every 30 s, so no card
// after it was ever provisioned. A token service that is down still stops
// the step, the card unmarked, to be tried again.
func TestProvisionStoredGoesPastACardWhoseTokenCannotBeUsed(t *testing.T) {
	e, sim := tspEnv(t)
	pans := []string{"4111111111111111", "4012888888881881", "5555555555554444"}
	var ids []string
	for _, p := range pans {
		id, _ := e.create(`"pan":"` + p + `","exp_month":4,"exp_year":2030`)
		ids = append(ids, id)
	}
	e.h.accounts = fixedSettings{"ACTaccountA": {NetworkTokens: true}}
	sim.script(func(s *scriptedTSP) { s.answers = map[string]string{pans[1]: pans[0]} })
	enrollment := func() map[string]string {
		out := map[string]string{}
		for i, id := range ids {
			out[pans[i][:6]] = fmt.Sprint(e.cardAttrs(id)["enrollment_status"])
		}
		return out
	}
	ctx := context.Background()
	sim.script(func(s *scriptedTSP) { s.down = errors.New("connection refused") })
	if _, n, err := e.h.ProvisionStored(ctx, "ACTaccountA", "", 10); err == nil || n != 0 {
		t.Fatalf("with the token service down: %d %v, want an error", n, err)
	}
	sim.script(func(s *scriptedTSP) { s.down = nil })
	next, n, err := e.h.ProvisionStored(ctx, "ACTaccountA", "", 10)
	if err != nil || n != 2 || next != "" {
		t.Fatalf("ProvisionStored: next %q, %d provisioned, %v; want 2 and the end (enrollment %v)", next, n, err, enrollment())
	}
	want := map[string]string{"411111": "enrolled", "401288": "failed", "555555": "enrolled"}
	if got := enrollment(); !maps.Equal(got, want) {
		t.Fatalf("enrollment %v, want %v", got, want)
	}
	if tok := e.tokenOf(ids[1]); tok != nil {
		t.Fatalf("the refused card has a token: %v", tok)
	}
}

// TestTokenServiceAnsweringAPARThatIsNoneIsRefused: the payment account
// reference a provisioning answers is shown to every client, PCI or not,
// and in webhooks' card data never; one that is not 29 capital letters
// and digits (EMVCo's PAR) — the card's PAN, a lower-case or longer text —
// is refused (502 token_service_unavailable, no token kept) instead of
// being stored and shown: a token service answering the PAN there showed
// it in clear to a non-PCI client. None (some token services give the PAR
// later) is taken.
func TestTokenServiceAnsweringAPARThatIsNoneIsRefused(t *testing.T) {
	e, sim := tspEnv(t)
	id, _ := e.create(`"pan":"4111111111111111","cvc":"737","exp_month":4,"exp_year":2030`, pci)
	for _, par := range []string{"4111111111111111", "V001" + strings.Repeat("a", 25), "V001" + strings.Repeat("A", 26),
		"V001" + strings.Repeat("A", 24) + "-", "V0010013025209632906568838169 "} {
		sim.script(func(s *scriptedTSP) { s.par = &par })
		r := e.do("POST", "/cards/"+id+"/network-tokens", "", ntw)
		wantTokenServiceError(t, "PAR "+par, r.code, r.body, par)
		if tok := e.tokenOf(id); tok != nil {
			t.Errorf("PAR %q: a token was kept: %v", par, tok)
		}
	}
	sim.mu.Lock()
	undone := len(sim.deleted)
	sim.mu.Unlock()
	if undone != 5 {
		t.Errorf("%d of the 5 refused tokens deleted at the token service", undone)
	}
	for _, par := range []string{"V0010013025209632906568838169", ""} {
		sim.script(func(s *scriptedTSP) { s.par = &par })
		r := e.do("POST", "/cards/"+id+"/network-tokens", "", ntw)
		if r.code != 200 || attrsOf(t, r.doc)["payment_account_reference"] != par {
			t.Errorf("PAR %q: %d %s", par, r.code, r.body)
		}
		if code, _ := e.doNoContent("DELETE", "/cards/"+id+"/network-tokens", ntw); code != 204 {
			t.Fatalf("delete the token: %d", code)
		}
	}
}

// TestHungTokenServiceAnswers502WhenTheBoundExpires: a token service that
// accepts the call and never answers held the card's lock (and its
// request) for good, and the background provisioning with it: every call
// now ends at Options.TokenServiceTimeout with 502
// token_service_unavailable (a failed backfill step), the card and its
// token as they were, no token made; the card is usable again at once,
// and once the service answers again it provisions (one token) and
// deletes as usual.
func TestHungTokenServiceAnswers502WhenTheBoundExpires(t *testing.T) {
	e, sim := tspEnvWith(t, Options{TokenServiceTimeout: 50 * time.Millisecond})
	fresh, _ := e.create(`"pan":"4012888888881881","cvc":"737","exp_month":4,"exp_year":2030`, pci)
	id, _ := e.create(`"pan":"4111111111111111","cvc":"737","exp_month":4,"exp_year":2030`, pci)
	tokenPAN := e.provisioned(id)
	sim.script(func(s *scriptedTSP) { s.hang = true })
	r := e.do("POST", "/cards/"+fresh+"/network-tokens", "", ntw, pci)
	wantTokenServiceError(t, "provision", r.code, r.body)
	if tok := e.tokenOf(fresh); tok != nil {
		t.Errorf("a token after a provisioning that timed out: %v", tok)
	}
	r = e.do("POST", "/cards/"+id+"/cryptogram", `{"data":{"attributes":{}}}`, ntw, pci)
	wantTokenServiceError(t, "cryptogram", r.code, r.body, tokenPAN)
	code, body := e.doNoContent("DELETE", "/cards/"+id+"/network-tokens", ntw, pci)
	wantTokenServiceError(t, "delete the token", code, body, tokenPAN)
	r = e.do("PATCH", "/cards/"+id, cardBody(`"exp_month":5,"exp_year":2031`), ntw, pci)
	wantTokenServiceError(t, "patch the expiry", r.code, r.body, tokenPAN)
	if tok := e.tokenOf(id); tok == nil || tok["network_token"] != tokenPAN || tok["state"] != "active" ||
		tok["exp_month"] != float64(4) {
		t.Fatalf("the token after the timeouts: %v", tok)
	}
	sim.mu.Lock()
	hangs := sim.hangs
	sim.mu.Unlock()
	if hangs != 4 {
		t.Fatalf("calls that reached the hung token service: %d, want 4", hangs)
	}
	// The background provisioning of stored cards: the step ends with the
	// failure, the card unmarked (tried again later).
	e.h.accounts = fixedSettings{"ACTaccountA": {NetworkTokens: true}}
	if _, n, err := e.h.ProvisionStored(context.Background(), "ACTaccountA", "", 10); err == nil || n != 0 {
		t.Fatalf("background provisioning with the token service hung: %d %v, want an error", n, err)
	}
	if st := e.cardAttrs(fresh)["enrollment_status"]; st != "not_enrolled" {
		t.Fatalf("the card after a background provisioning that timed out: enrollment_status %v", st)
	}

	sim.script(func(s *scriptedTSP) { s.hang = false })
	a := e.provisioned(fresh)
	if b := e.provisioned(fresh); b != a {
		t.Fatalf("a retried provisioning made a second token")
	}
	if code, body := e.doNoContent("DELETE", "/cards/"+id, ntw, pci); code != http.StatusNoContent {
		t.Fatalf("the card's delete after the service came back: %d %s", code, body)
	}
}

// TestRefusedTokenLeavesNoTokenPANInTheVaultWhenItsDeleteFails: a token a
// provisioning refused after storing its token PAN (here: a payment
// account reference that is none) is undone; when the token service
// fails the undo's delete too (an error, its bound passed), the token PAN
// still leaves the vault: no card references it and nothing would ever
// delete it (the token service keeps the token, which is logged). Before,
// the token PAN's alias was deleted only after the token service's
// delete succeeded.
func TestRefusedTokenLeavesNoTokenPANInTheVaultWhenItsDeleteFails(t *testing.T) {
	for _, c := range []struct {
		name string
		tsp  func(s *scriptedTSP)
	}{
		{"token service delete fails", func(s *scriptedTSP) { s.deleteDown = errors.New("token service delete failed") }},
		{"token service delete passes its bound", func(s *scriptedTSP) { s.deleteDown = context.DeadlineExceeded }},
	} {
		t.Run(c.name, func(t *testing.T) {
			e, sim := tspEnvWith(t, Options{TokenServiceTimeout: 100 * time.Millisecond})
			id, _ := e.create(`"pan":"4111111111111111","exp_month":4,"exp_year":2030`, pci)
			made, err := sim.Simulator.Provision(context.Background(), "4111111111111111", "4", "2030")
			if err != nil {
				t.Fatal(err)
			}
			bad := "V001" + strings.Repeat("a", 25)
			sim.script(func(s *scriptedTSP) { s.tokenPAN, s.par = made.PAN, &bad; c.tsp(s) })
			r := e.do("POST", "/cards/"+id+"/network-tokens", "", ntw)
			wantTokenServiceError(t, "refused token", r.code, r.body, made.PAN)
			ctx := vault.WithAccount(context.Background(), "ACTaccountA")
			toks, err := e.vault.Redact(ctx, []vault.RedactRequest{{Value: made.PAN, Format: vault.FormatUUID,
				Storage: vault.StoragePersistent}})
			if err != nil {
				t.Fatal(err)
			}
			if !toks[0].Created {
				t.Fatal("the token PAN of a refused token is still in the vault, referenced by no card")
			}
		})
	}
}

// ctxVault is a vault whose deletes fail once their context has ended, as
// a store that honours contexts (PostgreSQL) does.
type ctxVault struct{ Vault }

func (v ctxVault) Delete(ctx context.Context, alias string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return v.Vault.Delete(ctx, alias)
}

func (v ctxVault) Release(ctx context.Context, alias string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return v.Vault.Release(ctx, alias)
}

// cancellingStore, once armed, ends a request's context at its next card
// write and fails that write, as a store that honours contexts does when
// the client hangs up (or the gateway stops) at that moment.
type cancellingStore struct {
	*boltstore.Store
	mu     sync.Mutex
	cancel context.CancelFunc
}

func (s *cancellingStore) ReplaceCard(ctx context.Context, account, id string, old, record []byte) error {
	s.mu.Lock()
	cancel := s.cancel
	s.cancel = nil
	s.mu.Unlock()
	if cancel != nil {
		cancel()
		return ctx.Err()
	}
	return s.Store.ReplaceCard(ctx, account, id, old, record)
}

// TestProvisioningStoppedAtItsCardWriteLeavesNoTokenPAN: a provisioning
// whose context ends (the client hangs up, the gateway stops the
// background provisioning) after the token service made a token and its
// token PAN was stored, at the card's write: the token is undone, and its
// token PAN leaves the vault although the request's context has ended.
// Before, the undo ran under that context, so a vault that honours it
// (PostgreSQL) refused the delete and the token PAN stayed with no card
// referencing it.
func TestProvisioningStoppedAtItsCardWriteLeavesNoTokenPAN(t *testing.T) {
	var cs *cancellingStore
	e, sim := tspEnvWrapped(t, Options{}, func(st *boltstore.Store) Store { cs = &cancellingStore{Store: st}; return cs },
		func(v Vault) Vault { return ctxVault{v} })
	id, _ := e.create(`"pan":"4111111111111111","exp_month":4,"exp_year":2030`, pci)
	made, err := sim.Simulator.Provision(context.Background(), "4111111111111111", "4", "2030")
	if err != nil {
		t.Fatal(err)
	}
	sim.script(func(s *scriptedTSP) { s.tokenPAN = made.PAN })
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cs.mu.Lock()
	cs.cancel = cancel
	cs.mu.Unlock()
	r := httptest.NewRequest("POST", "/cards/"+id+"/network-tokens", nil).WithContext(ctx)
	k, v, _ := strings.Cut(ntw, ": ")
	r.Header.Set(k, v)
	w := httptest.NewRecorder()
	e.h.ServeHTTP(w, r)
	if w.Code == http.StatusOK {
		t.Fatalf("provisioning stopped at its card write: %d %s", w.Code, w.Body)
	}
	obstest.AssertNoPAN(t, "stopped provisioning", w.Body.Bytes())
	if tok := e.tokenOf(id); tok != nil {
		t.Fatalf("the card has a token: %v", tok)
	}
	toks, err := e.vault.Redact(vault.WithAccount(context.Background(), "ACTaccountA"), []vault.RedactRequest{{Value: made.PAN,
		Format: vault.FormatUUID, Storage: vault.StoragePersistent}})
	if err != nil {
		t.Fatal(err)
	}
	if !toks[0].Created {
		t.Fatal("the token PAN of a provisioning stopped at its card write is still in the vault")
	}
}

// TestTokenServiceAnsweringAPARHoldingACardNumberIsRefused: a payment
// account reference of EMVCo's shape (29 capital letters and digits) that
// holds the card's PAN or the token PAN ("V001" + PAN + 9 more) was
// taken, stored and shown to every client, so a non-PCI client read the
// card number in clear in payment_account_reference. It is refused like a
// reference of another shape (502 token_service_unavailable, no token
// kept, the token deleted at the token service).
func TestTokenServiceAnsweringAPARHoldingACardNumberIsRefused(t *testing.T) {
	e, sim := tspEnv(t)
	const cardPAN, tokenPAN = "4111111111111111", "4000056655665556"
	id, _ := e.create(`"pan":"`+cardPAN+`","cvc":"737","exp_month":4,"exp_year":2030`, pci)
	sim.script(func(s *scriptedTSP) { s.tokenPAN = tokenPAN })
	for _, par := range []string{"V001" + cardPAN + "ABCDEFGHI", "V001ABCDEFGHI" + tokenPAN} {
		if len(par) != 29 {
			t.Fatalf("PAR %q is not of EMVCo's length", par)
		}
		sim.script(func(s *scriptedTSP) { s.par = &par })
		r := e.do("POST", "/cards/"+id+"/network-tokens", "", ntw)
		wantTokenServiceError(t, "PAR "+par, r.code, r.body, cardPAN, tokenPAN)
		if tok := e.tokenOf(id); tok != nil {
			t.Errorf("PAR %q: a token was kept: %v", par, tok)
		}
		if r := e.do("GET", "/cards/"+id+"?include=network_tokens", "", ntw); strings.Contains(string(r.body), cardPAN) ||
			strings.Contains(string(r.body), tokenPAN) {
			t.Errorf("PAR %q: the card shows a card number to a non-PCI client: %s", par, r.body)
		}
	}
	sim.mu.Lock()
	undone := len(sim.deleted)
	sim.mu.Unlock()
	if undone != 2 {
		t.Errorf("%d of the 2 refused tokens deleted at the token service", undone)
	}
}
