package vault

import (
	"context"
	"crypto/sha256"
	"fmt"
	"slices"
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
// values are then looked up as aliases in the persistent store, then those
// it does not hold in the volatile store, one batched read each. A persistent store that is a Prober
// answers both questions in one round trip, and the volatile store is then
// asked only about the candidates found in neither way. A value kept only
// as VOLATILE (a CVC) has no index entry and is not reported as a value.
//
// Values are those of the context's account (the index is per account, see
// WithAccount): the same number held by another account is
// PresenceUnknown, which the leak guard counts as card data all the same.
// So are aliases: a live alias of another account is PresenceUnknown. An
// alias of a card-like format is itself a card-like number (FPE_SIX_T_FOUR
// leaves 100 aliases of a 13-digit card's first six and last four): were
// another account's aliases known, one account could make aliases of every
// number of a chosen BIN and last four, and every other account's leak
// guard would let those card numbers through. An alias of another account
// is no alias to a route of this one either: the route cannot reveal it.
// Known goes through the concurrency bound like every other call; it fails
// as a whole only when a store fails. The persistent store is asked
// first; when it answered and only the volatile store then fails, Known
// returns the persistent store's answers (PresenceUnknown for the
// candidates it could not answer) with the error: an alias PostgreSQL (or
// bbolt) holds is still known while Redis is away.
func (s *Service) Known(ctx context.Context, candidates []string) ([]Presence, error) {
	done, err := s.enter(ctx, opKnown)
	if err != nil {
		return nil, fmt.Errorf("vault: known: %w", err)
	}
	defer done()
	out := make([]Presence, len(candidates))

	// Persistent values: one index look-up over every format each
	// candidate fits (a value may have an alias of each).
	keys, keyIdx := s.valueKeys(s.owner(ctx), candidates)
	if pr, ok := s.persistent.(Prober); ok {
		return s.knownProbed(ctx, pr, candidates, keys, keyIdx, out)
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
	// read (one batched Get per store, the persistent one first) but never
	// decrypted.
	var query []string
	var idx []int
	for i, c := range candidates {
		if out[i] != PresenceValue && c != "" && len(c) <= maxAliasLen {
			query = append(query, c)
			idx = append(idx, i)
		}
	}
	if len(query) == 0 {
		return out, nil
	}
	owner := s.owner(ctx)
	recs, err := s.get(ctx, opKnown, s.persistent, query)
	if err != nil {
		return nil, fmt.Errorf("vault: known: %w", err)
	}
	var rest []string
	var restIdx []int
	for k, r := range recs {
		if r != nil {
			// An alias is in one store only: another account's is
			// not looked for in the volatile store.
			if s.owns(owner, r) {
				out[idx[k]] = PresenceAlias
			}
		} else {
			rest = append(rest, query[k])
			restIdx = append(restIdx, idx[k])
		}
	}
	return s.knownVolatile(ctx, owner, rest, restIdx, out)
}

// The format mask of valueKeys has a bit for every format.
const _ = uint(32 - len(formats))

// valueKeys returns the HMAC index key of each candidate under every format
// it fits (what Redact would index it under), and the candidate of each
// key. One pooled HMAC state and its buffer serve every key
// (Keyring.indexKeyFor computes the same keys one at a time).
func (s *Service) valueKeys(owner string, candidates []string) ([][]byte, []int) {
	// fits[i] has bit k set when candidates[i] fits formats[k].
	fits := make([]uint32, len(candidates))
	n := 0
	for i, c := range candidates {
		if c == "" || len(c) > s.maxValue {
			continue
		}
		for k, f := range formats {
			if f.Check(c) == nil {
				fits[i] |= 1 << k
				n++
			}
		}
	}
	if n == 0 {
		return nil, nil
	}
	m := s.keys.getIndexMAC()
	defer s.keys.putIndexMAC(m)
	const size = sha256.Size
	backing := make([]byte, n*size)
	keys := make([][]byte, 0, n)
	keyIdx := make([]int, 0, n)
	for i, c := range candidates {
		for k, f := range formats {
			if fits[i]&(1<<k) == 0 {
				continue
			}
			j := len(keys)
			keys = append(keys, m.sum(backing[j*size:j*size:(j+1)*size], owner, f, c))
			keyIdx = append(keyIdx, i)
		}
	}
	return keys, keyIdx
}

// Prober is an optional Store method for Service.Known: one round trip
// that reports which aliases are live records and which HMAC index keys
// point at a live record, without reading the records. The Service uses
// it on its persistent store when the store has it (pgstore), else Get and
// LookupIndex.
//
// An alias counts as live only when one of owners (Record.Owner values)
// owns it: Known asks about the context's account's aliases only.
type Prober interface {
	Probe(ctx context.Context, owners []string, aliases []string, keys [][]byte) (live, indexed []bool, err error)
}

// owners returns the Record.Owner values that owner's account owns (see
// owns): owner, and the default account's name too for the default
// account.
func (s *Service) owners(owner string) []string {
	if owner == "" && s.defAccount != "" {
		return []string{"", s.defAccount}
	}
	return []string{owner}
}

// knownProbed is Known over a persistent store that is a Prober: one probe
// of the persistent store, then one Get of the volatile store for the
// candidates found in neither way.
func (s *Service) knownProbed(ctx context.Context, pr Prober, candidates []string, keys [][]byte, keyIdx []int, out []Presence) ([]Presence, error) {
	var query []string
	var idx []int
	for i, c := range candidates {
		if c != "" && len(c) <= maxAliasLen {
			query = append(query, c)
			idx = append(idx, i)
		}
	}
	if len(query) == 0 && len(keys) == 0 {
		return out, nil
	}
	owner := s.owner(ctx)
	live, indexed, err := s.probe(ctx, pr, s.owners(owner), query, keys)
	if err != nil {
		return nil, fmt.Errorf("vault: known: %w", err)
	}
	for j, ok := range indexed {
		if ok {
			out[keyIdx[j]] = PresenceValue
		}
	}
	var rest []string
	var restIdx []int
	for k, ok := range live {
		switch i := idx[k]; {
		case out[i] == PresenceValue:
		case ok:
			out[i] = PresenceAlias
		default:
			rest = append(rest, query[k])
			restIdx = append(restIdx, i)
		}
	}
	return s.knownVolatile(ctx, owner, rest, restIdx, out)
}

// knownVolatile asks the volatile store about the candidates the persistent
// store did not know (rest, at restIdx in out). When it fails, out is
// returned with the error: what the persistent store answered holds (an
// alias PostgreSQL holds is known while Redis is away).
func (s *Service) knownVolatile(ctx context.Context, owner string, rest []string, restIdx []int, out []Presence) ([]Presence, error) {
	if len(rest) == 0 || s.volatile == s.persistent {
		return out, nil
	}
	recs, err := s.get(ctx, opKnown, s.volatile, rest)
	if err != nil {
		return out, fmt.Errorf("vault: known: %w", err)
	}
	for k, r := range recs {
		if r != nil && s.owns(owner, r) {
			out[restIdx[k]] = PresenceAlias
		}
	}
	return out, nil
}

// probe is Prober.Probe on the persistent store, observed as "known".
func (s *Service) probe(ctx context.Context, pr Prober, owners, aliases []string, keys [][]byte) ([]bool, []bool, error) {
	if s.observer == nil {
		return pr.Probe(ctx, owners, aliases, keys)
	}
	t0 := s.since()
	live, indexed, err := pr.Probe(ctx, owners, aliases, keys)
	result := errResult(err)
	if err == nil {
		result = resultNotFound
		if slices.Contains(live, true) || slices.Contains(indexed, true) {
			result = resultOK
		}
	}
	s.observe(opKnown, s.persistent, result, t0)
	return live, indexed, err
}
