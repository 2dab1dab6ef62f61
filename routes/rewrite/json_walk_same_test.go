package rewrite

import (
	"encoding/binary"
	"fmt"
	"math/bits"
	"math/rand"
	"reflect"
	"strings"
	"testing"
)

// The JSON walk against the copy of it before its compact-spelling fast
// paths (json_walk_prior_test.go): the same spans or the same error,
// message included, on every body.

// priorPathSets are the path sets the differential tests locate: the
// checkout's targets, single keys and indexes at every depth, '#' and
// queries (every and first match, conditions on nested keys, literals of
// each type), and case variants that must be refused or matched.
var priorPathSets = [][]string{
	{"card.number", "card.cvc"},
	{"t"}, {"k"}, {"a"}, {"b"}, {"0"}, {"key"}, {"number"},
	{"a.b"}, {"a.b.c"}, {"a.0"}, {"a.1.b"}, {"o.k"}, {"card.number"},
	{"#.a"}, {"#.#.a"}, {"a.#.b"}, {"items.#.number"}, {"a.#.#.b"},
	{`a.#(b==1)#.c`}, {`a.#(b=="x")#.c`}, {`a.#(b>1).c`}, {`a.#(b.c==true)#.d`}, {`a.#(b)#.c`}, {`a.#(%"4*")#`},
	{"Card.Number"}, {"card.number", "Card.number"}, {"key", "Key"},
	{"order.items.#.sku", "order.id"}, {"order.items.#.price", "customer.address.zip"}, {"meta.ip", "meta.session"},
	{"a", "a.b", "b.#.c"},
}

// priorLocator compiles paths (nil when they do not compile).
func priorLocator(paths []string) *jsonLocator {
	l, err := newJSONLocator(jsonSpecs(paths))
	if err != nil {
		return nil
	}
	return l.(*jsonLocator)
}

// walkSameAsPrior fails when the walk locates paths in body otherwise than
// the copy of it before (json_walk_prior_test.go), see walkSameAs.
func walkSameAsPrior(t testing.TB, body []byte, l *jsonLocator) string {
	t.Helper()
	return walkSameAs(t, body, l, priorLocate)
}

// walkSameAs fails when the walk locates paths in body otherwise than
// copyLocate, a copy of it: other spans (offsets, values, encodings,
// targets), or another error (message and sentinel: a refused body's
// response and log line carry them), with gjson asked about every
// component (confirmAll) and with the shortcut. It returns the outcome's
// class.
func walkSameAs(t testing.TB, body []byte, l *jsonLocator, copyLocate func(*jsonLocator, *Message) ([]Span, error)) string {
	t.Helper()
	for _, all := range []bool{false, true} {
		l.confirmAll = all
		got, err := l.Locate(&Message{Body: body})
		want, copyErr := copyLocate(l, &Message{Body: body})
		if fmt.Sprint(err) != fmt.Sprint(copyErr) || errClass(err) != errClass(copyErr) || !reflect.DeepEqual(got, want) {
			t.Fatalf("body %q confirmAll %v: walk %+v, %v; before %+v, %v", body, all, got, err, want, copyErr)
		}
		if all {
			l.confirmAll = false
			return errClass(err)
		}
	}
	return ""
}

// scannersSameAsPrior compares the string and number scanners with their
// copies at every byte of b, and specialBytes at every eight-byte window.
func scannersSameAsPrior(t testing.TB, b []byte) {
	t.Helper()
	for i := range b {
		if b[i] == '"' {
			end, esc, err := scanString(b, i)
			pend, pesc, perr := priorScanString(b, i)
			if end != pend || esc != pesc || fmt.Sprint(err) != fmt.Sprint(perr) {
				t.Fatalf("scanString(%q, %d) = %d, %v, %v; before %d, %v, %v", b, i, end, esc, err, pend, pesc, perr)
			}
			if got, want := skipString(b, i), priorSkipString(b, i); got != want {
				t.Fatalf("skipString(%q, %d) = %d; before %d", b, i, got, want)
			}
		}
		if got, want := plainEnd(b, i), priorPlainEnd(b, i); got != want {
			t.Fatalf("plainEnd(%q, %d) = %d; before %d", b, i, got, want)
		}
		if i+8 <= len(b) {
			specialSameAsPrior(t, binary.LittleEndian.Uint64(b[i:]))
		}
	}
}

// lowestByte is the index of the lowest byte of w whose high bit is set, 8
// when there is none.
func lowestByte(m uint64) int {
	return bits.TrailingZeros64(m) >> 3
}

// specialSameAsPrior fails when specialBytes flags another lowest byte of w
// than the three-test copy: its callers read only that one.
func specialSameAsPrior(t testing.TB, w uint64) {
	if got, want := lowestByte(specialBytes(w)), lowestByte(priorSpecialBytes(w)); got != want {
		t.Fatalf("specialBytes(%#016x): lowest flagged byte %d; before %d", w, got, want)
	}
}

// TestSpecialBytesSameAsPrior: every pair of byte values at every pair of
// places, over fillers that are plain, special, high or next to a special
// one, and a million random words: specialBytes flags the same lowest byte
// as the three tests it replaced.
func TestSpecialBytesSameAsPrior(t *testing.T) {
	specialWords(5, func(w uint64) { specialSameAsPrior(t, w) })
}

// specialWords calls f with every pair of byte values at every pair of
// places of a word, over fillers that are plain, special, high or next to
// a special one, and with a million random words drawn from seed.
func specialWords(seed int64, f func(w uint64)) {
	for _, fill := range []byte{'a', '!', '#', '"', '\\', 0x1f, 0x20, 0x5d, 0x80, 0xa2} {
		for p := range 8 {
			for q := p + 1; q < 8; q++ {
				for x := range 256 {
					for y := range 256 {
						var w [8]byte
						for k := range w {
							w[k] = fill
						}
						w[p], w[q] = byte(x), byte(y)
						f(binary.LittleEndian.Uint64(w[:]))
					}
				}
			}
		}
	}
	rng := rand.New(rand.NewSource(seed))
	for range 1_000_000 {
		f(rng.Uint64())
	}
}

// mutateJSON returns b with one to four random edits: a byte replaced by
// one that JSON or the fast paths treat specially, a token inserted, a
// byte deleted, a run repeated, or the end cut off.
func mutateJSON(rng *rand.Rand, b []byte) []byte {
	tokens := []string{"{", "}", "[", "]", ",", ":", `"`, `\`, `\u00`, `\"`, `\u0041`, `\ud83d\ude00`, "0", "-", ".", "e", "1",
		" ", "\t", "\n", "\r", "\f", "\x00", "\x1f", "\x7f", "\xff", "\xc3\xa9", "true", "nul", `"a"`, `"k":1`, `{"a":[`, "]}"}
	out := append([]byte(nil), b...)
	for range 1 + rng.Intn(4) {
		if len(out) == 0 {
			out = append(out, tokens[rng.Intn(len(tokens))]...)
			continue
		}
		at := rng.Intn(len(out))
		switch rng.Intn(5) {
		case 0:
			tok := tokens[rng.Intn(len(tokens))]
			out[at] = tok[0]
		case 1:
			out = append(out[:at], append([]byte(tokens[rng.Intn(len(tokens))]), out[at:]...)...)
		case 2:
			out = append(out[:at], out[at+1:]...)
		case 3:
			end := min(len(out), at+1+rng.Intn(16))
			out = append(out[:end], append(append([]byte(nil), out[at:end]...), out[end:]...)...)
		default:
			out = out[:at]
		}
	}
	return out
}

// priorBodies returns the bodies of TestJSONWalkSameAsPrior, each with the
// paths it was built for (nil: any): the checkout body and every prefix of
// it, the skip tests' adversarial values in every position (a quarter of
// them), containers nested about MaxDepth deep, random keyed
// bodies (case variants, escaped keys, repeats), the FuzzJSON corpus,
// random token soup, and two random mutations of each.
func priorBodies(t testing.TB, rng *rand.Rand) (bodies [][]byte, paths [][]string) {
	add := func(b []byte, p []string) {
		bodies, paths = append(bodies, b), append(paths, p)
	}
	checkout := body1K()
	for n := 0; n <= len(checkout); n++ {
		add(checkout[:n], []string{"card.number", "card.cvc"})
	}
	for k, b := range skipBodies(skipValues()) {
		if k%4 == 0 { // TestSkipContainerSameAsPrevious reads them all
			add([]byte(b), nil)
			add([]byte(`{"t":"x","o":`+b+`}`), []string{"t"})
		}
	}
	for d := MaxDepth - 2; d <= MaxDepth+2; d++ {
		for _, b := range []string{
			strings.Repeat("[", d) + strings.Repeat("]", d),
			strings.Repeat(`{"a":`, d) + "1" + strings.Repeat("}", d),
			`{"t":"x","o":` + strings.Repeat(`[{"k":`, d/2) + `"v"` + strings.Repeat("}]", d/2) + "}",
			strings.Repeat(`{"a":[`, d/2) + `{"b":"4111111111111111"}` + strings.Repeat("]}", d/2),
		} {
			add([]byte(b), nil)
			add([]byte(b), []string{"t", "a.b"})
		}
	}
	for range 2000 {
		add(randomKeyedBody(rng))
		b, p := randomJSON(rng)
		add([]byte(b), p)
		add([]byte(randomJSONish(rng, 80)), nil)
	}
	for _, e := range corpusEntries(t, "testdata/fuzz/FuzzJSON") {
		add([]byte(e[0]), []string{e[1]})
	}
	for i, n := 0, len(bodies); i < n; i++ {
		for range 2 {
			add(mutateJSON(rng, bodies[i]), paths[i])
		}
	}
	return bodies, paths
}

// TestJSONWalkSameAsPrior: on every body of priorBodies, with the paths it
// was built for and two path sets of priorPathSets, the walk locates the
// same spans or refuses with the same error as before; the string
// scanners and specialBytes answer as before at every byte. Every outcome
// is met.
func TestJSONWalkSameAsPrior(t *testing.T) {
	rng := rand.New(rand.NewSource(21))
	bodies, paths := priorBodies(t, rng)
	walkOutcomes(t, rng, bodies, paths, walkSameAsPrior, func(b []byte, paths []string) {
		if len(paths) != 2 || paths[0] != "card.number" || len(b) == len(body1K()) {
			scannersSameAsPrior(t, b) // of the checkout's prefixes, the whole body only
		}
	})
}

// walkOutcomes compares the walk with a copy of it (same, e.g.
// walkSameAsPrior) on every body, with the paths it was built for (nil:
// none) and three path sets of priorPathSets (two drawn from rng, the
// first), then calls each with the body; it fails unless every outcome
// (accepted, each refusal) is met at least 20 times.
func walkOutcomes(t *testing.T, rng *rand.Rand, bodies [][]byte, paths [][]string, same func(testing.TB, []byte, *jsonLocator) string, each func(b []byte, paths []string)) {
	var sets []*jsonLocator
	for _, p := range priorPathSets {
		l := priorLocator(p)
		if l == nil {
			t.Fatalf("paths %q do not compile", p)
		}
		sets = append(sets, l)
	}
	classes := map[string]int{}
	for i, b := range bodies {
		if paths[i] != nil {
			if l := priorLocator(paths[i]); l != nil {
				classes[same(t, b, l)]++
			}
		}
		for range 2 {
			classes[same(t, b, sets[rng.Intn(len(sets))])]++
		}
		classes[same(t, b, sets[0])]++
		each(b, paths[i])
	}
	for _, c := range []error{nil, ErrMalformed, ErrTooDeep, ErrTargetType, ErrDuplicateKey} {
		if classes[errClass(c)] < 20 {
			t.Errorf("%d bodies gave %q: %v", classes[errClass(c)], errClass(c), classes)
		}
	}
	t.Logf("%d bodies, outcomes: %v", len(bodies), classes)
}

// FuzzJSONWalkAgainstPrior is TestJSONWalkSameAsPrior on what the fuzzer
// makes of the same bodies: set picks a path set of priorPathSets, extra
// (when it compiles) is located beside it.
func FuzzJSONWalkAgainstPrior(f *testing.F) {
	fuzzWalkAgainst(f, 3, nil, walkSameAsPrior, scannersSameAsPrior)
}

// fuzzWalkAgainst is a fuzz target comparing the walk with a copy of it
// (same) on what the fuzzer makes of priorBodies (drawn with seed) and of
// more: set picks a path set of priorPathSets, extra (when it compiles) is
// located beside it; scanners then compares the scanners on the body.
func fuzzWalkAgainst(f *testing.F, seed int64, more [][]byte, same func(testing.TB, []byte, *jsonLocator) string, scanners func(testing.TB, []byte)) {
	rng := rand.New(rand.NewSource(seed))
	bodies, paths := priorBodies(f, rng)
	for i := 0; i < len(bodies); i += 53 {
		extra := ""
		if len(paths[i]) > 0 {
			extra = paths[i][0]
		}
		f.Add(bodies[i], uint8(i), extra)
	}
	for i, b := range more {
		f.Add(b, uint8(i), "k.k")
	}
	var sets []*jsonLocator
	for _, p := range priorPathSets {
		sets = append(sets, priorLocator(p))
	}
	f.Fuzz(func(t *testing.T, body []byte, set uint8, extra string) {
		if len(body) > 1<<13 {
			return
		}
		l := sets[int(set)%len(sets)]
		same(t, body, l)
		if extra != "" {
			if l := priorLocator(append([]string{extra}, priorPathSets[int(set)%len(sets)]...)); l != nil {
				same(t, body, l)
			}
		}
		scanners(t, body)
	})
}
