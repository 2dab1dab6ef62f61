package pgstore_test

import (
	"strconv"
	"testing"

	"github.com/aliasgate/aliasgate/vault"
	"github.com/aliasgate/aliasgate/vault/memstore"
	"github.com/aliasgate/aliasgate/vault/pgstore"
	"github.com/aliasgate/aliasgate/vault/vaulttest"
)

// The benchmarks are vault/boltstore's (vaulttest.Bench*), so the figures
// can be set side by side: the same Service calls, the vault on PostgreSQL
// (its own schema in the test database) instead of a bbolt file.

// benchService opens a PostgreSQL-backed Service.
func benchService(b *testing.B, opts pgstore.Options) *vault.Service {
	b.Helper()
	return vaulttest.BenchService(b, openStore(b, newSchema(b), opts), memstore.New(memstore.Options{}))
}

func BenchmarkRedactKnownValue(b *testing.B) {
	vaulttest.BenchRedactKnownValue(b, benchService(b, pgstore.Options{}))
}

// BenchmarkRedactRequest is one inbound request's redaction (scenario 1):
// a known card number and a new CVC in one call.
func BenchmarkRedactRequest(b *testing.B) {
	vaulttest.BenchRedactRequest(b, benchService(b, pgstore.Options{}))
}

func BenchmarkReveal(b *testing.B) {
	vaulttest.BenchReveal(b, benchService(b, pgstore.Options{}))
}

// BenchmarkRedactNewValue writes a new durable record per operation (one
// committed transaction each), with 1 or 64 concurrent writers on the
// default pool of 16 connections.
func BenchmarkRedactNewValue(b *testing.B) {
	for _, writers := range []int{1, 64} {
		b.Run("writers="+strconv.Itoa(writers), func(b *testing.B) {
			vaulttest.BenchRedactNewValue(b, benchService(b, pgstore.Options{}), writers)
		})
	}
}

// BenchmarkRedactBatch redacts 20 new values per call (the vault API's
// largest request): one Put of 20 items, the same round trips as one.
func BenchmarkRedactBatch(b *testing.B) {
	vaulttest.BenchRedactBatch(b, benchService(b, pgstore.Options{}), 20)
}

// BenchmarkKnown asks Known about 20 and 10,000 numbers per call (the leak
// guard's bound per message), half of them aliases.
func BenchmarkKnown(b *testing.B) {
	for _, n := range []int{20, 10000} {
		b.Run("n="+strconv.Itoa(n), func(b *testing.B) {
			vaulttest.BenchKnown(b, benchService(b, pgstore.Options{}), n)
		})
	}
}
