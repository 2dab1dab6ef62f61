// Package fuzzlist keeps scripts/fuzz complete: its test fails when a fuzz
// target of the repository is neither run by the script nor listed as one
// that sees no network input. It has no code outside its test.
package fuzzlist
