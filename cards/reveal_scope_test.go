package cards

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/aliasgate/aliasgate/vault"
)

// TestPCIClientWithoutRevealScopeCannotTurnAnAliasIntoItsValue: a PCI
// client shows pan and cvc in clear, so a card made (or a CVC changed)
// from an alias would hand it the alias's value: naming pan_alias or
// cvc_alias needs aliases:reveal from a PCI client (403 before the vault is
// asked, the same answer for a known and an unknown alias); a client that
// is not PCI sees no clear data and may name aliases with cards:write
// alone (the front-end flow); a PCI client holding aliases:reveal may too.
func TestPCIClientWithoutRevealScopeCannotTurnAnAliasIntoItsValue(t *testing.T) {
	e := setup(t)
	const p, c = "378282246310005", "1234"
	toks, err := e.vault.Redact(context.Background(), []vault.RedactRequest{
		{Value: p, Storage: vault.StoragePersistent}, {Value: c, Storage: vault.StorageVolatile},
		{Value: "9876", Storage: vault.StorageVolatile},
	})
	if err != nil {
		t.Fatal(err)
	}
	panAlias, cvcAlias, cvc2Alias := toks[0].Alias, toks[1].Alias, toks[2].Alias
	const missing = "tok_sandbox_0000000000000000000000"
	noReveal := "X-Test-Scopes: cards:read cards:write network-tokens:write"
	withReveal := reveal
	leaks := func(r resp) bool {
		return strings.Contains(string(r.body), p) || strings.Contains(string(r.body), `"`+c+`"`)
	}

	// A card of the same number made from the clear PAN by someone else:
	// the alias must not lead to it (303) either.
	e.create(`"pan":"`+p+`","exp_month":3,"exp_year":2031`, pci)
	cards := len(e.store.cards)
	attrs := func(pa, ca string) string {
		s := fmt.Sprintf(`"pan_alias":%q,"exp_month":3,"exp_year":2031`, pa)
		if ca != "" {
			s += fmt.Sprintf(`,"cvc_alias":%q`, ca)
		}
		return s
	}
	for _, a := range []string{attrs(panAlias, cvcAlias), attrs(panAlias, ""), attrs(missing, ""),
		fmt.Sprintf(`"pan":"4111111111111111","cvc_alias":%q,"exp_month":3,"exp_year":2031`, cvcAlias)} {
		r := e.do("POST", "/cards", cardBody(a), pci, noReveal)
		if r.code != 403 || leaks(r) || !strings.Contains(string(r.body), "aliases:reveal") {
			t.Fatalf("PCI create from an alias without aliases:reveal: %d %s", r.code, r.body)
		}
	}
	if n := len(e.store.cards); n != cards {
		t.Fatalf("a refused create stored %d cards", n-cards)
	}
	// Not PCI: allowed (a duplicate of the card above: 303), no clear data.
	r := e.do("POST", "/cards", cardBody(attrs(panAlias, cvcAlias)), noReveal)
	if r.code != 303 || leaks(r) {
		t.Fatalf("non-PCI create from aliases: %d %s", r.code, r.body)
	}
	id := r.doc["data"].(map[string]any)["id"].(string)
	if r = e.do("GET", "/cards/"+id, "", noReveal); r.code != 200 || leaks(r) {
		t.Fatalf("non-PCI create from aliases: %d %s", r.code, r.body)
	}
	// PATCH with a cvc_alias: the same rule.
	r = e.do("PATCH", "/cards/"+id, fmt.Sprintf(`{"data":{"type":"cards","id":%q,"attributes":{"cvc_alias":%q}}}`, id, cvc2Alias), pci, noReveal)
	if r.code != 403 || strings.Contains(string(r.body), "9876") {
		t.Fatalf("PCI patch with a cvc_alias without aliases:reveal: %d %s", r.code, r.body)
	}
	// With aliases:reveal a PCI client may.
	r = e.do("PATCH", "/cards/"+id, fmt.Sprintf(`{"data":{"type":"cards","id":%q,"attributes":{"cvc_alias":%q}}}`, id, cvc2Alias), pci, withReveal)
	if a := attrsOf(t, r.doc); r.code != 200 || a["cvc"] != "9876" || a["pan"] != p {
		t.Fatalf("PCI patch with a cvc_alias and aliases:reveal: %d %s", r.code, r.body)
	}
}

// TestWriteOnlyPrincipalIsShownNoClearCardData: clear pan, cvc and token
// PAN are what GET /cards/{id} shows a PCI client, behind cards:read; the
// answers of writes (POST, PATCH, network-token provisioning) carry them only
// for a principal that could GET them. A PCI client's token asked for with
// cards:write or network-tokens:write alone read any card of the account in
// clear with an empty PATCH (or a provisioning) before.
func TestWriteOnlyPrincipalIsShownNoClearCardData(t *testing.T) {
	e := setup(t)
	const p, c = "4111111111111111", "123"
	id, _ := e.create(`"pan":"`+p+`","cvc":"`+c+`","exp_month":3,"exp_year":2031`, pci)
	leaks := func(r resp) bool {
		return strings.Contains(string(r.body), p) || strings.Contains(string(r.body), `"cvc":"`) ||
			strings.Contains(string(r.body), `"network_token":"`)
	}
	writeOnly := "X-Test-Scopes: cards:write network-tokens:write"
	patch := fmt.Sprintf(`{"data":{"type":"cards","id":%q,"attributes":{}}}`, id)
	if r := e.do("PATCH", "/cards/"+id, patch, pci, writeOnly); r.code != 200 || leaks(r) {
		t.Errorf("PATCH by a write-only PCI principal: %d %s", r.code, r.body)
	}
	if r := e.do("POST", "/cards/"+id+"/network-tokens", "", pci, writeOnly); r.code != 200 || leaks(r) {
		t.Errorf("provisioning by a write-only PCI principal: %d %s", r.code, r.body)
	}
	if r := e.do("POST", "/cards", cardBody(`"pan":"5555555555554444","cvc":"456","exp_month":3,"exp_year":2031`), pci, writeOnly); r.code != 201 || strings.Contains(string(r.body), "5555555555554444") {
		t.Errorf("POST by a write-only PCI principal: %d %s", r.code, r.body)
	}
	// With cards:read the same calls show them.
	if r := e.do("PATCH", "/cards/"+id, patch, pci, reveal); r.code != 200 || !strings.Contains(string(r.body), p) {
		t.Errorf("PATCH by a PCI principal with cards:read: %d %s", r.code, r.body)
	}
	if r := e.do("POST", "/cards/"+id+"/network-tokens", "", pci, reveal); r.code != 200 || !strings.Contains(string(r.body), `"network_token":"`) {
		t.Errorf("provisioning by a PCI principal with cards:read: %d %s", r.code, r.body)
	}
}
