package cards

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/aliasgate/aliasgate/vault"
)

const acctB = "X-Test-Account: ACTaccountB"

// TestAliasesResolveInTheClientsAccount: pan_alias and cvc_alias of another
// account are unknown aliases, answered exactly as aliases that do not
// exist; the card the API makes from its own account's aliases works.
func TestAliasesResolveInTheClientsAccount(t *testing.T) {
	e := setup(t)
	toks, err := e.vault.Redact(vault.WithAccount(context.Background(), "ACTaccountA"), []vault.RedactRequest{
		{Value: "378282246310005"}, {Value: "1234", Storage: vault.StorageVolatile},
	})
	if err != nil {
		t.Fatal(err)
	}
	body := func(p, c string) string {
		return fmt.Sprintf(`"pan_alias":%q,"cvc_alias":%q,"exp_month":3,"exp_year":2031`, p, c)
	}
	missing := "tok_sandbox_0000000000000000000000"
	for _, hdr := range [][]string{{acctB, pci, reveal}, {acctB}, {acctB, ntw}} {
		foreign := e.do("POST", "/cards", cardBody(body(toks[0].Alias, toks[1].Alias)), hdr...)
		gone := e.do("POST", "/cards", cardBody(body(missing, missing)), hdr...)
		if foreign.code != 422 || foreign.code != gone.code || !bytes.Equal(foreign.body, gone.body) {
			t.Fatalf("%v: foreign aliases %d %s, missing %d %s", hdr, foreign.code, foreign.body, gone.code, gone.body)
		}
	}
	id, r := e.create(body(toks[0].Alias, toks[1].Alias), pci, reveal)
	if a := attrsOf(t, r.doc); a["pan"] != "378282246310005" || a["cvc"] != "1234" {
		t.Fatalf("own aliases: %v", a)
	}
	// The card is acct_A's: acct_B reaches neither it nor its tokens.
	for _, p := range []string{"/cards/" + id, "/cards/" + id + "/network-tokens", "/cards/" + id + "/cryptogram"} {
		method := "POST"
		if p == "/cards/"+id {
			method = "GET"
		}
		if code, _ := e.doNoContent(method, p, acctB, pci, ntw); code != 404 {
			t.Errorf("acct_B %s %s: %d", method, p, code)
		}
	}
}

// TestCardWhosePANIsGoneAnswersAClearError: a card whose PAN alias the
// vault no longer holds (deleted, or a card made before accounts whose
// alias belongs to another account) answers 409 card_data_gone wherever
// the PAN is needed, never 500; what needs no PAN still works.
func TestCardWhosePANIsGoneAnswersAClearError(t *testing.T) {
	e := setup(t)
	id, r := e.create(`"pan":"4111111111111111","exp_month":3,"exp_year":2031`, pci)
	panAlias := attrsOf(t, r.doc)["pan_alias"].(string)
	if err := e.vault.Delete(context.Background(), panAlias); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		method, path string
		hdr          []string
	}{
		{"GET", "/cards/" + id, []string{pci}},
		{"POST", "/cards/" + id + "/network-tokens", []string{ntw}},
	} {
		got := e.do(c.method, c.path, "", c.hdr...)
		if got.code != 409 || !strings.Contains(string(got.body), `"code":"card_data_gone"`) || strings.Contains(string(got.body), "4111111111111111") {
			t.Errorf("%s %s of a card whose PAN is gone: %d %s", c.method, c.path, got.code, got.body)
		}
	}
	if got := e.do("GET", "/cards/"+id, ""); got.code != 200 {
		t.Errorf("a non-PCI read needs no PAN: %d %s", got.code, got.body)
	}
}

// TestAliasUseFindsTheCardsPANAlias: vault.InUse of the cards: the PAN
// alias of a card is in use in its account only; another alias of the same
// PAN, or a value that is no card number, is not.
func TestAliasUseFindsTheCardsPANAlias(t *testing.T) {
	e := setup(t)
	_, r := e.create(`"pan":"4111111111111111","exp_month":3,"exp_year":2031`, pci)
	panAlias := attrsOf(t, r.doc)["pan_alias"].(string)
	u, err := NewAliasUse(e.store, bytes.Repeat([]byte{9}, 32))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, c := range []struct {
		account, alias, value string
		want                  bool
	}{
		{"ACTaccountA", panAlias, "4111111111111111", true},
		{"ACTaccountA", "tok_other", "4111111111111111", false},
		{"ACTaccountB", panAlias, "4111111111111111", false},
		{"ACTaccountA", panAlias, "not a card", false},
		{"ACTaccountA", panAlias, "5555555555554444", false},
	} {
		if got, err := u.AliasInUse(ctx, c.account, c.alias, []byte(c.value)); err != nil || got != c.want {
			t.Errorf("AliasInUse(%s, %s) = %v, %v; want %v", c.account, c.alias, got, err, c.want)
		}
	}
	if _, err := NewAliasUse(e.store, []byte("short")); err == nil {
		t.Error("NewAliasUse took a short key")
	}
}

// TestCardMadeFromAForeignAliasRevealsNothing: a card of acct_B whose
// pan_alias is acct_A's (one made before accounts existed, when pan_alias
// resolved in the whole vault) gives acct_B no PAN, no network token and no
// cryptogram: its PAN is gone for acct_B (409 card_data_gone).
func TestCardMadeFromAForeignAliasRevealsNothing(t *testing.T) {
	e := setup(t)
	id, r := e.create(`"pan":"4111111111111111","exp_month":3,"exp_year":2031`, pci)
	a := attrsOf(t, r.doc)
	// The same record, filed under acct_B, as the code before accounts made it.
	e.store.mu.Lock()
	rec := e.store.cards["ACTaccountA/"+id]
	e.store.mu.Unlock()
	if _, err := e.store.PutCard(context.Background(), "ACTaccountB", id, a["card_fingerprint"].(string), rec); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		method, path, body string
		hdr                []string
	}{
		{"GET", "/cards/" + id, "", []string{acctB, pci}},
		{"POST", "/cards/" + id + "/network-tokens", "", []string{acctB, ntw}},
		{"POST", "/cards/" + id + "/network-tokens", "", []string{acctB, ntw, pci}},
	} {
		got := e.do(c.method, c.path, c.body, c.hdr...)
		if got.code != 409 || !strings.Contains(string(got.body), "card_data_gone") || strings.Contains(string(got.body), "4111111111111111") {
			t.Errorf("acct_B %s %s: %d %s", c.method, c.path, got.code, got.body)
		}
	}
	if code, body := e.doNoContent("POST", "/cards/"+id+"/cryptogram", acctB, ntw); code < 400 || strings.Contains(string(body), "cryptogram\":{") {
		t.Errorf("acct_B cryptogram: %d %s", code, body)
	}
	// acct_A's card is untouched.
	if got := e.do("GET", "/cards/"+id, "", pci); got.code != 200 || attrsOf(t, got.doc)["pan"] != "4111111111111111" {
		t.Errorf("acct_A's card: %d %s", got.code, got.body)
	}
}
