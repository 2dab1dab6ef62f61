package rewrite

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"unicode"
)

func TestKeyFoldEqual(t *testing.T) {
	tests := []struct {
		key, name string
		want      bool
	}{
		{"number", "number", true},
		{"Number", "number", true},
		{"NUMBER", "number", true},
		{"nuMber", "number", true},
		{"numbe", "number", false},
		{"numbers", "number", false},
		{"nunber", "number", false},
		{"\u212aey", "key", true},       // Kelvin sign, as encoding/json folds it
		{"\u212aey", "KEY", true},       //
		{"\u017fecret", "secret", true}, // long s
		{"p\u0131n", "pin", true},       // dotless i: .NET and Java upper-case it to I
		{"P\u0130N", "pin", true},       // dotted capital I: Java lower-cases it to i
		{"\u00e9t\u00e9", "\u00c9T\u00c9", true},
		{"\u03c3", "\u03a3", true}, {"\u03c2", "\u03a3", true},
		{"card_number", "cardnumber", false},
		{"card-number", "card_number", false},
		{"", "", true},
		{"a\xffb", "a\ufffdb", true}, // invalid UTF-8 reads as U+FFFD
		{"[", "{", false},            // 0x5b and 0x7b differ by the case bit but are no letters
		{"@", "`", false},
	}
	for _, tt := range tests {
		if got := keyFoldEqual(tt.key, tt.name); got != tt.want {
			t.Errorf("keyFoldEqual(%q, %q) = %v, want %v", tt.key, tt.name, got, tt.want)
		}
		if tt.want && !strings.ContainsRune(tt.key+tt.name, '\ufffd') && !strings.ContainsAny(tt.key+tt.name, "\u0131\u0130") &&
			!strings.EqualFold(tt.key, tt.name) {
			t.Errorf("%q, %q: strings.EqualFold disagrees", tt.key, tt.name)
		}
	}
	// Every pair strings.EqualFold (encoding/json's folding) calls equal is
	// equal to keyFoldEqual.
	for r := rune(0); r < 0x3000; r++ {
		for f := r; ; {
			if !keyFoldEqual(string(r), string(f)) {
				t.Fatalf("U+%04X and U+%04X fold together but keyFoldEqual differs", r, f)
			}
			if f = unicode.SimpleFold(f); f == r {
				break
			}
		}
	}
}

func TestJSONKeyVariantsAreRefused(t *testing.T) {
	const pan = "4111111111111111"
	tests := []struct {
		name  string
		paths []string
		in    string
		want  string // redacted body; "" when the body must be refused with ErrDuplicateKey
	}{
		{"variant alone", []string{"card.number"}, `{"card":{"Number":"` + pan + `"}}`, ""},
		{"variant after the key", []string{"card.number"}, `{"card":{"number":"` + pan + `","NUMBER":"` + pan + `"}}`, ""},
		{"variant before the key", []string{"card.number"}, `{"card":{"nUmber":"` + pan + `","number":"x"}}`, ""},
		{"intermediate variant", []string{"card.number"}, `{"Card":{"number":"` + pan + `"}}`, ""},
		{"intermediate variant beside the key", []string{"card.number"}, `{"card":{"number":"x"},"CARD":{"number":"` + pan + `"}}`, ""},
		{"variant under an array wildcard", []string{"items.#.pan"}, `{"items":[{"pan":"1"},{"PAN":"` + pan + `"}]}`, ""},
		{"variant of an array parent", []string{"items.#.pan"}, `{"Items":[{"pan":"` + pan + `"}]}`, ""},
		{"Kelvin sign", []string{"key"}, `{"\u212aey":"` + pan + `"}`, ""},
		{"Kelvin sign raw", []string{"key"}, "{\"\u212aey\":\"" + pan + "\"}", ""},
		{"long s", []string{"secret"}, `{"\u017fecret":"` + pan + `"}`, ""},
		{"dotless i", []string{"pin"}, "{\"p\u0131n\":\"" + pan + "\"}", ""},
		{"escaped variant", []string{"pan"}, `{"P\u0061n":"` + pan + `"}`, ""},
		{"variant of a non-string value is refused too", []string{"card.number"}, `{"card":{"NUMBER":4111111111111111}}`, ""},
		{"variant inside an object the target does not reach", []string{"card.number"}, `{"card":{"holder":{"Number":"1"}}}`, `{"card":{"holder":{"Number":"1"}}}`},
		{"variant in another object", []string{"card.number"}, `{"other":{"Number":"1"},"card":{"number":"` + pan + `"}}`, `{"other":{"Number":"1"},"card":{"number":"tok_1"}}`},
		{"escaped exact key is the key", []string{"card.number"}, `{"card":{"n\u0075mber":"` + pan + `"}}`, `{"card":{"n\u0075mber":"tok_1"}}`},
		{"escaped exact key twice is a duplicate", []string{"card.number"}, `{"card":{"n\u0075mber":"` + pan + `","number":"x"}}`, ""},
		{"variant the route also targets", []string{"card.number", "card.Number"}, `{"card":{"Number":"` + pan + `","number":"5555"}}`, `{"card":{"Number":"tok_1","number":"tok_2"}}`},
		{"intermediate variant the route also targets", []string{"card.number", "Card.number"}, `{"Card":{"number":"` + pan + `"}}`, `{"Card":{"number":"tok_1"}}`},
		{"intermediate variant targeted with another rest", []string{"card.number", "Card.cvc"}, `{"Card":{"number":"` + pan + `"}}`, ""},
		{"other keys are fine", []string{"card.number"}, `{"Cards":1,"car":2,"card":{"numbers":"1","num":"2","number":"` + pan + `"}}`, `{"Cards":1,"car":2,"card":{"numbers":"1","num":"2","number":"tok_1"}}`},
		{"index segment", []string{"m.1"}, `{"m":{"1":"` + pan + `"}}`, `{"m":{"1":"tok_1"}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok := newFakeTokenizer()
			got, _, err := applyJSON(t, jsonProgram(t, Redact, tt.paths...), tok, tt.in)
			if tt.want == "" {
				if !errors.Is(err, ErrDuplicateKey) {
					t.Fatalf("err = %v, body %s; want ErrDuplicateKey", err, got)
				}
				if got != tt.in || tok.calls != 0 {
					t.Fatalf("refused body changed (%v) or tokenizer called %d times", got != tt.in, tok.calls)
				}
				if strings.Contains(err.Error(), "4111") {
					t.Fatalf("error %q quotes the body", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Fatalf("got  %s\nwant %s", got, tt.want)
			}
		})
	}
}

// TestJSONRedactedAsEncodingJSONReadsIt decodes bodies that Apply accepts
// with encoding/json into a struct whose tags are the path (so keys match
// case-insensitively, the last duplicate winning) and checks that what the
// application would read at the path was redacted.
func TestJSONRedactedAsEncodingJSONReadsIt(t *testing.T) {
	bodies := []string{
		`{"card":{"number":"4111111111111111"}}`,
		`{"card":{"Number":"4111111111111111"}}`,
		`{"card":{"number":"1","NUMBER":"4111111111111111"}}`,
		`{"CARD":{"number":"4111111111111111"}}`,
		`{"card":{"n\u0075mber":"4111111111111111"}}`,
		`{"card":{"nu\u006dbe\u0052":"4111111111111111"}}`,
		"{\"card\":{\"n\u00fcmber\":\"4111111111111111\"}}",
		"{\"\u212aey\":{\"number\":\"4111111111111111\"}}",
	}
	for _, b := range bodies {
		for _, path := range []string{"card.number", "key.number"} {
			checkAgainstEncodingJSON(t, []byte(b), path)
		}
	}
}

// checkAgainstEncodingJSON redacts body at path (plain keys only) and,
// when Apply accepts it, checks that the value encoding/json decodes at
// path, if any, was replaced.
func checkAgainstEncodingJSON(t *testing.T, body []byte, path string) {
	t.Helper()
	typ := structForPath(path)
	if typ == nil {
		return
	}
	p, err := Compile(Redact, []TargetSpec{{Kind: KindJSON, Path: path}})
	if err != nil {
		return
	}
	msg := &Message{Body: bytes.Clone(body)}
	if _, err := p.Apply(context.Background(), msg, newFakeTokenizer()); err != nil {
		return
	}
	before, ok1 := decodeAtPath(typ, body)
	after, ok2 := decodeAtPath(typ, msg.Body)
	if !ok1 || !ok2 || len(before) == 0 {
		return
	}
	// (A value spelled like the fake tokenizer's first alias gets itself back.)
	if c := before[0]; c != '"' && c != '-' && (c < '0' || c > '9') || string(before) == `""` || bytes.HasPrefix(before, []byte(`"tok_`)) {
		return
	}
	if bytes.Equal(before, after) {
		t.Fatalf("encoding/json reads %s at %s in the redacted body %s", after, path, msg.Body)
	}
}

// structForPath builds struct{F struct{F … json.RawMessage `json:"c"` } `json:"b"`}
// for the path "b.c", or nil when a segment is no valid struct tag name.
func structForPath(path string) reflect.Type {
	segs, err := parseJSONPath(path)
	if err != nil {
		return nil
	}
	typ := reflect.TypeFor[json.RawMessage]()
	for i := len(segs) - 1; i >= 0; i-- {
		k := segs[i].key
		if segs[i].kind != segKey || k == "" || k == "-" || strings.ContainsAny(k, "\",\\`") || !validTagName(k) {
			return nil
		}
		typ = reflect.StructOf([]reflect.StructField{{Name: "F", Type: typ, Tag: reflect.StructTag(fmt.Sprintf(`json:%q`, k))}})
	}
	return typ
}

// validTagName is encoding/json's isValidTag.
func validTagName(s string) bool {
	for _, c := range s {
		switch {
		case strings.ContainsRune("!#$%&()*+-./:;<=>?@[]^_{|}~ ", c):
		case !unicode.IsLetter(c) && !unicode.IsDigit(c):
			return false
		}
	}
	return s != ""
}

// decodeAtPath decodes body into a value of typ and returns the raw value
// at its innermost field.
func decodeAtPath(typ reflect.Type, body []byte) (json.RawMessage, bool) {
	v := reflect.New(typ)
	if err := json.Unmarshal(body, v.Interface()); err != nil {
		return nil, false
	}
	e := v.Elem()
	for e.Kind() == reflect.Struct {
		e = e.Field(0)
	}
	return e.Interface().(json.RawMessage), true
}
