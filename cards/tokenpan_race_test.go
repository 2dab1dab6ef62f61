package cards

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/aliasgate/aliasgate/cards/tsp"
	"github.com/aliasgate/aliasgate/vault"
)

// TestTokenPANCardRacesTheTokensRetirement: the retirement of a network
// token (its DELETE, its card's DELETE, a token-deleted event) runs at
// once with creates of cards whose number is that token PAN, in the
// token's account and in another. Whatever the order: every card created
// keeps its number, the token is deleted at the token service, and once
// every card is deleted no alias of the token PAN is left in either
// account's vault.
func TestTokenPANCardRacesTheTokensRetirement(t *testing.T) {
	raw := func(e *deleteEnv, method, path, body string, hdr ...string) (int, []byte) {
		r := httptest.NewRequest(method, path, strings.NewReader(body))
		if body != "" {
			r.Header.Set("Content-Type", "application/vnd.api+json")
		}
		for _, h := range hdr {
			k, v, _ := strings.Cut(h, ": ")
			r.Header.Set(k, v)
		}
		w := httptest.NewRecorder()
		e.h.ServeHTTP(w, r)
		return w.Code, w.Body.Bytes()
	}
	idOf := func(b []byte) string {
		var d struct{ Data struct{ ID string } }
		_ = json.Unmarshal(b, &d)
		return d.Data.ID
	}
	const other = "X-Test-Account: ACTaccountB"
	for i := 0; i < 30; i++ {
		e := deleteSetup(t)
		e.t = t
		a, _ := e.create(`"pan":"4111111111111111","exp_month":4,"exp_year":2030`, pci)
		r := e.do("POST", "/cards/"+a+"/network-tokens", "", pci, ntw)
		if r.code != http.StatusOK {
			t.Fatalf("provision: %d %s", r.code, r.body)
		}
		tokenPAN := attrsOf(t, r.doc)["network_token"].(string)
		create := `{"data":{"type":"cards","attributes":{"pan":"` + tokenPAN + `","exp_month":4,"exp_year":2030}}}`

		var wg sync.WaitGroup
		var mu sync.Mutex
		made := map[string][]string{} // account header → card ids
		codes := map[string]int{}
		run := func(name string, f func() (int, []byte)) {
			wg.Add(1)
			go func() {
				defer wg.Done()
				code, body := f()
				mu.Lock()
				defer mu.Unlock()
				codes[name] = code
				if strings.HasPrefix(name, "create") && (code == 201 || code == 200) {
					acct := strings.TrimPrefix(name, "create ")
					made[acct] = append(made[acct], idOf(body))
				}
			}()
		}
		run("delete token", func() (int, []byte) { return raw(e, "DELETE", "/cards/"+a+"/network-tokens", "", ntw) })
		run("delete card", func() (int, []byte) { return raw(e, "DELETE", "/cards/"+a, "", ntw) })
		run("event", func() (int, []byte) {
			_, err := e.h.Simulate(context.Background(), SimulateRequest{Account: "ACTaccountA", CardID: a, Event: "token-deleted"})
			if err != nil {
				return 1, []byte(err.Error())
			}
			return 0, nil
		})
		run("create A", func() (int, []byte) { return raw(e, "POST", "/cards", create, pci) })
		run("create B", func() (int, []byte) { return raw(e, "POST", "/cards", create, pci, other) })
		wg.Wait()

		for _, c := range []string{"delete token", "delete card"} {
			if codes[c] >= 500 {
				t.Fatalf("run %d: %s answered %d", i, c, codes[c])
			}
		}
		if code, body := raw(e, "DELETE", "/cards/"+a, "", ntw); code != http.StatusNoContent && code != http.StatusNotFound {
			t.Fatalf("run %d: delete the token's card again: %d %s", i, code, body)
		}
		if err := e.sim.Update(context.Background(), tokenPAN, "4", "2030"); !errors.Is(err, tsp.ErrDeleted) {
			t.Fatalf("run %d: the token at the token service: %v (codes %v)", i, err, codes)
		}
		for acct, ids := range map[string][]string{"": made["A"], other: made["B"]} {
			for _, id := range ids {
				code, body := raw(e, "GET", "/cards/"+id, "", pci, acct)
				if code != 200 || !strings.Contains(string(body), `"pan":"`+tokenPAN+`"`) {
					t.Fatalf("run %d: card %s of %q lost its number: %d %s (codes %v)", i, id, acct, code, body, codes)
				}
				if code, body := raw(e, "DELETE", "/cards/"+id, "", ntw, acct); code != http.StatusNoContent && code != http.StatusNotFound {
					t.Fatalf("run %d: delete %s: %d %s", i, id, code, body)
				}
			}
		}
		for _, acct := range []string{"ACTaccountA", "ACTaccountB"} {
			ctx := vault.WithAccount(vault.WithClient(context.Background(), "ACHtestclient"), acct)
			toks, err := e.vault.Redact(ctx, []vault.RedactRequest{{Value: tokenPAN, Format: vault.FormatUUID, Storage: vault.StoragePersistent}})
			if err != nil || !toks[0].Created {
				t.Fatalf("run %d: an alias of the token PAN was left in %s's vault with no card: %v (codes %v, made %v)", i, acct, err, codes, made)
			}
		}
	}
}

// TestCardOfATokenPANDeletedBeforeTheToken: a card stored with a token PAN
// (it got the token's alias) and deleted while the token lives leaves the
// token its PAN: the token still makes cryptograms, and its DELETE then
// takes the PAN out of the vault.
func TestCardOfATokenPANDeletedBeforeTheToken(t *testing.T) {
	e := deleteSetup(t)
	a, _ := e.create(`"pan":"4111111111111111","exp_month":4,"exp_year":2030`, pci)
	r := e.do("POST", "/cards/"+a+"/network-tokens", "", pci, ntw)
	if r.code != http.StatusOK {
		t.Fatalf("provision: %d %s", r.code, r.body)
	}
	tokenPAN := attrsOf(t, r.doc)["network_token"].(string)
	b, _ := e.create(`"pan":"`+tokenPAN+`","exp_month":4,"exp_year":2030`, pci)
	if code, body := e.doNoContent("DELETE", "/cards/"+b, ntw); code != http.StatusNoContent {
		t.Fatalf("delete the card of the token PAN: %d %s", code, body)
	}
	if r := e.do("POST", "/cards/"+a+"/cryptogram", `{"data":{"attributes":{}}}`, pci, ntw); r.code != http.StatusOK && r.code != http.StatusCreated {
		t.Fatalf("the token's cryptogram after the other card's delete: %d %s", r.code, r.body)
	}
	if code, body := e.doNoContent("DELETE", "/cards/"+a+"/network-tokens", ntw); code != http.StatusNoContent {
		t.Fatalf("delete the token: %d %s", code, body)
	}
	ctx := vault.WithAccount(vault.WithClient(context.Background(), "ACHtestclient"), "ACTaccountA")
	toks, err := e.vault.Redact(ctx, []vault.RedactRequest{{Value: tokenPAN, Format: vault.FormatUUID, Storage: vault.StoragePersistent}})
	if err != nil || !toks[0].Created {
		t.Fatalf("the token PAN outlived the token and the card: %v", err)
	}
}
