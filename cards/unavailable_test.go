package cards

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/aliasgate/aliasgate/vault"
)

// downStore is a card store whose database is gone.
type downStore struct{ *memStore }

var errDown = fmt.Errorf("pgstore: get card: %w", vault.ErrUnavailable)

func (downStore) PutCard(context.Context, string, string, string, []byte) (string, error) {
	return "", errDown
}
func (downStore) GetCard(context.Context, string, string) ([]byte, bool, error) {
	return nil, false, errDown
}

// TestStoreOutageAnswers503 checks that a store that cannot be reached
// gives 503 (retry later), not 500, and that the error body holds nothing
// of the request.
func TestStoreOutageAnswers503(t *testing.T) {
	e := setup(t)
	h, err := New(downStore{newMemStore()}, e.vault, fakeGuard{}, Options{VaultID: "tnt-test", FingerprintKey: make([]byte, 32), Logger: e.h.log})
	if err != nil {
		t.Fatal(err)
	}
	e.h = h
	for _, c := range []struct{ method, path, body string }{
		{"POST", "/cards", cardBody(`"pan":"4111111111111111","cvc":"123","exp_month":12,"exp_year":2031`)},
		{"GET", "/cards/CRDabcdefghijkmnopqrstuvw", ""},
	} {
		r := e.do(c.method, c.path, c.body, pci)
		if r.code != http.StatusServiceUnavailable || !strings.Contains(string(r.body), "vault_unavailable") {
			t.Errorf("%s %s with the store down: %d %s, want 503 vault_unavailable", c.method, c.path, r.code, r.body)
		}
		if strings.Contains(string(r.body), "4111") {
			t.Errorf("%s %s: the error body holds card data: %s", c.method, c.path, r.body)
		}
	}
}
