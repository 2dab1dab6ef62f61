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
