package boltstore

import (
	"bytes"
	"context"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// The numbers index (vault.NumberStore): bucket numbers holds one empty
// value per entry under key ‖ alias (the key is 32 bytes), and under
// numbersIndexed (shorter than any entry) the mark that the index was
// built over every card. The bucket is made by the first write.
var (
	bucketNumbers  = []byte("numbers")
	numbersIndexed = []byte("indexed")
)

// AddNumber implements vault.NumberStore.
func (s *Store) AddNumber(ctx context.Context, key []byte, alias string) ([]string, error) {
	var aliases []string
	err := s.update(ctx, func(tx *bolt.Tx) error {
		aliases = aliases[:0]
		b, err := tx.CreateBucketIfNotExists(bucketNumbers)
		if err != nil {
			return err
		}
		if err := b.Put(append(bytes.Clone(key), alias...), []byte{}); err != nil {
			return err
		}
		c := b.Cursor()
		for k, _ := c.Seek(key); k != nil && bytes.HasPrefix(k, key); k, _ = c.Next() {
			aliases = append(aliases, string(k[len(key):]))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("boltstore: add number: %w", err)
	}
	return aliases, nil
}

// PutNumbers implements vault.NumberStore.
func (s *Store) PutNumbers(ctx context.Context, keys [][]byte, aliases []string) error {
	err := s.update(ctx, func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(bucketNumbers)
		if err != nil {
			return err
		}
		for i, key := range keys {
			if err := b.Put(append(bytes.Clone(key), aliases[i]...), []byte{}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("boltstore: put numbers: %w", err)
	}
	return nil
}

// RemoveNumber implements vault.NumberStore.
func (s *Store) RemoveNumber(ctx context.Context, key []byte, alias string) error {
	err := s.update(ctx, func(tx *bolt.Tx) error {
		if b := tx.Bucket(bucketNumbers); b != nil {
			return b.Delete(append(bytes.Clone(key), alias...))
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("boltstore: remove number: %w", err)
	}
	return nil
}

// NumbersIndexed implements vault.NumberStore.
func (s *Store) NumbersIndexed(context.Context) (bool, error) {
	var ok bool
	err := s.view(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketNumbers)
		ok = b != nil && b.Get(numbersIndexed) != nil
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("boltstore: numbers indexed: %w", err)
	}
	return ok, nil
}

// MarkNumbersIndexed implements vault.NumberStore.
func (s *Store) MarkNumbersIndexed(ctx context.Context) error {
	err := s.update(ctx, func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(bucketNumbers)
		if err != nil {
			return err
		}
		return b.Put(numbersIndexed, []byte{})
	})
	if err != nil {
		return fmt.Errorf("boltstore: mark numbers indexed: %w", err)
	}
	return nil
}
