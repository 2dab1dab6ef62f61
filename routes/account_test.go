package routes

import (
	"slices"
	"strings"
	"testing"
)

func TestRouteAccountKeys(t *testing.T) {
	inbound := func(extra string) string {
		return "routes:\n  - id: in\n    direction: inbound\n    host: \"*\"\n    upstream: http://127.0.0.1:1\n" + extra
	}
	outbound := func(extra string) string {
		return "routes:\n  - id: out\n    direction: outbound\n    host: psp.example\n" + extra
	}
	for _, tc := range []struct {
		name, doc string
		account   string
		accounts  []string
		err       string
	}{
		{"inbound default", inbound(""), "", nil, ""},
		{"inbound account", inbound("    account: acct_1\n"), "acct_1", nil, ""},
		{"inbound bad account", inbound("    account: acct 1\n"), "", nil, "route in: account: invalid account name"},
		{"inbound card-like account", inbound("    account: \"4111111111111111\"\n"), "", nil, "must not hold a card number"},
		{"inbound accounts", inbound("    accounts: [acct_1]\n"), "", nil, "accounts is for outbound routes"},
		{"outbound every client", outbound(""), "", nil, ""},
		{"outbound narrowed", outbound("    accounts: [acct_1, acct_2]\n"), "", []string{"acct_1", "acct_2"}, ""},
		{"outbound account", outbound("    account: acct_1\n"), "", nil, "account is for inbound routes"},
		{"outbound empty list", outbound("    accounts: []\n"), "", nil, "want a non-empty list"},
		{"outbound not a list", outbound("    accounts: acct_1\n"), "", nil, "want a non-empty list"},
		{"outbound bad name", outbound("    accounts: [ok, \"no way\"]\n"), "", nil, "accounts: invalid account name"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			set, err := Parse([]byte(tc.doc), "t.yaml", Options{})
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err %v, want %q", err, tc.err)
				}
				if strings.Contains(err.Error(), "4111111111111111") {
					t.Fatal("the error echoes a card number")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			r := set.Routes[0]
			if r.Account != tc.account || !slices.Equal(r.Accounts, tc.accounts) {
				t.Fatalf("Account %q Accounts %v", r.Account, r.Accounts)
			}
		})
	}
	set, err := Parse([]byte(outbound("    accounts: [acct_1]\n")), "t.yaml", Options{})
	if err != nil {
		t.Fatal(err)
	}
	if r := set.Routes[0]; !r.AllowsAccount("acct_1") || r.AllowsAccount("acct_2") || r.AllowsAccount("") {
		t.Fatal("AllowsAccount does not follow accounts")
	}
	set, _ = Parse([]byte(outbound("")), "t.yaml", Options{})
	if !set.Routes[0].AllowsAccount("anyone") {
		t.Fatal("a route without accounts refuses a client")
	}
}
