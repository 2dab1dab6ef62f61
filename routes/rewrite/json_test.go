package rewrite

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand"
	"net/http"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"

	"github.com/tidwall/gjson"
)

// fakeTokenizer is a reversible tokenizer: an alias is "T" + a counter,
// or for numeric formats a digit string, remembered both ways. It counts
// calls so tests can check one call per message.
type fakeTokenizer struct {
	mu      sync.Mutex
	toAlias map[string]string
	toValue map[string]string
	calls   int
	fail    error
}

func newFakeTokenizer() *fakeTokenizer {
	return &fakeTokenizer{toAlias: map[string]string{}, toValue: map[string]string{}}
}

func (f *fakeTokenizer) Redact(_ context.Context, items []RedactItem) ([]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if f.fail != nil {
		return nil, f.fail
	}
	out := make([]string, len(items))
	for i, it := range items {
		key := it.Format + "\x00" + it.Value
		a, ok := f.toAlias[key]
		if !ok {
			if it.Format == "FPE_SIX_T_FOUR" {
				a = fmt.Sprintf("9%015d", len(f.toValue)+1)
			} else {
				a = fmt.Sprintf("tok_%d", len(f.toValue)+1)
			}
			f.toAlias[key] = a
			f.toValue[a] = it.Value
		}
		out[i] = a
	}
	return out, nil
}

func (f *fakeTokenizer) Reveal(_ context.Context, aliases []string) ([]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if f.fail != nil {
		return nil, f.fail
	}
	out := make([]string, len(aliases))
	for i, a := range aliases {
		out[i] = f.toValue[a]
	}
	return out, nil
}

func jsonProgram(t testing.TB, op Operation, paths ...string) *Program {
	t.Helper()
	var ts []TargetSpec
	for _, p := range paths {
		format := ""
		if strings.HasSuffix(p, "!fpe") {
			p, format = strings.TrimSuffix(p, "!fpe"), "FPE_SIX_T_FOUR"
		}
		ts = append(ts, TargetSpec{Kind: KindJSON, Path: p, Format: format})
	}
	p, err := Compile(op, ts)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func applyJSON(t testing.TB, p *Program, tok Tokenizer, body string) (string, []Change, error) {
	t.Helper()
	msg := &Message{Header: http.Header{}, Body: []byte(body), MediaType: "application/json"}
	ch, err := p.Apply(context.Background(), msg, tok)
	return string(msg.Body), ch, err
}

func TestJSONRedactKeepsBytesOutsideTargets(t *testing.T) {
	tests := []struct {
		name  string
		paths []string
		in    string
		want  string
	}{
		{"one field", []string{"card.number"},
			`{"card":{"number":"4111111111111111","exp":"12/30"}}`,
			`{"card":{"number":"tok_1","exp":"12/30"}}`},
		{"whitespace and key order kept", []string{"pan", "cvc"},
			"{\n  \"cvc\" : \"123\",\t\"x\":[1, 2 ,3],\n  \"pan\":\"4111111111111111\"\n}\n",
			"{\n  \"cvc\" : \"tok_1\",\t\"x\":[1, 2 ,3],\n  \"pan\":\"tok_2\"\n}\n"},
		{"every array element", []string{"items.#.pan"},
			`{"items":[{"pan":"4111111111111111"},{"other":1},{"pan":"5555555555554444"}]}`,
			`{"items":[{"pan":"tok_1"},{"other":1},{"pan":"tok_2"}]}`},
		{"nested arrays", []string{"a.#.b.#.c"},
			`{"a":[{"b":[{"c":"x"},{"c":"y"}]},{"b":[{"c":"z"}]}]}`,
			`{"a":[{"b":[{"c":"tok_1"},{"c":"tok_2"}]},{"b":[{"c":"tok_3"}]}]}`},
		{"array index", []string{"cards.1"},
			`{"cards":["a","b","c"]}`,
			`{"cards":["a","tok_1","c"]}`},
		{"numeric key on an object", []string{"m.1"},
			`{"m":{"1":"x","2":"y"}}`,
			`{"m":{"1":"tok_1","2":"y"}}`},
		{"escaped dot in key", []string{`card\.number`},
			`{"card.number":"4111111111111111","card":{"number":"no"}}`,
			`{"card.number":"tok_1","card":{"number":"no"}}`},
		{"unicode escapes in key and value", []string{"pan"},
			`{"p\u0061n":"41111111\u00311111111","s":"\u00e9"}`,
			`{"p\u0061n":"tok_1","s":"\u00e9"}`},
		{"number becomes string for a UUID alias", []string{"pan"},
			`{"pan":4111111111111111}`,
			`{"pan":"tok_1"}`},
		{"number stays number for a numeric alias", []string{"pan!fpe"},
			`{"pan":4111111111111111}`,
			`{"pan":9000000000000001}`},
		{"missing path is not an error", []string{"nope.deeper", "pan"},
			`{"pan":"x","a":{"b":1}}`,
			`{"pan":"tok_1","a":{"b":1}}`},
		{"empty value is skipped", []string{"pan"},
			`{"pan":""}`,
			`{"pan":""}`},
		{"same value twice, one alias", []string{"a", "b"},
			`{"a":"v","b":"v"}`,
			`{"a":"tok_1","b":"tok_1"}`},
		{"top-level array", []string{"#.pan"},
			`[{"pan":"1"},{"pan":"2"}]`,
			`[{"pan":"tok_1"},{"pan":"tok_2"}]`},
		{"non-ASCII kept", []string{"pan"},
			`{"name":"Zoë 日本","pan":"4111111111111111"}`,
			`{"name":"Zoë 日本","pan":"tok_1"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok := newFakeTokenizer()
			got, _, err := applyJSON(t, jsonProgram(t, Redact, tt.paths...), tok, tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Fatalf("got  %s\nwant %s", got, tt.want)
			}
			if !json.Valid([]byte(got)) {
				t.Fatal("output is not valid JSON")
			}
			if tok.calls > 1 {
				t.Fatalf("%d tokenizer calls, want at most 1", tok.calls)
			}
		})
	}
}

func TestJSONRefusals(t *testing.T) {
	deep := strings.Repeat("[", MaxDepth+1) + strings.Repeat("]", MaxDepth+1)
	okDeep := strings.Repeat("[", MaxDepth) + strings.Repeat("]", MaxDepth)
	tests := []struct {
		name string
		path string
		in   string
		want error
	}{
		{"malformed", "pan", `{"pan":"4111111111111111"`, ErrMalformed},
		{"trailing garbage", "pan", `{"pan":"x"} x`, ErrMalformed},
		{"bad escape", "pan", `{"pan":"\x"}`, ErrMalformed},
		{"control character", "pan", "{\"pan\":\"a\nb\"}", ErrMalformed},
		{"leading zero number", "pan", `{"pan":0123}`, ErrMalformed},
		{"single quotes", "pan", `{'pan':'x'}`, ErrMalformed},
		{"empty body is fine", "pan", ``, nil},
		{"object target", "card", `{"card":{"n":"1"}}`, ErrTargetType},
		{"array target", "card", `{"card":["1"]}`, ErrTargetType},
		{"bool target", "card", `{"card":true}`, ErrTargetType},
		{"null target", "card", `{"card":null}`, ErrTargetType},
		{"duplicate targeted key", "pan", `{"pan":"tok_x","pan":"4111111111111111"}`, ErrDuplicateKey},
		{"duplicate via escape", "pan", `{"pan":"tok_x","p\u0061n":"4111111111111111"}`, ErrDuplicateKey},
		{"duplicate untargeted key is fine", "pan", `{"a":1,"a":2,"pan":"x"}`, nil},
		{"duplicate key in another object is fine", "#.pan", `[{"pan":"a"},{"pan":"b"}]`, nil},
		{"too deep", "pan", deep, ErrTooDeep},
		{"at the depth limit", "pan", okDeep, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			msg := &Message{Body: []byte(tt.in)}
			orig := tt.in
			_, err := jsonProgram(t, Redact, tt.path).Apply(context.Background(), msg, newFakeTokenizer())
			if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if err != nil {
				if string(msg.Body) != orig {
					t.Fatal("body changed on error")
				}
				if strings.Contains(err.Error(), "4111") {
					t.Fatalf("error %q quotes the body", err)
				}
			}
		})
	}
}

func TestJSONPathSyntax(t *testing.T) {
	good := []string{"a", "a.b.c", "items.#.pan", "a.0", `a\.b`, `a\#`, "a.#.b.#.c", "日本.x",
		`payments.#(type=="card")#.number`, `payments.#(type=="card").number`, `a.#(b.c==1)#.d`,
		`a.#(b!="x")#.c`, `a.#(n>=10)#.c`, `a.#(n<1e3).c`, `a.#(s%"4*")#.c`, `a.#(s!%"x?")#.c`,
		`a.#(flag==true)#.c`, `a.#(has_pan)#.pan`, `a.#(=="x")#`, `a.#(>5)`,
		`a.#(k=="a)b")#.c`, `a.#(k=="q\"x")#.c`, `a.#( k == "v" )#.c`, `a.#(b\.c=="v")#.d`,
		`a.#(t=="x")#.b.#(u=="y")#.c`, `a.#(0=="x")#.b`, `#(k=="v")#.p`, `a(b).c`, `0(0`}
	bad := map[string]string{
		"": "empty", "a..b": "empty key", ".a": "empty key", "a.": "empty key",
		"a|b": "pipe", "a.@reverse": "modifier", "@this.a": "modifier", "a.{b}": "multipath", "[a,b]": "multipath",
		"a[0]": "multipath", "!true": "literal", "a.#": "array length", "$.a": "JSONPath", "..a": "JSON lines",
		"a.*": "wildcard", "a?b": "wildcard", "a#b": "whole path element", `a\`: "ends with",
		`a.#[b=="c"]#.d`: "#(…), not #[…]", `a.#(b=="c"`: "not closed", `a.#(b=="c")x`: "followed by",
		`a.#(b=="c")##`: "followed by", `a.#()#.b`: "empty query", `a.#(b==c)#.d`: "JSON literal",
		`a.#(b=="c)#.d`: "not closed", `a.#(b==~true)#.d`: "~ conversions", `a.#(b%5)#.d`: "pattern",
		`a.#(b.#(c==1))#.d`: "plain keys", `a.#(@this==1)#.d`: "modifier", `a.#(b=="x" && c=="y")#.d`: "JSON literal",
		`a.#(b!)#.c`: "operator", `a.#(v==null)#.c`: "null", `a.#(k(x)=="v")#.c`: "plain keys", `a.#(b.=="x")#.c`: "ends with '.'", `a.#(*=="x")#.c`: "wildcard",
		`a.#(b==1).`: "empty key", `a=b`: "outside a query",
	}
	for _, p := range good {
		if _, err := parseJSONPath(p); err != nil {
			t.Errorf("parseJSONPath(%q) = %v", p, err)
		}
	}
	for p, want := range bad {
		_, err := parseJSONPath(p)
		if !errors.Is(err, ErrJSONPath) || !strings.Contains(err.Error(), want) {
			t.Errorf("parseJSONPath(%q) = %v, want ErrJSONPath saying %q", p, err, want)
		}
	}
}

func TestJSONAgreesWithGJSON(t *testing.T) {
	body := `{"a":{"b":"x","c":[{"d":"1"},{"d":"2"}],"e":12345},"f":[["g"]],"k.l":"m"}`
	for _, p := range []string{"a.b", "a.c.#.d", "a.e", "a.c.1.d", `k\.l`} {
		l, err := newJSONLocator([]TargetSpec{{Kind: KindJSON, Path: p}}, []int{0})
		if err != nil {
			t.Fatal(err)
		}
		spans, err := l.Locate(&Message{Body: []byte(body)})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, s := range spans {
			got = append(got, s.Value)
		}
		r := gjson.Get(body, p)
		var want []string
		if r.IsArray() {
			for _, x := range r.Array() {
				want = append(want, x.String())
			}
		} else {
			want = []string{r.String()}
		}
		if strings.Join(got, ",") != strings.Join(want, ",") {
			t.Errorf("%s: located %v, gjson %v", p, got, want)
		}
	}
}

func TestRedactThenRevealIsIdentity(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	for iter := range 300 {
		body, paths := randomJSON(rng)
		tok := newFakeTokenizer()
		red, _, err := applyJSON(t, jsonProgram(t, Redact, paths...), tok, body)
		if err != nil {
			t.Fatalf("iter %d: redact: %v\n%s", iter, err, body)
		}
		back, _, err := applyJSON(t, jsonProgram(t, Reveal, paths...), tok, red)
		if err != nil {
			t.Fatalf("iter %d: reveal: %v", iter, err)
		}
		if back != body {
			t.Fatalf("iter %d: round trip differs\n in  %s\n red %s\n out %s", iter, body, red, back)
		}
	}
}

// randomJSON builds a body with card-like string values under random keys,
// and the paths to them (values without escapes, so the round trip is exact).
func randomJSON(rng *rand.Rand) (string, []string) {
	keys := []string{"pan", "cvc", "name", "card", "x"}
	var paths []string
	var b strings.Builder
	b.WriteString("{")
	n := 1 + rng.Intn(4)
	for i := 0; i < n; i++ {
		if i > 0 {
			b.WriteString(strings.Repeat(" ", rng.Intn(2)) + ",")
		}
		k := fmt.Sprintf("%s%d", keys[rng.Intn(len(keys))], i)
		switch rng.Intn(3) {
		case 0:
			fmt.Fprintf(&b, `"%s":"%d"`, k, rng.Int63())
			paths = append(paths, k)
		case 1:
			fmt.Fprintf(&b, `"%s":[{"v":"%d"},{"w":true},{"v":"é%d"}]`, k, rng.Int63(), rng.Intn(100))
			paths = append(paths, k+".#.v")
		default:
			fmt.Fprintf(&b, `"%s": {"keep": [1, 2.5e3, null], "s":"%d"}`, k, rng.Intn(1000))
			if rng.Intn(2) == 0 {
				paths = append(paths, k+".s")
			}
		}
	}
	b.WriteString("}")
	if len(paths) == 0 {
		paths = append(paths, "absent")
	}
	return b.String(), paths
}

func TestRevealLeavesUnknownAliasesAlone(t *testing.T) {
	tok := newFakeTokenizer()
	got, ch, err := applyJSON(t, jsonProgram(t, Reveal, "pan"), tok, `{"pan":"not-an-alias"}`)
	if err != nil || got != `{"pan":"not-an-alias"}` || len(ch) != 0 {
		t.Fatalf("got %s, %v, %v", got, ch, err)
	}
}

func TestTokenizerFailureChangesNothing(t *testing.T) {
	tok := newFakeTokenizer()
	tok.fail = errors.New("vault down")
	msg := &Message{Body: []byte(`{"pan":"4111111111111111"}`)}
	_, err := jsonProgram(t, Redact, "pan").Apply(context.Background(), msg, tok)
	if !errors.Is(err, ErrTokenizer) || string(msg.Body) != `{"pan":"4111111111111111"}` {
		t.Fatalf("err = %v, body %s", err, msg.Body)
	}
}

func TestHeaderTargetsShareTheBodysTokenizerCall(t *testing.T) {
	p, err := Compile(Redact, []TargetSpec{
		{Kind: KindJSON, Path: "pan"},
		{Kind: KindHeader, Path: "x-card-number"},
		{Kind: KindHeader, Path: "Authorization", HeaderPattern: `^Card (\d+)$`},
	})
	if err != nil {
		t.Fatal(err)
	}
	tok := newFakeTokenizer()
	msg := &Message{Header: http.Header{"X-Card-Number": {"5555555555554444"}, "Authorization": {"Card 4111111111111111"}},
		Body: []byte(`{"pan":"4111111111111111"}`)}
	ch, err := p.Apply(context.Background(), msg, tok)
	if err != nil {
		t.Fatal(err)
	}
	if tok.calls != 1 || string(msg.Body) != `{"pan":"tok_1"}` || msg.Header.Get("X-Card-Number") != "tok_2" || msg.Header.Get("Authorization") != "Card tok_1" {
		t.Fatalf("calls %d body %s headers %v", tok.calls, msg.Body, msg.Header)
	}
	if len(ch) != 3 || ch[0].Count != 1 || ch[1].Path != "x-card-number" {
		t.Fatalf("changes %+v", ch)
	}
}

func TestCompileRefusesMixedBodyKinds(t *testing.T) {
	_, err := Compile(Redact, []TargetSpec{{Kind: KindJSON, Path: "a"}, {Kind: KindRegex, Path: `\d+`}})
	if err == nil || !strings.Contains(err.Error(), "one kind") {
		t.Fatalf("err = %v", err)
	}
	if _, err := Compile(Redact, nil); err == nil {
		t.Fatal("Compile accepted no targets")
	}
	if _, err := Compile(Redact, []TargetSpec{{Kind: "yaml", Path: "a"}}); err == nil {
		t.Fatal("Compile accepted an unknown kind")
	}
}

func TestAppendJSONString(t *testing.T) {
	tests := map[string]string{
		"plain":       `"plain"`,
		`q"b\`:        `"q\"b\\"`,
		"nl\n\t\x01":  `"nl\n\t\u0001"`,
		"é日":          `"é日"`,
		"bad\xffutf8": `"bad\ufffdutf8"`,
		"":            `""`,
	}
	for in, want := range tests {
		got := string(appendJSONString(nil, in))
		if got != want {
			t.Errorf("appendJSONString(%q) = %s, want %s", in, got, want)
		}
		var back string
		if err := json.Unmarshal([]byte(got), &back); err != nil {
			t.Errorf("%s does not parse: %v", got, err)
		}
	}
}

func FuzzJSON(f *testing.F) {
	f.Add([]byte(`{"card":{"number":"4111111111111111","cvc":123},"items":[{"pan":"x"}]}`), "card.number")
	f.Add([]byte(`[{"pan":"1"},{"pan":2}]`), "#.pan")
	f.Add([]byte(`{"p\u0061n":"\ud83d\ude00"}`), "pan")
	f.Add([]byte(`{"card":{"Number":"4111111111111111"}}`), "card.number")
	f.Add([]byte(`{"Card":{"number":"4111111111111111"},"card":{}}`), "card.number")
	f.Fuzz(func(t *testing.T, body []byte, path string) {
		p, err := Compile(Redact, []TargetSpec{{Kind: KindJSON, Path: path}})
		if err != nil {
			return
		}
		spans, err := p.body.Locate(&Message{Body: body})
		if err != nil {
			if json.Valid(body) && !errors.Is(err, ErrTargetType) && !errors.Is(err, ErrDuplicateKey) && !errors.Is(err, ErrTooDeep) {
				t.Fatalf("valid JSON refused: %v", err)
			}
			return
		}
		if len(body) > 0 && !json.Valid(body) {
			t.Fatalf("invalid JSON accepted")
		}
		last := 0
		for _, s := range spans {
			if s.Start < last || s.End > len(body) || s.Start >= s.End {
				t.Fatalf("bad span %+v (last %d, len %d)", s, last, len(body))
			}
			last = s.End
		}
		tok := newFakeTokenizer()
		msg := &Message{Body: append([]byte(nil), body...)}
		if _, err := p.Apply(context.Background(), msg, tok); err != nil {
			t.Fatalf("apply after locate succeeded: %v", err)
		}
		if len(body) > 0 && !json.Valid(msg.Body) {
			t.Fatalf("redacted body is not valid JSON: %s", msg.Body)
		}
		// What encoding/json reads at the path (keys matched
		// case-insensitively) was redacted.
		checkAgainstEncodingJSON(t, body, path)
	})
}

// TestJSONValuesOfEveryKind checks the values a walk hands the Tokenizer
// (all slices of one string built after the walk) for plain, escaped,
// numeric and empty values side by side.
func TestJSONValuesOfEveryKind(t *testing.T) {
	body := []byte(`{"a":"plain","b":"x\u0041y\n","c":4111111111111111,"d":"","e":[{"f":"1"},{"f":"\"2\""}]}`)
	p := jsonProgram(t, Redact, "a", "b", "c", "d", "e.#.f")
	spans, err := p.body.Locate(&Message{Body: body})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"plain", "xAy\n", "4111111111111111", "", "1", `"2"`}
	if len(spans) != len(want) {
		t.Fatalf("%d spans, want %d", len(spans), len(want))
	}
	for i, s := range spans {
		if s.Value != want[i] {
			t.Errorf("span %d value %q, want %q", i, s.Value, want[i])
		}
	}
}

// TestReleasedWalkKeepsNoBodyData: once released (before it goes back to
// the pool), a walk's state holds no key, body, span or query selection,
// whatever the walk met, errors included, and however far its stacks grew.
func TestReleasedWalkKeepsNoBodyData(t *testing.T) {
	var deep strings.Builder
	for i := range 40 {
		fmt.Fprintf(&deep, `{"k%d":"v","card":`, i)
	}
	deep.WriteString(`{"number":"4111111111111111"}`)
	deep.WriteString(strings.Repeat("}", 40))
	for _, c := range []struct{ body, path string }{
		{`{"card":{"number":"4111111111111111","cvc":"123"}}`, "card.number"},
		{`{"card":{"number":"4111111111111111","number":"1"}}`, "card.number"},
		{`{"cards":[{"t":"a","n":"4111111111111111"},{"t":"b","n":"2"}]}`, `cards.#(t=="a")#.n`},
		{`{"card":{"number":"4111111111111111"`, "card.number"},
		{deep.String(), strings.Repeat("card.", 40) + "number"},
	} {
		p := jsonProgram(t, Redact, c.path)
		w := &jsonWalk{}
		spans, err := w.locate(p.body.(*jsonLocator), nil, &Message{Body: []byte(c.body)})
		if err == nil && len(spans) == 0 {
			t.Errorf("%s: nothing located", c.body)
		}
		w.release()
		if w.b != nil || w.s != "" || w.paths != nil || w.spans != nil {
			t.Errorf("%s: the released walk still holds the body, paths or spans", c.body)
		}
		for _, k := range w.seen[:cap(w.seen)] {
			if k != "" {
				t.Errorf("%s: the released walk still holds the key %q", c.body, k)
			}
		}
		for _, s := range w.sels[:cap(w.sels)] {
			if s.offs != nil {
				t.Errorf("%s: the released walk still holds a query selection", c.body)
			}
		}
	}
}

// appendJSONStringBytewise is appendJSONString as it was before it skipped
// plain bytes eight at a time: the reference its output must equal.
func appendJSONStringBytewise(dst []byte, v string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(v); {
		c := v[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			dst = append(dst, v[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(v[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, v[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, v[start:]...)
	return append(dst, '"')
}

// TestAppendJSONStringMatchesBytewise: appendJSONString writes what the
// byte-by-byte loop wrote, for every byte at every position of strings of
// 0 to 24 bytes (each special byte, '"', '\\', controls, 0x7f, UTF-8 lead
// and continuation bytes, before, inside and after the eight-byte words)
// and for random strings.
func TestAppendJSONStringMatchesBytewise(t *testing.T) {
	check := func(v string) {
		t.Helper()
		if got, want := appendJSONString([]byte("x"), v), appendJSONStringBytewise([]byte("x"), v); string(got) != string(want) {
			t.Fatalf("appendJSONString(%q) = %s, want %s", v, got, want)
		}
	}
	for n := 0; n <= 24; n++ {
		for pos := 0; pos < max(n, 1); pos++ {
			for c := 0; c < 256; c++ {
				b := []byte(strings.Repeat("4", n))
				if n > 0 {
					b[pos] = byte(c)
				}
				check(string(b))
			}
		}
	}
	for _, v := range []string{"é日本語 card 4111111111111111", "tok_\u00e9\xff\xfe_\"\\\x00\x1f\x7f", strings.Repeat("a\u2028", 9)} {
		check(v)
	}
	rng := rand.New(rand.NewSource(7))
	alphabet := []byte("aZ09_-\"\\\x00\x01\x1f\x20\x7f\x80\xbf\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\xff")
	for range 20000 {
		b := make([]byte, rng.Intn(40))
		for i := range b {
			b[i] = alphabet[rng.Intn(len(alphabet))]
		}
		check(string(b))
	}
}

// TestEscapedDigitIsAKeyOnly: a path component with an escape is never an
// array index in gjson (`\0` names the key "0", on an array nothing), so
// the locator reads it the same way; before, it gave `\0` the index 0 and
// then refused every array body for disagreeing with gjson.
func TestEscapedDigitIsAKeyOnly(t *testing.T) {
	for _, tc := range []struct{ path, body, want string }{
		{`0`, `["x","y"]`, "x"},
		{`\0`, `["x","y"]`, ""},
		{`\0`, `{"0":"k0","1":"k1"}`, "k0"},
		{`1\2`, `["a","b","c","d","e","f","g","h","i","j","k","l","m"]`, ""},
		{`1\2`, `{"12":"k12"}`, "k12"},
		{`a.\1`, `{"a":["A0","A1"]}`, ""},
		{`a.\1`, `{"a":{"1":"K"}}`, "K"},
		{`a.1`, `{"a":["A0","A1"]}`, "A1"},
	} {
		if got := gjson.Get(tc.body, tc.path).String(); got != tc.want {
			t.Fatalf("gjson.Get(%s, %s) = %q, the table says %q", tc.body, tc.path, got, tc.want)
		}
		l, err := newJSONLocator([]TargetSpec{{Kind: KindJSON, Path: tc.path}}, []int{0})
		if err != nil {
			t.Fatal(err)
		}
		spans, err := l.Locate(&Message{Body: []byte(tc.body)})
		if err != nil {
			t.Fatalf("%s on %s: %v", tc.path, tc.body, err)
		}
		got := ""
		if len(spans) == 1 {
			got = spans[0].Value
		} else if len(spans) > 1 {
			t.Fatalf("%s on %s: %d spans", tc.path, tc.body, len(spans))
		}
		if got != tc.want {
			t.Errorf("%s on %s: located %q, gjson %q", tc.path, tc.body, got, tc.want)
		}
	}
}
