package vault

import (
	"context"
	"errors"
	"slices"
	"time"
)

// Observer receives one observation per store operation the Service makes
// (for metrics such as aliasgate_vault_operations_total). It must be safe
// for concurrent use and fast: it is called on every request's path.
//
// op is the Service call that made the store operation: "redact",
// "reveal", "describe", "known", "delete" or "update". store is the
// store's name (StoreNamer; "other" for a store without one), or "-" when
// the call was refused before reaching a store. result is "ok",
// "not_found" (nothing found, or nothing to delete or update), "error",
// or, with store "-", "busy" (over Options.MaxConcurrent), "canceled"
// (the context ended while waiting for a slot) or "share_full" (a Redact
// over its account's Options.VolatileShare; d is 0). d is how long the store
// operation (or the wait for a slot) took. No alias, value or other
// request data is ever passed.
type Observer interface {
	ObserveVault(op, store, result string, d time.Duration)
}

// StoreNamer is implemented by stores that have a short fixed name for
// metrics: "bolt", "postgres", "redis", "memory".
type StoreNamer interface {
	StoreName() string
}

// Observation results.
const (
	resultOK       = "ok"
	resultNotFound = "not_found"
	resultError    = "error"
	resultRefused  = "refused"
	resultBusy     = "busy"
	resultCanceled = "canceled"
)

// Service operations, as passed to the Observer.
const (
	opRedact   = "redact"
	opReveal   = "reveal"
	opDescribe = "describe"
	opKnown    = "known"
	opDelete   = "delete"
	opUpdate   = "update"
	opMigrate  = "migrate"
)

// noStore is the store label of a call refused before it reached a store.
const noStore = "-"

// storeName returns the metrics name of st.
func storeName(st Store) string {
	if n, ok := st.(StoreNamer); ok {
		if name := n.StoreName(); name != "" {
			return name
		}
	}
	return "other"
}

// nameOf returns the metrics name of one of the Service's stores.
func (s *Service) nameOf(st Store) string {
	if st == s.persistent {
		return s.persistentName
	}
	if st == s.volatile {
		return s.volatileName
	}
	return storeName(st)
}

// enter takes a slot of the concurrency bound for op, observing a refusal.
// The clock is read only when no slot is free at once: a call that does
// not wait has no refusal to time.
func (s *Service) enter(ctx context.Context, op string) (func(), error) {
	if s.observer == nil {
		return s.gate.enter(ctx)
	}
	if done, ok := s.gate.tryEnter(); ok {
		return done, nil
	}
	t0 := s.since()
	done, err := s.gate.waitSlot(ctx)
	if err != nil {
		result := resultCanceled
		if errors.Is(err, ErrBusy) {
			result = resultBusy
		}
		s.observer.ObserveVault(op, noStore, result, s.since()-t0)
	}
	return done, err
}

// since returns the time elapsed since the Service was made (New), on
// the monotonic clock: the difference of two readings is what time.Since
// of a time.Now() read at the first gives, but a reading reads only the
// monotonic clock (time.Now reads the wall clock too), which is all an
// observation's duration needs.
func (s *Service) since() time.Duration { return time.Since(s.epoch) }

// observe reports one store operation that started at t0 (since).
func (s *Service) observe(op string, st Store, result string, t0 time.Duration) {
	s.observer.ObserveVault(op, s.nameOf(st), result, s.since()-t0)
}

// errResult returns resultError, resultNotFound for ErrNotFound, or
// resultRefused for ErrStoreRefused (an operator must act: alert on it).
func errResult(err error) string {
	switch {
	case err == nil:
		return resultOK
	case errors.Is(err, ErrNotFound):
		return resultNotFound
	case errors.Is(err, ErrStoreRefused):
		return resultRefused
	}
	return resultError
}

// get is st.Get, observed as op.
func (s *Service) get(ctx context.Context, op string, st Store, aliases []string) ([]*Record, error) {
	if s.observer == nil {
		return st.Get(ctx, aliases)
	}
	t0 := s.since()
	recs, err := st.Get(ctx, aliases)
	result := errResult(err)
	if err == nil {
		result = resultNotFound
		for _, r := range recs {
			if r != nil {
				result = resultOK
				break
			}
		}
	}
	s.observe(op, st, result, t0)
	return recs, err
}

// lookupIndex is st.LookupIndex, observed as op.
func (s *Service) lookupIndex(ctx context.Context, op string, st Store, keys [][]byte) ([]string, error) {
	if s.observer == nil {
		return st.LookupIndex(ctx, keys)
	}
	t0 := s.since()
	found, err := st.LookupIndex(ctx, keys)
	s.observe(op, st, indexResult(found, err), t0)
	return found, err
}

// indexResult is the result of an index look-up: resultOK when a key
// pointed at an alias, resultNotFound when none did.
func indexResult(found []string, err error) string {
	if err != nil {
		return errResult(err)
	}
	if slices.ContainsFunc(found, func(a string) bool { return a != "" }) {
		return resultOK
	}
	return resultNotFound
}

// lookupRecords is st.LookupRecords, observed as op (as lookupIndex).
func (s *Service) lookupRecords(ctx context.Context, op string, st Store, keys [][]byte) ([]string, []*Record, error) {
	if s.observer == nil {
		return st.LookupRecords(ctx, keys)
	}
	t0 := s.since()
	found, recs, err := st.LookupRecords(ctx, keys)
	s.observe(op, st, indexResult(found, err), t0)
	return found, recs, err
}

// put is st.Put, observed as op.
func (s *Service) put(ctx context.Context, op string, st Store, items []PutItem) ([]PutResult, error) {
	if s.observer == nil {
		return st.Put(ctx, items)
	}
	t0 := s.since()
	res, err := st.Put(ctx, items)
	s.observe(op, st, errResult(err), t0)
	return res, err
}

// deleteAlias is st.Delete, observed as op.
func (s *Service) deleteAlias(ctx context.Context, op string, st Store, alias, owner string) error {
	if s.observer == nil {
		return st.Delete(ctx, alias, owner)
	}
	t0 := s.since()
	err := st.Delete(ctx, alias, owner)
	s.observe(op, st, errResult(err), t0)
	return err
}

// releaseAlias is st.Release, observed as op (a record kept,
// ErrHandedOut, is an answer: "ok").
func (s *Service) releaseAlias(ctx context.Context, op string, st Store, alias, owner string) error {
	if s.observer == nil {
		return st.Release(ctx, alias, owner)
	}
	t0 := s.since()
	err := st.Release(ctx, alias, owner)
	result := errResult(err)
	if errors.Is(err, ErrHandedOut) {
		result = resultOK
	}
	s.observe(op, st, result, t0)
	return err
}

// handOutAliases is st.HandOut, observed as op.
func (s *Service) handOutAliases(ctx context.Context, op string, st Store, aliases []string) ([]bool, error) {
	if s.observer == nil {
		return st.HandOut(ctx, aliases)
	}
	t0 := s.since()
	live, err := st.HandOut(ctx, aliases)
	s.observe(op, st, errResult(err), t0)
	return live, err
}

// setClassifiers is st.SetClassifiers, observed as op.
func (s *Service) setClassifiers(ctx context.Context, op string, st Store, aliases, classifiers []string) error {
	if s.observer == nil {
		return st.SetClassifiers(ctx, aliases, classifiers)
	}
	t0 := s.since()
	err := st.SetClassifiers(ctx, aliases, classifiers)
	s.observe(op, st, errResult(err), t0)
	return err
}
