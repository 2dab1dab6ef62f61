package auth

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/aliasgate/aliasgate/internal/pan"
)

// TestClientNamesRefuseCardNumbersInEverySpelling: a client's name or
// account holding a card number, in any spelling pan.Find knows, is
// refused (issue 17: stored free text refuses card data); the error names
// the field and does not repeat the value.
func TestClientNamesRefuseCardNumbersInEverySpelling(t *testing.T) {
	spellings := map[string]string{
		"plain":        "shop 4111111111111111",
		"grouped":      "4111 1111 1111 1111",
		"dashed":       "4111-1111-1111-1111",
		"dotted":       "4111.1111.1111.1111",
		"no-break":     "4111\u00a01111\u202f1111\u00a01111",
		"full-width":   "shop ４１１１１１１１１１１１１１１１",
		"json escapes": `\u0034\u0031\u0031\u0031111111111111`,
		"percent":      "%34%31%31%31+1111%201111-1111",
		"html escapes": "&#52;&#x31;&#49;1&nbsp;1111 1111 1111",
	}
	for name, sp := range spellings {
		for _, field := range []string{"name", "account"} {
			t.Run(name+"/"+field, func(t *testing.T) {
				f := newFixture(t)
				spec := ClientSpec{Name: "shop", Account: "acct_1", Scopes: []string{ScopeCardsRead}}
				if field == "name" {
					spec.Name = sp
				} else {
					spec.Account = sp
				}
				_, _, err := f.svc.CreateClient(context.Background(), spec)
				if !errors.Is(err, ErrInvalidClientSpec) {
					t.Fatalf("err = %v, want ErrInvalidClientSpec", err)
				}
				msg := err.Error()
				if !strings.Contains(msg, field) {
					t.Errorf("the error does not name the field %s", field)
				}
				if strings.Contains(msg, sp) || pan.ContainsString(msg) {
					t.Errorf("the error repeats the value")
				}
				if len(f.store.m) != 0 {
					t.Error("the client was stored")
				}
			})
		}
	}
	// A name with short numbers is still accepted.
	f := newFixture(t)
	f.create(t, ClientSpec{Name: "shop 42 - EU 2026.11", Account: "acct-4111.2", Scopes: []string{ScopeCardsRead}})
}
