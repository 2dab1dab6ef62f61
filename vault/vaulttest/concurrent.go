package vaulttest

import (
	"context"
	"slices"
	"sync"
	"testing"

	"github.com/aliasgate/aliasgate/vault"
)

// testServiceConcurrentValues: concurrent Reveals, Describes and Redacts
// of the same aliases (persistent and volatile, one alias asked several
// times in a call, Redacts of known values bringing classifiers and of
// aliases asking for Detail) each get their own values, whole: what one
// call returned never changes when the vault wipes the buffers of the
// next ones, and a caller writing into what it was returned (a classifier
// overwritten) changes nothing another call sees.
func testServiceConcurrentValues(t *testing.T, h Harness) {
	clk := NewClock()
	s := open(t, h, clk.Now)
	svc := service(t, s, clk, testMaster)
	ctx := context.Background()
	const pan, cvc, doc = "4111111111111111", "737", "a value longer than the eighty bytes a decoded record holds in its own allocation, so that it is allocated apart"
	toks, err := svc.Redact(ctx, []vault.RedactRequest{{Value: pan, Classifiers: []string{"pan"}},
		{Value: cvc, Storage: vault.StorageVolatile}, {Value: doc, Format: vault.FormatVGSFixedLenGeneric}})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{toks[0].Alias: pan, toks[1].Alias: cvc, toks[2].Alias: doc}
	ask := []string{toks[0].Alias, toks[1].Alias, toks[2].Alias, toks[0].Alias, toks[1].Alias}
	check := func(what string, i int, got string, cls []string) bool {
		if got != want[ask[i]] || (ask[i] == toks[0].Alias && !slices.Equal(cls, []string{"pan"})) {
			t.Errorf("%s[%d] = %q %q; want %q", what, i, got, cls, want[ask[i]])
			return false
		}
		return true
	}
	first, err := svc.Reveal(ctx, ask)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for range 25 {
				rev, err := svc.Reveal(ctx, ask)
				if err != nil {
					t.Error(err)
					return
				}
				for i, r := range rev {
					if !check("Reveal", i, r.Value, r.Classifiers) {
						return
					}
					if len(r.Classifiers) > 0 {
						r.Classifiers[0] = "overwritten by the caller"
					}
				}
				des, err := svc.Describe(ctx, ask)
				if err != nil {
					t.Error(err)
					return
				}
				for i, e := range des {
					if !check("Describe", i, e.Value, e.Classifiers) {
						return
					}
				}
				red, err := svc.Redact(ctx, []vault.RedactRequest{{Value: pan, Classifiers: []string{"pan"}, Detail: true},
					{Alias: toks[1].Alias, Format: vault.FormatUUID, Detail: true},
					{Value: cvc, Storage: vault.StorageVolatile, Detail: g%2 == 0}})
				if err != nil {
					t.Error(err)
					return
				}
				if red[0].Alias != toks[0].Alias || red[0].Value != pan || !slices.Equal(red[0].Classifiers, []string{"pan"}) ||
					red[1].Value != cvc || (g%2 == 0 && red[2].Value != cvc) {
					t.Errorf("Redact = %+v", red)
					return
				}
			}
		})
	}
	wg.Wait()
	for i, r := range first {
		check("the first Reveal, after the others", i, r.Value, r.Classifiers)
	}
}
