package boltstore_test

import (
	"context"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/aliasgate/aliasgate/vault"
	"github.com/aliasgate/aliasgate/vault/boltstore"
)

// benchStore opens a store holding one card number's record (alias
// tok_pan, index key ik) among 10,000 others, as a gateway's vault holds
// it.
func benchStore(b *testing.B) (*boltstore.Store, []byte) {
	b.Helper()
	s, err := boltstore.Open(filepath.Join(b.TempDir(), "vault.db"), boltstore.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	ctx := context.Background()
	rec := func(alias string, ik []byte) vault.PutItem {
		return vault.PutItem{Record: &vault.Record{Alias: alias, Format: vault.Format("FPE_SIX_T_FOUR"),
			Storage: vault.Storage("PERSISTENT"), KeyVersion: 1, Ciphertext: make([]byte, 44),
			Classifiers: []string{"pan"}, CreatedAt: time.Unix(1e9, 0), IndexKey: ik}}
	}
	var items []vault.PutItem
	for i := range 10000 {
		ik := make([]byte, 32)
		ik[0], ik[1], ik[2] = byte(i), byte(i>>8), 7
		items = append(items, rec("tok_"+strconv.Itoa(i), ik))
		if len(items) == 500 {
			if _, err := s.Put(ctx, items); err != nil {
				b.Fatal(err)
			}
			items = items[:0]
		}
	}
	ik := make([]byte, 32)
	ik[31] = 9
	if res, err := s.Put(ctx, []vault.PutItem{rec("tok_pan", ik)}); err != nil || res[0].Status != vault.PutCreated {
		b.Fatal(res, err)
	}
	return s, ik
}

// BenchmarkLookupRecordsKnown is the store's part of the redaction of a
// card number already in the vault (scenario 1): its index key found, its
// record read.
func BenchmarkLookupRecordsKnown(b *testing.B) {
	s, ik := benchStore(b)
	ctx := context.Background()
	keys := [][]byte{ik}
	b.ReportAllocs()
	for b.Loop() {
		aliases, recs, err := s.LookupRecords(ctx, keys)
		if err != nil || aliases[0] != "tok_pan" || recs[0] == nil {
			b.Fatal(aliases, recs, err)
		}
	}
}

// BenchmarkGetLive is the store's part of the reveal of scenario 3: the
// card number's alias (held) and the CVC's (not held: a volatile alias).
func BenchmarkGetLive(b *testing.B) {
	s, _ := benchStore(b)
	ctx := context.Background()
	aliases := []string{"tok_pan", "tok_cvc_not_here"}
	b.ReportAllocs()
	for b.Loop() {
		recs, err := s.Get(ctx, aliases)
		if err != nil || recs[0] == nil || recs[1] != nil {
			b.Fatal(recs, err)
		}
	}
}
