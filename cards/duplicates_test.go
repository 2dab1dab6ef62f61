package cards

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aliasgate/aliasgate/cards/tsp"
	"github.com/aliasgate/aliasgate/internal/obs/obstest"
	"github.com/aliasgate/aliasgate/vault"
)

// mutableSettings are account settings a test changes between requests.
type mutableSettings struct {
	mu sync.Mutex
	m  map[string]AccountSettings
}

func (s *mutableSettings) CardSettings(account string) AccountSettings {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.m[account]
}

func (s *mutableSettings) set(account string, a AccountSettings) {
	s.mu.Lock()
	s.m[account] = a
	s.mu.Unlock()
}

// countingWatch is a DuplicateWatch that throttles after limit duplicates.
type countingWatch struct {
	mu    sync.Mutex
	n     int
	limit int
}

func (w *countingWatch) NoteDuplicate(context.Context) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.n++
	if w.n > w.limit {
		return &vault.ThrottleError{RetryAfter: time.Minute, Limit: "duplicates"}
	}
	return nil
}

func (w *countingWatch) count() int { w.mu.Lock(); defer w.mu.Unlock(); return w.n }

// dupSetup is deleteSetup (the vault asks AliasUse before deleting an
// alias) with settings, a duplicate watch and network tokens on in
// ACTaccountA, duplicate detection off there.
func dupSetup(t *testing.T) (*deleteEnv, *mutableSettings, *countingWatch) {
	t.Helper()
	e := deleteSetup(t)
	s := &mutableSettings{m: map[string]AccountSettings{
		"ACTaccountA": {NetworkTokens: true, DuplicateDetectionOff: true}}}
	w := &countingWatch{limit: 1000}
	h, err := New(e.store, e.vault, fakeGuard{}, Options{VaultID: "tnt-test", FingerprintKey: e.h.fpKey, Now: e.clk.Now,
		Logger: obstest.Logger(t), TSP: e.sim, Settings: s, Duplicates: w})
	if err != nil {
		t.Fatal(err)
	}
	e.h = h
	return e, s, w
}

// storedRecord returns the raw stored record of card id in ACTaccountA.
func storedRecord(t *testing.T, e *env, id string) map[string]any {
	t.Helper()
	b, ok, err := e.store.GetCard(context.Background(), "ACTaccountA", id)
	if err != nil || !ok {
		t.Fatalf("get card record %s: %v %v", id, ok, err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func (e *env) listIDs(query string) []string {
	e.t.Helper()
	r := e.do("GET", "/cards?"+query, "")
	if r.code != 200 {
		e.t.Fatalf("list %s: %d %s", query, r.code, r.body)
	}
	var ids []string
	for _, d := range r.doc["data"].([]any) {
		ids = append(ids, d.(map[string]any)["id"].(string))
	}
	return ids
}

// TestDuplicateDetectionOffMakesCardsThatShareTheAlias: with detection
// off, a card number posted twice makes two cards (201, 201) with one
// card_fingerprint and one pan_alias, each its own CVC alias and network
// token, indexed each under its own key; the fingerprint filter lists
// both; the vault refuses to delete the shared alias (alias_in_use) while
// any card has it; deleting one card leaves the other's number revealable,
// deleting both removes it; the second create was counted as a duplicate.
func TestDuplicateDetectionOffMakesCardsThatShareTheAlias(t *testing.T) {
	e, _, watch := dupSetup(t)
	const p = "4111111111111111"
	id1, r1 := e.create(`"pan":"`+p+`","cvc":"123","exp_month":4,"exp_year":2031`, pci)
	e.clk.Add(time.Second)
	id2, r2 := e.create(`"pan":"`+p+`","cvc":"456","exp_month":4,"exp_year":2031`, pci)
	a1, a2 := attrsOf(t, r1.doc), attrsOf(t, r2.doc)
	if id1 == id2 || a1["card_fingerprint"] != a2["card_fingerprint"] || a1["pan_alias"] != a2["pan_alias"] ||
		a1["cvc_alias"] == a2["cvc_alias"] || a2["pan"] != p || a2["cvc"] != "456" {
		t.Fatalf("two cards of one number:\n%v\n%v", a1, a2)
	}
	if watch.count() != 1 {
		t.Errorf("duplicates counted: %d, want 1 (the second create)", watch.count())
	}
	fp, alias := a1["card_fingerprint"].(string), a1["pan_alias"].(string)
	if k := storedRecord(t, e.env, id2)["index_key"]; k != fp+"/"+id2 {
		t.Errorf("index_key of the second card = %v", k)
	}
	tok1, tok2 := e.tokenOf(id1), e.tokenOf(id2)
	if tok1 == nil || tok2 == nil || tok1["network_token"] == tok2["network_token"] {
		t.Fatalf("each card gets its own network token: %v / %v", tok1, tok2)
	}
	want := []string{id1, id2}
	slices.Sort(want)
	if got := e.listIDs("filter%5Bcard_fingerprint%5D=" + fp); !slices.Equal(got, want) {
		t.Errorf("fingerprint filter = %v, want %v", got, want)
	}
	if got := e.listIDs("filter%5Bcard_fingerprint%5D=" + fp + "&page%5Bsize%5D=1"); len(got) != 1 || got[0] != want[0] {
		t.Errorf("fingerprint filter, page of 1 = %v", got)
	}
	if r := e.do("GET", "/cards?filter%5Bcard_fingerprint%5D="+fp+"%2F"+id2, ""); r.code != 400 {
		t.Errorf("a fingerprint filter holding the index separator: %d", r.code)
	}
	ctxA := vault.WithAccount(vault.WithClient(context.Background(), "ACHtestclient"), "ACTaccountA")
	if err := e.vault.Delete(ctxA, alias); !errors.Is(err, vault.ErrInUse) {
		t.Fatalf("vault Delete of the shared alias: %v, want ErrInUse", err)
	}

	if code, _ := e.doNoContent("DELETE", "/cards/"+id1); code != 204 {
		t.Fatalf("delete the first card: %d", code)
	}
	if err := e.revealAs(alias); err != nil {
		t.Fatalf("the other card's alias after deleting one: %v", err)
	}
	if a := e.cardAttrs(id2, pci); a["pan"] != p || a["pan_alias"] != alias || a["cvc"] != "456" {
		t.Fatalf("the other card after deleting one: %v", a)
	}
	if err := e.vault.Delete(ctxA, alias); !errors.Is(err, vault.ErrInUse) {
		t.Fatalf("vault Delete of the alias the second card still has: %v", err)
	}
	if got := e.listIDs("filter%5Bcard_fingerprint%5D=" + fp); !slices.Equal(got, []string{id2}) {
		t.Errorf("fingerprint filter after deleting one = %v", got)
	}
	if code, _ := e.doNoContent("DELETE", "/cards/"+id2); code != 204 {
		t.Fatalf("delete the second card: %d", code)
	}
	if err := e.revealAs(alias); !errors.Is(err, vault.ErrNotFound) {
		t.Fatalf("the alias after deleting both cards: %v, want not found", err)
	}
	if got := e.listIDs("filter%5Bcard_fingerprint%5D=" + fp); len(got) != 0 {
		t.Errorf("fingerprint filter after deleting both = %v", got)
	}
}

// TestDuplicateDetectionOnAfterOff: with detection on (the default, and
// after it was turned off and on again) a create of a number the account
// holds answers 303, also when its cards were all made with detection off
// (to the oldest: none is under the bare fingerprint), and to the card made
// with detection on when there is one; nothing is merged; a card made with
// detection on keeps its record without index_key (byte for byte what was
// stored before the setting existed). Another account's settings are its own.
func TestDuplicateDetectionOnAfterOff(t *testing.T) {
	e, s, watch := dupSetup(t)
	body := func(p string) string { return `"pan":"` + p + `","exp_month":4,"exp_year":2031` }
	id1, _ := e.create(body("5555555555554444"))
	e.clk.Add(time.Second)
	id2, _ := e.create(body("5555555555554444"))
	s.set("ACTaccountA", AccountSettings{NetworkTokens: true})
	r := e.do("POST", "/cards", cardBody(body("5555555555554444")))
	if r.code != 303 || r.hdr.Get("Location") != "/cards/"+id1 {
		t.Fatalf("detection on, cards made while off: %d %s %s, want 303 to %s", r.code, r.hdr.Get("Location"), r.body, id1)
	}
	if got := e.listIDs("filter%5Blast4%5D=4444"); len(got) != 2 || !slices.Contains(got, id2) {
		t.Errorf("turning detection on merged cards: %v", got)
	}
	// A number first stored with detection on, then again with it off.
	on, _ := e.create(body("4000056655665556"))
	if _, has := storedRecord(t, e.env, on)["index_key"]; has {
		t.Errorf("a card made with detection on has an index_key")
	}
	s.set("ACTaccountA", AccountSettings{NetworkTokens: true, DuplicateDetectionOff: true})
	e.clk.Add(-time.Hour) // older than the card made with detection on
	off, _ := e.create(body("4000056655665556"))
	s.set("ACTaccountA", AccountSettings{})
	r = e.do("POST", "/cards", cardBody(body("4000056655665556")))
	if r.code != 303 || r.hdr.Get("Location") != "/cards/"+on {
		t.Fatalf("303 with a card made with detection on: %d %s, want %s (not %s)", r.code, r.hdr.Get("Location"), on, off)
	}
	// ACTaccountB has the default: detection on.
	if _, r := e.create(body("5555555555554444"), "X-Test-Account: ACTaccountB"); r.code != 201 {
		t.Fatalf("ACTaccountB: %d", r.code)
	}
	if r := e.do("POST", "/cards", cardBody(body("5555555555554444")), "X-Test-Account: ACTaccountB"); r.code != 303 {
		t.Fatalf("ACTaccountB's duplicate: %d %s", r.code, r.body)
	}
	if watch.count() != 5 {
		t.Errorf("duplicates counted: %d, want 5 (two 201 of a held number with detection off, three 303)", watch.count())
	}
}

// TestDuplicateDetectionOffStillCountsDuplicates: the attacker's view.
// With detection off there is no 303, but a create of a number the account
// holds is counted like one, so a client past limits.duplicate_threshold
// gets 429 and no card (create-then-filter by card_fingerprint is no
// uncounted way to learn which numbers the account holds); a new number
// is not counted; the 201 of a held number and of a new one have the same
// attributes (no "existing" hint), only their values differ.
func TestDuplicateDetectionOffStillCountsDuplicates(t *testing.T) {
	e, _, watch := dupSetup(t)
	watch.limit = 2
	body := cardBody(`"pan":"4111111111111111","exp_month":4,"exp_year":2031`)
	_, first := e.create(`"pan":"4111111111111111","exp_month":4,"exp_year":2031`)
	for i := range 2 {
		if r := e.do("POST", "/cards", body); r.code != 201 {
			t.Fatalf("held number %d: %d %s", i, r.code, r.body)
		}
	}
	r := e.do("POST", "/cards", body)
	if r.code != 429 || r.hdr.Get("Location") != "" || strings.Contains(string(r.body), "CRD") {
		t.Fatalf("past the duplicate threshold: %d %s", r.code, r.body)
	}
	if got := e.listIDs("filter%5Blast4%5D=1111"); len(got) != 3 {
		t.Errorf("cards of the number: %d, want 3 (the refused create made none)", len(got))
	}
	_, fresh := e.create(`"pan":"5555555555554444","exp_month":4,"exp_year":2031`)
	if watch.count() != 3 {
		t.Errorf("duplicates counted: %d, want 3 (a new number is not one)", watch.count())
	}
	keys := func(doc map[string]any) []string {
		var ks []string
		for k := range attrsOf(t, doc) {
			ks = append(ks, k)
		}
		slices.Sort(ks)
		return ks
	}
	if !slices.Equal(keys(first.doc), keys(fresh.doc)) || first.code != fresh.code {
		t.Errorf("the 201 of a held and of a new number differ: %v / %v", keys(first.doc), keys(fresh.doc))
	}
}

// TestReissueWithDuplicateDetectionOff: the account updater reissues one of
// two cards of a number: it gets the new number under a key of its own, the
// other keeps the old number and alias (not deleted: it still has it);
// reissuing the second too removes the old alias. With detection on, a
// reissue onto a number the account holds only as cards made with detection
// off is a conflict; with it off, not.
func TestReissueWithDuplicateDetectionOff(t *testing.T) {
	e, s, _ := dupSetup(t)
	const p = "4111111111111111"
	body := `"pan":"` + p + `","exp_month":4,"exp_year":2031`
	idA, r := e.create(body, pci)
	idB, _ := e.create(body, pci)
	oldAlias := attrsOf(t, r.doc)["pan_alias"].(string)
	reissue := func(id, newPAN string) error {
		t.Helper()
		ev := tsp.Event{Type: tsp.EventCardReissued, Requestor: requestorRef("ACTaccountA", id),
			TokenPAN: e.tokenOf(id)["network_token"].(string), NewPAN: newPAN}
		return e.h.applyTokenEvent(context.Background(), ev)
	}
	const q = "5555555555554444"
	if err := reissue(idA, q); err != nil {
		t.Fatalf("reissue A: %v", err)
	}
	a := e.cardAttrs(idA, pci)
	if a["pan"] != q || a["pan_alias"] == oldAlias {
		t.Fatalf("A after reissue: %v", a)
	}
	if k := storedRecord(t, e.env, idA)["index_key"]; k != a["card_fingerprint"].(string)+"/"+idA {
		t.Errorf("A's index key after reissue = %v", k)
	}
	if b := e.cardAttrs(idB, pci); b["pan"] != p || b["pan_alias"] != oldAlias {
		t.Fatalf("B after A's reissue: %v", b)
	}
	if err := e.revealAs(oldAlias); err != nil {
		t.Fatalf("the old alias B still has: %v", err)
	}
	if err := reissue(idB, "4000056655665556"); err != nil {
		t.Fatalf("reissue B: %v", err)
	}
	if err := e.revealAs(oldAlias); !errors.Is(err, vault.ErrNotFound) {
		t.Fatalf("the old alias after both cards were reissued: %v", err)
	}

	// Detection on: C (made on) reissued onto q, which only A (made off) has → conflict.
	s.set("ACTaccountA", AccountSettings{NetworkTokens: true})
	idC, _ := e.create(`"pan":"378282246310005","exp_month":4,"exp_year":2031`, pci)
	if err := reissue(idC, q); !errors.Is(err, ErrReissueConflict) {
		t.Fatalf("detection on, reissue onto a held number: %v, want ErrReissueConflict", err)
	}
	if c := e.cardAttrs(idC, pci); c["pan"] != "378282246310005" {
		t.Fatalf("a refused reissue changed C: %v", c["last4"])
	}
	// Detection off: the same reissue is no conflict; C moves to a key of its own.
	s.set("ACTaccountA", AccountSettings{NetworkTokens: true, DuplicateDetectionOff: true})
	if err := reissue(idC, q); err != nil {
		t.Fatalf("detection off, reissue onto a held number: %v", err)
	}
	c := e.cardAttrs(idC, pci)
	if c["pan"] != q || storedRecord(t, e.env, idC)["index_key"] != c["card_fingerprint"].(string)+"/"+idC {
		t.Fatalf("C after reissue: %v", c["last4"])
	}
	want := []string{idA, idC}
	slices.Sort(want)
	if got := e.listIDs("filter%5Bcard_fingerprint%5D=" + c["card_fingerprint"].(string)); !slices.Equal(got, want) {
		t.Errorf("cards of the new number = %v, want %v", got, want)
	}
}

// TestPaymentByAliasOfSeveralCards: a payment by an alias of a number held
// by several cards uses the card made with detection on, else the oldest
// with an active network token, else the oldest; by card id, that card.
func TestPaymentByAliasOfSeveralCards(t *testing.T) {
	e, s, _ := dupSetup(t)
	ctxA := vault.WithAccount(vault.WithClient(context.Background(), "ACHproxy"), "ACTaccountA")
	s.set("ACTaccountA", AccountSettings{DuplicateDetectionOff: true}) // no tokens
	const p = "4111111111111111"
	body := `"pan":"` + p + `","cvc":"%s","exp_month":%d,"exp_year":2031`
	mk := func(cvc string, month int) (string, string) {
		t.Helper()
		id, r := e.create(strings.NewReplacer("%s", cvc, "%d", string(rune('0'+month))).Replace(body))
		e.clk.Add(time.Second)
		return id, attrsOf(t, r.doc)["pan_alias"].(string)
	}
	id1, alias := mk("111", 1)
	id2, _ := mk("222", 2)
	id3, _ := mk("333", 3)
	pay := func(ref string) PaymentValues {
		t.Helper()
		v, err := e.h.Payment(ctxA, "ACTaccountA", ref, true, tsp.UseEcommerce)
		if err != nil {
			t.Fatalf("payment by %s: %v", ref, err)
		}
		return v
	}
	if v := pay(alias); v.Token || v.CVC != "111" || v.ExpMonth != "01" {
		t.Fatalf("no tokens: the oldest card: %+v", v.ExpMonth)
	}
	if r := e.do("POST", "/cards/"+id3+"/network-tokens", "", ntw); r.code != 200 {
		t.Fatalf("provision: %d %s", r.code, r.body)
	}
	if v := pay(alias); !v.Token || v.ExpMonth != "03" {
		t.Fatalf("the card with an active token: %+v", v.ExpMonth)
	}
	if v := pay(id2); v.Token || v.CVC != "222" {
		t.Fatalf("by card id: %+v", v.ExpMonth)
	}
	// A card under the bare fingerprint wins: delete all, make one with detection on, one off.
	for _, id := range []string{id1, id2, id3} {
		if code, _ := e.doNoContent("DELETE", "/cards/"+id); code != 204 {
			t.Fatalf("delete: %d", code)
		}
	}
	s.set("ACTaccountA", AccountSettings{})
	e.clk.Add(time.Hour)
	_, alias = mk("444", 4)
	s.set("ACTaccountA", AccountSettings{DuplicateDetectionOff: true})
	e.clk.Add(-2 * time.Hour)
	older, _ := mk("555", 5)
	if r := e.do("POST", "/cards/"+older+"/network-tokens", "", ntw); r.code != 200 {
		t.Fatalf("provision: %d %s", r.code, r.body)
	}
	if v := pay(alias); v.Token || v.CVC != "444" {
		t.Fatalf("the card made with detection on: %+v", v.ExpMonth)
	}
}
