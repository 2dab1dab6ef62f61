package boltstore_test

import (
	"context"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aliasgate/aliasgate/vault"
	"github.com/aliasgate/aliasgate/vault/boltstore"
)

// TestReadsTreatExpiredRecordsAsGoneAndReadTheClockOnlyForThem: Get and
// LookupRecords read the clock only when they meet a record with an expiry
// (once a call), and such a record is gone from both at and after its
// expiry (read from the file, also after a reopen), live before it; a
// record without an expiry is always live.
func TestReadsTreatExpiredRecordsAsGoneAndReadTheClockOnlyForThem(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "vault.db")
	base := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	var reads atomic.Int64
	var now atomic.Int64 // offset from base
	clock := func() time.Time {
		reads.Add(1)
		return base.Add(time.Duration(now.Load()))
	}
	open := func() *boltstore.Store {
		s, err := boltstore.Open(path, boltstore.Options{Now: clock})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	s := open()
	rec := func(alias string, ik byte, exp time.Time) vault.PutItem {
		return vault.PutItem{Record: &vault.Record{Alias: alias, Format: vault.Format("UUID"),
			Storage: vault.Storage("PERSISTENT"), KeyVersion: 1, Ciphertext: make([]byte, 44),
			CreatedAt: base, ExpiresAt: exp, IndexKey: []byte{ik, 1, 2, 3}}}
	}
	exp := base.Add(time.Minute)
	res, err := s.Put(ctx, []vault.PutItem{rec("tok_forever", 1, time.Time{}), rec("tok_expiring", 2, exp)})
	if err != nil || res[0].Status != vault.PutCreated || res[1].Status != vault.PutCreated {
		t.Fatalf("Put: %v %v", res, err)
	}
	check := func(label string, live bool) {
		t.Helper()
		// No record with an expiry met: no clock read.
		reads.Store(0)
		got, err := s.Get(ctx, []string{"tok_forever", "tok_missing"})
		if err != nil || got[0] == nil || got[1] != nil {
			t.Fatalf("%s: Get(forever, missing) = %v, %v", label, got, err)
		}
		_, recs, err := s.LookupRecords(ctx, [][]byte{{1, 1, 2, 3}, {9}})
		if err != nil || recs[0] == nil || recs[1] != nil {
			t.Fatalf("%s: LookupRecords(forever, missing) = %v, %v", label, recs, err)
		}
		if n := reads.Load(); n != 0 {
			t.Fatalf("%s: %d clock reads for records without expiry", label, n)
		}
		// The expiring record, twice in one call: one clock read a call.
		reads.Store(0)
		got, err = s.Get(ctx, []string{"tok_expiring", "tok_forever", "tok_expiring"})
		if err != nil || (got[0] != nil) != live || (got[2] != nil) != live || got[1] == nil {
			t.Fatalf("%s: Get = %v, %v; want live %v", label, got, err, live)
		}
		_, recs, err = s.LookupRecords(ctx, [][]byte{{2, 1, 2, 3}, {1, 1, 2, 3}, {2, 1, 2, 3}})
		if err != nil || (recs[0] != nil) != live || (recs[2] != nil) != live || recs[1] == nil {
			t.Fatalf("%s: LookupRecords = %v, %v; want live %v", label, recs, err, live)
		}
		if n := reads.Load(); n != 2 {
			t.Fatalf("%s: %d clock reads for two calls, want 2", label, n)
		}
	}
	now.Store(int64(time.Minute - time.Nanosecond))
	check("before expiry", true)
	now.Store(int64(time.Minute))
	check("at expiry", false)
	now.Store(int64(time.Hour))
	check("after expiry", false)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = open()
	defer s.Close()
	check("reopened, after expiry", false)
	now.Store(0)
	check("reopened, before expiry", true)
}
