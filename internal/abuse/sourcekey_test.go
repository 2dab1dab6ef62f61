package abuse

import (
	"testing"
)

// sourceKeyCases are addresses a proxy may report and strings that only
// look like some: IPv4 in its one parsed form, with leading zeros, short,
// long, out of range, empty; IPv6 and IPv4-mapped IPv6.
var sourceKeyCases = []string{
	"127.0.0.1", "203.0.113.9", "0.0.0.0", "255.255.255.255", "1.2.3.4", "01.2.3.4", "1.2.3.04",
	"1.2.3", "1.2.3.4.5", "256.1.1.1", "1..2.3", ".1.2.3", "1.2.3.", "", ".", "1234", "00000000000.1.1.1",
	"2001:db8::1", "::ffff:203.0.113.9", "::1", "fe80::1%eth0", "2001:db8:0:0:1:2:3:4", "not an address",
}

// TestSourceKeyAgainstParse: the key of an address, with or without the
// digits-and-dots shortcut, is the one the parse gives.
func TestSourceKeyAgainstParse(t *testing.T) {
	for _, a := range sourceKeyCases {
		checkSourceKey(t, a)
	}
}

func checkSourceKey(t *testing.T, addr string) {
	t.Helper()
	got := string(appendSourceKey([]byte("source:"), addr))
	want := string(appendParsedSourceKey([]byte("source:"), addr))
	if got != want {
		t.Fatalf("appendSourceKey(%q) = %q, the parse gives %q", addr, got, want)
	}
}

// FuzzSourceKeyAgainstParse: appendSourceKey's shortcut for an address of
// digits and dots gives what parsing it gives, for any string.
func FuzzSourceKeyAgainstParse(f *testing.F) {
	for _, a := range sourceKeyCases {
		f.Add(a)
	}
	f.Fuzz(func(t *testing.T, addr string) {
		checkSourceKey(t, addr)
		// The same bytes read as digits and dots, which take the
		// shortcut: mostly malformed, often an address.
		b := []byte(addr)
		for i, c := range b {
			if c%11 == 10 {
				b[i] = '.'
			} else {
				b[i] = '0' + c%11
			}
		}
		checkSourceKey(t, string(b))
	})
}
