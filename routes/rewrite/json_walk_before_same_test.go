package rewrite

import (
	"encoding/binary"
	"fmt"
	"math/rand"
	"strings"
	"testing"
)

// The JSON walk against its copy before skipContainer read nested
// containers in its own loop (json_walk_before_test.go): the same spans or
// the same error, message and offset included, on every body; and
// skipContainer and plainEnd give the same answers as their copies at
// every place of every body.

// walkSameAsBefore fails when the walk locates paths in body otherwise
// than the copy of it before (json_walk_before_test.go), see walkSameAs.
func walkSameAsBefore(t testing.TB, body []byte, l *jsonLocator) string {
	t.Helper()
	return walkSameAs(t, body, l, beforeLocate)
}

// skipSameAsBefore fails when skipContainer, plainEnd or specialBytes
// answer otherwise than their copies before at some place of b:
// skipContainer at the first '{' or '[', or with every at each of them
// (the index it stops at, the error and its message), at the depths
// around 0, 64 and MaxDepth; plainEnd at every index; specialBytes on
// every eight-byte window.
func skipSameAsBefore(t testing.TB, b []byte, every bool) {
	t.Helper()
	for i, c := range b {
		if got, want := plainEnd(b, i), beforePlainEnd(b, i); got != want {
			t.Fatalf("plainEnd(%q, %d) = %d; before %d", b, i, got, want)
		}
		if i+8 <= len(b) {
			specialSameAsBefore(t, binary.LittleEndian.Uint64(b[i:]))
		}
		if c != '{' && c != '[' || !every && i > skipWS(b, 0) {
			continue
		}
		for _, depth := range []int{0, 1, 63, 64, MaxDepth - 2, MaxDepth - 1, MaxDepth} {
			got, err := skipContainer(b, i, depth)
			want, beforeErr := beforeSkipContainer(b, i, depth)
			if got != want || fmt.Sprint(err) != fmt.Sprint(beforeErr) || errClass(err) != errClass(beforeErr) {
				t.Fatalf("skipContainer(%q, %d, %d) = %d, %v; before %d, %v", b, i, depth, got, err, want, beforeErr)
			}
		}
	}
}

// specialSameAsBefore fails when specialBytes flags other bytes of w than
// its copy before: not only the lowest one, every high bit is the same.
func specialSameAsBefore(t testing.TB, w uint64) {
	if got, want := specialBytes(w), beforeSpecialBytes(w); got != want {
		t.Fatalf("specialBytes(%#016x) = %#016x; before %#016x", w, got, want)
	}
}

// TestSpecialBytesSameAsBefore: on the words of specialWords (every pair
// of byte values at every pair of places over several fillers, a million
// random words), specialBytes (constants read from memory, the high bits
// taken from w once) gives the mask of its copy before, bit for bit.
func TestSpecialBytesSameAsBefore(t *testing.T) {
	specialWords(37, func(w uint64) { specialSameAsBefore(t, w) })
}

// deepBodies returns containers nested up to MaxDepth+2 levels, objects
// and arrays mixed in patterns that put either kind at every level (the
// loop keeps one bit per level, 64 to a word), closed right, closed with
// the other bracket at one level, cut short, with a scalar, white space or
// a second member at the bottom.
func deepBodies(rng *rand.Rand) []string {
	var bodies []string
	for _, d := range []int{1, 2, 3, 63, 64, 65, 66, 100, MaxDepth - 2, MaxDepth - 1, MaxDepth, MaxDepth + 1, MaxDepth + 2} {
		for pattern := 0; pattern < 6; pattern++ {
			obj := levelKinds(d, pattern, rng)
			for _, bottom := range []string{"1", `"v"`, " true ", `{}`, `[]`, `"a\"b"`, "1.5e3", "-0", `"x",2`} {
				var open, close strings.Builder
				for k := range obj {
					if obj[k] {
						open.WriteString(`{"k":`)
					} else {
						open.WriteString("[")
					}
				}
				for k := len(obj) - 1; k >= 0; k-- {
					if obj[k] {
						close.WriteString("}")
					} else {
						close.WriteString("]")
					}
				}
				whole := open.String() + bottom + close.String()
				bodies = append(bodies, whole)
				// The other bracket at one level.
				cl := []byte(close.String())
				if len(cl) > 0 {
					at := rng.Intn(len(cl))
					cl[at] ^= '}' ^ ']'
					bodies = append(bodies, open.String()+bottom+string(cl))
				}
				bodies = append(bodies, whole[:rng.Intn(len(whole)+1)])
			}
		}
	}
	return bodies
}

// levelKinds returns the kinds of d nested containers (true: an object)
// in one of six patterns: all objects, all arrays, alternating, objects
// for the first 64 levels then arrays, the reverse (a kind switch where
// skipContainer's stack carries a bit from one word to the other), and
// drawn from rng.
func levelKinds(d, pattern int, rng *rand.Rand) []bool {
	obj := make([]bool, d)
	for k := range obj {
		switch pattern {
		case 0:
			obj[k] = true
		case 1:
			obj[k] = false
		case 2:
			obj[k] = k%2 == 0
		case 3:
			obj[k] = k < 64
		case 4:
			obj[k] = k >= 64
		default:
			obj[k] = rng.Intn(2) == 0
		}
	}
	return obj
}

// TestSkipContainerSameAsBefore: skipContainer and plainEnd answer as
// their copies before on the skip tests' adversarial bodies (every prefix
// of the shorter ones too), deeply nested containers and random token
// soup.
func TestSkipContainerSameAsBefore(t *testing.T) {
	rng := rand.New(rand.NewSource(31))
	bodies := skipBodies(skipValues())
	bodies = append(bodies, deepBodies(rng)...)
	for range 3000 {
		bodies = append(bodies, randomJSONish(rng, 60))
	}
	for _, body := range bodies {
		skipSameAsBefore(t, []byte(body), true)
		if len(body) < 100 {
			for n := 0; n < len(body); n++ {
				skipSameAsBefore(t, []byte(body[:n]), false)
			}
		}
	}
	for _, body := range [][]byte{body1K(), body64K()} {
		skipSameAsBefore(t, body, true)
	}
}

// TestJSONWalkSameAsBefore: on every body of priorBodies and deepBodies,
// with the paths it was built for and two path sets of priorPathSets, the
// walk locates the same spans or refuses with the same error as before.
// Every outcome is met.
func TestJSONWalkSameAsBefore(t *testing.T) {
	rng := rand.New(rand.NewSource(33))
	bodies, paths := priorBodies(t, rng)
	for _, b := range deepBodies(rng) {
		bodies, paths = append(bodies, []byte(b)), append(paths, []string{"k.k", "k.0.k"})
	}
	walkOutcomes(t, rng, bodies, paths, walkSameAsBefore, func([]byte, []string) {})
}

// FuzzJSONWalkAgainstBefore is TestJSONWalkSameAsBefore and
// TestSkipContainerSameAsBefore on what the fuzzer makes of the same
// bodies: set picks a path set of priorPathSets, extra (when it compiles)
// is located beside it.
func FuzzJSONWalkAgainstBefore(f *testing.F) {
	var deep [][]byte
	for i, b := range deepBodies(rand.New(rand.NewSource(35))) {
		if i%7 == 0 {
			deep = append(deep, []byte(b))
		}
	}
	fuzzWalkAgainst(f, 35, deep, walkSameAsBefore, func(t testing.TB, b []byte) { skipSameAsBefore(t, b, true) })
}
