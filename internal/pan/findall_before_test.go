package pan

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// FindAll's path as it was before the scanner made its raw reading's
// scanner only at the first escape (findInRaw) and skipQuiet read its
// words otherwise (skipQuietBefore): the oracle of TestFindAllSameAsBefore
// and FuzzFindAllAgainstBefore. Copied from the commit before the changes;
// only the names differ.

// findAllBefore returns what FindMax(b, max) and FindExponent(b) return, reading
// b once: Find's reading (skipQuiet, run) hands the reading of numbers
// (numScan) the byte after each run of digits it meets and the units it
// decodes, the only places a number can be found, where FindExponent alone
// reads all of b again. The leak guard reads each body with it.
func findAllBefore(b []byte, max int) (c []Candidate, more bool, nums []string) {
	if max < 0 {
		max = 0
	}
	// A text of MinLen bytes or more is read by Find's scanner without
	// counting its digits first (enoughDigits): with fewer than MinLen it
	// finds no candidate, and reads the numbers all the same.
	ns := numScan{esc: -1}
	read := len(b) >= MinLen
	if read {
		c, more = findInBefore(b, max, &ns)
	}
	var found []number
	var esc int
	if read && !more {
		found, esc = ns.result(len(b))
	} else {
		// Too short for Find's reading, or it stopped early: the numbers
		// are read on their own.
		found, esc = findNumbers(b, nil)
	}
	return c, more, numberDigits(b, found, esc)
}

// findInBefore is find past its digit count. The two scanners are ~3 KiB of
// stack: kept out of find's frame, so that the many short strings with
// too few digits (hosts, header values, log attributes) do not make a
// goroutine grow its stack (a copy, repeated after each collection
// shrinks it again), which showed in the outbound proxy's profile.
func findInBefore[T text](s T, max int, nums *numScan) (c []Candidate, more bool) {
	var dec, raw scanner
	raw.raw = true
	if max >= 0 {
		dec.bounded, dec.left, raw.bounded = true, max, true
	}
	if nums != nil {
		dec.numbers, dec.nums = true, *nums // a copy in the scanner's frame: nums itself stays on its caller's stack
	}
	runBefore(&dec, s, 0, -1, &raw)
	if nums != nil {
		*nums = dec.nums
	}
	return merge(dec.out, raw.out), dec.more || raw.more
}

// runBefore reads s from i (where no chain is open) with sc's reading. It stops
// at the end of s or, when stop >= 0, at the first unit at or after stop
// where no chain is open, and returns where it stopped. When raw is not nil
// every decoded escape has raw read its neighbourhood.
//
// Where no chain is open, the main reading (decoded, no stop) passes over
// the bytes that change nothing there with skipQuiet. ASCII separators are
// handled in place.
func runBefore[T text](sc *scanner, s T, i, stop int, raw *scanner) int {
	decode := !sc.raw
	skip := decode && stop < 0
	n := len(s)
	var nums *numScan
	if sc.numbers {
		nums = &sc.nums
	}
	for i < n {
		if !sc.active {
			if stop >= 0 && i >= stop {
				return i
			}
			if skip {
				if i = skipQuietBefore(s, i, nums); i >= n {
					break
				}
			}
		}
		c := s[i]
		switch class[c] {
		case bBreak:
			if sc.active {
				sc.endChain()
				if sc.found {
					return i
				}
				if skip {
					i++
					continue // skipQuiet passes the breakers
				}
			}
			i++
			for i < n && class[s[i]] == bBreak {
				i++
			}
			continue
		case bDigit:
			// A run of ASCII digits, the common case, at once.
			j := i + 1
			for j < n && s[j]-'0' < 10 {
				j++
			}
			g := &sc.ring[(sc.head+sc.size)%ringSize]
			if !sc.inGroup {
				g.start, g.n = i, 0
				sc.inGroup, sc.active, sc.sep = true, true, false
			}
			if k := g.n; k+j-i > MaxLen {
				g.n = MaxLen + 1
			} else {
				for p := i; p < j; p++ { // short runs: cheaper than copy
					g.d[k] = s[p]
					k++
				}
				g.n = k
			}
			g.end = j
			if nums != nil && j < n && numberByte(s[j]) {
				numbersAfterRun(nums, s, j)
			}
			i = j
			continue
		case bSep:
			// An ASCII separator: unit's kSep below, without the call.
			sc.separator()
			if sc.found {
				return i
			}
			i++
			continue
		}
		kind, d, next, esc := unit(s, i, decode)
		if nums != nil {
			numbersIn(nums, s, i, next)
		}
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
			regionBefore(raw, s, i, next)
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

// regionBefore has rs read s as it is (escapes not decoded) around the escape
// s[es:ee]: from the start of the chain of plain digits and separators that
// ends at es, to the end of the chain that holds or follows the escape's
// last bytes. Elsewhere both readings see the same chains, so their
// candidates are the same. rs.pos is where the last region stopped: no
// byte is read twice.
func regionBefore[T text](rs *scanner, s T, es, ee int) {
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
	rs.pos = runBefore(rs, s, p, ee, nil)
}

// findAllSameAsBefore fails t when FindAll, FindMax, Find or FindString
// read b otherwise than FindAll's path before the changes (findAllBefore,
// findInBefore), for the bounds the differential test of FindAll uses.
func findAllSameAsBefore(t testing.TB, b []byte) {
	t.Helper()
	var all []Candidate
	if enoughDigits(b) {
		all, _ = findInBefore(b, -1, nil)
	}
	if got := Find(b); !slices.Equal(got, all) {
		t.Fatalf("Find(%q) = %v, before %v", b, spans(got), spans(all))
	}
	if got := FindString(string(b)); !slices.Equal(got, all) {
		t.Fatalf("FindString(%q) = %v, before %v", b, spans(got), spans(all))
	}
	for _, bound := range []int{-1, 0, 1, 2, len(all) / 2, len(all), maxFoundOfTheLeakGuard} {
		gc, gmore, gnums := FindAll(b, bound)
		wc, wmore, wnums := findAllBefore(b, bound)
		if !slices.Equal(gc, wc) || gmore != wmore || !slices.Equal(gnums, wnums) {
			t.Fatalf("FindAll(%q, %d) = %v %v %q, before %v %v %q", b, bound, spans(gc), gmore, gnums, spans(wc), wmore, wnums)
		}
		var wantC []Candidate
		wantMore := false
		if enoughDigits(b) {
			wantC, wantMore = findInBefore(b, max(bound, 0), nil)
		}
		if c, more := FindMax(b, bound); !slices.Equal(c, wantC) || more != wantMore {
			t.Fatalf("FindMax(%q, %d) = %v %v, before %v %v", b, bound, spans(c), more, spans(wantC), wantMore)
		}
	}
}

// TestFindAllSameAsBefore: FindAll, FindMax, Find and FindString read the
// texts of the FindAll differential test, the committed fuzz inputs,
// wordRunTexts, texts of escapes at every place around card numbers and
// the benchmarks' bodies as FindAll's path before the changes did.
func TestFindAllSameAsBefore(t *testing.T) {
	texts := append(fuzzCorpora(t), findAllTexts(rand.New(rand.NewPCG(139, 149)))...)
	words := wordRunTexts(rand.New(rand.NewPCG(151, 157)))
	for i := 0; i < len(words); i += 3 {
		texts = append(texts, words[i])
	}
	texts = append(texts, escapeAroundCardTexts()...)
	texts = append(texts, string(checkoutBody(checkoutAlias)), string(checkoutBody(visa)), string(realisticJSON(8192)), string(denseCards(50)))
	for _, s := range texts {
		findAllSameAsBefore(t, []byte(s))
	}
	t.Logf("%d texts", len(texts))
}

// escapeAroundCardTexts returns card numbers in groups and whole with an
// escape (one that spells a digit, a separator or something else, or is
// no escape) at every place before, inside and after them: where the
// main reading stops for the reading as it is to be made (findInRaw).
func escapeAroundCardTexts() []string {
	escapes := []string{"%34", `\u0034`, "&#52;", "%20", "&nbsp;", `\u200b`, "%", `\`, "&", "%zz", "&amp;", "%E2%80%8B", "&#x110000;"}
	cards := []string{visa, "4111 1111 1111 1111", "4111-1111-1111-1111", "378282246310005"}
	var texts []string
	for _, card := range cards {
		for p := 0; p <= len(card); p++ {
			for _, e := range escapes {
				texts = append(texts, "x "+card[:p]+e+card[p:]+" y", card[:p]+e+card[p:]+e+card)
			}
		}
	}
	return texts
}

// FuzzFindAllAgainstBefore is TestFindAllSameAsBefore on what the fuzzer
// makes.
func FuzzFindAllAgainstBefore(f *testing.F) {
	for _, s := range fuzzCorpora(f) {
		f.Add([]byte(s))
	}
	for _, s := range findAllTexts(rand.New(rand.NewPCG(163, 167)))[:600] {
		f.Add([]byte(s))
	}
	texts := escapeAroundCardTexts()
	for i := 0; i < len(texts); i += 7 {
		f.Add([]byte(texts[i]))
	}
	f.Add(checkoutBody(checkoutAlias))
	f.Add(realisticJSON(2048))
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) > 1<<13 {
			return
		}
		findAllSameAsBefore(t, b)
	})
}
