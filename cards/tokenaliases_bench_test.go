package cards

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"

	"github.com/aliasgate/aliasgate/vault/boltstore"
)

// BenchmarkIndexTokenAliasesOverALargeVault is the start-time build of
// the token alias index (IndexTokenAliases, serve's first start after the
// upgrade) over a bbolt vault of 100,000 cards, each with one live network
// token: go test ./cards -run '^$' -bench IndexTokenAliasesOverALargeVault
// -benchtime 1x.
func BenchmarkIndexTokenAliasesOverALargeVault(b *testing.B) {
	const cards, workers = 100_000, 64
	ctx := context.Background()
	st, err := boltstore.Open(filepath.Join(b.TempDir(), "vault.db"), boltstore.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Go(func() {
			for i := w; i < cards; i += workers {
				id := fmt.Sprintf("CRD%022d", i)
				rec := fmt.Sprintf(`{"id":%q,"pan_alias":"tok_pan_%d","network_tokens":[{"id":"NTK%d","token_alias":"tok_ntk_%d","state":"active"}]}`,
					id, i, i, i)
				if _, err := st.PutCard(ctx, "ACTaccountA", id, fmt.Sprintf("fp%d", i), []byte(rec)); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for range b.N {
		if err := IndexTokenAliases(ctx, st, st); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	if ids, err := st.CardsByTokenAlias(ctx, "ACTaccountA", "tok_ntk_99999"); err != nil || len(ids) != 1 {
		b.Fatalf("the last card's token after the build: %v %v", ids, err)
	}
}
