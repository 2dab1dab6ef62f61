// Package fuzzlist keeps scripts/fuzz complete: its test fails when a fuzz
// target of the repository is neither run by the script nor listed as one
// that sees no network input, or when the script's minimization budget is a
// time rather than a number of runs. It has no code outside its test.
package fuzzlist
