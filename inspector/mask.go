package inspector

import (
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/aliasgate/aliasgate/internal/pan"
)

// This file holds the value-level masking rules: card-like runs (also
// written in groups: "4111 1111 1111 1111", "4111-1111-…"), values a route
// targets, and values under keys that name a CVC or a secret.

// maxMaskRunes bounds the length of a fully masked value: a long secret
// shows as 64 asterisks and an ellipsis.
const maxMaskRunes = 64

// cardWindow is a card-like run found by findCards: the byte range
// [start, end) of s, made of digits in groups separated by single spaces or
// dashes, and the byte offsets of its digits.
type cardWindow struct {
	start, end int
	digits     []int
}

// findCards returns the card-like runs of s: 13 to 19 digits that pass the
// Luhn check, either contiguous or in groups separated by a single space or
// dash (as card numbers are often typed), never part of a longer digit
// group. Where several consecutive groups could form a card number, the
// first window of groups from the left that is Luhn-valid wins.
func findCards(s string) []cardWindow {
	var out []cardWindow
	i := 0
	for i < len(s) {
		if !isDigit(s[i]) {
			i++
			continue
		}
		// A chain: digit groups joined by single separators.
		var groups [][2]int
		j := i
		for {
			k := j
			for k < len(s) && isDigit(s[k]) {
				k++
			}
			groups = append(groups, [2]int{j, k})
			if k+1 < len(s) && (s[k] == ' ' || s[k] == '-') && isDigit(s[k+1]) {
				j = k + 1
				continue
			}
			j = k
			break
		}
		out = appendWindows(out, s, groups)
		i = j
	}
	return out
}

// appendWindows finds the Luhn-valid windows of consecutive groups.
func appendWindows(out []cardWindow, s string, groups [][2]int) []cardWindow {
	for a := 0; a < len(groups); {
		found := false
		n := 0
		for b := a; b < len(groups); b++ {
			n += groups[b][1] - groups[b][0]
			if n > pan.MaxLen {
				break
			}
			if n < pan.MinLen {
				continue
			}
			var digits []byte
			var pos []int
			for g := a; g <= b; g++ {
				for p := groups[g][0]; p < groups[g][1]; p++ {
					digits = append(digits, s[p])
					pos = append(pos, p)
				}
			}
			if pan.Valid(string(digits)) {
				out = append(out, cardWindow{start: groups[a][0], end: groups[b][1], digits: pos})
				a, found = b+1, true
				break
			}
		}
		if !found {
			a++
		}
	}
	return out
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// maskCards replaces the middle digits of every card-like run of s by
// asterisks, keeping the first 6 and last 4 digits and the separators.
func maskCards(s string) (string, bool) {
	ws := findCards(s)
	if len(ws) == 0 {
		return s, false
	}
	b := []byte(s)
	for _, w := range ws {
		for k, p := range w.digits {
			if k >= 6 && k < len(w.digits)-4 {
				b[p] = '*'
			}
		}
	}
	return string(b), true
}

// maskAll replaces every character of v by an asterisk (at most
// maxMaskRunes of them).
func maskAll(v string) string {
	n := utf8.RuneCountInString(v)
	if n > maxMaskRunes {
		return strings.Repeat("*", maxMaskRunes) + "…"
	}
	return strings.Repeat("*", n)
}

// maskTarget masks a value a route targets: a value of 13 or more digits
// (separators allowed) keeps its first 6 and last 4 digits, anything else
// (a CVC, an alias, text) is masked whole.
func maskTarget(v string) string {
	digits := 0
	for i := 0; i < len(v); i++ {
		switch c := v[i]; {
		case isDigit(c):
			digits++
		case c == ' ' || c == '-':
		default:
			return maskAll(v)
		}
	}
	if digits < pan.MinLen {
		return maskAll(v)
	}
	b := []byte(v)
	k := 0
	for i := range b {
		if isDigit(b[i]) {
			if k >= 6 && k < digits-4 {
				b[i] = '*'
			}
			k++
		}
	}
	return string(b)
}

// normKey lower-cases a key and drops everything but letters and digits:
// card_cvc, cardCvc and Card-CVC all become cardcvc.
func normKey(k string) string {
	var b strings.Builder
	for i := 0; i < len(k); i++ {
		c := k[i]
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
			b.WriteByte(c)
		case c >= 'A' && c <= 'Z':
			b.WriteByte(c + 'a' - 'A')
		}
	}
	return b.String()
}

// cvcKey reports whether a key (a JSON key, form field, header or XML
// element name) names a card security code.
func cvcKey(k string) bool {
	n := normKey(k)
	switch n {
	case "cid", "csc", "cvd", "cvn", "cvn2", "cav2", "cvc", "cvv", "cvc2", "cvv2":
		return true
	}
	for _, s := range []string{"cvc", "cvv", "securitycode", "cardcode", "verificationvalue", "cardverification"} {
		if strings.Contains(n, s) {
			return true
		}
	}
	return false
}

// secretKey reports whether a key names a credential.
func secretKey(k string) bool {
	n := normKey(k)
	for _, s := range []string{"password", "passwd", "secret", "apikey", "accesstoken", "refreshtoken", "idtoken", "privatekey", "authorization", "cookie", "sessionid"} {
		if strings.Contains(n, s) {
			return true
		}
	}
	return false
}

// Hints say what a captured value looked like before it was masked; the
// route builder proposes a format and storage from them.
const (
	HintPAN    = "pan"    // 13–19 digits, Luhn-valid
	HintCVC    = "cvc"    // under a key that names a security code
	HintSecret = "secret" // under a key that names a credential
	HintDigits = "digits" // other digits-only values
	HintText   = "text"
)

// hintOf classifies a clear value. It keeps the value's length in digits
// for CVCs and other digit values ("cvc3", "digits4"), which the builder
// needs to choose a format, and nothing else of it.
func hintOf(key, v string) string {
	digits, other := 0, false
	for i := 0; i < len(v); i++ {
		switch c := v[i]; {
		case isDigit(c):
			digits++
		case c == ' ' || c == '-':
		default:
			other = true
		}
	}
	if !other && digits >= pan.MinLen && digits <= pan.MaxLen {
		if ws := findCards(v); len(ws) == 1 && ws[0].start == 0 && ws[0].end == len(v) {
			return HintPAN
		}
	}
	switch {
	case cvcKey(key):
		if !other && digits > 0 {
			return HintCVC + strconv.Itoa(digits)
		}
		return HintCVC
	case secretKey(key):
		return HintSecret
	case !other && digits > 0:
		return HintDigits + strconv.Itoa(digits)
	}
	return HintText
}
