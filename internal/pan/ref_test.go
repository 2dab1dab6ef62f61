package pan

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// The scanner's loop as it was before it passed over the bytes that change
// nothing where no chain is open (skipQuiet) and handled ASCII separators in
// place: the reference of the differential tests (FuzzFindAgainstReference,
// TestFindSkipBoundaries, TestFindSameAsReferenceOnBodies). It shares the
// scanner's chain and window logic (closeGroup, endChain, pop) and the unit
// reader with run; the brute-force oracle of FuzzFind checks those.

// refFind is find read with refRun.
func refFind[T text](s T, max int) (c []Candidate, more bool) {
	if !enoughDigits(s) {
		return nil, false
	}
	var dec, raw scanner
	raw.raw = true
	if max >= 0 {
		dec.bounded, dec.left, raw.bounded = true, max, true
	}
	refRun(&dec, s, 0, -1, &raw)
	return merge(dec.out, raw.out), dec.more || raw.more
}

// refContains is contains read with refRun.
func refContains[T text](s T) bool {
	if !enoughDigits(s) {
		return false
	}
	var dec, raw scanner
	dec.first, raw.first, raw.raw = true, true, true
	refRun(&dec, s, 0, -1, &raw)
	return dec.found || raw.found
}

// refEach is each read with refRun.
func refEach[T text](s T, f func(Candidate)) int {
	if !enoughDigits(s) {
		return 0
	}
	var dec, raw scanner
	raw.raw = true
	dec.emit, raw.emit = f, f
	refRun(&dec, s, 0, -1, &raw)
	return dec.emitted + raw.emitted
}

// refRun is run as it was.
func refRun[T text](sc *scanner, s T, i, stop int, raw *scanner) int {
	decode := !sc.raw
	n := len(s)
	for i < n {
		if stop >= 0 && i >= stop && !sc.active {
			return i
		}
		c := s[i]
		switch class[c] {
		case bBreak:
			if sc.active {
				sc.endChain()
				if sc.found {
					return i
				}
			}
			i++
			for i < n && class[s[i]] == bBreak {
				i++
			}
			continue
		case bDigit:
			j := i + 1
			for j < n && s[j]-'0' < 10 {
				j++
			}
			g := &sc.ring[(sc.head+sc.size)%ringSize]
			if !sc.inGroup {
				g.start, g.n = i, 0
				sc.inGroup, sc.active, sc.sep = true, true, false
			}
			if g.n+j-i > MaxLen {
				g.n = MaxLen + 1
			} else {
				for k := i; k < j; k++ {
					g.d[g.n] = s[k]
					g.n++
				}
			}
			g.end = j
			i = j
			continue
		}
		kind, d, next, esc := unit(s, i, decode)
		switch kind {
		case kDigit:
			g := &sc.ring[(sc.head+sc.size)%ringSize]
			if !sc.inGroup {
				g.start, g.n = i, 0
				sc.inGroup, sc.active, sc.sep = true, true, false
			}
			if g.n < MaxLen {
				g.d[g.n] = '0' + d
			}
			if g.n <= MaxLen {
				g.n++
			}
			g.end = next
		case kSep:
			sc.separator()
		case kSoft:
			if sc.inGroup {
				sc.closeGroup()
				sc.sep, sc.hard = true, false
			}
		default:
			if sc.active {
				sc.endChain()
			}
		}
		if esc && raw != nil {
			raw.left = sc.left
			refRegion(raw, s, i, next)
			sc.left = raw.left
			if raw.found {
				return i
			}
		}
		if sc.found {
			return i
		}
		i = next
	}
	if sc.active {
		sc.endChain()
	}
	return n
}

// refRegion is region as it was, reading with refRun.
func refRegion[T text](rs *scanner, s T, es, ee int) {
	if ee <= rs.pos {
		return
	}
	p := es
	for p > rs.pos && plainChainByte(s[p-1]) {
		p--
	}
	if p < rs.pos {
		p = rs.pos
	}
	rs.pos = refRun(rs, s, p, ee, nil)
}

// sameAsReference fails t when Find, FindMax, Contains and each (the
// masks' scan) read b otherwise than the reference loop, as []byte or
// string.
func sameAsReference(t *testing.T, b []byte) {
	t.Helper()
	want, _ := refFind(b, -1)
	if got := Find(b); !slices.Equal(got, want) {
		t.Fatalf("Find(%q) = %v, reference %v", b, spans(got), spans(want))
	}
	if got := FindString(string(b)); !slices.Equal(got, want) {
		t.Fatalf("FindString(%q) = %v, reference %v", b, spans(got), spans(want))
	}
	for _, max := range []int{0, 1, 2, len(want) / 2, len(want)} {
		got, more := FindMax(b, max)
		w, wmore := refFind(b, max)
		if !slices.Equal(got, w) || more != wmore {
			t.Fatalf("FindMax(%q, %d) = %v %v, reference %v %v", b, max, spans(got), more, spans(w), wmore)
		}
	}
	if got, w := Contains(b), refContains(b); got != w || ContainsString(string(b)) != w {
		t.Fatalf("Contains(%q) = %v, reference %v", b, got, w)
	}
	var got, w []Candidate
	n := each(b, func(c Candidate) { got = append(got, c) })
	wn := refEach(b, func(c Candidate) { w = append(w, c) })
	if n != wn || !slices.Equal(got, w) {
		t.Fatalf("each(%q) = %v, reference %v", b, spans(got), spans(w))
	}
}

func spans(cs []Candidate) []string {
	var out []string
	for _, c := range cs {
		out = append(out, fmt.Sprintf("[%d,%d)%s raw=%v", c.Start, c.End, c.Digits(), c.raw))
	}
	return out
}

// skipUnits are the spellings the boundary tests put together: the bytes
// the main reading passes over (ASCII breakers and separators, UTF-8
// separators and letters, continuation and invalid bytes), the bytes it
// stops at (digits, 0xEF, escape starters, alone or as the start of an
// escape) and runs of digits of every length around MinLen.
var skipUnits = []string{
	"a", `"`, ",", " ", "-", ".", "+", ":", "é", "\u00a0", "\u2009", "\u3000", "\uff0d",
	"\x80", "\xc2", "\xe2\x80", "\xef", "\xef\xbc", "\xef\xbc\x94", "１",
	"%", "%3", "%34", "%EF%BC%94", "%20", `\`, `\u003`, `\u0034`, `\u0020`, "&", "&#", "&#52;", "&#52", "&nbsp;", "&#x34;",
	"4", "12", "4111", "411111111111", "4111111111111", "411111111111111", "4111111111111111",
	"41111111111111111111", "4111 1111 1111 1111", "4111-1111-1111-1111 ", "378282246310005",
	"4 ", "-4", "4.", "1 2", "12-34-56", "2026-11-05T", "203.0.113.7", "+49 30 1234567", "1234 5678 9012",
	"12--34", "1 2 3 4 5 6 7 8 9 0 1 2", "7 9927398713", "4111 1111 1111 111",
}

// TestFindSkipBoundaries compares the scan with the reference loop on
// every pair of skipUnits, shifted by 0–9 bytes of filler in front and
// 0, 1 or 9 apart (so that candidates and escapes start and end on every
// side of an 8-byte boundary), on every triple of them at one shift, and on inputs of
// every length 0–17 made of the bytes that matter.
func TestFindSkipBoundaries(t *testing.T) {
	fillers := []string{"x", " ", "\u00e9"}
	for _, a := range skipUnits {
		for _, b := range skipUnits {
			for shift := 0; shift < 10; shift++ {
				for _, gap := range []int{0, 1, 9} {
					sameAsReference(t, []byte(strings.Repeat(fillers[shift%3], shift)+a+strings.Repeat(fillers[gap%3], gap)+b))
				}
			}
		}
	}
	k := 0
	for _, a := range skipUnits {
		for _, b := range skipUnits {
			for _, c := range skipUnits {
				k++
				sameAsReference(t, []byte(strings.Repeat("x", k%8)+a+b+c))
			}
		}
	}
	r := rand.New(rand.NewPCG(5, 6))
	alphabet := []byte("0123456789 -.%&\\u#x;\x00\xef\xbc\x94\xe2\x80\xaf\"a")
	for n := 0; n <= 17; n++ {
		for range 2000 {
			b := make([]byte, n)
			for i := range b {
				b[i] = alphabet[r.IntN(len(alphabet))]
			}
			sameAsReference(t, b)
		}
	}
}

// TestFindSameAsReferenceOnBodies compares the scan with the reference loop
// on the benchmarks' bodies and on random mixes of the units above.
func TestFindSameAsReferenceOnBodies(t *testing.T) {
	sameAsReference(t, realisticJSON(64<<10))
	sameAsReference(t, denseCards(200))
	sameAsReference(t, checkoutBody(visa))
	sameAsReference(t, checkoutBody("tok_4f1c2a9b8e7d"))
	for _, u := range []string{"1 2 3 4 5 6 7 8 9 0 ", "%34%31%31%31 ", "&#0000000000000000000052;"} {
		sameAsReference(t, []byte(strings.Repeat(u, 300)))
	}
	r := rand.New(rand.NewPCG(7, 8))
	for range 3000 {
		var b strings.Builder
		for k := r.IntN(40); k > 0; k-- {
			b.WriteString(skipUnits[r.IntN(len(skipUnits))])
		}
		sameAsReference(t, []byte(b.String()))
	}
}

// FuzzFindAgainstReference compares the scan (Find, FindMax, Contains,
// each) with the reference loop it replaced.
func FuzzFindAgainstReference(f *testing.F) {
	f.Add([]byte("4111111111111111"))
	f.Add([]byte(`{"id":"ord_8f1c2a","amount":12999,"card":"4111 1111 1111 1111"}`))
	f.Add([]byte(`1234567\u0034111111111111111 %34111111111111111`))
	f.Add([]byte("abcdefg\xef\xbc\x94111111111111111 &#52;111111111111111"))
	f.Add([]byte("1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3"))
	f.Add(checkoutBody(visa))
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) > 1<<16 {
			return
		}
		sameAsReference(t, b)
	})
}

// TestEnoughDigitsCountsExactly compares enoughDigits, which counts eight
// bytes at a time, with a count byte by byte, around the bytes its tricks
// could take for a digit or 0xEF ('0'|0x80, 0xEF&0x7F, '0'+10, '0'-1, …).
func TestEnoughDigitsCountsExactly(t *testing.T) {
	alphabet := []byte("0123456789/:\x00\x7f\x80\xb0\xb9\xba\xef\xee\xf0\x6f\x70\xff%&\\$a ")
	r := rand.New(rand.NewPCG(9, 10))
	for n := 0; n <= 40; n++ {
		for range 3000 {
			b := make([]byte, n)
			for i := range b {
				b[i] = alphabet[r.IntN(len(alphabet))]
			}
			want := 0
			for _, c := range b {
				if c >= '0' && c <= '9' || c == 0xEF {
					want++
				}
			}
			if got := enoughDigits(b); got != (want >= MinLen) || enoughDigits(string(b)) != got {
				t.Fatalf("enoughDigits(%q) = %v with %d digits", b, got, want)
			}
		}
	}
}
