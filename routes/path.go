package routes

import (
	"errors"
	"strings"
)

// ErrUnsafePath is returned by CanonicalPath for a path that different
// servers read differently and that has no canonical form here: an encoded
// slash or backslash, a backslash, an encoded NUL or control byte, or bad
// percent-encoding.
var ErrUnsafePath = errors.New("routes: path has no canonical form")

// CanonicalPath returns the form of an HTTP request path (the escaped path,
// as on the request line, without the query) that routes and filters are
// matched against and that the proxies send on, so that what was matched
// is what the upstream receives:
//
//   - percent-encoded unreserved characters (ALPHA, DIGIT, "-", ".", "_",
//     "~") are decoded (RFC 3986 §6.2.2.2), so "/%63heckout" is "/checkout";
//     other percent-encodings keep their bytes with upper-case hex digits;
//   - ";" parameters are removed from every segment ("/checkout;jsessionid=1"
//     is "/checkout"), as Servlet containers and Spring do before routing;
//   - empty segments are merged ("//checkout" is "/checkout");
//   - "." and ".." segments are resolved (RFC 3986 §5.2.4), never above the
//     root;
//   - a trailing slash is kept (some frameworks redirect between the two
//     spellings), but path conditions and path_prefix match the path with
//     and without it (see Match), since most frameworks route "/checkout/"
//     and "/checkout" to one handler.
//
// Letter case is kept: path conditions compare it exactly, and so does
// path_prefix except on a route with request redact filters, which also
// takes its prefix in another letter case (Set.Match); a request that no
// filter of a redacting route matches is refused rather than forwarded (see
// Route.UnmatchedBody, Route.UnmatchedHeader), which covers servers that
// route without regard to case.
//
// A path holding "%2F", "%5C", "\", "%00" or another encoded or raw control
// byte, or a malformed percent-encoding, gives ErrUnsafePath: servers
// disagree on those, so no single canonical form exists.
func CanonicalPath(p string) (string, error) {
	if p == "" || p == "/" {
		return "/", nil
	}
	if isCanonical(p) {
		return p, nil
	}
	var segs []string
	trailing := false
	for _, raw := range strings.Split(p, "/") {
		if i := strings.IndexByte(raw, ';'); i >= 0 {
			raw = raw[:i]
		}
		seg, err := normalizeSegment(raw)
		if err != nil {
			return "", err
		}
		trailing = true
		switch seg {
		case "", ".":
		case "..":
			if len(segs) > 0 {
				segs = segs[:len(segs)-1]
			}
		default:
			segs = append(segs, seg)
			trailing = false
		}
	}
	if len(segs) == 0 {
		return "/", nil
	}
	out := "/" + strings.Join(segs, "/")
	if trailing {
		out += "/"
	}
	return out, nil
}

// isCanonical reports whether p is already canonical: it starts with "/",
// holds no ";", "%", backslash or control byte, and no empty, "." or ".."
// segment except an empty last one (a trailing slash). Most paths are, and
// they cost no allocation.
func isCanonical(p string) bool {
	if p[0] != '/' {
		return false
	}
	if p[len(p)-1] == '/' {
		p = p[:len(p)-1]
	}
	segStart := 1
	for i := 1; i <= len(p); i++ {
		if i < len(p) && p[i] != '/' {
			c := p[i]
			if c == ';' || c == '%' || c == '\\' || c < 0x21 || c >= 0x7f {
				return false
			}
			continue
		}
		switch p[segStart:i] {
		case "", ".", "..":
			return false
		}
		segStart = i + 1
	}
	return true
}

// normalizeSegment decodes percent-encoded unreserved characters of one
// segment and upper-cases the hex of the others.
func normalizeSegment(s string) (string, error) {
	if !strings.ContainsAny(s, "%\\") {
		for i := 0; i < len(s); i++ {
			if s[i] < 0x21 || s[i] == 0x7f {
				return "", ErrUnsafePath
			}
		}
		return s, nil
	}
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\\' || c < 0x21 || c == 0x7f:
			return "", ErrUnsafePath
		case c != '%':
			b.WriteByte(c)
			continue
		}
		if i+2 >= len(s) || !isHex(s[i+1]) || !isHex(s[i+2]) {
			return "", ErrUnsafePath
		}
		d := unhex(s[i+1])<<4 | unhex(s[i+2])
		i += 2
		switch {
		case d == '/' || d == '\\' || d < 0x20 || d == 0x7f:
			return "", ErrUnsafePath
		case isUnreserved(d):
			b.WriteByte(d)
		default:
			const hex = "0123456789ABCDEF"
			b.WriteByte('%')
			b.WriteByte(hex[d>>4])
			b.WriteByte(hex[d&15])
		}
	}
	return b.String(), nil
}

func isUnreserved(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
		c == '-' || c == '.' || c == '_' || c == '~'
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c >= '0' && c <= '9':
		return c - '0'
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10
	}
	return c - 'A' + 10
}
