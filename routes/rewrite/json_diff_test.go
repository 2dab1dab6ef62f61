package rewrite

import (
	"bufio"
	"errors"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

// The gjson locator against the hand-written walker it replaced
// (json_oracle_test.go), on the paths the walker supported: on every body
// the walker accepted the new locator finds the same spans (offsets, values,
// encodings, targets), and it refuses every body the walker refused, for the
// same reason. Paths with a component of more than 20 digits are left out:
// the walker read it as an array index, gjson reads it as a key only
// (TestLongDigitRunsAreKeys).

// oracleOutcome is what one locator made of a body.
type oracleOutcome struct {
	spans []Span
	err   error
}

// errClass names the sentinel an error wraps.
func errClass(err error) string {
	for _, e := range []error{ErrMalformed, ErrTooDeep, ErrTargetType, ErrDuplicateKey} {
		if errors.Is(err, e) {
			return e.Error()
		}
	}
	if err == nil {
		return "accepted"
	}
	return "other: " + err.Error()
}

// jsonSpecs returns a JSON target of each path and the targets' indexes,
// as Compile hands them to a locator.
func jsonSpecs(paths []string) ([]TargetSpec, []int) {
	specs := make([]TargetSpec, len(paths))
	idx := make([]int, len(paths))
	for i, p := range paths {
		specs[i], idx[i] = TargetSpec{Kind: KindJSON, Path: p}, i
	}
	return specs, idx
}

// compareWithOracle locates paths in body with both locators and returns
// "" when they agree, else what differs. skip is true when the walker did
// not support one of the paths.
func compareWithOracle(body []byte, paths []string) (diff string, class string, skip bool) {
	specs, idx := jsonSpecs(paths)
	ol, err := newOracleLocator(specs, idx)
	if err != nil {
		return "", "", true
	}
	// The two differences: the walker read any run of digits as an index
	// too, gjson (and so the new locator) reads at most 20 digits as one
	// and a longer run only as a key; and the walker read a run of digits
	// written with an escape (\0) as an index, gjson only as a key
	// (TestLongDigitRunsAreKeys, TestEscapedDigitIsAKeyOnly).
	for _, p := range paths {
		for _, c := range pathComponents(p) {
			if allASCIIDigits(c.key) && (len(c.key) > 20 || c.escaped) {
				return "", "", true
			}
		}
	}
	nl, err := newJSONLocator(specs, idx)
	if err != nil {
		return fmt.Sprintf("paths %q: the walker accepted them, the gjson locator refuses them: %v", paths, err), "", false
	}
	msg := &Message{Body: body}
	var o, n oracleOutcome
	o.spans, o.err = ol.Locate(msg)
	n.spans, n.err = nl.Locate(msg)
	oc, nc := errClass(o.err), errClass(n.err)
	if oc != nc {
		return fmt.Sprintf("paths %q body %q: walker %v, gjson locator %v", paths, body, o.err, n.err), oc, false
	}
	if o.err == nil && !reflect.DeepEqual(o.spans, n.spans) && (len(o.spans) > 0 || len(n.spans) > 0) {
		return fmt.Sprintf("paths %q body %q: walker spans %+v, gjson locator %+v", paths, body, o.spans, n.spans), oc, false
	}
	return "", oc, false
}

// corpusEntries reads the entries of a Go fuzz corpus directory.
func corpusEntries(t testing.TB, dir string) [][]string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*"))
	if err != nil || len(files) == 0 {
		t.Fatalf("corpus %s: %v (%d files)", dir, err, len(files))
	}
	var out [][]string
	for _, f := range files {
		fh, err := os.Open(f)
		if err != nil {
			t.Fatal(err)
		}
		var vals []string
		sc := bufio.NewScanner(fh)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			line := sc.Text()
			for _, prefix := range []string{"[]byte(", "string("} {
				if strings.HasPrefix(line, prefix) && strings.HasSuffix(line, ")") {
					v, err := strconv.Unquote(line[len(prefix) : len(line)-1])
					if err != nil {
						t.Fatalf("%s: %v", f, err)
					}
					vals = append(vals, v)
				}
			}
		}
		fh.Close()
		out = append(out, vals)
	}
	return out
}

// randomKeyedBody builds a JSON body from a small set of keys (with case
// variants, escaped spellings and repeats), values of every type, and
// sometimes a broken byte; paths picks paths over the same keys.
func randomKeyedBody(rng *rand.Rand) ([]byte, []string) {
	keys := []string{"card", "Card", "number", "NUMBER", `n\u0075mber`, "a", "b", "0", "1", "items", "\u212aey", "key"}
	scalars := []string{`"4111111111111111"`, `4111111111111111`, `"x\"y\u00e9"`, `-1.5e3`, `true`, `null`, `""`, `"tok_1"`}
	var value func(depth int) string
	value = func(depth int) string {
		switch r := rng.Intn(10); {
		case depth > 3 || r < 4:
			return scalars[rng.Intn(len(scalars))]
		case r < 7:
			var b strings.Builder
			b.WriteString("{")
			for i := range rng.Intn(4) {
				if i > 0 {
					b.WriteString(",")
				}
				fmt.Fprintf(&b, "\"%s\":%s", keys[rng.Intn(len(keys))], value(depth+1))
			}
			b.WriteString("}")
			return b.String()
		default:
			var b strings.Builder
			b.WriteString("[")
			for i := range rng.Intn(4) {
				if i > 0 {
					b.WriteString(" , ")
				}
				b.WriteString(value(depth + 1))
			}
			b.WriteString("]")
			return b.String()
		}
	}
	body := []byte(value(0))
	if rng.Intn(8) == 0 && len(body) > 1 {
		body[rng.Intn(len(body))] = "{}[]\",:x "[rng.Intn(9)]
	}
	segs := []string{"card", "Card", "number", "a", "b", "0", "1", "#", "items", "key", `n\u0075mber`}
	var paths []string
	for range 1 + rng.Intn(2) {
		var p []string
		for range 1 + rng.Intn(3) {
			p = append(p, segs[rng.Intn(len(segs))])
		}
		if p[len(p)-1] == "#" {
			p[len(p)-1] = "number"
		}
		paths = append(paths, strings.Join(p, "."))
	}
	return body, paths
}

func TestJSONMatchesOracle(t *testing.T) {
	classes := map[string]int{}
	check := func(body []byte, paths []string) {
		t.Helper()
		diff, class, skip := compareWithOracle(body, paths)
		if skip {
			return
		}
		if diff != "" {
			t.Fatal(diff)
		}
		classes[class]++
	}
	for _, e := range corpusEntries(t, "testdata/fuzz/FuzzJSON") {
		check([]byte(e[0]), []string{e[1]})
	}
	rng := rand.New(rand.NewSource(24))
	for range 20000 {
		check(randomKeyedBody(rng))
	}
	for range 300 {
		body, paths := randomJSON(rng)
		check([]byte(body), paths)
	}
	// Every outcome was met, so the comparison covered each of them.
	for _, c := range []string{"accepted", ErrMalformed.Error(), ErrTargetType.Error(), ErrDuplicateKey.Error()} {
		if classes[c] == 0 {
			t.Errorf("no body gave %q: %v", c, classes)
		}
	}
	t.Logf("outcomes, identical for both locators: %v", classes)
}

func FuzzJSONAgainstOracle(f *testing.F) {
	for _, e := range corpusEntries(f, "testdata/fuzz/FuzzJSON") {
		f.Add([]byte(e[0]), e[1], "")
	}
	rng := rand.New(rand.NewSource(1))
	for range 20 {
		body, paths := randomKeyedBody(rng)
		f.Add(body, paths[0], paths[len(paths)-1])
	}
	f.Fuzz(func(t *testing.T, body []byte, path1, path2 string) {
		paths := []string{path1}
		if path2 != "" {
			paths = append(paths, path2)
		}
		if diff, _, _ := compareWithOracle(body, paths); diff != "" {
			t.Fatal(diff)
		}
		if diff, _ := settleOutcomes(body, paths); diff != "" {
			t.Fatal(diff)
		}
	})
}

// TestLongDigitRunsAreKeys: a path component of more than 20 digits is an
// object key, never an array index, as gjson reads it (the old walker read
// it as an index).
func TestLongDigitRunsAreKeys(t *testing.T) {
	long := strings.Repeat("0", 21)
	for _, tt := range []struct {
		path, body string
		spans      int
	}{
		{long, `[0]`, 0},
		{long, `{"` + long + `":"x"}`, 1},
		{strings.Repeat("0", 20), `["x"]`, 1},
		{"00000000000000000001", `["x","y"]`, 1},
	} {
		l, err := newJSONLocator([]TargetSpec{{Kind: KindJSON, Path: tt.path}}, []int{0})
		if err != nil {
			t.Fatal(err)
		}
		spans, err := l.Locate(&Message{Body: []byte(tt.body)})
		if err != nil || len(spans) != tt.spans {
			t.Errorf("%s in %s: %d spans, %v; want %d", tt.path, tt.body, len(spans), err, tt.spans)
		}
	}
}

// settleOutcomes locates paths in body twice, with settle's shortcut for
// plain keys and with gjson asked about every component (confirmAll), and
// returns "" when both give the same spans and the same error, else what
// differs; shortcut reports whether some object on the way could take it.
func settleOutcomes(body []byte, paths []string) (diff string, shortcut bool) {
	l, err := newJSONLocator(jsonSpecs(paths))
	if err != nil {
		return "", false
	}
	fast := l.(*jsonLocator)
	full := &jsonLocator{paths: fast.paths, confirmAll: true}
	for _, p := range fast.paths {
		for _, s := range p.segs {
			shortcut = shortcut || s.plain
		}
	}
	msg := &Message{Body: body}
	fs, ferr := fast.Locate(msg)
	cs, cerr := full.Locate(msg)
	if fmt.Sprint(ferr) != fmt.Sprint(cerr) {
		return fmt.Sprintf("paths %q body %q: with the shortcut %v, gjson asked %v", paths, body, ferr, cerr), shortcut
	}
	if !reflect.DeepEqual(fs, cs) {
		return fmt.Sprintf("paths %q body %q: with the shortcut %+v, gjson asked %+v", paths, body, fs, cs), shortcut
	}
	return "", shortcut
}

// TestSettleShortcutAgreesWithGJSON (and FuzzJSONAgainstOracle): settle answers for a plain key in an
// object without escaped keys what gjson.Get answers, so skipping the call
// changes no outcome: on the corpora and random bodies of the differential
// tests (escaped keys, letter-case variants, digit keys, repeats, broken
// bytes) both give the same spans and errors, disagreements included.
func TestSettleShortcutAgreesWithGJSON(t *testing.T) {
	n := 0
	check := func(body []byte, paths []string) {
		t.Helper()
		diff, shortcut := settleOutcomes(body, paths)
		if diff != "" {
			t.Fatal(diff)
		}
		if shortcut {
			n++
		}
	}
	for _, e := range corpusEntries(t, "testdata/fuzz/FuzzJSON") {
		check([]byte(e[0]), []string{e[1]})
	}
	for _, e := range corpusEntries(t, "testdata/fuzz/FuzzJSONAgainstOracle") {
		paths := []string{e[1]}
		if e[2] != "" {
			paths = append(paths, e[2])
		}
		check([]byte(e[0]), paths)
	}
	rng := rand.New(rand.NewSource(25))
	for range 20000 {
		check(randomKeyedBody(rng))
	}
	for range 300 {
		body, paths := randomJSON(rng)
		check([]byte(body), paths)
	}
	for _, c := range []struct{ body, path string }{
		{`{"card":{"number":"1","cvc":"2"}}`, "card.number"},
		{`{"card":{"n\u0075mber":"1"}}`, "card.number"},
		{`{"card":{"number":"1","n\u0075mber":"2"}}`, "card.number"},
		{`{"0":"x","1":{"a-b_C":7}}`, "1.a-b_C"},
		{`{"card":{}}`, "card.number"},
		{`{"card":{"cvc":"2"}}`, "card.number"},
		{`{"a.b":"x","a":{"b":"y"}}`, `a\.b`},
	} {
		check([]byte(c.body), []string{c.path})
	}
	if n == 0 {
		t.Fatal("no path could take the shortcut")
	}
}

// component is a path component as the walker reads it: its key with
// escapes taken out, and whether it was written with one.
type component struct {
	key     string
	escaped bool
}

// pathComponents splits a gjson path at its unescaped dots.
func pathComponents(p string) []component {
	var out []component
	var cur component
	var key strings.Builder
	for i := 0; i < len(p); i++ {
		switch c := p[i]; {
		case c == '\\' && i+1 < len(p):
			i++
			key.WriteByte(p[i])
			cur.escaped = true
		case c == '.':
			cur.key = key.String()
			out = append(out, cur)
			cur, key = component{}, strings.Builder{}
		default:
			key.WriteByte(c)
		}
	}
	cur.key = key.String()
	return append(out, cur)
}
