//go:build race

package audit

// raceEnabled: built with the race detector, whose sync.Pool drops some
// of what is put back, so that code using a pool (the HMAC states)
// allocates now and then: allocation counts are not checked.
const raceEnabled = true
