package vaultapi_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/aliasgate/aliasgate/vault"
	"github.com/aliasgate/aliasgate/vaultapi"
)

// TestValuesThatAreNotTextAreNotAnsweredAsOtherText: a route's filter
// redacts a value whole, whatever its bytes (a form field's %E9, a regex
// match in a body that is not UTF-8), so the vault holds values that are
// not UTF-8 text. A JSON answer cannot hold them: encoding/json wrote each
// bad byte as U+FFFD, so GET /aliases/{alias} answered 200 with "caf\uFFFD"
// for the stored "caf\xe9", the same text for "caf\xe8", and a client
// copying the value kept other data than the vault's. Such a value is
// refused (422 value_not_text, naming the alias's place in the request,
// never the bytes) by every answer that would hold it; the others answer
// as before.
func TestValuesThatAreNotTextAreNotAnsweredAsOtherText(t *testing.T) {
	var svc *vault.Service
	e := setup(t, func(v vaultapi.Vault) vaultapi.Vault { svc = v.(*vault.Service); return v })
	// What a route of the account stores (vaulttok → Service.Redact).
	ctx := vault.WithAccount(context.Background(), "acct")
	toks, err := svc.Redact(ctx, []vault.RedactRequest{{Value: "caf\xe9"}, {Value: "caf\xe8", Storage: vault.StorageVolatile}, {Value: "café"}})
	if err != nil {
		t.Fatal(err)
	}
	bad1, bad2, good := toks[0].Alias, toks[1].Alias, toks[2].Alias

	check := func(name string, r resp, pointer, parameter string) {
		t.Helper()
		var doc errorDoc
		if r.status != 422 || json.Unmarshal(r.body, &doc) != nil || len(doc.Errors) == 0 || doc.Errors[0].Code != "value_not_text" {
			t.Errorf("%s: %d %q, want 422 value_not_text", name, r.status, r.body)
			return
		}
		if doc.Errors[0].Source.Pointer != pointer || doc.Errors[0].Source.Parameter != parameter {
			t.Errorf("%s: source %+v, want pointer %q parameter %q", name, doc.Errors[0].Source, pointer, parameter)
		}
		if strings.Contains(string(r.body), "caf") || strings.Contains(string(r.body), "\ufffd") || strings.Contains(string(r.body), `\ufffd`) {
			t.Errorf("%s: the answer holds the value: %s", name, r.body)
		}
	}
	check("GET one", e.do(t, "GET", "/aliases/"+bad1, e.reveal, "", ""), "", "")
	check("GET one, volatile", e.do(t, "GET", "/aliases/"+bad2, e.reveal, "", ""), "", "")
	check("GET many", e.do(t, "GET", "/aliases?q="+good+","+bad2, e.reveal, "", ""), "", "q")
	check("create from an alias", e.do(t, "POST", "/aliases", e.both, "application/json",
		`{"data":[{"alias":"`+good+`","format":"RAW_UUID"},{"alias":"`+bad1+`","format":"RAW_UUID"}]}`), "/data/1/alias", "")

	// The text values answer as before; the refused create wrote nothing
	// (the text value got no RAW_UUID alias).
	if r := e.do(t, "GET", "/aliases/"+good, e.reveal, "", ""); r.status != 200 || !strings.Contains(string(r.body), `"value":"café"`) ||
		strings.Contains(string(r.body), "RAW_UUID") {
		t.Errorf("GET of a text value: %d %s", r.status, r.body)
	}
	if r := e.do(t, "GET", "/aliases?q="+good, e.reveal, "", ""); r.status != 200 || !strings.Contains(string(r.body), `"value":"café"`) {
		t.Errorf("GET many of a text value: %d %s", r.status, r.body)
	}
}
