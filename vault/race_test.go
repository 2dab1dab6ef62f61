//go:build race

package vault_test

// raceEnabled: built with the race detector, whose sync.Pool drops some
// of what is put back, so that code using a pool (HMAC states, buffers)
// allocates now and then: allocation counts are not checked.
const raceEnabled = true
