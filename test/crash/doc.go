// Package crash holds the crash-safety test of aliasgate: new-value
// redactions through the inbound proxy under concurrent load, kill -9 of
// the gateway process at a random moment, a restart on the same vault, and
// a check that every alias whose request was answered 2xx reveals its
// original value. It has no code outside its test; see crash_test.go.
//
// It runs with "go test ./..." on the embedded bbolt vault. With
// ALIASGATE_CRASH_POSTGRES_URL set to an empty PostgreSQL database it also
// runs on vault.store postgres. "go test -short" skips it.
package crash
