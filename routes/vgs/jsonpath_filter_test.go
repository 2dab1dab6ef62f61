package vgs

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"testing"

	"github.com/aliasgate/aliasgate/routes/rewrite"
)

func TestJSONPathFilterBecomesGJSONQuery(t *testing.T) {
	tests := []struct{ in, want, why string }{
		{"$.payments[?(@.type=='card')].number", `payments.#(type=="card")#.number`, ""},
		{"$.payments[?@.type=='card'].number", `payments.#(type=="card")#.number`, ""},
		{`$.payments[?(@.type == "card")].number`, `payments.#(type=="card")#.number`, ""},
		{"$.payments[?((@.type=='card'))].number", `payments.#(type=="card")#.number`, ""},
		{"$.p[?(@.card.brand=='visa')].card.pan", `p.#(card.brand=="visa")#.card.pan`, ""},
		{"$.p[?(@['card']['brand']=='visa')].pan", `p.#(card.brand=="visa")#.pan`, ""},
		{"$.p[?(@.amount>=100)].pan", `p.#(amount>=100)#.pan`, ""},
		{"$.p[?(@.amount<1.5e3)].pan", `p.#(amount<1.5e3)#.pan`, ""},
		{"$.p[?(@.amount > -2)].pan", `p.#(amount>-2)#.pan`, ""},
		{"$.p[?(@.name<='m')].pan", `p.#(name<="m")#.pan`, ""},
		{"$.p[?(100 < @.amount)].pan", `p.#(amount>100)#.pan`, ""},
		{"$.p[?('card' == @.type)].pan", `p.#(type=="card")#.pan`, ""},
		{"$.p[?(@.active==true)].pan", `p.#(active==true)#.pan`, ""},
		{"$.p[?(@.pan)].pan", `p.#(pan)#.pan`, ""},
		{"$.p[?(@.pan)]", "", "selects whole elements by a member"},
		{"$.p[?(@.t=='c')]", "", "selects whole elements by a member"},
		{"$.p[?(@ > 'c')]", `p.#(>"c")#`, ""},
		{"$.p[?(@ == '4111')]", `p.#(=="4111")#`, ""},
		{`$.p[?(@.t=='a\'b')].pan`, `p.#(t=="a'b")#.pan`, ""},
		{`$.p[?(@.t=='a"b]')].pan`, `p.#(t=="a\"b]")#.pan`, ""},
		{`$.p[?(@.t=='\u00e9')].pan`, `p.#(t=="é")#.pan`, ""},
		{"$.p[?(@.a#b=='x')].pan", `p.#(a\#b=="x")#.pan`, ""},
		{"$.o[?(@.k=='a')].l[?(@.t=='c')].p", `o.#(k=="a")#.l.#(t=="c")#.p`, ""},
		{"$.p[?(@.type!='card')].pan", "", "!= selects the elements without the member"},
		{"$.p[?(@.type==null)].pan", "", "null"},
		{"$.p[?(@.on>false)].pan", "", "booleans are ordered"},
		{"$.p[?(@.a=='x' && @.b=='y')].pan", "", "&& and ||"},
		{"$.p[?(@.a=='x' || @.b=='y')].pan", "", "&& and ||"},
		{"$.p[?(!@.a)].pan", "", "operator"},
		{"$.p[?(@.a =~ /x.*/)].pan", "", "regular expressions"},
		{"$.p[?(@.a.length() > 2)].pan", "", "member name"},
		{"$.p[?(length(@.a) > 2)].pan", "", "functions"},
		{"$.p[?(@.a == $.b)].pan", "", "string, number"},
		{"$.p[?($.b == 1)].pan", "", "root"},
		{"$.p[?(@[0] == 'x')].pan", "", "only member names"},
		{"$.p[?(@..a == 'x')].pan", "", "only member names"},
		{"$.p[?(@.a == 12345678901234567)].pan", "", "15 significant digits"},
		{"$.p[?(@.a == 'x)].pan", "", "malformed"},
		{"$.p[?(@.a == x)].pan", "", "not a string, number"},
		{"$.p[?(@ )].pan", "", "the element itself"},
		{"$.p[?()].pan", "", "empty filter"},
		{`$.p[?(@.a == '\q')].pan`, "", "escape"},
		{"$.p[?(@['a b'] == 'x')].pan", "", "member name"},
	}
	for _, tt := range tests {
		got, why := jsonPath(tt.in)
		if tt.why != "" {
			if got != "" || !strings.Contains(why, tt.why) || !strings.HasPrefix(why, "filter expression") {
				t.Errorf("jsonPath(%q) = %q, %q; want a filter reason containing %q", tt.in, got, why, tt.why)
			}
			continue
		}
		if got != tt.want || why != "" {
			t.Errorf("jsonPath(%q) = %q, %q; want %q", tt.in, got, why, tt.want)
		}
		// Every conversion is a target the native loader accepts.
		if _, err := rewrite.Compile(rewrite.Redact, []rewrite.TargetSpec{{Kind: rewrite.KindJSON, Path: got}}); err != nil {
			t.Errorf("%s: %v", got, err)
		}
	}
}

// rfcFilter is RFC 9535's semantics of the filters jsonPathFilter converts:
// a comparison of the member at keys (the element itself when empty) with a
// literal, or (op == "") the member's existence. It also reports whether
// the member exists with another JSON type than the literal's, the case the
// native route refuses.
func rfcFilter(elem any, keys []string, op string, lit any) (selected, mismatch bool) {
	v, ok := elem, true
	for _, k := range keys {
		m, isObj := v.(map[string]any)
		if !isObj {
			ok = false
			break
		}
		if v, ok = m[k]; !ok {
			break
		}
	}
	if op == "" {
		return ok, false
	}
	if !ok {
		return false, false // Nothing compares false with ==, <, …
	}
	kind := func(x any) string { return fmt.Sprintf("%T", x) }
	if kind(v) != kind(lit) {
		return false, true
	}
	cmp := 0
	switch a := v.(type) {
	case json.Number:
		x, _ := new(big.Float).SetString(a.String())
		y, _ := new(big.Float).SetString(lit.(json.Number).String())
		cmp = x.Cmp(y)
	case string:
		cmp = strings.Compare(a, lit.(string)) // UTF-8 byte order is code point order
	case bool:
		if a != lit.(bool) {
			cmp = 1
		}
	}
	switch op {
	case "==":
		return cmp == 0, false
	case "<":
		return cmp < 0, false
	case "<=":
		return cmp <= 0, false
	case ">":
		return cmp > 0, false
	case ">=":
		return cmp >= 0, false
	}
	panic(op)
}

func decodeNumbers(t *testing.T, s string) any {
	t.Helper()
	d := json.NewDecoder(strings.NewReader(s))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		t.Fatalf("%s: %v", s, err)
	}
	return v
}

// TestConvertedFiltersSelectWhatJSONPathSelects runs every converted filter
// through the native route's locator on arrays of one element each and
// compares with RFC 9535: the element is selected exactly when JSONPath
// selects it, or the route refuses the body, which it does exactly when the
// compared member has another type than the literal.
func TestConvertedFiltersSelectWhatJSONPathSelects(t *testing.T) {
	filters := []struct {
		jsonPath string
		keys     []string
		op, lit  string
	}{
		{"@.t=='card'", []string{"t"}, "==", `"card"`},
		{"@.t<'m'", []string{"t"}, "<", `"m"`},
		{"@.t>='é'", []string{"t"}, ">=", `"é"`},
		{"@.t>'\uffff'", []string{"t"}, ">", "\"\uffff\""},
		{"@.n==5", []string{"n"}, "==", "5"},
		{"@.n>4.5", []string{"n"}, ">", "4.5"},
		{"@.n<=1e1", []string{"n"}, "<=", "1e1"},
		{"@.n<-1", []string{"n"}, "<", "-1"},
		{"@.on==true", []string{"on"}, "==", "true"},
		{"@.on==false", []string{"on"}, "==", "false"},
		{"@.a.b=='x'", []string{"a", "b"}, "==", `"x"`},
		{"@.t", []string{"t"}, "", ""},
		{"@.a.b", []string{"a", "b"}, "", ""},
	}
	elements := []string{
		`{"t":"card"}`, `{"t":"Card"}`, `{"t":"bank"}`, `{}`, `{"t":null}`, `{"t":0}`, `{"t":true}`, `{"t":{"card":1}}`,
		`{"t":["card"]}`, `{"t":"é"}`, `{"t":"z"}`, "{\"t\":\"\uffff\"}", "{\"t\":\"\U00010000\"}", `{"t":""}`,
		`{"n":5}`, `{"n":5.0}`, `{"n":"5"}`, `{"n":4.5}`, `{"n":10}`, `{"n":1e1}`, `{"n":-1}`, `{"n":-1.5}`, `{"n":5e-1}`,
		`{"on":true}`, `{"on":false}`, `{"on":"true"}`, `{"on":1}`,
		`{"a":{"b":"x"}}`, `{"a":{"b":"y"}}`, `{"a":{}}`, `{"a":"b"}`, `{"a":{"b":null}}`, `{"a":{"b":1}}`, `{"a":[{"b":"x"}]}`,
	}
	selected, refused := 0, 0
	for _, f := range filters {
		path, why := jsonPath("$.l[?(" + f.jsonPath + ")].m")
		if why != "" {
			t.Fatalf("%s: %s", f.jsonPath, why)
		}
		p, err := rewrite.Compile(rewrite.Redact, []rewrite.TargetSpec{{Kind: rewrite.KindJSON, Path: path}})
		if err != nil {
			t.Fatal(err)
		}
		var lit any
		if f.lit != "" {
			lit = decodeNumbers(t, f.lit)
		}
		for _, e := range elements {
			elem := decodeNumbers(t, e)
			want, mismatch := rfcFilter(elem, f.keys, f.op, lit)
			body := `{"l":[` + strings.TrimSuffix(e, "}")
			if e != "{}" {
				body += ","
			}
			body += `"m":"4111111111111111"}]}`
			msg := &rewrite.Message{Body: []byte(body)}
			ch, err := p.Apply(context.Background(), msg, echoTokenizer{})
			switch {
			case err != nil:
				if !mismatch || !errors.Is(err, rewrite.ErrTargetType) {
					t.Errorf("%s on %s: refused (%v); JSONPath selects it: %v", f.jsonPath, e, err, want)
				}
				refused++
			case mismatch:
				t.Errorf("%s on %s: accepted, but the member's type differs from the literal's", f.jsonPath, e)
			case (len(ch) > 0) != want:
				t.Errorf("%s on %s: selected %v, JSONPath %v", f.jsonPath, e, len(ch) > 0, want)
			case want:
				if !bytes.Contains(msg.Body, []byte(`"m":"tok`)) {
					t.Errorf("%s on %s: not redacted: %s", f.jsonPath, e, msg.Body)
				}
				selected++
			}
		}
	}
	if selected < 20 || refused < 20 {
		t.Fatalf("selected %d, refused %d: the table does not exercise both", selected, refused)
	}
}

// echoTokenizer aliases a value as "tok" + its length.
type echoTokenizer struct{}

func (echoTokenizer) Redact(_ context.Context, items []rewrite.RedactItem) ([]string, error) {
	out := make([]string, len(items))
	for i, it := range items {
		out[i] = fmt.Sprintf("tok%d", len(it.Value))
	}
	return out, nil
}

func (echoTokenizer) Reveal(_ context.Context, aliases []string) ([]string, error) {
	return aliases, nil
}

// FuzzJSONPathFilter: translating a JSONPath (filters included) never
// panics, and every path it produces is a target the native loader
// accepts.
func FuzzJSONPathFilter(f *testing.F) {
	for _, s := range []string{"$.payments[?(@.type=='card')].number", `$.p[?(@.t=='a"b]')].pan`, `$.p[?(@.t=='\u00e9')].pan`,
		"$.o[?(@.k=='a')].l[?(@.n>=1.5e3)].p", "$.p[?@['a']['b']==true].c", "$.p[?(@ < 'x')]", "$.items[*].pan"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		path, why := jsonPath(s)
		if why != "" {
			if path != "" {
				t.Fatalf("jsonPath(%q) = %q with reason %q", s, path, why)
			}
			return
		}
		if _, err := rewrite.Compile(rewrite.Redact, []rewrite.TargetSpec{{Kind: rewrite.KindJSON, Path: path}}); err != nil {
			t.Fatalf("jsonPath(%q) = %q, which does not load: %v", s, path, err)
		}
	})
}
