package obs

import (
	"bytes"
	"math/rand/v2"
	"testing"
	"time"
	"unicode/utf8"

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
	fuzzStringAgainst(f, []string{"POST", "/checkout", "411116e10", "4111111111111", "\\u0034111", "&#52;1", "１２３４"},
		maskShown, pan.MaskShown)
}

// FuzzAppendLogStringAgainstPrevious: appendLogString against the copy of
// it that scanned every string.
func FuzzAppendLogStringAgainstPrevious(f *testing.F) {
	fuzzStringAgainst(f, []string{"inbound", "POST", "/checkout", "411116e10", "\x04111111111111111", "４１１１１１１１１１１１１１１１", "1111\u2028"},
		func(s string) string { return string(appendLogString(nil, s)) },
		func(s string) string { return string(prevAppendLogString(nil, s)) })
}

// fuzzStringAgainst fuzzes got against want from seeds: the same string for
// every input.
func fuzzStringAgainst(f *testing.F, seeds []string, got, want func(string) string) {
	for _, s := range seeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if g, w := got(s), want(s); g != w {
			t.Fatalf("%q: got %q, want %q", s, g, w)
		}
	})
}

// TestAppendRFC3339NanoAgainstFormat: appendRFC3339Nano writes what
// t.AppendFormat(time.RFC3339Nano) writes: random instants over the years
// 0 to 9999 and past them, with nanoseconds of every number of trailing
// zeros, in UTC, in the process's local zone and in zones of other
// offsets (which go to AppendFormat).
func TestAppendRFC3339NanoAgainstFormat(t *testing.T) {
	zones := []*time.Location{time.UTC, time.Local, time.FixedZone("X", 0), time.FixedZone("Y", 5*3600+45*60), time.FixedZone("Z", -3600)}
	rnd := rand.New(rand.NewPCG(13, 17))
	check := func(tm time.Time) {
		t.Helper()
		got, want := appendRFC3339Nano([]byte("x"), tm), tm.AppendFormat([]byte("x"), time.RFC3339Nano)
		if !bytes.Equal(got, want) {
			t.Fatalf("%v: got %s, want %s", tm, got, want)
		}
	}
	lo, hi := time.Date(-20, 1, 1, 0, 0, 0, 0, time.UTC).Unix(), time.Date(10020, 1, 1, 0, 0, 0, 0, time.UTC).Unix()
	for range 300000 {
		ns, p := rnd.Int64N(1e9), int64(1)
		for range rnd.IntN(10) {
			p *= 10
		}
		ns -= ns % p // 0 to 9 trailing zeros
		tm := time.Unix(lo+rnd.Int64N(hi-lo), ns)
		check(tm.In(zones[rnd.IntN(len(zones))]))
	}
	for _, tm := range []time.Time{{}, time.Unix(0, 0), time.Unix(0, 1), time.Unix(0, 100_000_000), time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC),
		time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(-1, 12, 31, 23, 59, 59, 0, time.UTC), time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC), time.Now()} {
		for _, z := range zones {
			check(tm.In(z))
		}
	}
}

// FuzzAppendRFC3339Nano: appendRFC3339Nano against
// t.AppendFormat(time.RFC3339Nano).
func FuzzAppendRFC3339Nano(f *testing.F) {
	f.Add(int64(0), int64(0), 0)
	f.Add(int64(1796655737), int64(341998723), 19800)
	f.Add(int64(253402300799), int64(999999999), -3600)
	f.Fuzz(func(t *testing.T, sec, nsec int64, off int) {
		tm := time.Unix(sec, nsec%1e9).UTC()
		if off%2 == 0 {
			tm = tm.In(time.FixedZone("F", off%(18*3600)))
		}
		if got, want := appendRFC3339Nano(nil, tm), tm.AppendFormat(nil, time.RFC3339Nano); !bytes.Equal(got, want) {
			t.Fatalf("%v: got %s, want %s", tm, got, want)
		}
	})
}

// prevAppendJSONStringMode is appendJSONStringMode before it skipped the
// plain run at the start of s 8 bytes at a time (plainLen): the copy the
// differential tests compare with.
func prevAppendJSONStringMode(b []byte, s string, marshal bool) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '\\', '"':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			case '\b', '\f':
				if marshal {
					b = append(b, '\\', "b\x00\x00\x00f"[c-'\b'])
					break
				}
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// TestAppendJSONStringAgainstPrevious: appendJSONStringMode writes what it
// wrote before plainLen, in both modes, for shortStrings and for strings
// of plain bytes with one byte JSON escapes at every position (plainLen's
// word and byte loops each meet it).
func TestAppendJSONStringAgainstPrevious(t *testing.T) {
	check := func(s string) {
		t.Helper()
		for _, marshal := range []bool{false, true} {
			got, want := appendJSONStringMode([]byte("x"), s, marshal), prevAppendJSONStringMode([]byte("x"), s, marshal)
			if !bytes.Equal(got, want) {
				t.Fatalf("%q (marshal %v): got %s, want %s", s, marshal, got, want)
			}
		}
	}
	shortStrings(check)
	plain := "abcdefghijklmnopqrstuvwxyz0123456789"
	for _, odd := range []string{"\"", "\\", "\x00", "\x1f", "\x7f", "\x80", "\xff", "é", "\u2028", "\ufffd", " ", "~", "!", "#", "[", "]"} {
		for n := 0; n <= 24; n++ {
			for at := 0; at <= n; at++ {
				check(plain[:at] + odd + plain[at:n])
			}
		}
	}
}

// FuzzAppendJSONStringAgainstPrevious: appendJSONStringMode against the
// copy of it without plainLen.
func FuzzAppendJSONStringAgainstPrevious(f *testing.F) {
	for _, s := range []string{"inbound", "127.0.0.1:53782", "a\"b", "0123456\x7f89", "abcdefgh\\ijk", "\u2028abcdefgh", "abcdefg\xff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, marshal := range []bool{false, true} {
			if got, want := appendJSONStringMode(nil, s, marshal), prevAppendJSONStringMode(nil, s, marshal); !bytes.Equal(got, want) {
				t.Fatalf("%q: got %s, want %s", s, got, want)
			}
		}
	})
}
