//go:build !race

package audit

// raceEnabled: see race_test.go.
const raceEnabled = false
