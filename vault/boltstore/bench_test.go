package boltstore_test

import (
	"path/filepath"
	"strconv"
	"testing"

	"github.com/aliasgate/aliasgate/vault"
	"github.com/aliasgate/aliasgate/vault/boltstore"
	"github.com/aliasgate/aliasgate/vault/memstore"
	"github.com/aliasgate/aliasgate/vault/vaulttest"
)

// benchService opens a bolt-backed Service in a temp dir.
func benchService(b *testing.B, opts boltstore.Options) *vault.Service {
	b.Helper()
	s, err := boltstore.Open(filepath.Join(b.TempDir(), "vault.db"), opts)
	if err != nil {
		b.Fatal(err)
	}
	return vaulttest.BenchService(b, s, memstore.New(memstore.Options{}))
}

func BenchmarkRedactKnownValue(b *testing.B) {
	vaulttest.BenchRedactKnownValue(b, benchService(b, boltstore.Options{}))
}

// BenchmarkRedactRequest is one inbound request's redaction (scenario 1):
// a known card number and a new CVC in one call.
func BenchmarkRedactRequest(b *testing.B) {
	vaulttest.BenchRedactRequest(b, benchService(b, boltstore.Options{}))
}

func BenchmarkReveal(b *testing.B) {
	vaulttest.BenchReveal(b, benchService(b, boltstore.Options{}))
}

// BenchmarkRedactNewValue writes a new durable record per operation, with
// 1 or 64 concurrent writers, with group commit on and off: the difference is
// what sharing an fsync between writers buys.
func BenchmarkRedactNewValue(b *testing.B) {
	for _, group := range []bool{true, false} {
		for _, writers := range []int{1, 64} {
			b.Run("group="+strconv.FormatBool(group)+"/writers="+strconv.Itoa(writers), func(b *testing.B) {
				vaulttest.BenchRedactNewValue(b, benchService(b, boltstore.Options{NoGroupCommit: !group}), writers)
			})
		}
	}
}

// BenchmarkRedactBatch redacts 20 new values per call (the vault API's
// largest request): one transaction for all of them.
func BenchmarkRedactBatch(b *testing.B) {
	vaulttest.BenchRedactBatch(b, benchService(b, boltstore.Options{}), 20)
}

// BenchmarkKnown asks Known about 20 and 10,000 numbers per call (the leak
// guard's bound per message), half of them aliases.
func BenchmarkKnown(b *testing.B) {
	for _, n := range []int{20, 10000} {
		b.Run("n="+strconv.Itoa(n), func(b *testing.B) {
			vaulttest.BenchKnown(b, benchService(b, boltstore.Options{}), n)
		})
	}
}
