package memstore

// QueueLen returns the length of the expiry queue (tests).
func QueueLen(s *Store) int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.expq.len()
}

// SlabBytes returns the bytes of the slabs held and of the live records in
// them (tests).
func SlabBytes(s *Store) (total, live int) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.slabs.total, s.slabs.live
}

// SlabSize and CompactSlack are slabSize and compactSlack (tests).
const SlabSize, CompactSlack = slabSize, compactSlack

// Compact copies the live records into new slabs, as the store does when
// its slabs are wasteful (benchmarks).
func Compact(s *Store) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.compactLocked()
}

// SlabMemory returns the memory of every slab held, to its capacity
// (tests: it stays readable after the store lets the slab go).
func SlabMemory(s *Store) [][]byte {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out [][]byte
	for _, sl := range s.slabs.s {
		if sl.b != nil {
			out = append(out, sl.b[:cap(sl.b)])
		}
	}
	return out
}
