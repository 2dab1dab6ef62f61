package memstore

// The encoded records live in slabs: large byte slices filled in order, so
// that the records map holds no pointer at all (an entry names its bytes by
// slab and offset) and the garbage collector has nothing to follow or mark
// per record, only one object per slab. Volatile records all get the same
// TTL and are written in time order, so they expire (and are evicted) in
// about the order they were written: a slab is freed whole once the last
// record in it is gone, within a TTL of its last write. Records deleted or
// replaced before their neighbours (a delete, new classifiers) leave dead
// bytes behind; when the slabs hold more than twice the live bytes (plus a
// few slabs of slack), the store copies the live records into new slabs,
// which bounds the memory a stream of replacements can pin. See
// docs/DECISIONS.md.
//
// The bytes of a record are wiped (zeroed) when it is dropped (expired,
// evicted, deleted or replaced), and the slabs a compaction leaves or
// Close lets go are wiped whole: an expired CVC's ciphertext does not stay
// in the process's memory, next to the data key that opens it, until its
// slab is freed and the memory reused.

// slabSize is the size of a slab; a record larger than it gets a slab of
// its own size.
const slabSize = 256 << 10

// compactSlack is how many slabs of dead bytes are tolerated before the
// twice-the-live-bytes rule applies (a store that holds little).
const compactSlack = 4

// ref names the bytes of one record: a slab and a range in it.
type ref struct {
	slab, off, n uint32
}

// slab is one slice of encoded records and the number of their bytes still
// in use.
type slab struct {
	b    []byte // nil once freed
	live int
}

// slabs is the set of slabs of a Store; it is guarded by the Store's lock.
type slabs struct {
	s     []slab
	free  []uint32 // indexes in s of freed slabs, for reuse
	cur   uint32   // the slab being filled, when has
	has   bool
	total int // bytes of the slabs held (their capacity)
	live  int // bytes of the records held
}

// put copies enc into the slab being filled (or a new one) and returns
// where it is.
func (sl *slabs) put(enc []byte) ref {
	if !sl.has || cap(sl.s[sl.cur].b)-len(sl.s[sl.cur].b) < len(enc) {
		sl.start(len(enc))
	}
	c := &sl.s[sl.cur]
	off := len(c.b)
	c.b = append(c.b, enc...)
	c.live += len(enc)
	sl.live += len(enc)
	return ref{slab: sl.cur, off: uint32(off), n: uint32(len(enc))}
}

// start makes a new slab, for at least n bytes, the one being filled; the
// one before is freed if nothing in it is live.
func (sl *slabs) start(n int) {
	b := make([]byte, 0, max(slabSize, n))
	var i uint32
	if k := len(sl.free); k > 0 {
		i = sl.free[k-1]
		sl.free = sl.free[:k-1]
		sl.s[i] = slab{b: b}
	} else {
		i = uint32(len(sl.s))
		sl.s = append(sl.s, slab{b: b})
	}
	prev, had := sl.cur, sl.has
	sl.cur, sl.has = i, true
	sl.total += cap(b)
	if had && sl.s[prev].live == 0 {
		sl.release(prev)
	}
}

// bytes returns the bytes at r (the slab's own memory: read them under the
// Store's lock, and copy what is kept).
func (sl *slabs) bytes(r ref) []byte {
	end := r.off + r.n
	return sl.s[r.slab].b[r.off:end:end]
}

// drop marks the bytes at r dead, and frees their slab when nothing in it
// is live and it is not the one being filled.
func (sl *slabs) drop(r ref) {
	c := &sl.s[r.slab]
	clear(c.b[r.off : r.off+r.n])
	c.live -= int(r.n)
	sl.live -= int(r.n)
	if c.live == 0 && !(sl.has && r.slab == sl.cur) {
		sl.release(r.slab)
	}
}

func (sl *slabs) release(i uint32) {
	sl.total -= cap(sl.s[i].b)
	sl.s[i] = slab{}
	sl.free = append(sl.free, i)
}

// wasteful reports whether the slabs hold more than twice the live bytes,
// beyond compactSlack slabs.
func (sl *slabs) wasteful() bool {
	return sl.total > 2*sl.live+compactSlack*slabSize
}

// wipe zeroes every slab (their records were dropped or copied elsewhere)
// and lets them go.
func (sl *slabs) wipe() {
	for i := range sl.s {
		clear(sl.s[i].b)
	}
	*sl = slabs{}
}
