package cards

import (
	"context"
	"errors"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/aliasgate/aliasgate/internal/jsonapi"
	"github.com/aliasgate/aliasgate/vault"
	"github.com/aliasgate/aliasgate/vault/boltstore"
)

// errCommitLost is what ambiguousStore answers a write it made: the
// connection lost at COMMIT, a context cancelled after the statement ran.
var errCommitLost = errors.New("test: connection lost at commit")

// ambiguousStore is a Store whose card writes, once armed, are made and
// then answered with an error: their outcome is unknown to the caller.
type ambiguousStore struct {
	Store
	mu    sync.Mutex
	armed bool
	blind bool     // once an armed write was made, GetCard fails too
	made  bool     // an armed write was made
	ids   []string // the cards its PutCards stored
}

func (s *ambiguousStore) GetCard(ctx context.Context, account, id string) ([]byte, bool, error) {
	s.mu.Lock()
	blind := s.blind && s.made
	s.mu.Unlock()
	if blind {
		return nil, false, errCommitLost
	}
	return s.Store.GetCard(ctx, account, id)
}

func (s *ambiguousStore) arm(on, blind bool) {
	s.mu.Lock()
	s.armed, s.blind, s.made = on, blind, false
	s.mu.Unlock()
}

func (s *ambiguousStore) lost(err error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err == nil && s.armed {
		s.made = true
		return errCommitLost
	}
	return err
}

func (s *ambiguousStore) PutCard(ctx context.Context, account, id, fp string, rec []byte) (string, error) {
	existing, err := s.Store.PutCard(ctx, account, id, fp, rec)
	if err == nil && existing == "" {
		s.mu.Lock()
		s.ids = append(s.ids, id)
		s.mu.Unlock()
	}
	return existing, s.lost(err)
}

func (s *ambiguousStore) UpdateCard(ctx context.Context, account, id string, old, rec, upd []byte) error {
	return s.lost(s.Store.UpdateCard(ctx, account, id, old, rec, upd))
}

func (s *ambiguousStore) ReplaceCard(ctx context.Context, account, id string, old, rec []byte) error {
	return s.lost(s.Store.ReplaceCard(ctx, account, id, old, rec))
}

// TestWriteOfUnknownOutcomeReleasesNothingTheCardHolds: a create or a
// PATCH (the built-in API, and through an inbound route in front of it)
// whose card write the store made but answered with an error (PostgreSQL:
// the connection lost at COMMIT, the context cancelled after the
// statement ran) leaves the stored card with every alias it references:
// its CVC, and an alias the route put in its meta. The write is read back
// (writeOutcome): when the card holds what was written the request is
// answered as written; when the card cannot be read back either, the
// request fails (500) and releases nothing. Before, the create released its own CVC alias and
// the PATCH the route's aliases, the card pointing at deleted card data.
func TestWriteOfUnknownOutcomeReleasesNothingTheCardHolds(t *testing.T) {
	st := &ambiguousStore{}
	e, _ := tspEnvWrapped(t, Options{}, func(b *boltstore.Store) Store { st.Store = b; return st }, nil)
	id, _ := e.create(`"pan":"4111111111111111","cvc":"737","exp_month":4,"exp_year":2030`, pci)
	for _, c := range []struct {
		name, method, number string
		route, blind         bool // blind: the card cannot be read back either
		code                 int
	}{
		{"create", "POST", "5555555555554444", false, false, 201},
		{"create through a route", "POST", "6011111111111117", true, false, 201},
		{"PATCH through a route", "PATCH", "", true, false, 200},
		{"create, read back failing", "POST", "4012888888881881", false, true, 500},
		{"create through a route, read back failing", "POST", "3530111333300000", true, true, 500},
		{"PATCH through a route, read back failing", "PATCH", "", true, true, 500},
	} {
		t.Run(c.name, func(t *testing.T) {
			ctx := context.Background()
			var made []vault.Token
			if c.route {
				ctx = vault.WithCreations(vault.WithActor(ctx, vault.Actor{Account: "ACTaccountA", Route: "cards-in"}))
				reqs := []vault.RedactRequest{{Value: "secret-in-meta", Format: vault.FormatUUID, Storage: vault.StorageVolatile}}
				if c.number != "" {
					reqs = append(reqs, vault.RedactRequest{Value: c.number, Format: vault.FormatUUID, Storage: vault.StoragePersistent})
				}
				var err error
				if made, err = e.vault.Redact(ctx, reqs); err != nil {
					t.Fatal(err)
				}
				vault.HandOff(ctx) // as the inbound proxy does
			}
			typ, attrs := `"type":"cards"`, `"cvc":"456"`
			if c.method == "PATCH" {
				typ += `,"id":"` + id + `"`
			} else {
				attrs += `,"exp_month":4,"exp_year":2030`
				if c.route {
					attrs += `,"pan_alias":"` + made[1].Alias + `"`
				} else {
					attrs += `,"pan":"` + c.number + `"`
				}
			}
			if c.route {
				attrs += `,"meta":{"ref":"` + made[0].Alias + `"}`
			}
			r := httptest.NewRequest(c.method, map[string]string{"POST": "/cards", "PATCH": "/cards/" + id}[c.method],
				strings.NewReader(`{"data":{`+typ+`,"attributes":{`+attrs+`}}}`)).WithContext(ctx)
			r.Header.Set("Content-Type", jsonapi.MediaType)
			r.Header.Set("X-Test-PCI", "1")
			k, v, _ := strings.Cut(reveal, ": ")
			r.Header.Set(k, v) // a PCI client naming an alias
			st.arm(true, c.blind)
			w := httptest.NewRecorder()
			e.h.ServeHTTP(w, r)
			st.arm(false, false)
			if w.Code != c.code {
				t.Errorf("write of unknown outcome: %d %s, want %d", w.Code, w.Body, c.code)
			}
			cardID := id
			if c.method == "POST" {
				st.mu.Lock()
				cardID = st.ids[len(st.ids)-1]
				st.mu.Unlock()
			}
			a := attrsOf(t, e.do("GET", "/cards/"+cardID, "", pci).doc)
			if a["cvc"] != "456" {
				t.Errorf("the stored card's CVC after a write of unknown outcome: %v, want 456 (answer %d)", a["cvc"], w.Code)
			}
			if c.number != "" && a["pan"] != c.number {
				t.Errorf("the stored card's number after a write of unknown outcome: %v (answer %d)", a["pan"], w.Code)
			}
			if c.route {
				if _, err := e.reveal("ACTaccountA", made[0].Alias); err != nil {
					t.Errorf("the alias the stored card's meta holds was released: %v (answer %d)", err, w.Code)
				}
			}
		})
	}
}
