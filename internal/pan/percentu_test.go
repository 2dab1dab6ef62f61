package pan

import (
	"fmt"
	"strings"
	"testing"
)

// TestFindReadsPercentU: the non-standard %uXXXX escape (ASP.NET's
// HttpUtility.UrlDecode, JavaScript's unescape()) is read as \uXXXX is,
// digits, separators and invisible characters alike; Mask masks its
// whole spelling and keeps the length.
func TestFindReadsPercentU(t *testing.T) {
	u := func(s string) string {
		var b strings.Builder
		for _, c := range s {
			fmt.Fprintf(&b, "%%u%04X", c)
		}
		return b.String()
	}
	const pan = "4111111111111111"
	for _, s := range []string{
		u(pan),
		"note=" + u(pan[:4]) + pan[4:],
		"4111%u00201111%u002d1111%u00A01111",
		"4111%u200B1111 1111 1111",
		"4111%udb40%udc201111 1111 1111", // a tag, as a surrogate pair
		strings.ToLower(u(pan)),
	} {
		c := FindString(s)
		if len(c) != 1 || c[0].Digits() != pan {
			t.Errorf("%q: found %v, want the card number", s, c)
			continue
		}
		m := Mask(s)
		if len(m) != len(s) || ContainsString(m) {
			t.Errorf("%q: masked to %q", s, m)
		}
	}
	for _, s := range []string{
		strings.ReplaceAll(u(pan), "%u", "%U"), // not decoded by those readers: its digits are 0034 0031 …
		"%u0034" + "%u003",
		"caf%u00e9 %u0041",
	} {
		if c := FindString(s); len(c) != 0 {
			t.Errorf("%q: found %d candidates, want none", s, len(c))
		}
	}
}
