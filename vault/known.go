package vault

import (
	"context"
	"fmt"
)

// Presence is what the vault holds under a string, as Known reports it.
type Presence uint8

// Presences, from the least to the most sensitive.
const (
	// PresenceUnknown: the string is neither a live alias nor a value the
	// vault holds persistently.
	PresenceUnknown Presence = iota
	// PresenceAlias: the string is a live alias (persistent, or volatile
	// and not expired) and not a value the vault holds persistently.
	PresenceAlias
	// PresenceValue: the vault holds the string as a persistent value (its
	// HMAC index has an entry for it under some format), whether or not an
	// alias with the same characters also exists. It is card data, not an
	// alias.
	PresenceValue
)

// String returns "unknown", "alias" or "value".
func (p Presence) String() string {
	switch p {
	case PresenceUnknown:
		return "unknown"
	case PresenceAlias:
		return "alias"
	case PresenceValue:
		return "value"
	}
	return fmt.Sprintf("Presence(%d)", uint8(p))
}

// Known reports, for each candidate in order, whether it is a live alias or
// a value the vault holds persistently (see Presence), for the leak guard's
// question "is this card-like number an alias, or card data?". It decrypts
// nothing and writes no audit line: the records read are not opened, and
// nothing stored is returned.
//
// A value is found through the HMAC index (one key per format the
// candidate fits), in one batched look-up; the candidates that are not
// values are then looked up as aliases in the volatile and the persistent
// store, one batched read each. A value kept only as VOLATILE (a CVC) has
// no index entry and is not reported as a value. Known goes through the
// concurrency bound like every other call; it fails as a whole only when a
// store fails.
func (s *Service) Known(ctx context.Context, candidates []string) ([]Presence, error) {
	done, err := s.enter(ctx, opKnown)
	if err != nil {
		return nil, fmt.Errorf("vault: known: %w", err)
	}
	defer done()
	out := make([]Presence, len(candidates))

	// Persistent values: one index look-up over every format each
	// candidate fits (a value may have an alias of each).
	var keys [][]byte
	var keyIdx []int
	for i, c := range candidates {
		if c == "" || len(c) > MaxValueLen {
			continue
		}
		for _, f := range formats {
			if f.Check(c) == nil {
				keys = append(keys, s.keys.indexKeyFor(f, c))
				keyIdx = append(keyIdx, i)
			}
		}
	}
	if len(keys) > 0 {
		found, err := s.lookupIndex(ctx, opKnown, s.persistent, keys)
		if err != nil {
			return nil, fmt.Errorf("vault: known: %w", err)
		}
		for j, a := range found {
			if a != "" {
				out[keyIdx[j]] = PresenceValue
			}
		}
	}

	// Aliases, among the candidates that are not values: the records are
	// read (one batched Get per store) but never decrypted.
	var query []string
	var idx []int
	for i, c := range candidates {
		if out[i] != PresenceValue {
			query = append(query, c)
			idx = append(idx, i)
		}
	}
	if len(query) == 0 {
		return out, nil
	}
	recs, err := s.lookup(ctx, opKnown, query)
	if err != nil {
		return nil, fmt.Errorf("vault: known: %w", err)
	}
	for k, r := range recs {
		if r.rec != nil {
			out[idx[k]] = PresenceAlias
		}
	}
	return out, nil
}
