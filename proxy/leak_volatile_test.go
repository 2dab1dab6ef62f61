package proxy

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/aliasgate/aliasgate/routes/rewrite"
	"github.com/aliasgate/aliasgate/vault"
	"github.com/aliasgate/aliasgate/vault/memstore"
)

// volatileAway is a volatile store that cannot be read (Redis away).
type volatileAway struct{ vault.Store }

func (volatileAway) Get(context.Context, []string) ([]*vault.Record, error) {
	return nil, fmt.Errorf("redis: connection refused: %w", vault.ErrUnavailable)
}

// TestLeakGuardWhileOnlyTheVolatileStoreIsAway: while the volatile store
// cannot be read, the vault still tells the aliases its persistent store
// holds (vault.Known answers in part). A message whose card-like numbers
// are all such aliases goes on in every mode; one that also holds a number
// the persistent store does not know (a card number, or a volatile alias
// nobody can check now) is refused with 503 in block mode and has that
// number, and only it, masked in redact mode: no card number ever leaves
// because of a partial answer. Regression cover (passing as found) of the
// block mode of the multi-gateway review's partial answers, which only
// redact mode was tested with.
func TestLeakGuardWhileOnlyTheVolatileStoreIsAway(t *testing.T) {
	p := memstore.New(memstore.Options{SweepInterval: -1})
	v := memstore.New(memstore.Options{SweepInterval: -1})
	t.Cleanup(func() { p.Close(); v.Close() })
	// Aliases made while the volatile store was up.
	made, err := newTestVaultOver(t, p, v, vault.Options{}).tok.Redact(context.Background(), []rewrite.RedactItem{
		{Value: testPAN, Format: "FPE_SIX_T_FOUR"},
		{Value: "4000056655665556", Format: "FPE_SIX_T_FOUR", Storage: "VOLATILE"},
	})
	if err != nil {
		t.Fatal(err)
	}
	stored, volatileAlias := made[0], made[1]
	tv := newTestVaultOver(t, p, volatileAway{v}, vault.Options{})
	upstream := newUpstream(t, nil)
	var doc strings.Builder
	doc.WriteString("routes:\n")
	for _, mode := range []string{"block", "redact"} {
		fmt.Fprintf(&doc, `  - id: %[1]s
    direction: inbound
    host: "*"
    path_prefix: /%[1]s
    upstream: {{UP}}
    leak_guard: %[1]s
    filters:
      - id: f-%[1]s
        operation: redact
        targets: [{json: unused.number}]
`, mode)
	}
	g := newGateway(t, parseRoutes(t, doc.String(), upstream.URL), tv, gwOptions{})
	for _, tc := range []struct {
		mode, what, other string // other: a second number beside the stored alias
		status            int
		reaches           []string // numbers the upstream must receive as sent
		masked            []string // numbers it must not receive
	}{
		{"block", "the stored alias alone", "", http.StatusOK, []string{stored}, nil},
		{"redact", "the stored alias alone", "", http.StatusOK, []string{stored}, nil},
		{"block", "a card number", testPAN2, http.StatusServiceUnavailable, nil, nil},
		{"block", "a volatile alias", volatileAlias, http.StatusServiceUnavailable, nil, nil},
		{"redact", "a card number", testPAN2, http.StatusOK, []string{stored}, []string{testPAN2}},
		{"redact", "a volatile alias", volatileAlias, http.StatusOK, []string{stored}, []string{volatileAlias}},
	} {
		before := len(upstream.requests())
		body := `{"ref":"` + stored + `","other":"` + tc.other + `"}`
		res, b := g.do(t, "POST", "/"+tc.mode+"/pay", "application/json", strings.NewReader(body), nil)
		name := tc.mode + " with " + tc.what
		if res.StatusCode != tc.status {
			t.Errorf("%s: status %d: %s", name, res.StatusCode, b)
			continue
		}
		got := upstream.requests()[before:]
		if tc.status != http.StatusOK {
			if len(got) != 0 || res.Header.Get("Retry-After") == "" {
				t.Errorf("%s: the upstream received %d requests; Retry-After %q", name, len(got), res.Header.Get("Retry-After"))
			}
			continue
		}
		if len(got) != 1 {
			t.Fatalf("%s: the upstream received %d requests", name, len(got))
		}
		for _, n := range tc.reaches {
			if !strings.Contains(string(got[0].Body), n) {
				t.Errorf("%s: the alias was masked: %s", name, got[0].Body)
			}
		}
		for _, n := range tc.masked {
			if strings.Contains(string(got[0].Body), n) {
				t.Errorf("%s: a number the vault could not vouch for left unmasked: %s", name, got[0].Body)
			}
		}
	}
}
