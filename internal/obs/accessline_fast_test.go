package obs

import (
	"bytes"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/aliasgate/aliasgate/internal/pan"
)

// prevAppendLogString is appendLogString before it skipped the scan of
// short strings with no number byte (the copy the differential tests
// compare with).
func prevAppendLogString(b []byte, s string) []byte {
	if mayHoldRun(s) {
		s = pan.MaskAll(s)
	}
	from := len(b)
	b = appendJSONString(b, s)
	if len(b)-from != len(s)+2 {
		b = maskNumbers(b, from)
	}
	return b
}

// TestAppendLogMillisAgainstFloat: appendLogMillis writes what
// appendLogFloat(millis(d)) wrote, byte for byte: every microsecond up to
// three seconds, every value of each number of digits around its edges
// (999…9, 100…0, Luhn-valid runs), and random ones up to 2^63.
func TestAppendLogMillisAgainstFloat(t *testing.T) {
	check := func(d time.Duration) {
		t.Helper()
		got := appendLogMillis([]byte("x"), d)
		want := appendLogFloat([]byte("x"), millis(d))
		if !bytes.Equal(got, want) {
			t.Fatalf("%d ns: got %s, want %s", int64(d), got, want)
		}
	}
	for us := int64(0); us <= 3_000_000; us++ {
		check(time.Duration(us) * time.Microsecond)
	}
	rnd := rand.New(rand.NewPCG(7, 11))
	for p := int64(1); p <= 1e15; p *= 10 { // microseconds of up to 16 digits: past 10^15 µs the float's way
		for _, v := range []int64{p - 1, p, p + 1, 4*p + 111, 4111111111111111 % (10 * p), 9*p + 999, 10*p - 1} {
			for _, ns := range []int64{0, 1, 999, 500} {
				check(time.Duration(v*1000 + ns))
				check(time.Duration(-(v*1000 + ns)))
			}
		}
		for range 20000 {
			check(time.Duration(rnd.Int64N(10*p) * 1000))
			check(time.Duration(rnd.Int64N(10*p)*1000 + rnd.Int64N(1000)))
		}
	}
	for range 200000 {
		check(time.Duration(rnd.Int64()))
		check(time.Duration(-rnd.Int64()))
	}
	check(time.Duration(1<<63 - 1))
	check(time.Duration(-1 << 63))
}

// FuzzAppendLogMillis: appendLogMillis against appendLogFloat(millis(d)).
func FuzzAppendLogMillis(f *testing.F) {
	for _, v := range []int64{0, 1, 999, 1000, 1001, 123456789, 4111111111111111, 411111111111111100, 999999999999999999, -1, 1<<63 - 1, -1 << 63} {
		f.Add(v)
	}
	f.Fuzz(func(t *testing.T, ns int64) {
		got := appendLogMillis(nil, time.Duration(ns))
		want := appendLogFloat(nil, millis(time.Duration(ns)))
		if !bytes.Equal(got, want) {
			t.Fatalf("%d ns: got %s, want %s", ns, got, want)
		}
	})
}

// shortStrings calls check with every string of up to 3 bytes from an
// alphabet of digits, the bytes numbers in exponent notation, fractions and
// escapes start from, separators and bytes JSON escapes, then with random
// strings of up to 20 bytes of it and of other scripts' digits, then with
// strings of up to 60 bytes with no digit, then strings of the access
// line's fields.
func shortStrings(check func(string)) {
	const alphabet = "0149eE.%&\\u+-/: _aZ\x04\"\xff#;x"
	var rec func(prefix string, n int)
	rec = func(prefix string, n int) {
		check(prefix)
		if n == 0 {
			return
		}
		for i := 0; i < len(alphabet); i++ {
			rec(prefix+alphabet[i:i+1], n-1)
		}
	}
	rec("", 3)
	rnd := rand.New(rand.NewPCG(5, 9))
	extra := []string{"４", "\u2028", "٤", "१", "%34", "\\u0034", "&#52;", "e1", "1111"}
	for range 300000 {
		n := rnd.IntN(21)
		b := make([]byte, 0, n)
		for len(b) < n {
			if rnd.IntN(6) == 0 {
				b = append(b, extra[rnd.IntN(len(extra))]...)
				continue
			}
			b = append(b, alphabet[rnd.IntN(len(alphabet))])
		}
		check(string(b))
	}
	// Longer strings with no byte a digit is written with, which
	// mayHoldCard rules out at any length.
	const letters = "eE.+-/:_ aZxX#;,()[]e1"
	for range 100000 {
		b := make([]byte, rnd.IntN(60))
		for i := range b {
			b[i] = letters[rnd.IntN(len(letters)-1)]
		}
		check(string(b))
	}
	for _, s := range []string{"inbound", "POST", "/checkout", "127.0.0.1:4111", "411116e10", "4111111111111", "411111111111", "4111 1111 111", "\\u0034111", "%34%31%31", "41111/1", "4.11116E+15", "１２３４５６７８９０１２", "shop.example", "api.example.com:443", "eeeeeeeeeeeeeeeeeeee.eeeeeeeeeee"} {
		check(s)
	}
}

// TestAppendLogStringAgainstPrevious: appendLogString, which scans only
// the strings mayHoldCard lets through, writes what it wrote when it
// scanned every string (shortStrings).
func TestAppendLogStringAgainstPrevious(t *testing.T) {
	shortStrings(func(s string) {
		got, want := appendLogString([]byte("x"), s), prevAppendLogString([]byte("x"), s)
		if !bytes.Equal(got, want) {
			t.Fatalf("%q: got %s, want %s", s, got, want)
		}
	})
}

// TestMaskShownAgainstPan: maskShown, which does not scan the strings
// mayHoldCard rules out, returns what pan.MaskShown does (shortStrings).
func TestMaskShownAgainstPan(t *testing.T) {
	shortStrings(func(s string) {
		if got, want := maskShown(s), pan.MaskShown(s); got != want {
			t.Fatalf("%q: got %q, want %q", s, got, want)
		}
	})
}

// FuzzMaskShownAgainstPan: maskShown against pan.MaskShown.
func FuzzMaskShownAgainstPan(f *testing.F) {
	for _, s := range []string{"POST", "/checkout", "411116e10", "4111111111111", "\\u0034111", "&#52;1", "１２３４"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := maskShown(s), pan.MaskShown(s); got != want {
			t.Fatalf("%q: got %q, want %q", s, got, want)
		}
	})
}

// FuzzAppendLogStringAgainstPrevious: appendLogString against the copy of
// it that scanned every string.
func FuzzAppendLogStringAgainstPrevious(f *testing.F) {
	for _, s := range []string{"inbound", "POST", "/checkout", "411116e10", "\x04111111111111111", "４１１１１１１１１１１１１１１１", "1111\u2028"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := appendLogString(nil, s), prevAppendLogString(nil, s); !bytes.Equal(got, want) {
			t.Fatalf("%q: got %s, want %s", s, got, want)
		}
	})
}
