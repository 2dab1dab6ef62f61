//go:build !race

package vault_test

// raceEnabled: see race_test.go.
const raceEnabled = false
