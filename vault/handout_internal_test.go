package vault

import (
	"fmt"
	"testing"
	"time"
)

// TestHandedCacheStaysBounded: the cache of records a Service handed out
// holds at most maxHandedCache records; when full, the records older than
// HandOutWindow make room, and a cache full of young ones takes no more
// (the store is asked again for those).
func TestHandedCacheStaysBounded(t *testing.T) {
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	var c handedCache
	rec := func(i int, created time.Time) *Record {
		return &Record{Alias: fmt.Sprintf("tok_%d", i), CreatedAt: created}
	}
	var keys []handedKey
	for i := range maxHandedCache {
		keys = append(keys, keyOfRecord(rec(i, t0)))
	}
	c.add(keys, t0)
	late := rec(maxHandedCache, t0.Add(time.Minute))
	c.add([]handedKey{keyOfRecord(late)}, t0.Add(time.Minute))
	if c.has(late) || len(c.m) != maxHandedCache {
		t.Fatalf("a full cache of young records took one more (%d records)", len(c.m))
	}
	if !c.has(rec(0, t0)) || c.has(rec(0, t0.Add(time.Nanosecond))) {
		t.Fatal("a record is not told from another record of the same alias")
	}
	now := t0.Add(HandOutWindow)
	c.add([]handedKey{keyOfRecord(late)}, now)
	if !c.has(late) || len(c.m) != 1 {
		t.Fatalf("the records older than the window did not make room: %d records, late one kept %v", len(c.m), c.has(late))
	}
}
