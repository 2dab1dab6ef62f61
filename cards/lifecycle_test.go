package cards

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/aliasgate/aliasgate/cards/tsp"
	"github.com/aliasgate/aliasgate/internal/obs/obstest"
	pkgpan "github.com/aliasgate/aliasgate/internal/pan"
	"github.com/aliasgate/aliasgate/vault"
)

// recordingEvents is an Events that keeps what it is given.
type recordingEvents struct {
	mu   sync.Mutex
	got  []published
	fail error
}

type published struct {
	account, typ string
	data         []byte
}

func (r *recordingEvents) Publish(_ context.Context, account, typ string, data []byte) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.got = append(r.got, published{account, typ, bytes.Clone(data)})
	return r.fail
}

// since returns the events published from index n on.
func (r *recordingEvents) since(n int) []published {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]published(nil), r.got[n:]...)
}

func (r *recordingEvents) count() int { r.mu.Lock(); defer r.mu.Unlock(); return len(r.got) }

// lifecycleSetup: account ACTaccountA has network tokens on; the handler
// publishes to a recordingEvents and uses sim.
func lifecycleSetup(t *testing.T) (*env, *recordingEvents, *tsp.Simulator) {
	t.Helper()
	e := setup(t)
	rec := &recordingEvents{}
	sim := tsp.NewSimulator(bytes.Repeat([]byte{4}, 32))
	h, err := New(e.store, e.vault, fakeGuard{}, Options{VaultID: "tnt-test", FingerprintKey: e.h.fpKey, Now: e.clk.Now,
		Logger: obstest.Logger(t), TSP: sim, Events: rec,
		Settings: fixedSettings{"ACTaccountA": {NetworkTokens: true}, "ACTaccountB": {NetworkTokens: true}}})
	if err != nil {
		t.Fatal(err)
	}
	e.h = h
	return e, rec, sim
}

// secrets collects every sensitive value a test sees, to search the events for.
type secrets map[string]bool

func (s secrets) add(v ...any) {
	for _, x := range v {
		if str, ok := x.(string); ok && str != "" {
			s[str] = true
		}
	}
}

// heldBy reports whether the JSON data holds the secret v. A secret of six
// characters or more is searched anywhere; a shorter one (a CVC) only as a
// whole JSON string or number, since its digits occur by chance inside
// random ids (a card_update_id "…-b123-…" holds the CVC 123).
func (s secrets) heldBy(data []byte, v string) bool {
	if len(v) >= 6 {
		return bytes.Contains(data, []byte(v))
	}
	return regexp.MustCompile(`"` + regexp.QuoteMeta(v) + `"|[:,\[]\s*` + regexp.QuoteMeta(v) + `\s*[,}\]]`).Match(data)
}

func (e *env) cardAttrs(id string, hdr ...string) map[string]any {
	e.t.Helper()
	r := e.do("GET", "/cards/"+id, "", hdr...)
	if r.code != 200 {
		e.t.Fatalf("get card: %d %s", r.code, r.body)
	}
	return attrsOf(e.t, r.doc)
}

// tokenOf returns the card's current token's attributes (PCI: with the token PAN), nil when none.
func (e *env) tokenOf(id string) map[string]any {
	e.t.Helper()
	r := e.do("GET", "/cards/"+id+"?include=network_tokens", "", pci)
	inc, _ := r.doc["included"].([]any)
	if r.code != 200 || len(inc) > 1 {
		e.t.Fatalf("get card with token: %d %s", r.code, r.body)
	}
	if len(inc) == 0 {
		return nil
	}
	return inc[0].(map[string]any)["attributes"].(map[string]any)
}

// lastUpdate returns the card's last card update's attributes and its count.
func (e *env) lastUpdate(id string) (map[string]any, int) {
	e.t.Helper()
	r := e.do("GET", "/cards/"+id+"?include=card_updates", "")
	inc, _ := r.doc["included"].([]any)
	if r.code != 200 || len(inc) == 0 {
		return nil, 0
	}
	return inc[len(inc)-1].(map[string]any)["attributes"].(map[string]any), len(inc)
}

func (e *env) reveal(account, alias string) (string, error) {
	out, err := e.vault.Reveal(vault.WithAccount(context.Background(), account), []string{alias})
	if err != nil {
		return "", err
	}
	return out[0].Value, out[0].Err
}

func eventData(t *testing.T, p published) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(p.data, &m); err != nil {
		t.Fatalf("event %s: data is not a JSON object: %s", p.typ, p.data)
	}
	return m
}

// expectEvents checks the types and sources of the events published since n.
func expectEvents(t *testing.T, rec *recordingEvents, n int, want ...string) []published {
	t.Helper()
	got := rec.since(n)
	var names []string
	for _, p := range got {
		names = append(names, p.typ+"/"+fmt.Sprint(eventData(t, p)["source"]))
	}
	if strings.Join(names, " ") != strings.Join(want, " ") {
		t.Fatalf("events %v, want %v", names, want)
	}
	return got
}

// TestNetworkLifecycleEvents raises each network event through Simulate
// (the admin endpoint's entry) on one card: the card and its token change,
// each lands in card_updates with its source, each is published, a
// suspended token makes no cryptogram and pays only by fallback, a
// reissued PAN replaces the card's alias (the old one 404) and
// fingerprint; no published event holds a PAN, token PAN, CVC,
// cryptogram or alias.
func TestNetworkLifecycleEvents(t *testing.T) {
	e, rec, _ := lifecycleSetup(t)
	ctx := context.Background()
	sec := secrets{}
	const oldPAN = "4111111111111111"
	sec.add(oldPAN, "123")

	n := rec.count()
	id, r := e.create(`"pan":"4111111111111111","cvc":"123","exp_month":4,"exp_year":30`, pci)
	a := attrsOf(t, r.doc)
	sec.add(a["pan_alias"], a["cvc_alias"])
	oldAlias, oldCVCAlias := a["pan_alias"].(string), a["cvc_alias"].(string)
	evs := expectEvents(t, rec, n, "card.created/api", "network_token.created/api")
	if d := eventData(t, evs[0]); d["card_id"] != id || d["last4"] != "1111" || d["brand"] != "VISA" ||
		d["exp_month"] != 4.0 || d["exp_year"] != 30.0 {
		t.Errorf("card.created data %v", d)
	}
	if fmt.Sprint(a["capabilities"]) != "[network-tokens card-updates]" {
		t.Errorf("a card with a token: capabilities %v", a["capabilities"])
	}
	tok := e.tokenOf(id)
	tokenPAN := tok["network_token"].(string)
	sec.add(tokenPAN)
	if d := eventData(t, evs[1]); d["card_id"] != id || d["status"] != "active" || d["network_token_id"] == "" {
		t.Errorf("network_token.created data %v", d)
	}
	// A duplicate (303) publishes nothing.
	n = rec.count()
	if r := e.do("POST", "/cards", cardBody(`"pan":"4111111111111111","exp_month":4,"exp_year":30`)); r.code != 303 {
		t.Fatalf("duplicate: %d", r.code)
	}
	expectEvents(t, rec, n)

	sim := func(ev string, newPAN bool, m, y int) SimulateResult {
		t.Helper()
		res, err := e.h.Simulate(ctx, SimulateRequest{Account: "ACTaccountA", CardID: id, Event: ev, NewPAN: newPAN, ExpMonth: m, ExpYear: y})
		if err != nil {
			t.Fatalf("simulate %s: %v", ev, err)
		}
		return res
	}
	cryptogram := func() resp {
		t.Helper()
		r := e.do("POST", "/cards/"+id+"/cryptogram", `{"data":{"attributes":{}}}`, ntw, pci)
		if r.code == 200 {
			sec.add(attrsOf(t, r.doc)["cryptogram"].(map[string]any)["value"])
		}
		return r
	}

	// 1. Token updated: the token's expiry, not the card's.
	n = rec.count()
	res := sim("token-updated", false, 7, 2031)
	if tok := e.tokenOf(id); tok["exp_month"] != 7.0 || tok["exp_year"] != 2031.0 || tok["state"] != "active" {
		t.Errorf("token after token-updated: %v", tok)
	}
	if a := e.cardAttrs(id); a["exp_month"] != 4.0 || a["exp_year"] != 30.0 {
		t.Errorf("card after token-updated: %v", a)
	}
	u, cnt := e.lastUpdate(id)
	if u["event"] != "network-token-update" || fmt.Sprint(u["changed_fields"]) != "[network_token_exp_month network_token_exp_year]" || res.CardUpdateID == "" {
		t.Errorf("card update of token-updated: %v (result %+v)", u, res)
	}
	evs = expectEvents(t, rec, n, "network_token.updated/network-token-update")
	if d := eventData(t, evs[0]); d["exp_month"] != 7.0 || d["exp_year"] != 2031.0 {
		t.Errorf("network_token.updated data %v", d)
	}

	// 2. Suspended: no cryptogram, no token payment; fallback pays with the PAN.
	n = rec.count()
	if res := sim("token-suspended", false, 0, 0); res.NetworkTokenState != "suspended" {
		t.Errorf("suspend result %+v", res)
	}
	if tok := e.tokenOf(id); tok["state"] != "suspended" {
		t.Errorf("token after suspend: %v", tok)
	}
	if u, _ := e.lastUpdate(id); u["event"] != "network-token-status" || fmt.Sprint(u["updated_values"]) != "[map[field_name:network_token_state new_value:suspended old_value:active]]" {
		t.Errorf("card update of suspend: %v", u)
	}
	expectEvents(t, rec, n, "network_token.suspended/network")
	if r := cryptogram(); r.code != 409 || !strings.Contains(string(r.body), "no_active_network_token") {
		t.Errorf("cryptogram of a suspended token: %d %s", r.code, r.body)
	}
	if _, err := e.h.Payment(vault.WithAccount(ctx, "ACTaccountA"), "ACTaccountA", id, false, ""); !errors.Is(err, ErrNoActiveToken) {
		t.Errorf("token payment of a suspended token without fallback: %v", err)
	}
	if v, err := e.h.Payment(vault.WithAccount(ctx, "ACTaccountA"), "ACTaccountA", id, true, ""); err != nil || v.Token || v.PAN != oldPAN {
		t.Errorf("fallback payment of a suspended token: token %v err %v", v.Token, err)
	}
	if r := e.do("POST", "/cards/"+id+"/network-tokens", "", ntw); r.code != 409 || !strings.Contains(string(r.body), "network_token_suspended") {
		t.Errorf("provision while suspended: %d %s", r.code, r.body)
	}

	// 3. Resumed: cryptograms again; a second resume changes nothing.
	n = rec.count()
	sim("token-resumed", false, 0, 0)
	if r := cryptogram(); r.code != 200 {
		t.Errorf("cryptogram after resume: %d %s", r.code, r.body)
	}
	if v, err := e.h.Payment(vault.WithAccount(ctx, "ACTaccountA"), "ACTaccountA", id, false, ""); err != nil || !v.Token || v.PAN != tokenPAN {
		t.Errorf("token payment after resume: token %v err %v", v.Token, err)
	} else {
		sec.add(v.Cryptogram)
	}
	expectEvents(t, rec, n, "network_token.resumed/network")
	// A second resume: the simulator's operator is refused (ErrTokenState);
	// the network delivering the notification again changes nothing.
	_, before := e.lastUpdate(id)
	n = rec.count()
	if _, err := e.h.Simulate(ctx, SimulateRequest{Account: "ACTaccountA", CardID: id, Event: "token-resumed"}); !errors.Is(err, ErrTokenState) {
		t.Errorf("simulate a resume of an active token: %v, want ErrTokenState", err)
	}
	if err := (tokenEvents{e.h}).TokenEvent(ctx, tsp.Event{Type: tsp.EventTokenResumed, TokenPAN: tokenPAN,
		Requestor: requestorRef("ACTaccountA", id)}); err != nil {
		t.Errorf("a resume of an active token delivered again: %v", err)
	}
	if _, after := e.lastUpdate(id); after != before {
		t.Errorf("a resume of an active token: %d → %d card updates", before, after)
	}
	expectEvents(t, rec, n)

	// 4. Card reissued with a new PAN and expiry (account updater).
	n = rec.count()
	res = sim("card-reissued", true, 9, 32)
	a = e.cardAttrs(id, pci)
	newPAN, newAlias := a["pan"].(string), a["pan_alias"].(string)
	sec.add(newPAN, newAlias)
	if !pkgpan.Valid(newPAN) || newPAN == oldPAN || !strings.HasPrefix(newPAN, "411111") || len(newPAN) != 16 ||
		newAlias == oldAlias || a["last4"] != newPAN[12:] || a["exp_month"] != 9.0 || a["exp_year"] != 32.0 ||
		a["cvc_status"] != "none" || res.Last4 != newPAN[12:] {
		t.Fatalf("card after reissue: %v", a)
	}
	if got, err := e.reveal("ACTaccountA", newAlias); err != nil || got != newPAN {
		t.Errorf("new alias: %v", err)
	}
	for _, old := range []string{oldAlias, oldCVCAlias} {
		if _, err := e.reveal("ACTaccountA", old); !errors.Is(err, vault.ErrNotFound) {
			t.Errorf("an old alias still reveals: %v", err)
		}
	}
	if _, ok, _ := e.store.CardByFingerprint(ctx, "ACTaccountA", fingerprint(e.h.fpKey, "ACTaccountA", oldPAN)); ok {
		t.Errorf("the old PAN's fingerprint still names the card")
	}
	if got, ok, _ := e.store.CardByFingerprint(ctx, "ACTaccountA", fingerprint(e.h.fpKey, "ACTaccountA", newPAN)); !ok || got != id {
		t.Errorf("the new PAN's fingerprint: %q %v", got, ok)
	}
	if tok := e.tokenOf(id); tok["network_token"] != tokenPAN || tok["exp_month"] != 9.0 || tok["exp_year"] != 32.0 {
		t.Errorf("token after reissue: the token is kept with the new expiry: %v", tok["exp_month"])
	}
	u, cnt2 := e.lastUpdate(id)
	if cnt2 != cnt+3 || u["event"] != "account-updater" ||
		fmt.Sprint(u["changed_fields"]) != "[exp_month exp_year pan pan_alias first8 last4 card_fingerprint cvc]" {
		t.Errorf("card update of reissue (%d updates): %v", cnt2, u)
	}
	for _, v := range u["updated_values"].([]any) {
		if f := v.(map[string]any)["field_name"]; f != "exp_month" && f != "exp_year" && f != "first8" && f != "last4" {
			t.Errorf("reissue update shows %v", f)
		}
	}
	evs = expectEvents(t, rec, n, "card.updated/account-updater", "network_token.updated/account-updater")
	if d := eventData(t, evs[0]); d["last4"] != newPAN[12:] || d["card_update_id"] != res.CardUpdateID || d["card_update_id"] == "" ||
		fmt.Sprint(d["changed_fields"]) != fmt.Sprint(u["changed_fields"]) {
		t.Errorf("card.updated of reissue: %v", d)
	}
	if r := cryptogram(); r.code != 200 {
		t.Errorf("cryptogram after reissue: %d %s", r.code, r.body)
	}
	// An expiry-only reissue keeps the PAN.
	n = rec.count()
	sim("card-reissued", false, 10, 33)
	if a := e.cardAttrs(id, pci); a["pan"] != newPAN || a["pan_alias"] != newAlias || a["exp_month"] != 10.0 || a["exp_year"] != 33.0 {
		t.Errorf("card after expiry reissue: %v", a)
	}
	expectEvents(t, rec, n, "card.updated/account-updater", "network_token.updated/account-updater")

	// 5. PATCH stays api-update and publishes card.updated (api) and the token's new expiry.
	n = rec.count()
	if r := e.do("PATCH", "/cards/"+id, `{"data":{"attributes":{"exp_month":11}}}`); r.code != 200 {
		t.Fatalf("patch: %d %s", r.code, r.body)
	}
	if u, _ := e.lastUpdate(id); u["event"] != "api-update" {
		t.Errorf("patch update: %v", u)
	}
	expectEvents(t, rec, n, "card.updated/api", "network_token.updated/api")

	// 6. Deleted by the network: its token PAN leaves the vault; no card updates capability.
	tokAlias := tokenAlias(t, e, "ACTaccountA", id)
	sec.add(tokAlias)
	n = rec.count()
	sim("token-deleted", false, 0, 0)
	if tok := e.tokenOf(id); tok != nil {
		t.Errorf("a deleted token is still shown: %v", tok)
	}
	if _, err := e.reveal("ACTaccountA", tokAlias); !errors.Is(err, vault.ErrNotFound) {
		t.Errorf("the deleted token's PAN still reveals: %v", err)
	}
	if a := e.cardAttrs(id); fmt.Sprint(a["capabilities"]) != "[network-tokens]" {
		t.Errorf("capabilities without a token: %v", a["capabilities"])
	}
	expectEvents(t, rec, n, "network_token.deleted/network")
	if _, err := e.h.Simulate(ctx, SimulateRequest{Account: "ACTaccountA", CardID: id, Event: "token-resumed"}); !errors.Is(err, ErrNoNetworkToken) {
		t.Errorf("an event for a card without a token: %v", err)
	}

	// 7. Provision again and delete the card: network_token.deleted and card.deleted.
	if r := e.do("POST", "/cards/"+id+"/network-tokens", "", ntw); r.code != 200 {
		t.Fatalf("provision: %d %s", r.code, r.body)
	}
	sec.add(e.tokenOf(id)["network_token"])
	n = rec.count()
	if code, b := e.doNoContent("DELETE", "/cards/"+id); code != 204 {
		t.Fatalf("delete: %d %s", code, b)
	}
	expectEvents(t, rec, n, "network_token.deleted/api", "card.deleted/api")

	// Nothing sensitive in any event.
	for _, p := range rec.since(0) {
		if p.account != "ACTaccountA" {
			t.Errorf("event %s of account %q", p.typ, p.account)
		}
		if pkgpan.Contains(p.data) {
			t.Errorf("event %s holds a card-like number: %s", p.typ, p.data)
		}
		for s := range sec {
			if sec.heldBy(p.data, s) {
				t.Errorf("event %s holds a secret (%d chars): %s", p.typ, len(s), p.data)
			}
		}
	}
}

// tokenAlias reads the vault alias of the card's current token from the store.
func tokenAlias(t *testing.T, e *env, account, id string) string {
	t.Helper()
	b, ok, err := e.store.GetCard(context.Background(), account, id)
	if err != nil || !ok {
		t.Fatalf("get card record: %v %v", ok, err)
	}
	rec, err := decodeRecord(b)
	if err != nil || rec.currentToken() == nil {
		t.Fatalf("no token: %v", err)
	}
	return rec.currentToken().PANAlias
}

// TestNetworkEventsStayInTheirAccount: a simulated event names the card
// with its account, so another account's card id is not found; an event
// whose token PAN is not the named card's token changes nothing.
func TestNetworkEventsStayInTheirAccount(t *testing.T) {
	e, rec, _ := lifecycleSetup(t)
	ctx := context.Background()
	idA, _ := e.create(`"pan":"4111111111111111","exp_month":4,"exp_year":30`)
	idB, _ := e.create(`"pan":"5555555555554444","exp_month":4,"exp_year":30`, "X-Test-Account: ACTaccountB")
	tokB := tokenOfAccount(t, e, idB, "ACTaccountB")
	n := rec.count()
	for _, req := range []SimulateRequest{
		{Account: "ACTaccountB", CardID: idA, Event: "token-suspended"},
		{Account: "", CardID: idA, Event: "token-suspended"},
		{Account: "ACTaccountA", CardID: "CRDnotacard", Event: "token-suspended"},
	} {
		if _, err := e.h.Simulate(ctx, req); !errors.Is(err, ErrNoSuchCard) {
			t.Errorf("simulate %+v: %v, want ErrNoSuchCard", req, err)
		}
	}
	// The sink: B's token named with A's card.
	err := tokenEvents{e.h}.TokenEvent(ctx, tsp.Event{Type: tsp.EventTokenSuspended, TokenPAN: tokB,
		Requestor: requestorRef("ACTaccountA", idA)})
	if !errors.Is(err, ErrTokenMismatch) {
		t.Errorf("another account's token: %v", err)
	}
	err = tokenEvents{e.h}.TokenEvent(ctx, tsp.Event{Type: tsp.EventTokenSuspended, TokenPAN: tokB,
		Requestor: requestorRef("ACTaccountB", idA)})
	if !errors.Is(err, ErrNoSuchCard) {
		t.Errorf("A's card named in B: %v", err)
	}
	if tok := e.tokenOf(idA); tok["state"] != "active" {
		t.Errorf("A's token: %v", tok["state"])
	}
	expectEvents(t, rec, n)
}

func tokenOfAccount(t *testing.T, e *env, id, account string) string {
	t.Helper()
	r := e.do("GET", "/cards/"+id+"?include=network_tokens", "", pci, "X-Test-Account: "+account)
	inc, _ := r.doc["included"].([]any)
	if len(inc) != 1 {
		t.Fatalf("no token: %d %s", r.code, r.body)
	}
	return inc[0].(map[string]any)["attributes"].(map[string]any)["network_token"].(string)
}

// plainProvider is a tsp.Provider that is not the simulator.
type plainProvider struct{ tsp.Provider }

// TestSimulateRefusals: bad event names and expiries change nothing.
func TestSimulateRefusals(t *testing.T) {
	e, rec, _ := lifecycleSetup(t)
	ctx := context.Background()
	id, _ := e.create(`"pan":"4111111111111111","exp_month":4,"exp_year":30`)
	jcb, _ := e.create(`"pan":"3530111333300000","exp_month":4,"exp_year":30`)
	n := rec.count()
	for _, c := range []struct {
		req  SimulateRequest
		want error
	}{
		{SimulateRequest{Event: "explode"}, ErrInvalidEvent},
		{SimulateRequest{Event: "token-updated"}, ErrInvalidEvent},
		{SimulateRequest{Event: "token-updated", ExpMonth: 13, ExpYear: 2030}, ErrInvalidEvent},
		{SimulateRequest{Event: "token-updated", ExpYear: 31}, ErrInvalidEvent},
		// A month without a year (tsp simulate --exp-month 7 alone): the
		// year 0 read as "00" set the token's expiry to July 2000.
		{SimulateRequest{Event: "token-updated", ExpMonth: 7}, ErrInvalidEvent},
		{SimulateRequest{Event: "card-reissued", ExpMonth: 7}, ErrInvalidEvent},
		{SimulateRequest{Event: "card-reissued", NewPAN: true, ExpMonth: 7}, ErrInvalidEvent},
		{SimulateRequest{Event: "token-suspended", ExpMonth: 5, ExpYear: 31}, ErrInvalidEvent},
		{SimulateRequest{Event: "card-reissued"}, ErrInvalidEvent},
		{SimulateRequest{Event: "token-updated", NewPAN: true, ExpMonth: 5, ExpYear: 31}, ErrInvalidEvent},
		{SimulateRequest{CardID: jcb, Event: "token-suspended"}, ErrNoNetworkToken},
	} {
		c.req.Account = "ACTaccountA"
		if c.req.CardID == "" {
			c.req.CardID = id
		}
		if _, err := e.h.Simulate(ctx, c.req); !errors.Is(err, c.want) {
			t.Errorf("%+v: %v, want %v", c.req, err, c.want)
		}
	}
	if tok := e.tokenOf(id); tok["state"] != "active" || tok["exp_month"] != 4.0 || tok["exp_year"] != 30.0 {
		t.Errorf("token changed: %v", tok)
	}
	expectEvents(t, rec, n)
	// A token service that is not the simulator raises nothing.
	e.h.tsp = plainProvider{tsp.NewSimulator([]byte("k"))}
	if _, err := e.h.Simulate(ctx, SimulateRequest{Account: "ACTaccountA", CardID: id, Event: "token-suspended"}); !errors.Is(err, ErrNoSimulator) {
		t.Errorf("simulate with another token service: %v", err)
	}
}

// TestPublishFailureKeepsTheChange: the change is stored and answered
// even when Events fails.
func TestPublishFailureKeepsTheChange(t *testing.T) {
	e, rec, _ := lifecycleSetup(t)
	rec.fail = errors.New("outbox down")
	id, _ := e.create(`"pan":"4111111111111111","exp_month":4,"exp_year":30`)
	if r := e.do("PATCH", "/cards/"+id, `{"data":{"attributes":{"exp_month":5}}}`); r.code != 200 {
		t.Fatalf("patch: %d %s", r.code, r.body)
	}
	if _, err := e.h.Simulate(context.Background(), SimulateRequest{Account: "ACTaccountA", CardID: id, Event: "token-suspended"}); err != nil {
		t.Fatal(err)
	}
	if a := e.cardAttrs(id); a["exp_month"] != 5.0 {
		t.Errorf("card %v", a)
	}
	if tok := e.tokenOf(id); tok["state"] != "suspended" {
		t.Errorf("token %v", tok)
	}
	if got := rec.count(); got != 5 { // card and token created, card and token updated (PATCH), suspended
		t.Errorf("events attempted: %d, want 5", got)
	}
}

// TestSuspensionAcrossGateways: two gateways on one vault each run their
// own Handler and token service simulator. A token suspended through one
// and resumed through the other makes cryptograms and token payments on
// both again (the card record, which both share, holds the status; a
// suspension remembered by the first gateway's simulator would refuse
// them there until a restart); suspended, both refuse.
func TestSuspensionAcrossGateways(t *testing.T) {
	e, _, _ := lifecycleSetup(t)
	ctx := context.Background()
	second, err := New(e.store, e.vault, fakeGuard{}, Options{VaultID: "tnt-test", FingerprintKey: e.h.fpKey, Now: e.clk.Now,
		Logger: obstest.Logger(t), TSP: tsp.NewSimulator(bytes.Repeat([]byte{4}, 32)), Events: &recordingEvents{},
		Settings: fixedSettings{"ACTaccountA": {NetworkTokens: true}}})
	if err != nil {
		t.Fatal(err)
	}
	gateways := []*Handler{e.h, second}
	id, _ := e.create(`"pan":"4111111111111111","exp_month":4,"exp_year":30`, pci)
	raise := func(g *Handler, ev string) {
		t.Helper()
		if _, err := g.Simulate(ctx, SimulateRequest{Account: "ACTaccountA", CardID: id, Event: ev}); err != nil {
			t.Fatalf("%s: %v", ev, err)
		}
	}
	check := func(step string, want int) {
		t.Helper()
		first := e.h
		for i, g := range gateways {
			e.h = g
			if r := e.do("POST", "/cards/"+id+"/cryptogram", `{"data":{"attributes":{}}}`, ntw, pci); r.code != want {
				t.Errorf("%s: cryptogram on gateway %d: %d %s, want %d", step, i, r.code, r.body, want)
			}
			v, err := g.Payment(vault.WithAccount(ctx, "ACTaccountA"), "ACTaccountA", id, false, "")
			if ok := err == nil && v.Token; ok != (want == 200) {
				t.Errorf("%s: token payment on gateway %d: token %v, %v", step, i, v.Token, err)
			}
		}
		e.h = first
	}
	raise(gateways[0], "token-suspended")
	check("suspended through gateway 0", 409)
	raise(gateways[1], "token-resumed")
	check("resumed through gateway 1", 200)
	raise(gateways[1], "token-suspended")
	raise(gateways[0], "token-resumed")
	check("suspended through 1, resumed through 0", 200)
}

// TestSecretsHeldBy: the search of the events finds a CVC as a value, not
// as three digits inside a random id.
func TestSecretsHeldBy(t *testing.T) {
	sec := secrets{}
	for _, tc := range []struct {
		data string
		v    string
		want bool
	}{
		{`{"cvc":"123"}`, "123", true},
		{`{"cvc":123}`, "123", true},
		{`{"x":[1, 123 ]}`, "123", true},
		{`{"card_update_id":"ea3c4802-b123-4327"}`, "123", false},
		{`{"last4":"1234"}`, "123", false},
		{`{"alias":"tok_4111abcdef"}`, "4111abcdef", true},
		{`{"id":"x4111abcdefy"}`, "4111abcdef", true},
	} {
		if got := sec.heldBy([]byte(tc.data), tc.v); got != tc.want {
			t.Errorf("heldBy(%s, %q) = %v, want %v", tc.data, tc.v, got, tc.want)
		}
	}
}
