// Package yamlnum holds the one rule for whole numbers in the gateway's
// YAML files (the configuration and the routes file): decimal digits only.
// YAML 1.1, which gopkg.in/yaml.v3 follows for numbers, reads 010 as 8,
// 0x10 as 16, 0o10 as 8, 1_000 and 1e3 as 1000, and a float such as 10.9
// as 10 where a whole number is wanted, without a word: a file read
// otherwise than written.
package yamlnum

import "regexp"

// decimal is a whole number as the files must write it.
var decimal = regexp.MustCompile(`^-?(0|[1-9][0-9]*)$`)

// Decimal reports whether value, a YAML scalar's text, is a whole number
// written in decimal digits (an optional minus, no leading zero, no sign
// +, no underscores, no point or exponent).
func Decimal(value string) bool {
	return decimal.MatchString(value)
}
