package pan

import "strings"

// looseSeparators are the characters MaskLoose and ContainsLooseString
// also read as separators between digits: YAML writes a number's digits
// grouped by '_' (4111_1111_1111_1111 is the number 4111111111111111), and
// names (ids, account names, keys) group them by '_' and ':'. Find reads
// both as breakers, so that a time (12:34:56) or an identifier's parts in
// logs and bodies are not taken for a card number; where text is a
// configuration problem or a name, reading more costs nothing.
const looseSeparators = "_:"

// loosen returns s with each of looseSeparators read as '-' (a separator
// Find reads), byte for byte: the length and every other byte are kept.
func loosen(s string) string {
	b := []byte(s)
	for i, c := range b {
		if strings.IndexByte(looseSeparators, c) >= 0 {
			b[i] = '-'
		}
	}
	return string(b)
}

// MaskLoose is MaskAll, also masking the card numbers whose digit groups
// are joined by '_' or ':' (4111_1111_1111_1111, acct:4111:1111:1111:1111).
// It masks the problems of the configuration and routes files and the
// CLI's errors, which quote back what the file or command line said. The
// length is kept; s itself is returned when it holds nothing to mask.
func MaskLoose(s string) string {
	s = MaskAll(s)
	if !strings.ContainsAny(s, looseSeparators) {
		return s
	}
	l := loosen(s)
	m := MaskAll(l)
	if m == l {
		return s
	}
	b := []byte(s)
	for i := range b {
		if m[i] == '*' {
			b[i] = '*'
		}
	}
	return string(b)
}

// ContainsLooseString reports whether s holds a card number in a spelling
// ContainsAllString reads, or with its digit groups joined by '_' or ':':
// whether MaskLoose would change s. It is the test of names that end up in
// logs, metric labels and audit lines (route, filter and group ids,
// account names).
func ContainsLooseString(s string) bool {
	return ContainsAllString(s) || (strings.ContainsAny(s, looseSeparators) && ContainsAllString(loosen(s)))
}

// ContainsShownString reports whether s holds a card number a reader sees:
// in a spelling ContainsLooseString reads (the rule of names: also digit
// groups joined by '_' or ':'), or as MaskShown reads shown text (any
// other separator, '/', two spaces, and any script's decimal digits:
// "٤١١١…", which Python's int() and Java's Long.parseLong read as the
// number). It is the one test of free text that is stored in clear and
// shown: API client names and accounts, alias classifiers, a card's meta
// and cardholder.
func ContainsShownString(s string) bool {
	return ContainsLooseString(s) || MaskShown(s) != s
}

// ContainsShownValue is ContainsShownString for values a client stores
// with a record (a card's meta and cardholder), where times of day are
// common: a ':' ends a number there, as it does for Find, so each piece
// between colons is read alone. "2026-12-07 10:15:30" is a date and a
// time, not the 14 digits 20261207101530 (which pass the Luhn check one
// time in ten: read whole, one timestamp in ten was refused); a card
// number grouped by ':' alone ("4111:1111:1111:1111") is not seen there.
// Every other spelling ContainsShownString sees is.
func ContainsShownValue(s string) bool {
	if !strings.Contains(s, ":") {
		return ContainsShownString(s)
	}
	for part := range strings.SplitSeq(s, ":") {
		if ContainsShownString(part) {
			return true
		}
	}
	return false
}
