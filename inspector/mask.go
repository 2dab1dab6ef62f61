package inspector

import (
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/aliasgate/aliasgate/internal/pan"
)

// This file holds the value-level masking rules: card numbers (found by
// pan.Find in every spelling it knows: plain, in groups "4111 1111 1111
// 1111", "4111-1111-…", "4111.1111.…", full-width, JSON/percent/HTML
// escapes), values a route targets, and values under keys that name a CVC
// or a secret.

// maxMaskRunes bounds the length of a fully masked value: a long secret
// shows as 64 asterisks and an ellipsis.
const maxMaskRunes = 64

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// maskCards masks every card number of s in every spelling package pan
// reads (pan.MaskAll): those pan.Find finds (plain, in groups, full-width,
// JSON/percent/HTML-escaped) keep their first 6 and last 4 digits and the
// separators, every byte of the other digits' spellings becomes '*'; a
// number in exponent notation or a fraction whose value is a card number
// ("4111111111111111000e-3", "4111111111111110.9", as JSON.parse reads
// them) keeps the first 6 digits of its mantissa. The length is kept. It
// reports whether it masked anything.
func maskCards(s string) (string, bool) {
	if !pan.ContainsAllString(s) {
		return s, false
	}
	return pan.MaskAll(s), true
}

// holdsCard reports whether a field's path or name, which the page shows
// as it is (it names the field to target), holds a card number: in a
// spelling package pan reads, also once the backslashes of gjson escapes
// are read past ("4111\.1111\.1111\.1111" is 4111.1111.1111.1111 to a
// reader, "&\#52;111…" is "&#52;111…").
func holdsCard(s string) bool {
	return pan.ContainsAllString(s) || strings.Contains(s, `\`) && pan.ContainsAllString(strings.ReplaceAll(s, `\`, ""))
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

// cryptogramKey reports whether a key names a payment cryptogram (a
// network token's TAVV or AEVV, a 3-D Secure CAVV/AAV, a UCAF field): a one-time
// credential of the card, card data the inspector never shows. The Card
// Management API answers one as {"cryptogram":{"value":…}}, so the key
// counts for the values inside it too (rules.jsonValue).
func cryptogramKey(k string) bool {
	n := normKey(k)
	switch n {
	case "cavv", "tavv", "aav", "ucaf", "aevv":
		return true
	}
	for _, s := range []string{"cryptogram", "cavv", "tavv", "ucaf", "aevv", "authenticationvalue"} {
		if strings.Contains(n, s) {
			return true
		}
	}
	return false
}

// sensitiveKey reports whether a value under key k is masked whole: a
// CVC, a credential or a cryptogram.
func sensitiveKey(k string) bool { return cvcKey(k) || secretKey(k) || cryptogramKey(k) }

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
		for _, c := range pan.FindString(v) {
			if c.Start == 0 && c.End == len(v) {
				return HintPAN
			}
		}
	}
	switch {
	case cvcKey(key):
		if !other && digits > 0 {
			return HintCVC + strconv.Itoa(digits)
		}
		return HintCVC
	case secretKey(key), cryptogramKey(key):
		return HintSecret
	case !other && digits > 0:
		return HintDigits + strconv.Itoa(digits)
	}
	return HintText
}
