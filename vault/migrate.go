package vault

import (
	"context"
	"errors"
	"fmt"
)

// The accounts migration. A vault written before accounts existed holds
// every record without an owner: the default account's. Records that
// something of another account references (a card of the Card Management
// API) are given to that account by MigrateRecord, which the caller (the
// cards' migration, cards.MigrateAccounts) runs once per reference. It is
// idempotent, so a migration stopped half way is run again from the start.

// MigrateRecord gives account a record of its own of the value behind
// alias, a record of the default account, and returns the alias that
// account now reaches it by:
//
//   - with reown, the record itself becomes account's (Store.SetOwner), in
//     place: its alias stays, so whatever account held it keeps working;
//     a persistent record takes account's index key (unless account already
//     has an alias of that value and format, whose index entry then stays),
//     and the default account loses it.
//   - without, the default account keeps it, and account gets its own
//     alias of the value: the alias account's index already holds for a
//     persistent value (its deterministic alias), else a new record of the
//     same format, storage, classifiers and expiry.
//
// An alias account already owns is returned unchanged, so a repeat is a
// no-op (a volatile copy is the exception: a repeat after a crash makes
// another one, which expires like the first). ErrNotFound when the alias is
// absent, expired or owned by an account other than the default one: a
// record is only ever taken from the default account, which is the owner
// every record had before accounts existed. Nothing is audited: no value
// leaves the vault.
func (s *Service) MigrateRecord(ctx context.Context, alias, account string, reown bool) (string, error) {
	if err := CheckAccount(account); err != nil {
		return "", fmt.Errorf("vault: migrate: %w", err)
	}
	to := account
	if to == s.defAccount {
		to = ""
	}
	recs, err := s.lookupAnyOwner(ctx, opMigrate, []string{alias})
	if err != nil {
		return "", fmt.Errorf("vault: migrate: %w", err)
	}
	r := recs[0]
	switch {
	case r.rec == nil:
		return "", ErrNotFound
	case s.owns(to, r.rec):
		return alias, nil
	case !s.owns("", r.rec):
		return "", ErrNotFound // another account's: never moved
	}
	v, err := s.keys.open(ctx, r.rec)
	if err != nil {
		return "", fmt.Errorf("vault: migrate: %w", err)
	}
	defer clear(v)
	var idx []byte
	if r.rec.Storage == StoragePersistent {
		idx = s.keys.indexKeyFor(to, r.rec.Format, string(v))
	}
	if reown {
		return s.reown(ctx, r, to, idx)
	}
	return s.copyFor(ctx, r.rec, to, idx, v)
}

// reown is MigrateRecord's SetOwner. A retry of a SetOwner whose answer was
// lost answers ErrNotFound: the record is read again, and one now owned by
// to was this call's.
func (s *Service) reown(ctx context.Context, r found, to string, idx []byte) (string, error) {
	alias := r.rec.Alias
	err := r.store.SetOwner(ctx, alias, r.rec.Owner, to, idx)
	if errors.Is(err, ErrNotFound) {
		recs, gerr := s.get(ctx, opMigrate, r.store, []string{alias})
		if gerr != nil {
			return "", fmt.Errorf("vault: migrate: %w", gerr)
		}
		if recs[0] != nil && recs[0].Owner == to {
			return alias, nil
		}
		return "", ErrNotFound
	}
	if err != nil {
		return "", fmt.Errorf("vault: migrate: %w", err)
	}
	return alias, nil
}

// copyFor is MigrateRecord's copy: the deterministic alias of the value in
// to's account, made when it has none.
func (s *Service) copyFor(ctx context.Context, rec *Record, to string, idx, value []byte) (string, error) {
	it := item{value: value, format: rec.Format, storage: rec.Storage, classifiers: rec.Classifiers,
		indexKey: idx, owner: to}
	dst, other := s.persistent, s.volatile
	if rec.Storage == StorageVolatile {
		it.expiresAt = rec.ExpiresAt
		dst, other = s.volatile, s.persistent
	} else {
		found, err := s.lookupIndex(ctx, opMigrate, s.persistent, [][]byte{idx})
		if err != nil {
			return "", fmt.Errorf("vault: migrate: %w", err)
		}
		if found[0] != "" {
			return found[0], nil
		}
	}
	items := []item{it}
	out := make([]Token, 1)
	made, err := s.write(ctx, items, out, rec.Storage, dst, other, nil, nil)
	if err != nil {
		return "", s.rollback(ctx, made, fmt.Errorf("vault: migrate: %w", err))
	}
	return out[0].Alias, nil
}
