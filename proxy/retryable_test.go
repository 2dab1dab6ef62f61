package proxy

import (
	"context"
	"crypto/x509"
	"net/http"
	"strings"
	"testing"

	"github.com/aliasgate/aliasgate/vault"
)

// TestRevealThatCannotSucceedIsNotVaultUnavailable: an outbound reveal of
// an alias whose record the vault cannot open — its ciphertext moved to
// another alias, or sealed with a data-key version the vault has no key
// for (a key fork after a failover, a row copied without its key) — fails
// the same way at every retry. The proxy answered it 503
// vault_unavailable with Retry-After: 1, so a client retried it for ever
// and an operator looked for an outage, while the vault API answers the
// same failure 500. It must be 500 internal_error without Retry-After, and
// a store that is really away still 503 with Retry-After; nothing reaches
// the processor either way.
func TestRevealThatCannotSucceedIsNotVaultUnavailable(t *testing.T) {
	psp := newTLSUpstream(t, nil)
	for _, tc := range []struct {
		name string
		// alias returns the alias to reveal, after breaking what it must.
		alias      func(t *testing.T, tv *testVault) string
		status     int
		code       string
		retryAfter string
	}{
		{"ciphertext moved to another alias", func(t *testing.T, tv *testVault) string {
			return copyRecord(t, tv, func(r *vault.Record) {})
		}, http.StatusInternalServerError, "internal_error", ""},
		{"data-key version the vault has no key for", func(t *testing.T, tv *testVault) string {
			return copyRecord(t, tv, func(r *vault.Record) { r.KeyVersion = 9 })
		}, http.StatusInternalServerError, "internal_error", ""},
		{"store closed", func(t *testing.T, tv *testVault) string {
			a, _ := aliases(t, tv)
			tv.persistent.Close()
			return a
		}, http.StatusServiceUnavailable, "vault_unavailable", "1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := newOutGateway(t, nil, outOpts{allowPrivate: true, roots: []*x509.Certificate{psp.Certificate()}})
			alias := tc.alias(t, g.vault)
			before := len(psp.requests())
			resp, body := post(t, g.client(), "https://psp.example.com:"+psp.port()+"/v1/charges", "application/json",
				`{"card":{"number":"`+alias+`"}}`)
			if resp.StatusCode != tc.status || !strings.Contains(body, `"`+tc.code+`"`) || resp.Header.Get("Retry-After") != tc.retryAfter {
				t.Errorf("status %d, Retry-After %q: %s; want %d %s, Retry-After %q", resp.StatusCode,
					resp.Header.Get("Retry-After"), body, tc.status, tc.code, tc.retryAfter)
			}
			if n := len(psp.requests()) - before; n != 0 {
				t.Errorf("the processor received %d requests", n)
			}
		})
	}
}

// copyRecord stores a copy of the record of a new persistent alias under
// another alias, without its index entry (edit changes it further), and
// returns the alias of the copy.
func copyRecord(t *testing.T, tv *testVault, edit func(*vault.Record)) string {
	t.Helper()
	ctx := context.Background()
	a, _ := aliases(t, tv)
	recs, err := tv.persistent.Get(ctx, []string{a})
	if err != nil || recs[0] == nil {
		t.Fatalf("get %v: %v", recs, err)
	}
	c := recs[0].Clone()
	c.IndexKey = nil
	c.Alias = "tok_moved_" + strings.Repeat("x", 8)
	edit(c)
	res, err := tv.persistent.Put(ctx, []vault.PutItem{{Record: c}})
	if err != nil || res[0].Status != vault.PutCreated {
		t.Fatalf("put: %v %v", res, err)
	}
	return c.Alias
}
