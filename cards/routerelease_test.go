package cards

import (
	"context"
	"errors"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/aliasgate/aliasgate/internal/jsonapi"
	"github.com/aliasgate/aliasgate/vault"
)

// TestRefusedWriteThroughARouteReleasesItsCVCAndNumber: a create or a
// PATCH through an inbound route in front of the API (its redaction, as
// the inbound proxy makes it: under vault.WithCreations, in the route's
// account) that the API refuses, or fails (the token service down: 502),
// leaves neither the route's alias of the
// card number nor its volatile alias of the CVC in the vault. Before, the
// CVC's lived on until it expired (releaseCreated skipped what was no card
// number, vault.CreatedAliases listed persistent aliases only), and a
// refused PATCH released nothing.
func TestRefusedWriteThroughARouteReleasesItsCVCAndNumber(t *testing.T) {
	e, ts := tspEnv(t)
	id, _ := e.create(`"pan":"4111111111111111","cvc":"737","exp_month":4,"exp_year":2030`, pci)
	// A card with a network token, whose expiry the token service is told
	// of when a PATCH changes it.
	tokID, _ := e.create(`"pan":"5555555555554444","cvc":"737","exp_month":4,"exp_year":2030`, pci)
	e.provisioned(tokID)
	for _, c := range []struct {
		name, method, path, number, attrs string
		hdr                               []string
		code                              int
	}{
		{"create with an invalid expiry", "POST", "/cards", "6011111111111117", `"exp_month":13,"exp_year":2030`, nil, 422},
		{"create without cards:write", "POST", "/cards", "4012888888881881", `"exp_month":4,"exp_year":2030`,
			[]string{"X-Test-Scopes: cards:read"}, 403},
		{"PATCH of the card number", "PATCH", "/cards/" + id, "4000056655665556", ``, nil, 422},
		{"PATCH of an invalid expiry", "PATCH", "/cards/" + id, "", `"exp_month":13`, nil, 422},
		{"PATCH of an unknown card", "PATCH", "/cards/CRDunknownunknownunknown1", "5105105105105100", ``, nil, 404},
		{"PATCH the token service fails", "PATCH", "/cards/" + tokID, "", `"exp_year":2032`, []string{"X-Test-TSP-Down: 1"}, 502},
	} {
		t.Run(c.name, func(t *testing.T) {
			if len(c.hdr) > 0 && c.hdr[0] == "X-Test-TSP-Down: 1" {
				ts.script(func(s *scriptedTSP) { s.down = errors.New("token service down") })
				defer ts.script(func(s *scriptedTSP) { s.down = nil })
			}
			ctx := vault.WithCreations(vault.WithActor(context.Background(),
				vault.Actor{Account: "ACTaccountA", Route: "cards-in"}))
			reqs := []vault.RedactRequest{{Value: "123", Format: vault.FormatUUID, Storage: vault.StorageVolatile}}
			if c.number != "" {
				reqs = append(reqs, vault.RedactRequest{Value: c.number, Format: vault.FormatUUID, Storage: vault.StoragePersistent})
			}
			toks, err := e.vault.Redact(ctx, reqs)
			if err != nil {
				t.Fatal(err)
			}
			attrs := []string{`"cvc_alias":"` + toks[0].Alias + `"`}
			if c.number != "" {
				attrs = append(attrs, `"pan_alias":"`+toks[1].Alias+`"`)
			}
			if c.attrs != "" {
				attrs = append(attrs, c.attrs)
			}
			typ := `"type":"cards"`
			if c.method == "PATCH" {
				typ += `,"id":"` + strings.TrimPrefix(c.path, "/cards/") + `"`
			}
			r := httptest.NewRequest(c.method, c.path,
				strings.NewReader(`{"data":{`+typ+`,"attributes":{`+strings.Join(attrs, ",")+`}}}`)).WithContext(ctx)
			r.Header.Set("Content-Type", jsonapi.MediaType)
			for _, h := range c.hdr {
				k, v, _ := strings.Cut(h, ": ")
				r.Header.Set(k, v)
			}
			w := httptest.NewRecorder()
			e.h.ServeHTTP(w, r)
			if w.Code != c.code {
				t.Fatalf("refused write: %d %s, want %d", w.Code, w.Body, c.code)
			}
			for i, tok := range toks {
				if _, err := e.reveal("ACTaccountA", tok.Alias); !errors.Is(err, vault.ErrNotFound) {
					t.Errorf("the route's alias %d (%s) outlived the refusal: %v", i, tok.Storage, err)
				}
			}
		})
	}
	// The cards' own aliases are untouched.
	for cardID, number := range map[string]string{id: "4111111111111111", tokID: "5555555555554444"} {
		a := attrsOf(t, e.do("GET", "/cards/"+cardID, "", pci).doc)
		if a["pan"] != number || a["cvc"] != "737" {
			t.Errorf("card %s after the refused PATCHes: pan %v, cvc %v", cardID, a["pan"], a["cvc"])
		}
	}
}

// redactRecorder is a Vault that records the volatile aliases its Redacts
// made.
type redactRecorder struct {
	Vault
	mu       sync.Mutex
	volatile []string
}

func (v *redactRecorder) Redact(ctx context.Context, reqs []vault.RedactRequest) ([]vault.Token, error) {
	toks, err := v.Vault.Redact(ctx, reqs)
	v.mu.Lock()
	defer v.mu.Unlock()
	for _, t := range toks {
		if t.Storage == vault.StorageVolatile {
			v.volatile = append(v.volatile, t.Alias)
		}
	}
	return toks, err
}

// TestCreateThatStoresNoCardReleasesItsCVC: a create of the built-in API
// (no route) that stores no card — a 303 to the card of the number the
// account holds — deletes the CVC alias its own redaction made, as it
// releases its number's: no card holds it. Before, it lived until it
// expired (vault.CreatedAliases listed persistent aliases only).
func TestCreateThatStoresNoCardReleasesItsCVC(t *testing.T) {
	rec := &redactRecorder{}
	e, _ := tspEnvWrapped(t, Options{}, nil, func(v Vault) Vault { rec.Vault = v; return rec })
	const card = `"pan":"4111111111111111","cvc":"737","exp_month":4,"exp_year":2030`
	id, _ := e.create(card, pci)
	if r := e.do("POST", "/cards", cardBody(card), pci); r.code != 303 {
		t.Fatalf("duplicate create: %d %s, want 303", r.code, r.body)
	}
	rec.mu.Lock()
	made := slices.Clone(rec.volatile)
	rec.mu.Unlock()
	if len(made) != 2 {
		t.Fatalf("%d CVC aliases made, want the card's and the duplicate's", len(made))
	}
	if _, err := e.reveal("ACTaccountA", made[1]); !errors.Is(err, vault.ErrNotFound) {
		t.Errorf("the duplicate create's CVC alias outlived it: %v", err)
	}
	if a := attrsOf(t, e.do("GET", "/cards/"+id, "", pci).doc); a["cvc"] != "737" {
		t.Errorf("the card's CVC after the duplicate: %v", a["cvc"])
	}
}

// TestWriteThroughARouteLeavesNoCopyOfItsCVC: a create and a PATCH through
// an inbound route in front of the API whose redaction made a volatile
// alias of the CVC (cvc_alias, the raw card data flow) store the card
// with a CVC alias of their own, and the route's, which no card holds and
// whose alias no client saw, leaves the vault with the write. Before, it
// lived on, a second copy of the CVC, until it expired.
func TestWriteThroughARouteLeavesNoCopyOfItsCVC(t *testing.T) {
	e, _ := tspEnv(t)
	id, _ := e.create(`"pan":"4111111111111111","cvc":"737","exp_month":4,"exp_year":2030`, pci)
	for _, c := range []struct {
		name, method, path, number, cvc string
		code                            int
	}{
		{"create", "POST", "/cards", "5555555555554444", "123", 201},
		{"PATCH", "PATCH", "/cards/" + id, "", "456", 200},
	} {
		t.Run(c.name, func(t *testing.T) {
			ctx := vault.WithCreations(vault.WithActor(context.Background(),
				vault.Actor{Account: "ACTaccountA", Route: "cards-in"}))
			reqs := []vault.RedactRequest{{Value: c.cvc, Format: vault.FormatUUID, Storage: vault.StorageVolatile}}
			if c.number != "" {
				reqs = append(reqs, vault.RedactRequest{Value: c.number, Format: vault.FormatUUID, Storage: vault.StoragePersistent})
			}
			toks, err := e.vault.Redact(ctx, reqs)
			if err != nil {
				t.Fatal(err)
			}
			vault.HandOff(ctx) // as the inbound proxy does
			attrs := `"cvc_alias":"` + toks[0].Alias + `"`
			typ := `"type":"cards"`
			if c.method == "PATCH" {
				typ += `,"id":"` + id + `"`
			} else {
				attrs += `,"pan_alias":"` + toks[1].Alias + `","exp_month":4,"exp_year":2030`
			}
			r := httptest.NewRequest(c.method, c.path,
				strings.NewReader(`{"data":{`+typ+`,"attributes":{`+attrs+`}}}`)).WithContext(ctx)
			r.Header.Set("Content-Type", jsonapi.MediaType)
			w := httptest.NewRecorder()
			e.h.ServeHTTP(w, r)
			if w.Code != c.code {
				t.Fatalf("write through the route: %d %s, want %d", w.Code, w.Body, c.code)
			}
			if _, err := e.reveal("ACTaccountA", toks[0].Alias); !errors.Is(err, vault.ErrNotFound) {
				t.Errorf("the route's CVC alias outlived the write that stored its own: %v", err)
			}
			cardID := id
			if c.method == "POST" {
				cardID = strings.TrimPrefix(w.Header().Get("Location"), "/cards/")
			}
			if a := attrsOf(t, e.do("GET", "/cards/"+cardID, "", pci).doc); a["cvc"] != c.cvc {
				t.Errorf("the card's CVC after the write: %v, want %s", a["cvc"], c.cvc)
			}
		})
	}
}

// failFirstDelete is a Vault whose first Delete or Release fails (the
// volatile store unreachable for a moment, say); it records the alias.
type failFirstDelete struct {
	Vault
	mu     sync.Mutex
	failed string
}

func (v *failFirstDelete) Delete(ctx context.Context, alias string) error {
	if err := v.failFirst(alias); err != nil {
		return err
	}
	return v.Vault.Delete(ctx, alias)
}

func (v *failFirstDelete) Release(ctx context.Context, alias string) error {
	if err := v.failFirst(alias); err != nil {
		return err
	}
	return v.Vault.Release(ctx, alias)
}

// failFirst fails the first call, and records its alias.
func (v *failFirstDelete) failFirst(alias string) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.failed != "" {
		return nil
	}
	v.failed = alias
	return errors.New("vault unreachable")
}

// TestReleaseGoesOnPastAFailedDelete: a release whose delete of one alias
// fails (logged) still releases the others the route made. Before, the
// first failure ended it: a volatile store down for a moment left the
// card number's alias behind too.
func TestReleaseGoesOnPastAFailedDelete(t *testing.T) {
	fv := &failFirstDelete{}
	e, _ := tspEnvWrapped(t, Options{}, nil, func(v Vault) Vault { fv.Vault = v; return fv })
	ctx := vault.WithCreations(vault.WithActor(context.Background(), vault.Actor{Account: "ACTaccountA", Route: "cards-in"}))
	toks, err := e.vault.Redact(ctx, []vault.RedactRequest{
		{Value: "123", Format: vault.FormatUUID, Storage: vault.StorageVolatile},
		{Value: "456", Format: vault.FormatUUID, Storage: vault.StorageVolatile},
		{Value: "5555555555554444", Format: vault.FormatUUID, Storage: vault.StoragePersistent},
	})
	if err != nil {
		t.Fatal(err)
	}
	r := httptest.NewRequest("POST", "/cards", strings.NewReader(`{"data":{"type":"cards","attributes":{"cvc_alias":"`+
		toks[0].Alias+`","pan_alias":"`+toks[2].Alias+`","exp_month":13,"exp_year":2030}}}`)).WithContext(ctx)
	r.Header.Set("Content-Type", jsonapi.MediaType)
	w := httptest.NewRecorder()
	e.h.ServeHTTP(w, r)
	if w.Code != 422 {
		t.Fatalf("refused create: %d %s", w.Code, w.Body)
	}
	if fv.failed == "" {
		t.Fatal("no delete was tried")
	}
	for i, tok := range toks {
		if tok.Alias == fv.failed {
			continue
		}
		if _, err := e.reveal("ACTaccountA", tok.Alias); !errors.Is(err, vault.ErrNotFound) {
			t.Errorf("the route's alias %d (%s) outlived the refusal past another's failed delete: %v", i, tok.Storage, err)
		}
	}
}

// TestFailedReleasesAreCounted: each release of aliases that fails — a
// refused create's (releaseMade), the route's CVC alias once the card
// holds its own (dropRouteCVC) — counts once in ReleaseFailures
// (aliasgate_alias_releases_failed_total) besides its warning line. Before,
// only the line told of it.
func TestFailedReleasesAreCounted(t *testing.T) {
	for _, c := range []struct {
		name, attrs string
		code        int
	}{
		{"refused create", `"exp_month":13,"exp_year":2030`, 422},
		{"create whose route's CVC alias is dropped", `"exp_month":4,"exp_year":2030`, 201},
	} {
		t.Run(c.name, func(t *testing.T) {
			fv := &failFirstDelete{}
			e, _ := tspEnvWrapped(t, Options{}, nil, func(v Vault) Vault { fv.Vault = v; return fv })
			ctx := vault.WithCreations(vault.WithActor(context.Background(), vault.Actor{Account: "ACTaccountA", Route: "cards-in"}))
			toks, err := e.vault.Redact(ctx, []vault.RedactRequest{
				{Value: "123", Format: vault.FormatUUID, Storage: vault.StorageVolatile},
				{Value: "5555555555554444", Format: vault.FormatUUID, Storage: vault.StoragePersistent},
			})
			if err != nil {
				t.Fatal(err)
			}
			vault.HandOff(ctx) // as the inbound proxy does
			r := httptest.NewRequest("POST", "/cards", strings.NewReader(`{"data":{"type":"cards","attributes":{"cvc_alias":"`+
				toks[0].Alias+`","pan_alias":"`+toks[1].Alias+`",`+c.attrs+`}}}`)).WithContext(ctx)
			r.Header.Set("Content-Type", jsonapi.MediaType)
			w := httptest.NewRecorder()
			e.h.ServeHTTP(w, r)
			if w.Code != c.code {
				t.Fatalf("create: %d %s, want %d", w.Code, w.Body, c.code)
			}
			if fv.failed == "" {
				t.Fatal("no delete was tried")
			}
			if n := e.h.ReleaseFailures(); n != 1 {
				t.Errorf("ReleaseFailures after one failed release: %d, want 1", n)
			}
		})
	}
}
