package memstore

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// TestQueueIsAHeapAcrossChunks: the chunked queue pops its entries in
// order (by expiry, then seq) against a sorted reference, whatever the
// mix of pushes, appends at the end (Store.pushLocked's fast path),
// pops and rebuilds (add then heapify), across the edges of its chunks
// (going up and down over them) and down to empty.
func TestQueueIsAHeapAcrossChunks(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var q queue
	var ref []qent // every entry held, in no order
	seq := uint64(0)
	var hi qent // the greatest entry pushed, as Store.qmax
	entry := func() qent {
		seq++
		e := qent{exp: int64(rng.IntN(5000)), seq: seq}
		e.key.n = uint8(seq % 40)
		return e
	}
	cmp := func(a, b qent) int {
		if a.before(b) {
			return -1
		}
		if b.before(a) {
			return 1
		}
		return 0
	}
	// popN pops n entries, which must come in the order of the sorted
	// reference (no push in between).
	popN := func(n int) {
		slices.SortFunc(ref, cmp)
		for i := range n {
			if got := q.pop(); got != ref[i] {
				t.Fatalf("pop = %+v, want %+v (len %d)", got, ref[i], len(ref)-i)
			}
		}
		ref = ref[n:]
	}
	for round := range 6 {
		// Grow well past two chunks, with both kinds of push.
		for range 3*qChunk + rng.IntN(qChunk) {
			e := entry()
			if round%2 == 0 {
				e.exp = hi.exp + int64(rng.IntN(2)) // not before anything held: appended
			}
			if !e.before(hi) {
				hi = e
				q.add(e)
			} else {
				q.push(e)
			}
			ref = append(ref, e)
		}
		if round == 3 { // a rebuild: the entries added in no order, then ordered
			var r queue
			for _, e := range ref {
				r.add(e)
			}
			r.heapify()
			q = r
		}
		// Shrink across chunk edges, then grow a little again.
		popN(qChunk + rng.IntN(2*qChunk))
		if q.len() != len(ref) {
			t.Fatalf("len %d, want %d", q.len(), len(ref))
		}
	}
	popN(len(ref))
	if q.len() != 0 || len(q.chunks) > 1 {
		t.Fatalf("empty queue: len %d, %d chunks kept", q.len(), len(q.chunks))
	}
}
