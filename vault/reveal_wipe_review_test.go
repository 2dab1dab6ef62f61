package vault_test

import (
	"context"
	"sync"
	"testing"

	"github.com/aliasgate/aliasgate/vault"
)

// TestRevealedValuesSurviveTheWipeOfDecryptedBuffers: Reveal wipes each
// decrypted buffer once the value is copied; the values it returns (one
// alias asked several times in one call, persistent and volatile ones,
// concurrent calls) stay whole, and the records stay readable by the
// next call and by Describe.
func TestRevealedValuesSurviveTheWipeOfDecryptedBuffers(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	toks, err := f.svc.Redact(ctx, []vault.RedactRequest{{Value: card}, {Value: "737", Storage: vault.StorageVolatile},
		{Value: card, Format: vault.FormatPFPT}})
	if err != nil {
		t.Fatal(err)
	}
	a, v, p := toks[0].Alias, toks[1].Alias, toks[2].Alias
	want := map[string]string{a: card, v: "737", p: card}
	ask := []string{a, v, a, p, v, a}
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 50 {
				got, err := f.svc.Reveal(ctx, ask)
				if err != nil {
					t.Error(err)
					return
				}
				for i, r := range got {
					if r.Err != nil || r.Value != want[ask[i]] {
						t.Errorf("Reveal[%d] = %q, %v; want %q", i, r.Value, r.Err, want[ask[i]])
						return
					}
				}
			}
		})
	}
	wg.Wait()
	got, err := f.svc.Reveal(ctx, []string{a})
	if err != nil || got[0].Value != card {
		t.Fatalf("Reveal after = %+v, %v", got, err)
	}
}
