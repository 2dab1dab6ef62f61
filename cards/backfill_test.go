package cards

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/aliasgate/aliasgate/cards/tsp"
	"github.com/aliasgate/aliasgate/internal/obs/obstest"
)

// TestProvisionStored: cards stored before network tokens were on get a
// token a page at a time, published with source "backfill"; a brand
// without a token service is marked unsupported; cards that have or had a
// token are left; a failing token service stops the step without marking
// the card, which the next run provisions; another account is untouched.
func TestProvisionStored(t *testing.T) {
	e := setup(t) // network tokens off: cards stored without tokens
	var ids []string
	for _, p := range []string{"4111111111111111", "5555555555554444", "3530111333300000", "378282246310005", "4000056655665556"} {
		id, _ := e.create(`"pan":"` + p + `","exp_month":4,"exp_year":30`)
		ids = append(ids, id)
	}
	otherID, _ := e.create(`"pan":"4111111111111111","exp_month":4,"exp_year":30`, "X-Test-Account: ACTaccountB")
	// One card had a token the merchant deleted: it is not provisioned again.
	if r := e.do("POST", "/cards/"+ids[4]+"/network-tokens", "", ntw); r.code != 200 {
		t.Fatalf("provision: %d %s", r.code, r.body)
	}
	if code, _ := e.doNoContent("DELETE", "/cards/"+ids[4]+"/network-tokens", ntw); code != 204 {
		t.Fatalf("delete token: %d", code)
	}

	rec := &recordingEvents{}
	sim := tsp.NewSimulator(bytes.Repeat([]byte{5}, 32))
	down := plainProvider{failingTSP{sim}}
	h, err := New(e.store, e.vault, fakeGuard{}, Options{VaultID: "tnt-test", FingerprintKey: e.h.fpKey, Now: e.clk.Now,
		Logger: obstest.Logger(t), TSP: down, Events: rec, Settings: fixedSettings{"ACTaccountA": {NetworkTokens: true}}})
	if err != nil {
		t.Fatal(err)
	}
	e.h = h
	ctx := context.Background()
	// The token service is down: the step stops, nothing is marked failed.
	if _, n, err := h.ProvisionStored(ctx, "ACTaccountA", "", 10); err == nil || n != 0 {
		t.Fatalf("with the token service down: %d, %v", n, err)
	}
	for _, id := range ids[:4] {
		if a := e.cardAttrs(id); a["enrollment_status"] != "not_enrolled" && a["enrollment_status"] != "unsupported" {
			t.Errorf("after a failed step %s: %v", id, a["enrollment_status"])
		}
	}
	// The token service is back: pages of 2 until the end.
	h.tsp = sim
	after, total, steps := "", 0, 0
	for {
		next, n, err := h.ProvisionStored(ctx, "ACTaccountA", after, 2)
		if err != nil {
			t.Fatal(err)
		}
		total += n
		steps++
		if next == "" {
			break
		}
		if steps > 10 {
			t.Fatal("ProvisionStored never ends")
		}
		after = next
	}
	if total != 3 {
		t.Errorf("provisioned %d cards, want 3 (Visa, Mastercard, Amex)", total)
	}
	want := map[string]string{ids[0]: "enrolled", ids[1]: "enrolled", ids[2]: "unsupported", ids[3]: "enrolled", ids[4]: "not_enrolled"}
	for id, st := range want {
		if a := e.cardAttrs(id); a["enrollment_status"] != st {
			t.Errorf("card %s: enrollment %v, want %s", id, a["enrollment_status"], st)
		}
	}
	for _, p := range rec.since(0) {
		if p.typ != EventNetworkTokenCreated || !strings.Contains(string(p.data), `"source":"backfill"`) {
			t.Errorf("event %s %s", p.typ, p.data)
		}
	}
	if rec.count() != 3 {
		t.Errorf("%d events, want 3", rec.count())
	}
	// Again: nothing to do (resumable from the start).
	if _, n, err := h.ProvisionStored(ctx, "ACTaccountA", "", 100); err != nil || n != 0 {
		t.Errorf("second run: %d, %v", n, err)
	}
	// Another account without network tokens is untouched.
	if next, n, err := h.ProvisionStored(ctx, "ACTaccountB", "", 100); err != nil || n != 0 || next != "" {
		t.Errorf("account without network tokens: %q %d %v", next, n, err)
	}
	if a := e.cardAttrs(otherID, "X-Test-Account: ACTaccountB"); a["enrollment_status"] != nil {
		t.Errorf("card of the other account: %v", a["enrollment_status"])
	}
}
