package proxy

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/aliasgate/aliasgate/internal/ratelimit"
	"github.com/aliasgate/aliasgate/routes/rewrite"
)

// TestMaskingGuardIsNoAliasOracle: a route whose leak guard masks
// forwards a live alias as it is and a card number that is no alias
// masked, which the app's answer may tell apart (cmd/aliasgate
// TestLeakGuardIsNoAliasOracle for a guard that blocks). Each masking is
// charged to the sender's budget (InboundOptions.Misses); once it is spent
// the sender's requests carrying a card-like number the route did not
// make are refused 429 too_many_unknown_numbers with Retry-After, the
// live alias too, nothing forwarded; a request without one passes.
func TestMaskingGuardIsNoAliasOracle(t *testing.T) {
	up := newUpstream(t, nil)
	tv := newTestVault(t)
	made, err := tv.tok.Redact(context.Background(), []rewrite.RedactItem{{Value: testPAN, Format: "FPE_SIX_T_FOUR"}})
	if err != nil {
		t.Fatal(err)
	}
	alias := made[0]
	g := newGateway(t, parseRoutes(t, "routes:\n"+inboundRoute("masking", "form", "    leak_guard: redact\n"), up.URL), tv,
		gwOptions{misses: ratelimit.NewPer(1, time.Hour, 2, nil)})
	post := func(number string) (int, string, string) {
		resp, body := g.do(t, "POST", "/form", "application/json", strings.NewReader(`{"card":{"number":"`+number+`"}}`), nil)
		return resp.StatusCode, resp.Header.Get("Retry-After"), string(body)
	}
	if status, _, body := post(alias); status != 200 || !bytes.Contains(up.last(t).Body, []byte(alias)) {
		t.Fatalf("the live alias: %d %s", status, body)
	}
	for range 2 {
		if status, _, body := post(testPAN2); status != 200 || bytes.Contains(up.last(t).Body, []byte(testPAN2)) {
			t.Fatalf("a card number that is no alias: %d %s, upstream got %s", status, body, up.last(t).Body)
		}
	}
	before := len(up.requests())
	for _, n := range []string{alias, testPAN2} {
		status, retry, body := post(n)
		if status != 429 || retry == "" || !strings.Contains(body, "too_many_unknown_numbers") || strings.Contains(body, n) {
			t.Errorf("after the budget is spent: %d (Retry-After %q) %s", status, retry, body)
		}
	}
	if n := len(up.requests()) - before; n != 0 {
		t.Errorf("%d requests forwarded after the budget was spent", n)
	}
	if resp, body := g.do(t, "POST", "/form", "application/json", strings.NewReader(`{"order":"A-17"}`), nil); resp.StatusCode != 200 {
		t.Errorf("a request without a card number: %d %s", resp.StatusCode, body)
	}
}
