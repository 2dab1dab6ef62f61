package boltstore

import (
	"context"
	"encoding/binary"
	"path/filepath"
	"runtime"
	"strconv"
	"sync/atomic"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// BenchmarkCommit compares three ways to commit one small durable write per
// operation: a transaction each, bbolt's DB.Batch (which waits up to
// MaxBatchDelay, 10 ms by default, to gather a batch), and this package's
// group commit (which never waits: it commits what is queued now). It is the
// measurement behind choosing group commit over DB.Batch.
func BenchmarkCommit(b *testing.B) {
	modes := []string{"single", "dbbatch", "group"}
	for _, mode := range modes {
		for _, writers := range []int{1, 64} {
			b.Run(mode+"/writers="+strconv.Itoa(writers), func(b *testing.B) {
				s, err := Open(filepath.Join(b.TempDir(), "vault.db"), Options{NoGroupCommit: mode != "group"})
				if err != nil {
					b.Fatal(err)
				}
				defer s.Close()
				var next atomic.Uint64
				write := func() error {
					var k [8]byte
					binary.BigEndian.PutUint64(k[:], next.Add(1))
					fn := func(tx *bolt.Tx) error { return tx.Bucket(bucketMeta).Put(k[:], make([]byte, 100)) }
					switch mode {
					case "dbbatch":
						return s.db.Batch(fn)
					default:
						return s.update(context.Background(), fn)
					}
				}
				b.SetParallelism(max(1, writers/runtime.GOMAXPROCS(0)))
				b.ResetTimer()
				if writers == 1 {
					for range b.N {
						if err := write(); err != nil {
							b.Fatal(err)
						}
					}
					return
				}
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						if err := write(); err != nil {
							b.Error(err)
							return
						}
					}
				})
			})
		}
	}
}
