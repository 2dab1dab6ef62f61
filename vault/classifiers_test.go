package vault_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/aliasgate/aliasgate/vault"
	"github.com/aliasgate/aliasgate/vault/memstore"
)

// Classifiers: the VGS API types them as any string; aliasgate takes
// printable Unicode, spaces included, and refuses control and invisible
// formatting characters, card numbers and over-long tags.
func TestClassifierCharacterSet(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	tests := []struct {
		classifier string
		ok         bool
	}{
		{"credit card", true},
		{"bank-account", true},
		{"PII", true},
		{"email_address", true},
		{"tag:v1.2/α", true},
		{"données personnelles", true},
		{"カード", true},
		{"a+b (c) #1 & <d> \"e\" 'f' @g", true},
		{strings.Repeat("é", 64), true},
		{strings.Repeat("é", 65), false},
		{"", false},
		{"line\nbreak", false},
		{"tab\tbed", false},
		{"nul\x00", false},
		{"bell\a", false},
		{"rtl\u202eoverride", false},
		{"zero\u200bwidth", false},
		{"bad utf8 \xff", false},
		{"pan 4111 1111 1111 1111", false},
	}
	for _, tt := range tests {
		_, err := f.svc.Redact(ctx, []vault.RedactRequest{{Value: "v", Classifiers: []string{tt.classifier}}})
		if tt.ok != (err == nil) {
			t.Errorf("classifier %q: err %v, want ok %v", tt.classifier, err, tt.ok)
		}
		if err != nil && !errors.Is(err, vault.ErrInvalidClassifier) {
			t.Errorf("classifier %q: err %v is not ErrInvalidClassifier", tt.classifier, err)
		}
		if err != nil && tt.classifier != "" && strings.Contains(err.Error(), tt.classifier) {
			t.Errorf("the error %q repeats the classifier", err)
		}
		if ok := f.svc.UpdateClassifiers(ctx, "tok_test_missing", []string{tt.classifier}); tt.ok != errors.Is(ok, vault.ErrNotFound) {
			t.Errorf("UpdateClassifiers(%q) = %v", tt.classifier, ok)
		}
	}
}

// A new redaction of a stored value adds the classifiers it brings to the
// value's existing alias of that format and to its other persistent
// aliases; PUT (UpdateClassifiers) still replaces them.
func TestRedactingAgainMergesClassifiers(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	first, err := f.svc.Redact(ctx, []vault.RedactRequest{
		{Value: card, Classifiers: []string{"pan"}},
		{Value: card, Format: vault.FormatRawUUID, Classifiers: []string{"pan"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	// Without Detail (the proxies' redactions) and with it (the vault API).
	if _, err := f.svc.Redact(ctx, []vault.RedactRequest{{Value: card, Classifiers: []string{"visa", "pan"}}}); err != nil {
		t.Fatal(err)
	}
	again, err := f.svc.Redact(ctx, []vault.RedactRequest{{Value: card, Classifiers: []string{"credit card"}, Detail: true}})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"pan", "visa", "credit card"}
	if again[0].Alias != first[0].Alias || again[0].Created || !slices.Equal(again[0].Classifiers, want) {
		t.Fatalf("redact again: %+v, want the first alias with %v", again[0], want)
	}
	got, err := f.svc.Reveal(ctx, []string{first[0].Alias, first[1].Alias})
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range got {
		if !slices.Equal(r.Classifiers, want) {
			t.Errorf("alias %d classifiers %v, want %v", i, r.Classifiers, want)
		}
	}
	// Nothing new: no write, the classifiers stay as they are.
	if _, err := f.svc.Redact(ctx, []vault.RedactRequest{{Value: card, Classifiers: []string{"visa"}}, {Value: card}}); err != nil {
		t.Fatal(err)
	}
	// PUT replaces.
	if err := f.svc.UpdateClassifiers(ctx, first[0].Alias, []string{"x"}); err != nil {
		t.Fatal(err)
	}
	got, _ = f.svc.Reveal(ctx, []string{first[0].Alias, first[1].Alias})
	for _, r := range got {
		if !slices.Equal(r.Classifiers, []string{"x"}) {
			t.Fatalf("after PUT: %v", r.Classifiers)
		}
	}
	// A merge past the classifier limit is refused, and changes nothing.
	var many []string
	for i := range 32 {
		many = append(many, "c"+strings.Repeat("x", i))
	}
	_, err = f.svc.Redact(ctx, []vault.RedactRequest{{Value: card, Classifiers: many}})
	var be *vault.BatchError
	if !errors.As(err, &be) || !errors.Is(err, vault.ErrInvalidClassifier) || be.Items[0].Field != "classifiers" {
		t.Fatalf("merge over the limit: %v", err)
	}
	got, _ = f.svc.Reveal(ctx, []string{first[0].Alias})
	if !slices.Equal(got[0].Classifiers, []string{"x"}) {
		t.Fatalf("a refused merge changed the classifiers: %v", got[0].Classifiers)
	}
	// Volatile values are never merged: each redaction is a new alias.
	vol, _ := f.svc.Redact(ctx, []vault.RedactRequest{{Value: "123", Storage: vault.StorageVolatile, Classifiers: []string{"cvc"}}})
	vol2, _ := f.svc.Redact(ctx, []vault.RedactRequest{{Value: "123", Storage: vault.StorageVolatile, Classifiers: []string{"other"}}})
	rv, _ := f.svc.Reveal(ctx, []string{vol[0].Alias, vol2[0].Alias})
	if !slices.Equal(rv[0].Classifiers, []string{"cvc"}) || !slices.Equal(rv[1].Classifiers, []string{"other"}) {
		t.Fatalf("volatile classifiers %v, %v", rv[0].Classifiers, rv[1].Classifiers)
	}
}

// lateStore finds no alias for any index key, as when a concurrent Redact
// of the same value creates its record between this call's look-up and its
// write: the write then finds the record (PutExisting).
type lateStore struct{ vault.Store }

func (s lateStore) LookupIndex(_ context.Context, keys [][]byte) ([]string, error) {
	return make([]string, len(keys)), nil
}

func (s lateStore) LookupRecords(_ context.Context, keys [][]byte) ([]string, []*vault.Record, error) {
	return make([]string, len(keys)), make([]*vault.Record, len(keys)), nil
}

// A Redact whose value's record was made by a concurrent call after its
// look-up still adds the classifiers it brings to that record (and shows
// them in its Detail), as when the look-up found it; only its merge races
// (found by a concurrent test, review R2).
func TestRedactRacingACreationMergesClassifiers(t *testing.T) {
	ctx := context.Background()
	p := memstore.New(memstore.Options{SweepInterval: -1})
	defer p.Close()
	svc, _ := newService(t, p)
	late, _ := newService(t, lateStore{p})
	first, err := svc.Redact(ctx, []vault.RedactRequest{{Value: card, Classifiers: []string{"pan"}}})
	if err != nil {
		t.Fatal(err)
	}
	for _, detail := range []bool{false, true} {
		c := fmt.Sprint("late-", detail)
		got, err := late.Redact(ctx, []vault.RedactRequest{{Value: card, Classifiers: []string{c}, Detail: detail}})
		if err != nil {
			t.Fatal(err)
		}
		if got[0].Alias != first[0].Alias || got[0].Created {
			t.Fatalf("late redact: %+v, want the existing alias %s", got[0], first[0].Alias)
		}
		rv, err := svc.Reveal(ctx, []string{first[0].Alias})
		if err != nil || rv[0].Err != nil {
			t.Fatal(err, rv[0].Err)
		}
		if !slices.Contains(rv[0].Classifiers, c) || !slices.Contains(rv[0].Classifiers, "pan") {
			t.Fatalf("detail %v: the record's classifiers are %v, want pan and %s", detail, rv[0].Classifiers, c)
		}
		if detail && !slices.Equal(got[0].Classifiers, rv[0].Classifiers) {
			t.Fatalf("the Detail token shows %v, the record holds %v", got[0].Classifiers, rv[0].Classifiers)
		}
	}
}
