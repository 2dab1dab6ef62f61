package memstore

// queue is the expiry queue's storage: a min-heap of qent (by expiry, then
// seq) kept in fixed-size chunks instead of one slice. A gateway's volatile
// store holds an entry per CVC of the last TTL, a million under load: one
// slice of them is copied whole each time append doubles it (tens of
// megabytes, in the path of the Put that crosses the bound), and both
// copies are touched; chunks are allocated once each and never copied.
// The first chunk grows as a slice does up to qChunk entries, so that a
// small store holds little. It is guarded by the Store's lock.
type queue struct {
	chunks [][]qent // every chunk but the last holds qChunk entries
	n      int
}

// qShift sets the chunk size: 4096 entries (288 KiB).
const (
	qShift = 12
	qChunk = 1 << qShift
	qMask  = qChunk - 1
)

func (q *queue) len() int { return q.n }

// at returns the i-th entry of the heap (0 <= i < q.len()).
func (q *queue) at(i int) *qent { return &q.chunks[i>>qShift][i&qMask] }

// add appends e at the end (no sift).
func (q *queue) add(e qent) {
	k := len(q.chunks)
	if k == 0 || len(q.chunks[k-1]) == qChunk {
		var c []qent // the first chunk grows from nothing
		if k > 0 {
			c = make([]qent, 0, qChunk)
		}
		q.chunks = append(q.chunks, c)
		k++
	}
	last := &q.chunks[k-1]
	if len(*last) == cap(*last) { // the first chunk, growing: the others are made whole
		grown := make([]qent, len(*last), min(max(2*cap(*last), 16), qChunk))
		copy(grown, *last)
		*last = grown
	}
	*last = append(*last, e)
	q.n++
}

// removeLast removes the last entry and returns it. A chunk emptied is
// released once the one before it is empty too (one spare chunk is kept,
// so that a queue going up and down across a chunk's edge does not
// allocate each time).
func (q *queue) removeLast() qent {
	k := len(q.chunks) - 1
	if len(q.chunks[k]) == 0 {
		q.chunks[k] = nil
		q.chunks = q.chunks[:k]
		k--
	}
	c := q.chunks[k]
	e := c[len(c)-1]
	c[len(c)-1] = qent{}
	q.chunks[k] = c[:len(c)-1]
	q.n--
	return e
}

// push adds e to the heap.
func (q *queue) push(e qent) {
	q.add(e)
	q.siftUp(q.n - 1)
}

// siftUp moves the entry at i up to its place.
func (q *queue) siftUp(i int) {
	for i > 0 {
		p := (i - 1) / 2
		c, pe := q.at(i), q.at(p)
		if !c.before(*pe) {
			return
		}
		*c, *pe = *pe, *c
		i = p
	}
}

// pop removes the heap's first entry and returns it (q.len() > 0).
func (q *queue) pop() qent {
	top := *q.at(0)
	last := q.removeLast()
	if q.n > 0 {
		*q.at(0) = last
		q.siftDown(0)
	}
	return top
}

// siftDown moves the entry at i down to its place. The entry is held
// aside while the children that come before it move up into the hole: one
// copy of an entry a level, not a swap.
func (q *queue) siftDown(i int) {
	x := *q.at(i)
	hole := q.at(i)
	for {
		l := 2*i + 1
		if l >= q.n {
			break
		}
		m, c := l, q.at(l)
		if r := l + 1; r < q.n {
			if rc := q.at(r); rc.before(*c) {
				m, c = r, rc
			}
		}
		if !c.before(x) {
			break
		}
		*hole = *c
		hole, i = c, m
	}
	*hole = x
}

// heapify orders entries added with add into a heap.
func (q *queue) heapify() {
	for i := q.n/2 - 1; i >= 0; i-- {
		q.siftDown(i)
	}
}
