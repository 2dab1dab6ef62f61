package boltstore

import (
	"bytes"
	"context"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/aliasgate/aliasgate/vault"
)

var (
	_ vault.Exporter = (*Store)(nil)
	_ vault.Importer = (*Store)(nil)
	_ vault.Rekeyer  = (*Store)(nil)
)

// ScanRecords implements vault.Exporter.
func (s *Store) ScanRecords(_ context.Context, after string, limit int) ([]*vault.Record, error) {
	now := s.now()
	var out []*vault.Record
	err := s.view(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketAliases).Cursor()
		k, v := seekAfter(c, []byte(after))
		for ; k != nil && len(out) < limit; k, v = c.Next() {
			r, err := vault.UnmarshalRecord(string(k), v)
			if err != nil {
				return err
			}
			if r.Storage != vault.StoragePersistent || r.Expired(now) {
				continue
			}
			out = append(out, r)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("boltstore: scan records: %w", err)
	}
	return out, nil
}

// seekAfter positions c on the first key greater than after ("" or nil:
// the first key).
func seekAfter(c *bolt.Cursor, after []byte) (k, v []byte) {
	if len(after) == 0 {
		return c.First()
	}
	k, v = c.Seek(after)
	if k != nil && bytes.Equal(k, after) {
		k, v = c.Next()
	}
	return k, v
}

// ScanMeta implements vault.Exporter; the schema version is left out.
func (s *Store) ScanMeta(context.Context) (map[string][]byte, error) {
	out := map[string][]byte{}
	err := s.view(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketMeta).ForEach(func(k, v []byte) error {
			if !bytes.Equal(k, keySchema) {
				out[string(k)] = bytes.Clone(v)
			}
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("boltstore: scan meta: %w", err)
	}
	return out, nil
}

// ScanClients implements vault.Exporter.
func (s *Store) ScanClients(_ context.Context, after string, limit int) ([]vault.ClientDump, error) {
	var out []vault.ClientDump
	err := s.view(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketClients).Cursor()
		for k, v := seekAfter(c, []byte(after)); k != nil && len(out) < limit; k, v = c.Next() {
			out = append(out, vault.ClientDump{ID: string(k), Record: bytes.Clone(v)})
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("boltstore: scan clients: %w", err)
	}
	return out, nil
}

// ScanCards implements vault.Exporter. The card key is the bucket key
// (account ‖ 0 ‖ id), so bucket order is CardDump.Key order.
func (s *Store) ScanCards(_ context.Context, after string, limit int) ([]vault.CardDump, error) {
	var out []vault.CardDump
	err := s.view(func(tx *bolt.Tx) error {
		out = nil
		c := tx.Bucket(bucketCards).Cursor()
		for k, v := seekAfter(c, []byte(after)); k != nil && len(out) < limit; k, v = c.Next() {
			account, id, ok := bytes.Cut(k, []byte{0})
			if !ok {
				return fmt.Errorf("card key %q: %w", k, ErrCorrupt)
			}
			d := vault.CardDump{Account: string(account), ID: string(id), Record: bytes.Clone(v)}
			d.Updates = cardUpdates(tx, d.Account, d.ID)
			out = append(out, d)
		}
		fingerprintsOf(tx, out)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("boltstore: scan cards: %w", err)
	}
	return out, nil
}

// fingerprintsOf sets the fingerprint of each card of page from the
// fingerprint entry that points at it (the first in key order): one scan
// of the entries of each account of the page, ending once each of its
// cards is found, rather than one per card. Scanning once per card made a
// full scan (serve's index builds at start, vault copy) quadratic in an
// account's cards: 280 s over 100,000 cards.
func fingerprintsOf(tx *bolt.Tx, page []vault.CardDump) {
	want := map[string]map[string]int{} // account → card id → index in page
	for i, d := range page {
		if want[d.Account] == nil {
			want[d.Account] = map[string]int{}
		}
		want[d.Account][d.ID] = i
	}
	for account, ids := range want {
		prefix := append([]byte(account), 0)
		c := tx.Bucket(bucketCardsByFinger).Cursor()
		for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix) && len(ids) > 0; k, v = c.Next() {
			if i, ok := ids[string(v)]; ok {
				page[i].Fingerprint = string(k[len(prefix):])
				delete(ids, string(v))
			}
		}
	}
}

func cardUpdates(tx *bolt.Tx, account, id string) [][]byte {
	var out [][]byte
	prefix := append(cardKey(account, id), 0)
	c := tx.Bucket(bucketCardUpdates).Cursor()
	for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix) && len(k) == len(prefix)+8; k, v = c.Next() {
		out = append(out, bytes.Clone(v))
	}
	return out
}

// ImportClient implements vault.Importer.
func (s *Store) ImportClient(ctx context.Context, d vault.ClientDump) error {
	err := s.update(ctx, func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketClients)
		if v := b.Get([]byte(d.ID)); v != nil {
			if bytes.Equal(v, d.Record) {
				return nil
			}
			return vault.ErrConflict
		}
		return b.Put([]byte(d.ID), d.Record)
	})
	if err != nil {
		return fmt.Errorf("boltstore: import client: %w", err)
	}
	return nil
}

// ImportCard implements vault.Importer.
func (s *Store) ImportCard(ctx context.Context, d vault.CardDump) error {
	err := s.update(ctx, func(tx *bolt.Tx) error {
		cb, fb, ub := tx.Bucket(bucketCards), tx.Bucket(bucketCardsByFinger), tx.Bucket(bucketCardUpdates)
		k := cardKey(d.Account, d.ID)
		if v := cb.Get(k); v != nil && !bytes.Equal(v, d.Record) {
			return vault.ErrConflict
		}
		if d.Fingerprint != "" {
			fk := cardKey(d.Account, d.Fingerprint)
			if v := fb.Get(fk); v != nil && string(v) != d.ID {
				return vault.ErrConflict
			}
			if err := fb.Put(fk, []byte(d.ID)); err != nil {
				return err
			}
		}
		if err := cb.Put(k, d.Record); err != nil {
			return err
		}
		prefix := append(cardKey(d.Account, d.ID), 0)
		c := ub.Cursor()
		for uk, _ := c.Seek(prefix); uk != nil && bytes.HasPrefix(uk, prefix); uk, _ = c.Seek(prefix) {
			if err := c.Delete(); err != nil {
				return err
			}
		}
		for _, u := range d.Updates {
			if err := appendCardUpdate(ub, k, u); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("boltstore: import card: %w", err)
	}
	return nil
}

// Rekey implements vault.Rekeyer.
func (s *Store) Rekey(ctx context.Context, items []vault.RekeyItem) (int, error) {
	var n int
	err := s.update(ctx, func(tx *bolt.Tx) error {
		n = 0
		ab := tx.Bucket(bucketAliases)
		for _, it := range items {
			v := ab.Get([]byte(it.Alias))
			if v == nil {
				continue
			}
			r, err := vault.UnmarshalRecord(it.Alias, v)
			if err != nil {
				return err
			}
			if r.KeyVersion != it.OldVersion {
				continue
			}
			r.KeyVersion, r.Ciphertext = it.NewVersion, it.Ciphertext
			if err := ab.Put([]byte(it.Alias), vault.MarshalRecord(r)); err != nil {
				return err
			}
			n++
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("boltstore: rekey: %w", err)
	}
	return n, nil
}
