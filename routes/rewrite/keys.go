package rewrite

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// Keys as the application reads them (issue 17).
//
// A target names a key as the route wrote it, but the application behind
// the gateway may read another spelling as the same key: encoding/json
// matches object keys to struct fields case-insensitively (Unicode simple
// folding, so "K" also matches the Kelvin sign U+212A and "s" the long s
// U+017F), so do .NET's and Java's case-insensitive binders (whose simple
// upper and lower case mappings also join "ı" and "İ" to "i"), and PHP
// and Rack (Rails) rewrite form field names ("card.number" and
// "card number" are PHP's card_number, "card[number][]" is an array under
// card[number]). A body holding such a spelling of a targeted key would
// pass its value on unredacted, so the locators refuse it, as they refuse a
// repeated key (ErrDuplicateKey). So is a request header whose name
// CGI-style servers (PHP, Python's WSGI, Ruby's Rack) read as a targeted
// header's (cgiHeaderName: X_Card_Number or X-Card.Number for
// X-Card-Number), by a redact
// Program. The checks are plain functions of a key and a target name, kept
// apart from the walkers that call them.

// cgiHeaderName returns the name CGI-style servers give a request header
// (PHP's $_SERVER, Python's WSGI environ, Ruby's Rack env, without their
// HTTP_ prefix): upper case, '-' written '_'. X-Card-Number, x_card_number
// and X_Card-Number are all X_CARD_NUMBER there. A '.' is written '_' too:
// front ends that keep it (Caddy's and FrankenPHP's FastCGI, php -S) hand
// PHP HTTP_X_CARD.NUMBER, which PHP registers as HTTP_X_CARD_NUMBER, as it
// does every variable name (php_register_variable_ex).
func cgiHeaderName(name string) string {
	b := []byte(name)
	for i, c := range b {
		switch {
		case c == '-', c == '.':
			b[i] = '_'
		case 'a' <= c && c <= 'z':
			b[i] = c - ('a' - 'A')
		}
	}
	return string(b)
}

// canonRune maps r to one rune of its case class: runes that Unicode simple
// case folding (strings.EqualFold, encoding/json) or the simple upper and
// lower case mappings make equal map to the same rune. ASCII letters map to
// upper case.
func canonRune(r rune) rune {
	if r < utf8.RuneSelf {
		if 'a' <= r && r <= 'z' {
			r -= 'a' - 'A'
		}
		return r
	}
	r = unicode.ToLower(unicode.ToUpper(r))
	// The smallest rune of r's folding orbit, as encoding/json's foldRune.
	for {
		r2 := unicode.SimpleFold(r)
		if r2 <= r {
			return r2
		}
		r = r2
	}
}

// keyFoldEqual reports whether key and name are the same key to an
// application that matches keys case-insensitively: equal rune by rune
// under canonRune. Invalid UTF-8 reads as U+FFFD, as encoding/json reads
// it. It does not allocate and usually stops at the first byte.
func keyFoldEqual(key, name string) bool {
	i, j := 0, 0
	for i < len(key) && j < len(name) {
		a, b := key[i], name[j]
		if a|b < utf8.RuneSelf {
			if a != b && canonRune(rune(a)) != canonRune(rune(b)) {
				return false
			}
			i++
			j++
			continue
		}
		ra, na := utf8.DecodeRuneInString(key[i:])
		rb, nb := utf8.DecodeRuneInString(name[j:])
		if ra != rb && canonRune(ra) != canonRune(rb) {
			return false
		}
		i += na
		j += nb
	}
	return i == len(key) && j == len(name)
}

// jsonKeyVariant reports whether the object key key (decoded: escapes
// already read) is another spelling of the path segment seg: equal to it
// case-insensitively but not byte for byte. A JSON key spelled with escapes
// ("n\u0075mber") decodes to the key itself and is no variant: it is
// located as the key.
func jsonKeyVariant(key, seg string) bool {
	return key != seg && keyFoldEqual(key, seg)
}

// dottedFormName is the form field name as ASP.NET Core's model binding
// reads it, case folded (canonRune; its value providers compare keys with
// OrdinalIgnoreCase): its jQuery form value provider, one of the default
// ones, writes a bracketed key as a property ("card[number]" is
// card.number), keeps an index ("cards[0]") and drops an empty "[]". So
// "Card.Number", "card[number]" and "card[number][]" are one property path,
// CARD.NUMBER, where canonFormName reads PHP's CARD_NUMBER and Rack's
// CARD[NUMBER].
func dottedFormName(name string) string {
	var sb strings.Builder
	sb.Grow(len(name))
	for i := 0; i < len(name); {
		if name[i] == '[' {
			if end := strings.IndexByte(name[i:], ']'); end >= 0 {
				inner := name[i+1 : i+end]
				switch {
				case inner == "":
				case strings.Trim(inner, "0123456789") == "":
					sb.WriteString(name[i : i+end+1])
				default:
					sb.WriteByte('.')
					for _, r := range inner {
						sb.WriteRune(canonRune(r))
					}
				}
				i += end + 1
				continue
			}
		}
		r, n := utf8.DecodeRuneInString(name[i:])
		sb.WriteRune(canonRune(r))
		i += n
	}
	return sb.String()
}

// canonFormName is the form field name as the most lenient of the common
// form parsers reads it, case folded: letter case ignored (canonRune),
// leading spaces and brackets dropped (PHP, Rack), and in the name before
// the first bracketed key (the whole name when no ']' closes a '[') ' ',
// '.' and '[' read as '_' (PHP) and trailing ']' dropped; what follows the
// last ']' is dropped (PHP); a NUL and what follows it are dropped (PHP
// reads a name as a C string: card_number%00x is card_number). Two names
// with the same canonFormName may be one field to the application.
func canonFormName(name string) string {
	if i := strings.IndexByte(name, 0); i >= 0 {
		name = name[:i]
	}
	var sb strings.Builder
	sb.Grow(len(name))
	for _, r := range name {
		sb.WriteRune(canonRune(r))
	}
	f := strings.TrimLeft(sb.String(), " []")
	base, rest := f, ""
	if i := strings.IndexByte(f, '['); i >= 0 && strings.IndexByte(f[i:], ']') >= 0 {
		base, rest = f[:i], f[i:]
		rest = rest[:strings.LastIndexByte(rest, ']')+1]
	}
	base = strings.TrimRight(base, "]")
	if strings.ContainsAny(base, " .[") {
		base = strings.Map(func(r rune) rune {
			if r == ' ' || r == '.' || r == '[' {
				return '_'
			}
			return r
		}, base)
	}
	return base + rest
}
