package rewrite

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/tidwall/gjson"
)

func TestJSONQueries(t *testing.T) {
	const payments = `{"payments":[{"type":"card","number":"4111111111111111"},{"type":"bank","number":"DE89370400440532013000"},{"type":"card","number":"5555555555554444"},{"number":"no type"}]}`
	tests := []struct {
		name  string
		paths []string
		in    string
		want  string
	}{
		{"every match", []string{`payments.#(type=="card")#.number`}, payments,
			`{"payments":[{"type":"card","number":"tok_1"},{"type":"bank","number":"DE89370400440532013000"},{"type":"card","number":"tok_2"},{"number":"no type"}]}`},
		{"first match", []string{`payments.#(type=="card").number`}, payments,
			`{"payments":[{"type":"card","number":"tok_1"},{"type":"bank","number":"DE89370400440532013000"},{"type":"card","number":"5555555555554444"},{"number":"no type"}]}`},
		{"not equal skips the element without the key", []string{`payments.#(type!="card")#.number`}, payments,
			`{"payments":[{"type":"card","number":"4111111111111111"},{"type":"bank","number":"tok_1"},{"type":"card","number":"5555555555554444"},{"number":"no type"}]}`},
		{"existence", []string{`payments.#(type)#.number`}, `{"payments":[{"type":"x","number":"1"},{"number":"2"}]}`,
			`{"payments":[{"type":"x","number":"tok_1"},{"number":"2"}]}`},
		{"numbers compare as numbers", []string{`l.#(n>=10)#.v`}, `{"l":[{"n":9,"v":"a"},{"n":10,"v":"b"},{"n":1e2,"v":"c"}]}`,
			`{"l":[{"n":9,"v":"a"},{"n":10,"v":"tok_1"},{"n":1e2,"v":"tok_2"}]}`},
		{"strings compare byte-wise", []string{`l.#(s<"b")#.v`}, `{"l":[{"s":"a","v":"1"},{"s":"b","v":"2"},{"s":"B","v":"3"}]}`,
			`{"l":[{"s":"a","v":"tok_1"},{"s":"b","v":"2"},{"s":"B","v":"tok_2"}]}`},
		{"pattern", []string{`l.#(s%"card*")#.v`}, `{"l":[{"s":"cardholder","v":"1"},{"s":"bank","v":"2"}]}`,
			`{"l":[{"s":"cardholder","v":"tok_1"},{"s":"bank","v":"2"}]}`},
		{"booleans", []string{`l.#(on==true)#.v`, `l.#(on!=true)#.w`}, `{"l":[{"on":true,"v":"1","w":"2"},{"on":false,"v":"3","w":"4"}]}`,
			`{"l":[{"on":true,"v":"tok_1","w":"2"},{"on":false,"v":"3","w":"tok_2"}]}`},
		{"nested condition key", []string{`l.#(card.type=="visa")#.card.pan`}, `{"l":[{"card":{"type":"visa","pan":"1"}},{"card":{"type":"amex","pan":"2"}}]}`,
			`{"l":[{"card":{"type":"visa","pan":"tok_1"}},{"card":{"type":"amex","pan":"2"}}]}`},
		{"the element itself", []string{`l.#(%"4*")#`}, `{"l":["4111111111111111","5555555555554444","41"]}`,
			`{"l":["tok_1","5555555555554444","tok_2"]}`},
		{"query after a query", []string{`o.#(k=="a")#.l.#(t=="c")#.p`},
			`{"o":[{"k":"a","l":[{"t":"c","p":"1"},{"t":"d","p":"2"}]},{"k":"b","l":[{"t":"c","p":"3"}]},{"k":"a","l":[{"t":"c","p":"4"}]}]}`,
			`{"o":[{"k":"a","l":[{"t":"c","p":"tok_1"},{"t":"d","p":"2"}]},{"k":"b","l":[{"t":"c","p":"3"}]},{"k":"a","l":[{"t":"c","p":"tok_2"}]}]}`},
		{"query under #", []string{`o.#.l.#(t=="c")#.p`}, `{"o":[{"l":[{"t":"c","p":"1"}]},{"l":[{"t":"d","p":"2"},{"t":"c","p":"3"}]}]}`,
			`{"o":[{"l":[{"t":"c","p":"tok_1"}]},{"l":[{"t":"d","p":"2"},{"t":"c","p":"tok_2"}]}]}`},
		{"query at the top", []string{`#(t=="c")#.p`}, `[{"t":"c","p":"1"},{"t":"d","p":"2"}]`, `[{"t":"c","p":"tok_1"},{"t":"d","p":"2"}]`},
		{"escaped literal and white space", []string{`l.#( s == "a\"b" )#.v`}, `{"l":[{"s":"a\"b","v":"1"},{"s":"ab","v":"2"}]}`,
			`{"l":[{"s":"a\"b","v":"tok_1"},{"s":"ab","v":"2"}]}`},
		{"escaped key in the body is the key", []string{`l.#(t=="c")#.p`}, `{"l":[{"\u0074":"c","p":"1"}]}`, `{"l":[{"\u0074":"c","p":"tok_1"}]}`},
		{"no match, an empty object", []string{`l.#(t=="z")#.p`, `m.#(t=="c")#.p`}, `{"l":[{"t":"c","p":"1"}],"m":{}}`, `{"l":[{"t":"c","p":"1"}],"m":{}}`},
		{"a query and a plain path on one value", []string{`l.#(t=="c")#.p`, `l.0.p`}, `{"l":[{"t":"c","p":"1"}]}`, `{"l":[{"t":"c","p":"tok_1"}]}`},
		{"white space and other members kept", []string{`l.#(t=="c")#.p`}, "{ \"l\" : [ {\"p\" : \"1\" , \"t\":\"c\"} ,\n {\"t\":\"d\"} ] , \"z\":[1,2]}",
			"{ \"l\" : [ {\"p\" : \"tok_1\" , \"t\":\"c\"} ,\n {\"t\":\"d\"} ] , \"z\":[1,2]}"},
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
			if !json.Valid([]byte(got)) || tok.calls > 1 {
				t.Fatalf("invalid output or %d tokenizer calls", tok.calls)
			}
			if strings.Contains(tt.paths[0], "#(%") {
				return // the query reads the value the alias replaced
			}
			// Reveal puts back every byte.
			back, _, err := applyJSON(t, jsonProgram(t, Reveal, tt.paths...), tok, got)
			if err != nil || back != tt.in {
				t.Fatalf("reveal: %v\n%s", err, back)
			}
		})
	}
}

// TestJSONQueryRefusals: the keys a query reads follow the rules of the
// keys a path reads, and the value it compares has its literal's type.
func TestJSONQueryRefusals(t *testing.T) {
	const pan = "4111111111111111"
	tests := []struct {
		name string
		path string
		in   string
		want error
	}{
		{"condition key repeated", `l.#(t=="c")#.p`, `{"l":[{"t":"x","t":"c","p":"` + pan + `"}]}`, ErrDuplicateKey},
		{"condition key repeated with escapes", `l.#(t=="c")#.p`, `{"l":[{"t":"x","\u0074":"c","p":"` + pan + `"}]}`, ErrDuplicateKey},
		{"condition key in another case", `l.#(type=="card")#.p`, `{"l":[{"Type":"card","p":"` + pan + `"}]}`, ErrDuplicateKey},
		{"condition key in another case beside it", `l.#(type=="card")#.p`, `{"l":[{"type":"x","TYPE":"card","p":"` + pan + `"}]}`, ErrDuplicateKey},
		{"nested condition key in another case", `l.#(card.type=="visa")#.card.p`, `{"l":[{"Card":{"type":"visa"},"card":{"p":"1"}}]}`, ErrDuplicateKey},
		{"condition key repeated in an element that does not match", `l.#(t=="c")#.p`, `{"l":[{"t":"c","p":"1"},{"t":"d","t":"e"}]}`, ErrDuplicateKey},
		{"targeted key repeated in a matching element", `l.#(t=="c")#.p`, `{"l":[{"t":"c","p":"1","p":"` + pan + `"}]}`, ErrDuplicateKey},
		{"targeted key in another case in a matching element", `l.#(t=="c")#.p`, `{"l":[{"t":"c","P":"` + pan + `"}]}`, ErrDuplicateKey},
		{"number compared with a string", `l.#(type!="card")#.p`, `{"l":[{"type":0,"p":"` + pan + `"}]}`, ErrTargetType},
		{"string compared with a number", `l.#(n==1)#.p`, `{"l":[{"n":"1","p":"` + pan + `"}]}`, ErrTargetType},
		{"boolean compared with a string", `l.#(on=="true")#.p`, `{"l":[{"on":true,"p":"` + pan + `"}]}`, ErrTargetType},
		{"null compared with a string", `l.#(t=="c")#.p`, `{"l":[{"t":null,"p":"` + pan + `"}]}`, ErrTargetType},
		{"object compared with a string", `l.#(t=="c")#.p`, `{"l":[{"t":{"c":1},"p":"` + pan + `"}]}`, ErrTargetType},
		{"element compared with a string", `l.#(=="c")#`, `{"l":["c",{"c":1}]}`, ErrTargetType},
		{"matching element is an object", `l.#(t=="c")#`, `{"l":[{"t":"c"}]}`, ErrTargetType},
		{"an object where the query expects an array", `m.#(t=="c")#.p`, `{"m":{"t":"c","p":"` + pan + `"}}`, ErrTargetType},
		{"an object where '#' expects an array", `m.#.p`, `{"m":{"x":{"p":"` + pan + `"}}}`, ErrTargetType},
		{"malformed after the match", `l.#(t=="c")#.p`, `{"l":[{"t":"c","p":"` + pan + `"},{"t":]}`, ErrMalformed},
		{"malformed array", `l.#(t=="c")#.p`, `{"l":[{"t":"c","p":"` + pan + `"} {"t":"c"}]}`, ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok := newFakeTokenizer()
			got, _, err := applyJSON(t, jsonProgram(t, Redact, tt.path), tok, tt.in)
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if got != tt.in || tok.calls != 0 || strings.Contains(err.Error(), "4111") {
				t.Fatalf("refused body changed, tokenizer called %d times, or error %q quotes the body", tok.calls, err)
			}
		})
	}
}

// TestJSONQueriesAgreeWithGJSON: what the locator finds is what gjson.Get of
// the whole path returns, on bodies without the refused spellings.
func TestJSONQueriesAgreeWithGJSON(t *testing.T) {
	body := `{"o":[{"k":"a","n":3,"l":[{"t":"c","p":"1"},{"t":"d","p":"2"}]},{"k":"b","n":12,"l":[{"t":"c","p":"3"}]},` +
		`{"k":"a","n":-1,"l":[{"t":"c","p":"4"},{"t":"c","p":5}]}],"s":["x","y","xy"],"e":[]}`
	paths := []string{`o.#(k=="a")#.l.#(t=="c")#.p`, `o.#(k=="a").l.#(t=="c")#.p`, `o.#(n>2)#.k`, `o.#(n<=3)#.l.0.p`,
		`o.#(k!="a")#.n`, `o.#(l)#.k`, `s.#(%"x*")#`, `s.#(=="y")`, `s.#(!%"x*")#`, `o.1.l.#(t=="c").p`, `e.#(a=="b")#.c`,
		`o.#(k=="z")#.k`, `o.#(n>=12).l.#(t=="c")#.p`}
	for _, p := range paths {
		l, err := newJSONLocator([]TargetSpec{{Kind: KindJSON, Path: p}}, []int{0})
		if err != nil {
			t.Fatal(err)
		}
		spans, err := l.Locate(&Message{Body: []byte(body)})
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		var got []string
		for _, s := range spans {
			got = append(got, body[s.Start:s.End])
		}
		var want []string
		var flat func(r gjson.Result, all bool)
		flat = func(r gjson.Result, all bool) {
			if all && r.IsArray() {
				for _, x := range r.Array() {
					flat(x, true)
				}
				return
			}
			if r.Exists() {
				want = append(want, r.Raw)
			}
		}
		flat(gjson.Get(body, p), strings.Contains(p, "#"))
		if strings.Join(got, ",") != strings.Join(want, ",") {
			t.Errorf("%s: located %v, gjson %v", p, got, want)
		}
	}
}

// TestJSONQueryTokenizerCalls: a body with query targets still makes one
// batched Tokenizer call, and the queries' condition values are not sent.
func TestJSONQueryTokenizerCalls(t *testing.T) {
	tok := newRecordingTokenizer(true)
	p := jsonProgram(t, Redact, `l.#(t=="c")#.p`, `l.#(t=="c")#.cvc`)
	msg := &Message{Body: []byte(`{"l":[{"t":"c","p":"4111111111111111","cvc":"123"},{"t":"c","p":"5555555555554444","cvc":"456"}]}`)}
	if _, err := p.Apply(context.Background(), msg, tok); err != nil {
		t.Fatal(err)
	}
	if len(tok.redacts) != 1 || len(tok.redacts[0]) != 4 {
		t.Fatalf("tokenizer calls %v", tok.redacts)
	}
	for _, it := range tok.redacts[0] {
		if it.Value == "c" {
			t.Fatal("a condition value was tokenized")
		}
	}
}
