package memstore

// QueueLen returns the length of the expiry queue (tests).
func QueueLen(s *Store) int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.expq)
}
