package boltstore

import (
	"testing"

	"github.com/aliasgate/aliasgate/vault"
)

// TestLookupListsAsMade: lookupLists(n) gives what LookupRecords made
// before with two makes, n zeroed entries each (one allocation for one
// key), whose entries set do not show in each other.
func TestLookupListsAsMade(t *testing.T) {
	for n := range 5 {
		aliases, recs := lookupLists(n)
		if len(aliases) != n || cap(aliases) != n || len(recs) != n || cap(recs) != n {
			t.Fatalf("lookupLists(%d): %d (cap %d) aliases, %d (cap %d) records", n, len(aliases), cap(aliases), len(recs), cap(recs))
		}
		for i := range n {
			if aliases[i] != "" || recs[i] != nil {
				t.Fatalf("lookupLists(%d): entry %d not zero", n, i)
			}
			aliases[i], recs[i] = "tok", &vault.Record{}
		}
	}
	var aliases []string
	var recs []*vault.Record
	if n := testing.AllocsPerRun(100, func() { aliases, recs = lookupLists(1) }); n != 1 || len(aliases) != 1 || len(recs) != 1 {
		t.Errorf("lookupLists(1): %v allocations, want 1", n)
	}
}
