package vaulttest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/aliasgate/aliasgate/vault"
)

// CardLister is the part of cards.Store that lists and deletes cards.
type CardLister interface {
	CardStore
	CardByFingerprint(ctx context.Context, account, fingerprint string) (string, bool, error)
	DeleteCard(ctx context.Context, account, id, fingerprint string) (bool, error)
	ListCards(ctx context.Context, account, after string, limit int) ([]string, [][]byte, error)
}

// testCardListDelete: ListCards pages through one account's cards in id
// order and no other's; DeleteCard removes a card, its updates and its
// fingerprint entry (the same card can be stored again), only in its
// account.
func testCardListDelete(t *testing.T, h Harness) {
	s := open(t, h, NewClock().Now)
	cs, ok := s.(CardLister)
	if !ok {
		t.Fatalf("%T does not implement CardLister", s)
	}
	ctx := context.Background()
	var want []string
	for i := 9; i >= 0; i-- { // stored out of order
		id := fmt.Sprintf("CRD%02d", i)
		want = append(want, id)
		if _, err := cs.PutCard(ctx, "acct_a", id, "fp"+id, []byte("rec"+id)); err != nil {
			t.Fatal(err)
		}
	}
	slices.Sort(want)
	// Another account's cards, and an account whose name extends acct_a's.
	for _, acct := range []string{"acct_", "acct_a2", "acct_b"} {
		if _, err := cs.PutCard(ctx, acct, "CRD05", "fpCRD05", []byte("other")); err != nil {
			t.Fatal(err)
		}
	}
	var got []string
	after := ""
	for pages := 0; ; pages++ {
		if pages > 10 {
			t.Fatal("ListCards never ends")
		}
		ids, recs, err := cs.ListCards(ctx, "acct_a", after, 3)
		if err != nil {
			t.Fatal(err)
		}
		if len(ids) != len(recs) || len(ids) > 3 {
			t.Fatalf("ListCards page = %d ids, %d records", len(ids), len(recs))
		}
		for i, id := range ids {
			if string(recs[i]) != "rec"+id {
				t.Fatalf("record of %s = %q", id, recs[i])
			}
		}
		if len(ids) == 0 {
			break
		}
		got = append(got, ids...)
		after = ids[len(ids)-1]
	}
	if !slices.Equal(got, want) {
		t.Fatalf("ListCards pages = %v, want %v", got, want)
	}
	if ids, _, err := cs.ListCards(ctx, "acct_none", "", 10); err != nil || len(ids) != 0 {
		t.Fatalf("ListCards of an account without cards = %v, %v", ids, err)
	}

	if err := cs.UpdateCard(ctx, "acct_a", "CRD05", []byte("recCRD05"), []byte("v2"), []byte("u1")); err != nil {
		t.Fatal(err)
	}
	if ok, err := cs.DeleteCard(ctx, "acct_c", "CRD05", "fpCRD05"); ok || err != nil {
		t.Fatalf("DeleteCard in an account without the card = %v, %v", ok, err)
	}
	if ok, err := cs.DeleteCard(ctx, "acct_a", "CRD05", "fpCRD05"); !ok || err != nil {
		t.Fatalf("DeleteCard = %v, %v", ok, err)
	}
	if ok, err := cs.DeleteCard(ctx, "acct_a", "CRD05", "fpCRD05"); ok || err != nil {
		t.Fatalf("second DeleteCard = %v, %v; want false", ok, err)
	}
	if _, ok, _ := cs.GetCard(ctx, "acct_a", "CRD05"); ok {
		t.Fatal("the deleted card is still there")
	}
	if _, ok, _ := cs.CardByFingerprint(ctx, "acct_a", "fpCRD05"); ok {
		t.Fatal("the deleted card's fingerprint still finds it")
	}
	if ups, _ := cs.CardUpdates(ctx, "acct_a", "CRD05"); len(ups) != 0 {
		t.Fatalf("the deleted card's updates stay: %q", ups)
	}
	for _, acct := range []string{"acct_", "acct_a2", "acct_b"} {
		if rec, ok, _ := cs.GetCard(ctx, acct, "CRD05"); !ok || string(rec) != "other" {
			t.Fatalf("deleting acct_a's card touched %s's", acct)
		}
		if id, ok, _ := cs.CardByFingerprint(ctx, acct, "fpCRD05"); !ok || id != "CRD05" {
			t.Fatalf("deleting acct_a's card touched %s's fingerprint", acct)
		}
	}
	ids, _, err := cs.ListCards(ctx, "acct_a", "", 100)
	if err != nil || len(ids) != 9 || slices.Contains(ids, "CRD05") {
		t.Fatalf("ListCards after the delete = %v, %v", ids, err)
	}
	// The same card can be stored again, with a new id and no old updates.
	if ex, err := cs.PutCard(ctx, "acct_a", "CRD55", "fpCRD05", []byte("again")); ex != "" || err != nil {
		t.Fatalf("PutCard after the delete = %q, %v", ex, err)
	}
	if ups, _ := cs.CardUpdates(ctx, "acct_a", "CRD55"); len(ups) != 0 {
		t.Fatalf("a new card has updates: %q", ups)
	}
}

// CardReissuer is the part of cards.Store that reissues a card (a new PAN:
// its fingerprint entry moves).
type CardReissuer interface {
	CardLister
	ReissueCard(ctx context.Context, account, id, oldFingerprint, fingerprint string, old, record, update []byte) (string, error)
}

// testCardReissue: ReissueCard replaces the record, appends the update and
// moves the fingerprint entry (the old fingerprint names no card, the new
// one this card), in its account only; a fingerprint another card of the
// account has refuses it with that card's id and changes nothing.
func testCardReissue(t *testing.T, h Harness) {
	s := open(t, h, NewClock().Now)
	cs, ok := s.(CardReissuer)
	if !ok {
		t.Fatalf("%T does not implement CardReissuer", s)
	}
	ctx := context.Background()
	for _, c := range []struct{ acct, id, fp string }{{"acct_a", "CRDA", "fp1"}, {"acct_a", "CRDB", "fp2"}, {"acct_b", "CRDA", "fp1"}} {
		if ex, err := cs.PutCard(ctx, c.acct, c.id, c.fp, []byte("v0")); err != nil || ex != "" {
			t.Fatalf("PutCard %v = %q, %v", c, ex, err)
		}
	}
	fpOf := func(acct, fp string) string {
		id, ok, err := cs.CardByFingerprint(ctx, acct, fp)
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			return ""
		}
		return id
	}
	if ex, err := cs.ReissueCard(ctx, "acct_a", "CRDA", "fp1", "fp3", []byte("v0"), []byte("v1"), []byte("u1")); err != nil || ex != "" {
		t.Fatalf("ReissueCard = %q, %v", ex, err)
	}
	if fpOf("acct_a", "fp1") != "" || fpOf("acct_a", "fp3") != "CRDA" || fpOf("acct_b", "fp1") != "CRDA" || fpOf("acct_b", "fp3") != "" {
		t.Fatalf("fingerprints after reissue: fp1 %q fp3 %q, acct_b fp1 %q fp3 %q", fpOf("acct_a", "fp1"),
			fpOf("acct_a", "fp3"), fpOf("acct_b", "fp1"), fpOf("acct_b", "fp3"))
	}
	rec, _, _ := cs.GetCard(ctx, "acct_a", "CRDA")
	ups, err := cs.CardUpdates(ctx, "acct_a", "CRDA")
	if string(rec) != "v1" || err != nil || len(ups) != 1 || string(ups[0]) != "u1" {
		t.Fatalf("after reissue: record %q, updates %q, %v", rec, ups, err)
	}
	// The old fingerprint is free: the same card number is a new card.
	if ex, err := cs.PutCard(ctx, "acct_a", "CRDC", "fp1", []byte("v0")); err != nil || ex != "" {
		t.Fatalf("PutCard with the old fingerprint = %q, %v", ex, err)
	}
	// Another card's fingerprint: refused, nothing changes.
	if ex, err := cs.ReissueCard(ctx, "acct_a", "CRDA", "fp3", "fp2", []byte("v1"), []byte("v2"), []byte("u2")); err != nil || ex != "CRDB" {
		t.Fatalf("ReissueCard onto CRDB's fingerprint = %q, %v", ex, err)
	}
	rec, _, _ = cs.GetCard(ctx, "acct_a", "CRDA")
	ups, _ = cs.CardUpdates(ctx, "acct_a", "CRDA")
	if string(rec) != "v1" || len(ups) != 1 || fpOf("acct_a", "fp3") != "CRDA" || fpOf("acct_a", "fp2") != "CRDB" {
		t.Fatalf("after a refused reissue: record %q, %d updates, fp3 %q, fp2 %q", rec, len(ups), fpOf("acct_a", "fp3"), fpOf("acct_a", "fp2"))
	}
	// Its own fingerprint (a new expiry only) is fine; a missing card is an error.
	if ex, err := cs.ReissueCard(ctx, "acct_a", "CRDA", "fp3", "fp3", []byte("v1"), []byte("v3"), []byte("u3")); err != nil || ex != "" || fpOf("acct_a", "fp3") != "CRDA" {
		t.Fatalf("ReissueCard onto its own fingerprint = %q, %v", ex, err)
	}
	if _, err := cs.ReissueCard(ctx, "acct_a", "CRDX", "fp9", "fp8", []byte("v0"), []byte("v"), []byte("u")); err == nil || fpOf("acct_a", "fp8") != "" {
		t.Fatalf("ReissueCard of a missing card = %v", err)
	}
}

// testCardCAS: UpdateCard, ReplaceCard and ReissueCard store only when the
// stored record is still exactly the bytes the caller read (old); a stale
// write is vault.ErrCardChanged and changes nothing — not the record, not
// the card updates, not the fingerprint index.
func testCardCAS(t *testing.T, h Harness) {
	s := open(t, h, NewClock().Now)
	cs, ok := s.(interface {
		CardReissuer
		UpdateCard(ctx context.Context, account, id string, old, record, update []byte) error
		ReplaceCard(ctx context.Context, account, id string, old, record []byte) error
	})
	if !ok {
		t.Fatalf("%T does not implement the card writes", s)
	}
	ctx := context.Background()
	if ex, err := cs.PutCard(ctx, "acct_a", "CRDA", "fp1", []byte("v0")); err != nil || ex != "" {
		t.Fatalf("PutCard = %q, %v", ex, err)
	}
	state := func() (string, int, string) {
		t.Helper()
		rec, _, err := cs.GetCard(ctx, "acct_a", "CRDA")
		if err != nil {
			t.Fatal(err)
		}
		ups, err := cs.CardUpdates(ctx, "acct_a", "CRDA")
		if err != nil {
			t.Fatal(err)
		}
		id, _, err := cs.CardByFingerprint(ctx, "acct_a", "fp2")
		if err != nil {
			t.Fatal(err)
		}
		return string(rec), len(ups), id
	}
	// Matching writes are stored.
	if err := cs.ReplaceCard(ctx, "acct_a", "CRDA", []byte("v0"), []byte("v1")); err != nil {
		t.Fatalf("ReplaceCard(old matches) = %v", err)
	}
	if err := cs.UpdateCard(ctx, "acct_a", "CRDA", []byte("v1"), []byte("v2"), []byte("u1")); err != nil {
		t.Fatalf("UpdateCard(old matches) = %v", err)
	}
	if rec, n, _ := state(); rec != "v2" || n != 1 {
		t.Fatalf("after matching writes: record %q, %d updates", rec, n)
	}
	// Stale writes (old is a record read before the last write, a prefix
	// of the stored one, or empty) are refused and change nothing.
	for _, old := range []string{"v1", "v0", "v", "", "v2 "} {
		if err := cs.ReplaceCard(ctx, "acct_a", "CRDA", []byte(old), []byte("stale")); !errors.Is(err, vault.ErrCardChanged) {
			t.Fatalf("ReplaceCard(old %q) = %v, want ErrCardChanged", old, err)
		}
		if err := cs.UpdateCard(ctx, "acct_a", "CRDA", []byte(old), []byte("stale"), []byte("ustale")); !errors.Is(err, vault.ErrCardChanged) {
			t.Fatalf("UpdateCard(old %q) = %v, want ErrCardChanged", old, err)
		}
		if ex, err := cs.ReissueCard(ctx, "acct_a", "CRDA", "fp1", "fp2", []byte(old), []byte("stale"), []byte("ustale")); !errors.Is(err, vault.ErrCardChanged) || ex != "" {
			t.Fatalf("ReissueCard(old %q) = %q, %v, want ErrCardChanged", old, ex, err)
		}
		if rec, n, fp2 := state(); rec != "v2" || n != 1 || fp2 != "" {
			t.Fatalf("after stale writes (old %q): record %q, %d updates, fp2 names %q", old, rec, n, fp2)
		}
		if id, ok, _ := cs.CardByFingerprint(ctx, "acct_a", "fp1"); !ok || id != "CRDA" {
			t.Fatalf("a stale reissue moved the fingerprint: fp1 names %q", id)
		}
	}
	if ex, err := cs.ReissueCard(ctx, "acct_a", "CRDA", "fp1", "fp2", []byte("v2"), []byte("v3"), []byte("u2")); err != nil || ex != "" {
		t.Fatalf("ReissueCard(old matches) = %q, %v", ex, err)
	}
	if rec, n, fp2 := state(); rec != "v3" || n != 2 || fp2 != "CRDA" {
		t.Fatalf("after a matching reissue: record %q, %d updates, fp2 names %q", rec, n, fp2)
	}
	// A card that is gone is not a changed card.
	for _, err := range []error{
		cs.ReplaceCard(ctx, "acct_a", "CRDX", []byte("v0"), []byte("x")),
		cs.UpdateCard(ctx, "acct_a", "CRDX", []byte("v0"), []byte("x"), []byte("u")),
	} {
		if err == nil || errors.Is(err, vault.ErrCardChanged) {
			t.Fatalf("write of a missing card = %v, want a not-found error", err)
		}
	}
}

// CardIndexer is the part of cards.Store that finds every card of a
// fingerprint (duplicate detection off gives cards index keys
// "<fingerprint>/<card id>").
type CardIndexer interface {
	CardReissuer
	CardsByFingerprint(ctx context.Context, account, fingerprint string) ([]string, error)
}

// testCardsByFingerprint: CardsByFingerprint finds the card under the bare
// fingerprint and every card under fingerprint + vault.CardIndexSep + id,
// in index key order, in its account only; not a key that merely extends
// the fingerprint (another character, one sorting just before or after the
// separator). Such keys never conflict with the bare one or each other,
// are removed by DeleteCard and moved by ReissueCard.
func testCardsByFingerprint(t *testing.T, h Harness) {
	s := open(t, h, NewClock().Now)
	cs, ok := s.(CardIndexer)
	if !ok {
		t.Fatalf("%T does not implement CardIndexer", s)
	}
	ctx := context.Background()
	sep := vault.CardIndexSep
	for _, c := range []struct{ acct, id, key string }{
		{"acct_a", "CRDC", "fpX" + sep + "CRDC"}, {"acct_a", "CRDA", "fpX"}, {"acct_a", "CRDB", "fpX" + sep + "CRDB"},
		{"acct_a", "CRDD", "fpXY"}, {"acct_a", "CRDE", "fpX.CRDE"}, {"acct_a", "CRDF", "fpX0"},
		{"acct_a", "CRDG", "fp" + sep + "CRDG"}, {"acct_b", "CRDZ", "fpX" + sep + "CRDZ"}, {"acct_a2", "CRDY", "fpX"},
	} {
		if ex, err := cs.PutCard(ctx, c.acct, c.id, c.key, []byte("rec"+c.id)); err != nil || ex != "" {
			t.Fatalf("PutCard %v = %q, %v", c, ex, err)
		}
	}
	of := func(acct, fp string) []string {
		t.Helper()
		ids, err := cs.CardsByFingerprint(ctx, acct, fp)
		if err != nil {
			t.Fatalf("CardsByFingerprint(%s, %s): %v", acct, fp, err)
		}
		return ids
	}
	if got := of("acct_a", "fpX"); !slices.Equal(got, []string{"CRDA", "CRDB", "CRDC"}) {
		t.Fatalf("CardsByFingerprint(fpX) = %v, want CRDA, CRDB, CRDC", got)
	}
	if got := of("acct_b", "fpX"); !slices.Equal(got, []string{"CRDZ"}) {
		t.Fatalf("CardsByFingerprint in acct_b = %v", got)
	}
	for _, fp := range []string{"fpQ", "", "fp", "f"} {
		if got := of("acct_a", fp); fp != "fp" && len(got) != 0 || fp == "fp" && !slices.Equal(got, []string{"CRDG"}) {
			t.Fatalf("CardsByFingerprint(%q) = %v", fp, got)
		}
	}
	if got := of("acct_none", "fpX"); len(got) != 0 {
		t.Fatalf("CardsByFingerprint of an account without cards = %v", got)
	}
	// The bare key still decides duplicates; a card id key is its card's.
	if ex, _ := cs.PutCard(ctx, "acct_a", "CRDH", "fpX", []byte("dup")); ex != "CRDA" {
		t.Fatalf("PutCard on the bare fingerprint = %q, want CRDA", ex)
	}
	if id, ok, _ := cs.CardByFingerprint(ctx, "acct_a", "fpX"); !ok || id != "CRDA" {
		t.Fatalf("CardByFingerprint(fpX) = %q, %v", id, ok)
	}
	// Deleting the bare card leaves the others; the bare key is free again.
	if ok, err := cs.DeleteCard(ctx, "acct_a", "CRDA", "fpX"); !ok || err != nil {
		t.Fatalf("DeleteCard(CRDA) = %v, %v", ok, err)
	}
	if got := of("acct_a", "fpX"); !slices.Equal(got, []string{"CRDB", "CRDC"}) {
		t.Fatalf("after deleting CRDA: %v", got)
	}
	if ex, err := cs.PutCard(ctx, "acct_a", "CRDI", "fpX", []byte("recCRDI")); ex != "" || err != nil {
		t.Fatalf("PutCard on the freed bare fingerprint = %q, %v", ex, err)
	}
	// DeleteCard with the card's own key removes only its entry.
	if ok, err := cs.DeleteCard(ctx, "acct_a", "CRDC", "fpX"+sep+"CRDC"); !ok || err != nil {
		t.Fatalf("DeleteCard(CRDC) = %v, %v", ok, err)
	}
	if got := of("acct_a", "fpX"); !slices.Equal(got, []string{"CRDI", "CRDB"}) {
		t.Fatalf("after deleting CRDC: %v, want CRDI, CRDB", got)
	}
	// Reissue moves a card id key; it never conflicts with the bare key.
	if ex, err := cs.ReissueCard(ctx, "acct_a", "CRDB", "fpX"+sep+"CRDB", "fpX0"+sep+"CRDB", []byte("recCRDB"), []byte("v1"), []byte("u1")); ex != "" || err != nil {
		t.Fatalf("ReissueCard(CRDB) onto fpX0's cards = %q, %v", ex, err)
	}
	if got := of("acct_a", "fpX"); !slices.Equal(got, []string{"CRDI"}) {
		t.Fatalf("after reissuing CRDB: fpX %v", got)
	}
	if got := of("acct_a", "fpX0"); !slices.Equal(got, []string{"CRDF", "CRDB"}) {
		t.Fatalf("after reissuing CRDB: fpX0 %v, want CRDF, CRDB", got)
	}
	if got := of("acct_b", "fpX"); !slices.Equal(got, []string{"CRDZ"}) {
		t.Fatalf("acct_a's changes reached acct_b: %v", got)
	}
}
