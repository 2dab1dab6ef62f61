package routes

import (
	"bytes"
	"encoding/json"
	"strings"
)

// Media types SniffMediaType gives a body's syntax.
const (
	mediaJSON = "application/json"
	mediaXML  = "application/xml"
	mediaForm = "application/x-www-form-urlencoded"
)

// SniffMediaType returns the media type whose syntax the body has when it differs
// from the declared one (mt): mediaJSON for a body that is valid JSON (a
// UTF-8 BOM and white space allowed around it), mediaXML for one that
// starts with '<', mediaForm for one that is only key=value pairs of
// URL-encoded characters joined by '&' or ';'. "" when the body has none of
// these syntaxes, when the declared type already names that syntax, or when
// the declared type is multipart (its parts are read by its own parser).
// An app that ignores the Content-Type reads the body by its syntax, so the
// filters must too. The proxies (on a route that redacts request bodies)
// and routes/dryrun use it.
func SniffMediaType(body []byte, mt string) string {
	if strings.HasPrefix(mt, "multipart/") {
		return ""
	}
	b := bytes.TrimPrefix(body, []byte("\xef\xbb\xbf"))
	b = bytes.TrimLeft(b, " \t\r\n")
	if len(b) == 0 {
		return ""
	}
	var want, got string
	switch {
	case b[0] == '{' || b[0] == '[' || b[0] == '"':
		want, got = "json", mediaJSON
	case b[0] == '<':
		want, got = "xml", mediaXML
	default:
		want, got = "form", mediaForm
	}
	if ContentTypeMatches(want, mt) {
		return "" // declared as what it looks like: its filters read it (and refuse it when malformed)
	}
	switch want {
	case "json":
		if !json.Valid(b) {
			return ""
		}
	case "form":
		if !formLike(b) {
			return ""
		}
	}
	return got
}

// formLike reports whether b is key=value pairs of URL-encoded characters
// joined by '&' or ';', with at least one '='.
func formLike(b []byte) bool {
	eq := false
	for _, c := range b {
		switch {
		case c == '=':
			eq = true
		case c == '&' || c == ';' || c == '%' || c == '+' || c == '*' || c == '-' || c == '.' || c == '_' || c == '~' ||
			c == '[' || c == ']' || c == '!' || c == '(' || c == ')' || c == ',' || c == ':' || c == '@' || c == '/' || c == '?' || c == '\'':
		case c >= '0' && c <= '9', c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z':
		default:
			return false
		}
	}
	return eq
}
