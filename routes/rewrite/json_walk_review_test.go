package rewrite

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand"
	"strings"
	"testing"
	"unicode/utf8"
)

// Adversarial review of the walk of round 18 (skipContainer's one loop
// with its 128-bit stack of open containers, object's first-byte bitmap
// and last-byte test, values skipped without visit, cursors carrying
// their component): on keys spelled in every way an application may read
// as a target's (letter case, escapes, the Kelvin sign and the long s,
// bytes past ASCII or invalid UTF-8 at either end, empty), at nesting
// depths around 64 (the carry between the stack's two words) and MaxDepth,
// with every white space and some that JSON does not allow, the walk gives
// its copy before's answer (walkSameAsBefore), and what it answers is
// right: the exact key is located, a spelling that encoding/json would
// read as the key (strings.EqualFold) is refused, and on every body it
// accepts, each value a case-insensitive reader reaches along a target's
// path is one of the located values (reachedLocated).

// reviewSpellings returns raw key texts (between the quotes) for the ASCII
// key k: its own spelling and escaped spellings of it, letter case
// variants, Unicode folds of 'k' and 's', and near misses (a byte past
// ASCII or an invalid one at either end, a changed middle, empty).
func reviewSpellings(k string) []string {
	esc := func(c byte) string { return fmt.Sprintf(`\u%04x`, c) }
	var all strings.Builder
	for i := 0; i < len(k); i++ {
		all.WriteString(esc(k[i]))
	}
	out := []string{k, strings.ToUpper(k), strings.ToUpper(k[:1]) + k[1:], all.String(),
		esc(k[0]) + k[1:], k[:len(k)-1] + esc(k[len(k)-1]), strings.ToUpper(all.String()),
		esc(k[0]^0x20) + k[1:], k[:len(k)-1] + esc(k[len(k)-1]^0x20),
		k + "\u00e9", "\u00e9" + k, k + "\xff", "\xff" + k, k[:len(k)-1] + "\xc3", k + `\u0000`, k + " ", " " + k,
		k[:1] + "\u00e9" + k[len(k)-1:], "", `\ud800` + k, k + `\udfff`}
	for i := 0; i < len(k); i++ {
		if c := k[i]; c >= 'a' && c <= 'z' {
			out = append(out, k[:i]+string(c-0x20)+k[i+1:])
		}
		switch k[i] {
		case 'k':
			out = append(out, k[:i]+"\u212a"+k[i+1:], k[:i]+`\u212A`+k[i+1:], k[:i]+`\u212a`+k[i+1:])
		case 's':
			out = append(out, k[:i]+"\u017f"+k[i+1:], k[:i]+`\u017F`+k[i+1:])
		}
	}
	return out
}

// reviewTargets are the paths' last keys: letters, 'k' and 's' (which
// fold with runes past ASCII) first or last, one letter, and keys starting
// with bytes whose bit-5 partner is not their other case ('@' and '`',
// '_' and DEL).
var reviewTargets = []string{"card", "number", "desk", "ks", "s", "k", "@a", "_x"}

// reviewNest wraps inner in levels containers, objects and arrays as kind
// says (true: an object, member "a"; false: an array, element 0), the
// first level outermost, and returns the body and the path components
// that lead to inner ("a" or "#"). With siblings, every fifth object level
// has a member before "a" that no cursor is below (an array holding an
// object); ws is written around every token.
func reviewNest(inner string, kind []bool, ws string, siblings bool) (string, []string) {
	var open, close strings.Builder
	var comps []string
	for k, obj := range kind {
		if obj {
			open.WriteString("{" + ws)
			if siblings && k%5 == 0 {
				open.WriteString(`"b"` + ws + ":" + ws + `[1,{"a":"x"},[]]` + ws + "," + ws)
			}
			open.WriteString(`"a"` + ws + ":" + ws)
			comps = append(comps, "a")
		} else {
			open.WriteString("[" + ws)
			comps = append(comps, "#")
		}
	}
	for k := len(kind) - 1; k >= 0; k-- {
		if kind[k] {
			close.WriteString(ws + "}")
		} else {
			close.WriteString(ws + "]")
		}
	}
	return open.String() + inner + close.String(), comps
}

// reviewKinds returns the container patterns of levels levels that
// levelKinds makes without a random source.
func reviewKinds(levels int) [][]bool {
	var out [][]bool
	for p := 0; p < 5; p++ {
		out = append(out, levelKinds(levels, p, nil))
	}
	return out
}

// pathText writes components as a gjson path ('@' and other special
// bytes escaped).
func pathText(comps []string) string {
	var sb strings.Builder
	for i, c := range comps {
		if i > 0 {
			sb.WriteByte('.')
		}
		for j := 0; j < len(c); j++ {
			if strings.IndexByte(`.@|{}[]!=<>~%()*?"\#`, c[j]) >= 0 && c != "#" {
				sb.WriteByte('\\')
			}
			sb.WriteByte(c[j])
		}
	}
	return sb.String()
}

// reachedLocated fails when a value that encoding/json, matching keys as
// it does (strings.EqualFold), reaches along comps in the body it decoded
// is not one of the values the walk located (spans): a value the gateway
// would pass on. '#' reaches every element of an array.
func reachedLocated(t testing.TB, body []byte, comps []string, spans []Span) {
	t.Helper()
	d := json.NewDecoder(bytes.NewReader(body))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		t.Fatalf("body %q: the walk accepted it, encoding/json: %v", body, err)
	}
	located := map[string]bool{}
	for _, s := range spans {
		located[string([]rune(s.Value))] = true // invalid UTF-8 as encoding/json reads it
	}
	var reach func(v any, comps []string)
	reach = func(v any, comps []string) {
		if len(comps) == 0 {
			if s := fmt.Sprint(v); !located[s] {
				t.Fatalf("body %q: %q is reached by a case-insensitive reader and not located (spans %+v)", body, s, spans)
			}
			return
		}
		switch v := v.(type) {
		case map[string]any:
			for k, e := range v {
				if strings.EqualFold(k, comps[0]) {
					reach(e, comps[1:])
				}
			}
		case []any:
			if comps[0] == "#" {
				for _, e := range v {
					reach(e, comps[1:])
				}
			}
		}
	}
	reach(v, comps)
}

// reviewLocate compiles paths, compares the walk with its copy before on
// body, and returns its spans and error.
func reviewLocate(t testing.TB, body []byte, paths []string) ([]Span, error) {
	t.Helper()
	l := priorLocator(paths)
	if l == nil {
		t.Fatalf("paths %q do not compile", paths)
	}
	walkSameAsBefore(t, body, l)
	return l.Locate(&Message{Body: body})
}

// TestJSONWalkReviewKeySpellings: every spelling of every target key of
// reviewTargets, as the last key of a path nested 0 to MaxDepth+1 levels
// deep in objects, arrays and their mixes, with white space JSON allows
// and bytes it does not around every token. The walk answers as before;
// a body nested deeper than MaxDepth is refused ErrTooDeep; else a
// spelling that decodes to the key is located (its value, whole), one
// encoding/json reads as the key is refused ErrDuplicateKey, and on every
// body accepted each value encoding/json reaches along the path is
// located. Beside it a member with the key spelled exactly and with the
// route targeting the spelling too: a repeat is refused, a targeted
// spelling is located. Every outcome is met.
func TestJSONWalkReviewKeySpellings(t *testing.T) {
	const pan = "4111111111111111"
	outcomes := map[string]int{}
	for ti, key := range reviewTargets {
		for _, levels := range []int{0, 1, 62, 63, 64, 65, 126, 127, 128} {
			for ki, kind := range reviewKinds(levels) {
				if levels < 2 && ki > 1 {
					continue
				}
				ws := []string{"", " ", "\t\n\r ", "", "\f", " ", "\v", "\n", "\u00a0", "", "\x85", "\r"}[(ti+levels+ki)%12]
				for _, sp := range reviewSpellings(key) {
					inner := `{` + ws + `"x":0,"` + sp + `"` + ws + `:` + ws + `"` + pan + `"` + ws + `}`
					body, comps := reviewNest(inner, kind, ws, true)
					comps = append(comps, key)
					spans, err := reviewLocate(t, []byte(body), []string{pathText(comps)})
					outcomes[errClass(err)]++
					decoded, derr := decodeJSONString([]byte(sp), strings.Contains(sp, `\`))
					if derr != nil {
						t.Fatal(derr)
					}
					switch {
					case ws != "" && !isSpace[ws[0]]:
						if !errors.Is(err, ErrMalformed) {
							t.Fatalf("body %q: %v, want ErrMalformed", body, err)
						}
					case levels >= MaxDepth:
						if !errors.Is(err, ErrTooDeep) {
							t.Fatalf("body %q: %v, want ErrTooDeep", body, err)
						}
					case decoded == key:
						if err != nil || len(spans) != 1 || spans[0].Value != pan || body[spans[0].Start:spans[0].End] != `"`+pan+`"` {
							t.Fatalf("body %q: %+v, %v; want %q located", body, spans, err, pan)
						}
					case strings.EqualFold(decoded, key) || keyFoldEqual(decoded, key):
						if !errors.Is(err, ErrDuplicateKey) {
							t.Fatalf("body %q: %+v, %v; want ErrDuplicateKey", body, spans, err)
						}
					}
					if err == nil {
						reachedLocated(t, []byte(body), comps, spans)
					}
					// Beside the exact key: a repeat, a variant or a
					// stranger; and the spelling targeted too.
					if levels == 64 || levels == 127 || levels == 0 {
						inner2 := `{"` + key + `":"5555555555554444",` + inner[1:]
						body2, _ := reviewNest(inner2, kind, ws, true)
						spans, err := reviewLocate(t, []byte(body2), []string{pathText(comps)})
						outcomes[errClass(err)]++
						if err == nil {
							reachedLocated(t, []byte(body2), comps, spans)
						}
						if utf8.ValidString(decoded) && decoded != "" && decoded != key {
							other := append(append([]string(nil), comps[:len(comps)-1]...), decoded)
							both := []string{pathText(comps), pathText(other)}
							if priorLocator(both) == nil {
								continue
							}
							spans, err := reviewLocate(t, []byte(body2), both)
							outcomes[errClass(err)]++
							if err == nil {
								reachedLocated(t, []byte(body2), comps, spans)
								reachedLocated(t, []byte(body2), other, spans)
							}
						}
					}
				}
			}
		}
	}
	for _, c := range []error{nil, ErrMalformed, ErrTooDeep, ErrDuplicateKey} {
		if outcomes[errClass(c)] < 50 {
			t.Errorf("%d bodies gave %q: %v", outcomes[errClass(c)], errClass(c), outcomes)
		}
	}
	t.Logf("outcomes: %v", outcomes)
}

// TestJSONWalkReviewCut: a body with the target 63, 64, 65 and 125 levels
// deep, under the key spelled exactly, with an escape, as a variant or as
// another key, cut at every byte, and with bytes replaced by white space
// JSON does not allow: as before, and right (the whole body located or
// refused ErrDuplicateKey; a cut one refused ErrMalformed, or as the whole
// body when the walk meets the variant before the cut).
func TestJSONWalkReviewCut(t *testing.T) {
	for _, levels := range []int{63, 64, 65, 125} {
		for ki, kind := range reviewKinds(levels)[2:] {
			for _, c := range []struct {
				key  string
				want error
			}{{"card", nil}, {`\u0063ard`, nil}, {"Card", ErrDuplicateKey}, {`CAR\u0044`, ErrDuplicateKey}, {"cards", nil}} {
				body, comps := reviewNest(`{"`+c.key+`":{"number":4111111111111111},"x":[{"n":-0},{"n":1e5},{"n":"0.5"}]}`, kind, "", true)
				paths := []string{pathText(append(comps, "card", "number")), pathText(append(comps, "x", "#", "n"))}
				whole, werr := reviewLocate(t, []byte(body), paths)
				if errClass(werr) != errClass(c.want) || werr == nil && len(whole) != 3+bool2int(c.key != "cards") {
					t.Fatalf("body %q: %+v, %v; want %v", body, whole, werr, c.want)
				}
				b := []byte(body)
				step := 1 // every byte of one body a depth, else every 17th
				if ki != 1 || c.key != `\u0063ard` && c.key != "Card" {
					step = 17
				}
				for n := 0; n < len(b); n += step {
					_, err := reviewLocate(t, b[:n], paths)
					if !errors.Is(err, ErrMalformed) && (werr == nil || errClass(err) != errClass(werr)) {
						t.Fatalf("body %q cut at %d: %v, want ErrMalformed", body, n, err)
					}
				}
				for n := 0; n < len(b); n += 3 * step {
					was := b[n]
					b[n] = "\f\v\x85"[n/step%3]
					reviewLocate(t, b, paths)
					b[n] = was
				}
			}
		}
	}
}

// bool2int is 1 for true.
func bool2int(b bool) int {
	if b {
		return 1
	}
	return 0
}

// TestSkipContainerReviewEveryLevel: containers 60 to MaxDepth+1 levels
// deep, arrays with one object at each level and objects with one array
// at each level (the kind of every level read back from the stack's two
// words), closed right and with the other bracket at that level, read
// from depths that put the innermost one just below, at and past
// MaxDepth: as before, and right (accepted whole when it fits, ErrTooDeep
// when not, ErrMalformed at the wrong bracket).
func TestSkipContainerReviewEveryLevel(t *testing.T) {
	for levels := 60; levels <= MaxDepth+1; levels++ {
		for _, base := range []bool{false, true} {
			for p := 0; p < levels; p++ {
				kind := make([]bool, levels)
				for k := range kind {
					kind[k] = base != (k == p)
				}
				body, _ := reviewNest("1", kind, "", false)
				for _, wrong := range []bool{false, true} {
					b := []byte(body)
					at := len(b) - 1 - p // the closing bracket of level p
					if wrong {
						b[at] ^= '}' ^ ']'
					}
					for _, depth := range []int{0, MaxDepth - levels - 1, MaxDepth - levels, MaxDepth - levels + 1} {
						if depth < 0 {
							continue
						}
						end, err := skipContainer(b, 0, depth)
						bend, berr := beforeSkipContainer(b, 0, depth)
						if end != bend || fmt.Sprint(err) != fmt.Sprint(berr) {
							t.Fatalf("skipContainer(%q, 0, %d) = %d, %v; before %d, %v", b, depth, end, err, bend, berr)
						}
						switch {
						case depth+levels > MaxDepth:
							if !errors.Is(err, ErrTooDeep) {
								t.Fatalf("skipContainer(%q, 0, %d) = %d, %v; want ErrTooDeep", b, depth, end, err)
							}
						case wrong:
							if !errors.Is(err, ErrMalformed) || end != at {
								t.Fatalf("skipContainer(%q, 0, %d) = %d, %v; want ErrMalformed at %d", b, depth, end, err, at)
							}
						case err != nil || end != len(b):
							t.Fatalf("skipContainer(%q, 0, %d) = %d, %v; want %d", b, depth, end, err, len(b))
						}
					}
				}
			}
		}
	}
}

// TestJSONWalkReviewScalars: numbers, literals, strings with bytes past
// ASCII and control characters, and trailing garbage, as a targeted value,
// as an untargeted member's value (skipped without visit) and inside an
// untargeted container, give the walk's answer before; encoding/json
// accepts exactly the bodies the walk accepts.
func TestJSONWalkReviewScalars(t *testing.T) {
	values := []string{"-0", "1e5", "01", "1.", ".5", "-", "1E+2", "0.0e-0", "tru", "nul", "true", "null", "fals", "truex",
		`"\u00e9"`, "\"\xff\"", "\"\x7f\"", "\"\x1f\"", "\"a\tb\"", `"\ud800"`, `"\x"`, `"`, `"4111\u0031111111111111"`, "1 2", "[1,]", "{}"}
	for _, v := range values {
		for _, f := range []string{`{"t":%s}`, `{"u":%s,"t":"1"}`, `{"t":"1","u":[%s]}`, `{"t":"1","u":{"v":%s}}`, `{"t":"1"}%s`, `[%s]`} {
			body := []byte(fmt.Sprintf(f, v))
			spans, err := reviewLocate(t, body, []string{"t"})
			if (err == nil) != json.Valid(body) && !errors.Is(err, ErrTargetType) {
				t.Fatalf("body %q: %+v, %v; json.Valid %v", body, spans, err, json.Valid(body))
			}
		}
	}
}

// TestJSONWalkReviewReached: on every third body of priorBodies (the
// differential tests' bodies: keyed, escaped, mutated, fuzz corpus) that
// the walk accepts for one of several key and '#' path sets (case variants
// of targets among them), each value encoding/json reaches along a path
// matching keys case-insensitively is located (reachedLocated).
func TestJSONWalkReviewReached(t *testing.T) {
	bodies, _ := priorBodies(t, rand.New(rand.NewSource(99)))
	sets := [][]string{{"card.number", "card.cvc"}, {"k"}, {"key"}, {"a.b"}, {"number"}, {"a.#.b"}, {"#.a"},
		{"items.#.number"}, {"Card.Number"}, {"key", "Key"}, {"a", "a.b", "b.#.c"}}
	accepted := 0
	for i := 0; i < len(bodies); i += 3 {
		for _, p := range sets {
			spans, err := priorLocator(p).Locate(&Message{Body: bodies[i]})
			if err != nil {
				continue
			}
			accepted++
			for _, path := range p {
				reachedLocated(t, bodies[i], strings.Split(path, "."), spans)
			}
		}
	}
	if accepted < 10000 {
		t.Fatalf("%d bodies accepted", accepted)
	}
}
