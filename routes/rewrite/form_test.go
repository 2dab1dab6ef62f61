package rewrite

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"mime/multipart"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
)

const (
	formURLEncoded = "application/x-www-form-urlencoded"
	formMultipart  = "multipart/form-data"
	formBoundary   = "XyZ0123"
)

func formSpecs(fields ...string) []TargetSpec {
	specs := make([]TargetSpec, len(fields))
	for i, f := range fields {
		specs[i] = TargetSpec{Kind: KindForm, Path: f}
	}
	return specs
}

func formLocate(t testing.TB, media, body string, fields ...string) ([]Span, error) {
	t.Helper()
	idx := make([]int, len(fields))
	for i := range idx {
		idx[i] = i
	}
	l, err := newFormLocator(formSpecs(fields...), idx)
	if err != nil {
		t.Fatal(err)
	}
	msg := &Message{Body: []byte(body), MediaType: media}
	if media == formMultipart {
		msg.Params = map[string]string{"boundary": formBoundary}
	}
	return l.Locate(msg)
}

// formFound is what a test expects of a span: the body bytes it covers, the
// value the Tokenizer sees and the target.
type formFound struct {
	raw, value string
	target     int
}

func formFoundOf(body string, spans []Span) []formFound {
	var out []formFound
	for _, s := range spans {
		out = append(out, formFound{body[s.Start:s.End], s.Value, s.Target})
	}
	return out
}

func TestFormURLEncodedLocatesTargetedFields(t *testing.T) {
	tests := []struct {
		name   string
		fields []string
		body   string
		want   []formFound
	}{
		{"several fields", []string{"card", "cvc"},
			"a=1&card=4111111111111111&cvc=123&z=9",
			[]formFound{{"4111111111111111", "4111111111111111", 0}, {"123", "123", 1}}},
		{"field at the start", []string{"card"}, "card=4111&a=1&b=2",
			[]formFound{{"4111", "4111", 0}}},
		{"field in the middle", []string{"card"}, "a=1&card=4111&b=2",
			[]formFound{{"4111", "4111", 0}}},
		{"field at the end", []string{"card"}, "a=1&b=2&card=4111",
			[]formFound{{"4111", "4111", 0}}},
		{"only field", []string{"card"}, "card=4111",
			[]formFound{{"4111", "4111", 0}}},
		{"every occurrence of a repeated field", []string{"card"}, "card=1&x=2&card=3&card=4",
			[]formFound{{"1", "1", 0}, {"3", "3", 0}, {"4", "4", 0}}},
		{"plus and %20 are spaces", []string{"name", "addr"}, "name=John+Smith&addr=1%20Main+St",
			[]formFound{{"John+Smith", "John Smith", 0}, {"1%20Main+St", "1 Main St", 1}}},
		{"percent-encoded unicode", []string{"näme"}, "n%C3%A4me=J%C3%BCrgen",
			[]formFound{{"J%C3%BCrgen", "Jürgen", 0}}},
		{"raw unicode", []string{"näme"}, "näme=Jürgen",
			[]formFound{{"Jürgen", "Jürgen", 0}}},
		{"encoded name", []string{"card[number]"}, "card%5Bnumber%5D=4111&card[number]=5555",
			[]formFound{{"4111", "4111", 0}, {"5555", "5555", 0}}},
		{"plus in a name is a space", []string{"first name"}, "first+name=Bo&first%20name=Al",
			[]formFound{{"Bo", "Bo", 0}, {"Al", "Al", 0}}},
		{"names that are no spelling of a target", []string{"card_x", "card[number]"}, "cards=1&car=2&xcard_x=3&card_x_=4&cards[number]=5&card[numbers]=6&card[cvc]=7&card=8",
			nil},
		{"a case variant without a value carries nothing", []string{"card"}, "Card&CARD=&card=4111", []formFound{{"4111", "4111", 0}}},
		{"'=' inside a value", []string{"card"}, "card=a=b&x=1",
			[]formFound{{"a=b", "a=b", 0}}},
		{"trailing CRLF is not part of the last value", []string{"card"}, "a=1&card=4111\r\n",
			[]formFound{{"4111", "4111", 0}}},
		{"trailing LF is not part of the last value", []string{"card"}, "card=4111\n",
			[]formFound{{"4111", "4111", 0}}},
		{"several trailing line breaks", []string{"card"}, "card=4111\r\n\r\n",
			[]formFound{{"4111", "4111", 0}}},
		{"CRLF inside a value is part of it", []string{"card"}, "card=41\r\n11&x=1",
			[]formFound{{"41\r\n11", "41\r\n11", 0}}},
		{"CRLF before '&' is part of the value", []string{"card"}, "card=4111\r\n&x=1",
			[]formFound{{"4111\r\n", "4111\r\n", 0}}},
		{"encoded CRLF inside a value", []string{"card"}, "card=41%0D%0A11",
			[]formFound{{"41%0D%0A11", "41\r\n11", 0}}},
		{"field without '=' has no value", []string{"card"}, "card&x=1", nil},
		{"empty value is skipped", []string{"card"}, "card=&x=1&card=", nil},
		{"empty pairs", []string{"card"}, "&&card=1&&", []formFound{{"1", "1", 0}}},
		{"bad percent-encoding outside targets is kept", []string{"card"}, "note=100%&card=4111&n%zz=1",
			[]formFound{{"4111", "4111", 0}}},
		{"semicolon inside a targeted value is part of it", []string{"card", "cvc"}, "card=4111;cvc=123&x=1",
			[]formFound{{"4111;cvc=123", "4111;cvc=123", 0}}},
		{"semicolon before an untargeted field", []string{"card"}, "a=1;b=2; c=3&card=4111",
			[]formFound{{"4111", "4111", 0}}},
		{"semicolon before a targeted field without a value", []string{"card"}, "a=1;card=;card&card=4111",
			[]formFound{{"4111", "4111", 0}}},
		{"absent field", []string{"card"}, "a=1&b=2", nil},
		{"empty body", []string{"card"}, "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spans, err := formLocate(t, formURLEncoded, tt.body, tt.fields...)
			if err != nil {
				t.Fatal(err)
			}
			if got := formFoundOf(tt.body, spans); !slices.Equal(got, tt.want) {
				t.Fatalf("located %#v\nwant    %#v", got, tt.want)
			}
			for _, s := range spans {
				if s.Encoding != FormValue {
					t.Errorf("span %+v: encoding %d, want FormValue", s, s.Encoding)
				}
			}
		})
	}
}

// formSecret is a card number that error texts must never contain.
const formSecret = "4111111111111111"

func TestFormRefusals(t *testing.T) {
	tests := []struct {
		name   string
		media  string
		fields []string
		body   string
	}{
		{"bad percent-encoding in a targeted value", formURLEncoded, []string{"card"}, "card=" + formSecret + "%G1"},
		{"truncated escape in a targeted value", formURLEncoded, []string{"card"}, "a=1&card=" + formSecret + "%4"},
		{"name a lenient decoder reads as a target", formURLEncoded, []string{"100%"}, "100%=" + formSecret},
		{"too many fields", formURLEncoded, []string{"card"}, strings.Repeat("a=1&", maxFormFields) + "card=" + formSecret},
		{"JSON body", "application/json", []string{"card"}, `{"card":"` + formSecret + `"}`},
		// Found by FuzzInbound: the media type is the client's and was quoted in the error (and so the log).
		{"media type holding a card number", "4111111111111111/x", []string{"card"}, "card=" + formSecret},
		{"no media type", "", []string{"card"}, "card=" + formSecret},
		{"multipart without the boundary parameter", "multipart/form-data+noboundary", []string{"card"}, "--" + formBoundary + "--"},
		{"multipart body without a delimiter", formMultipart, []string{"card"}, formSecret},
		{"multipart body without a close delimiter", formMultipart, []string{"card"},
			"--" + formBoundary + "\r\nContent-Disposition: form-data; name=card\r\n\r\n" + formSecret + "\r\n"},
		{"multipart body ending in a delimiter", formMultipart, []string{"card"},
			"--" + formBoundary + "\r\nContent-Disposition: form-data; name=card\r\n\r\n" + formSecret + "\r\n--" + formBoundary},
		{"part headers without a blank line", formMultipart, []string{"card"},
			"--" + formBoundary + "\r\nContent-Disposition: form-data; name=card\r\n" + formSecret},
		{"part header line without a colon", formMultipart, []string{"card"},
			"--" + formBoundary + "\r\n" + formSecret + "\r\n\r\nx\r\n--" + formBoundary + "--\r\n"},
		{"part header name with a space", formMultipart, []string{"card"},
			"--" + formBoundary + "\r\nContent Disposition: form-data; name=card\r\n\r\n" + formSecret + "\r\n--" + formBoundary + "--\r\n"},
		{"continuation line first", formMultipart, []string{"card"},
			"--" + formBoundary + "\r\n name=card\r\n\r\n" + formSecret + "\r\n--" + formBoundary + "--\r\n"},
		{"unterminated quoted name", formMultipart, []string{"card"},
			"--" + formBoundary + "\r\nContent-Disposition: form-data; name=\"card\r\n\r\n" + formSecret + "\r\n--" + formBoundary + "--\r\n"},
		{"two Content-Disposition headers", formMultipart, []string{"card"},
			"--" + formBoundary + "\r\nContent-Disposition: form-data; name=x\r\nContent-Disposition: form-data; name=card\r\n\r\n" + formSecret + "\r\n--" + formBoundary + "--\r\n"},
		{"repeated name parameter", formMultipart, []string{"card"},
			"--" + formBoundary + "\r\nContent-Disposition: form-data; name=x; name=card\r\n\r\n" + formSecret + "\r\n--" + formBoundary + "--\r\n"},
		{"targeted part in base64", formMultipart, []string{"card"},
			"--" + formBoundary + "\r\nContent-Disposition: form-data; name=card\r\nContent-Transfer-Encoding: base64\r\n\r\nNDExMTExMTExMTExMTExMQ==\r\n--" + formBoundary + "--\r\n"},
		{"targeted part in quoted-printable", formMultipart, []string{"card"},
			"--" + formBoundary + "\r\nContent-Disposition: form-data; name=card\r\nContent-Transfer-Encoding: Quoted-Printable\r\n\r\n" + formSecret + "\r\n--" + formBoundary + "--\r\n"},
		{"line starting with the boundary inside a part", formMultipart, []string{"card"},
			"--" + formBoundary + "\r\nContent-Disposition: form-data; name=note\r\n\r\nx\r\n--" + formBoundary + "junk\r\n" +
				"Content-Disposition: form-data; name=card\r\n\r\n" + formSecret + "\r\n--" + formBoundary + "--\r\n"},
		{"close delimiter followed by junk", formMultipart, []string{"card"},
			"--" + formBoundary + "\r\nContent-Disposition: form-data; name=card\r\n\r\n" + formSecret + "\r\n--" + formBoundary + "--junk\r\n"},
		{"delimiter after a bare LF in a CRLF body", formMultipart, []string{"card"},
			"--" + formBoundary + "\r\nContent-Disposition: form-data; name=note\r\n\r\nx\n--" + formBoundary + "\r\n" +
				"Content-Disposition: form-data; name=card\r\n\r\n" + formSecret + "\r\n--" + formBoundary + "--\r\n"},
		{"boundary line inside part headers", formMultipart, []string{"card"},
			"--" + formBoundary + "\r\nContent-Disposition: form-data; name=card\r\n--" + formBoundary + "\r\n\r\n" + formSecret + "\r\n--" + formBoundary + "--\r\n"},
		{"too many parts", formMultipart, []string{"card"},
			strings.Repeat("--"+formBoundary+"\r\n\r\nx\r\n", maxFormFields+1) + "--" + formBoundary + "--\r\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			media := tt.media
			noBoundary := strings.HasSuffix(media, "+noboundary")
			media = strings.TrimSuffix(media, "+noboundary")
			l, err := newFormLocator(formSpecs(tt.fields...), []int{0})
			if err != nil {
				t.Fatal(err)
			}
			msg := &Message{Body: []byte(tt.body), MediaType: media}
			if media == formMultipart && !noBoundary {
				msg.Params = map[string]string{"boundary": formBoundary}
			}
			spans, err := l.Locate(msg)
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("spans %v, err %v; want ErrMalformed", spans, err)
			}
			if strings.Contains(err.Error(), "4111") {
				t.Errorf("error text carries body bytes: %v", err)
			}
			if media == "application/json" && !strings.Contains(err.Error(), `"application/json"`) {
				t.Errorf("error %q does not name the media type", err)
			}
		})
	}
}

// TestFormKeyVariantsAreRefused checks the form fields that an application
// may read as a targeted field although their name differs (issue 17): they
// are refused, never passed on unredacted.
func TestFormKeyVariantsAreRefused(t *testing.T) {
	const cd = "Content-Disposition: form-data; name="
	mp := func(parts ...string) string { return multipartBody("\r\n", "", "", parts...) }
	tests := []struct {
		name   string
		media  string
		fields []string
		body   string
		want   error
	}{
		{"case variant alone", formURLEncoded, []string{"card_number"}, "Card_Number=" + formSecret, ErrDuplicateKey},
		{"case variant beside the field", formURLEncoded, []string{"card_number"}, "card_number=tok&CARD_NUMBER=" + formSecret, ErrDuplicateKey},
		{"percent-encoded case variant", formURLEncoded, []string{"card_number"}, "C%61rd%5Fnumber=" + formSecret, ErrDuplicateKey},
		{"Kelvin sign", formURLEncoded, []string{"key"}, "%E2%84%AAey=" + formSecret, ErrDuplicateKey},
		{"PHP reads a dot as '_'", formURLEncoded, []string{"card_number"}, "card.number=" + formSecret, ErrDuplicateKey},
		{"PHP reads a space as '_'", formURLEncoded, []string{"card_number"}, "card+number=" + formSecret, ErrDuplicateKey},
		{"PHP reads an unclosed '[' as '_'", formURLEncoded, []string{"card_number"}, "card%5Bnumber=" + formSecret, ErrDuplicateKey},
		{"PHP drops leading spaces", formURLEncoded, []string{"card"}, "a=1&+card=" + formSecret, ErrDuplicateKey},
		{"PHP ends a name at NUL", formURLEncoded, []string{"card_number"}, "card_number%00x=" + formSecret, ErrDuplicateKey},
		{"PHP ends a name at NUL, after a dot", formURLEncoded, []string{"card_number"}, "card.number%00=" + formSecret, ErrDuplicateKey},
		{"multipart name ending at NUL", formMultipart, []string{"card_number"}, mp("Content-Disposition: form-data; name*=utf-8''card_number%00x\n\n" + formSecret), ErrDuplicateKey},
		{"Rack drops leading brackets", formURLEncoded, []string{"card[number]"}, "[card][number]=" + formSecret, ErrDuplicateKey},
		{"PHP drops what follows the last ']'", formURLEncoded, []string{"card[number]"}, "card[number]x=" + formSecret, ErrDuplicateKey},
		{"case variant of a bracketed key", formURLEncoded, []string{"card[number]"}, "card[Number]=" + formSecret, ErrDuplicateKey},
		{"array under a targeted field", formURLEncoded, []string{"card"}, "card[]=" + formSecret, ErrDuplicateKey},
		{"array under a targeted bracketed key", formURLEncoded, []string{"card[number]"}, "card%5Bnumber%5D%5B%5D=" + formSecret, ErrDuplicateKey},
		{"key under a targeted field", formURLEncoded, []string{"card"}, "card[number]=" + formSecret, ErrDuplicateKey},
		{"semicolon before a targeted field", formURLEncoded, []string{"card_number"}, "a=1;card_number=" + formSecret, ErrMalformed},
		{"semicolon and space before a targeted field", formURLEncoded, []string{"card_number"}, "a=1; card_number=" + formSecret, ErrMalformed},
		{"semicolon inside an untargeted name", formURLEncoded, []string{"card"}, "x;card=" + formSecret, ErrMalformed},
		{"semicolon before a case variant", formURLEncoded, []string{"card"}, "a=1;CARD=" + formSecret, ErrDuplicateKey},
		{"semicolon before a name with bad percent-encoding", formURLEncoded, []string{"100%"}, "a=1;100%=" + formSecret, ErrMalformed},
		{"bad percent-encoding in a case variant", formURLEncoded, []string{"card%"}, "CARD%=" + formSecret, ErrDuplicateKey},
		{"multipart case variant", formMultipart, []string{"card"}, mp(cd+"card\n\ntok", cd+"Card\n\n"+formSecret), ErrDuplicateKey},
		{"multipart PHP spelling", formMultipart, []string{"card_number"}, mp(cd + "\"card.number\"\n\n" + formSecret), ErrDuplicateKey},
		{"multipart array", formMultipart, []string{"card[number]"}, mp(cd + "\"card[number][]\"\n\n" + formSecret), ErrDuplicateKey},
		{"ASP.NET Core reads card.number as card[number]", formURLEncoded, []string{"card[number]"}, "card.Number=" + formSecret, ErrDuplicateKey},
		{"ASP.NET Core reads Card[Number] as Card.Number", formURLEncoded, []string{"Card.Number"}, "Card[Number]=" + formSecret, ErrDuplicateKey},
		{"ASP.NET Core drops []", formURLEncoded, []string{"Card.Number"}, "card%5Bnumber%5D%5B%5D=" + formSecret, ErrDuplicateKey},
		{"ASP.NET Core, deeper", formURLEncoded, []string{"Order.Card.Number"}, "order[card].number=" + formSecret, ErrDuplicateKey},
		{"ASP.NET Core, index kept", formURLEncoded, []string{"Cards[0].Number"}, "cards[0][number]=" + formSecret, ErrDuplicateKey},
		{"multipart ASP.NET Core spelling", formMultipart, []string{"Card.Number"}, mp(cd + "\"card[number]\"\n\n" + formSecret), ErrDuplicateKey},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok := newRecordingTokenizer(false)
			got, _, err := formApply(t, formProgram(t, Redact, tt.fields...), tok, tt.media, tt.body, http.Header{})
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if got != tt.body || len(tok.redacts) != 0 {
				t.Fatalf("refused body changed (%v) or the tokenizer was called", got != tt.body)
			}
			if strings.Contains(err.Error(), "4111") {
				t.Errorf("error text carries body bytes: %v", err)
			}
		})
	}
}

func TestCanonFormName(t *testing.T) {
	tests := map[string]string{
		"card":           "CARD",
		"Card_Number":    "CARD_NUMBER",
		"card.number":    "CARD_NUMBER",
		" card number":   "CARD_NUMBER",
		"card[number":    "CARD_NUMBER",
		"card[number]":   "CARD[NUMBER]",
		"card[num.ber]x": "CARD[NUM.BER]",
		"[card][number]": "CARD[NUMBER]",
		"card]":          "CARD",
		"card[a][b c]":   "CARD[A][B C]",
		"\u212aey":       "KEY",
		"\u0131d":        "ID",
		"":               "",
		"[]":             "",
	}
	checkNameMap(t, "canonFormName", canonFormName, tests)
}

// checkNameMap checks f(in) == want for every pair of tests.
func checkNameMap(t *testing.T, name string, f func(string) string, tests map[string]string) {
	t.Helper()
	for in, want := range tests {
		if got := f(in); got != want {
			t.Errorf("%s(%q) = %q, want %q", name, in, got, want)
		}
	}
}

func TestDottedFormName(t *testing.T) {
	checkNameMap(t, "dottedFormName", dottedFormName, map[string]string{
		"Card.Number":        "CARD.NUMBER",
		"card[number]":       "CARD.NUMBER",
		"card[number][]":     "CARD.NUMBER",
		"cards[0][number]":   "CARDS[0].NUMBER",
		"cards[0].number":    "CARDS[0].NUMBER",
		"card[number":        "CARD[NUMBER",
		"card_number":        "CARD_NUMBER",
		"[]":                 "",
		"order[card].Number": "ORDER.CARD.NUMBER",
	})
	// Names that are another property to ASP.NET Core go on.
	p := formProgram(t, Redact, "Card.Number")
	for _, body := range []string{"Card.Holder=Ann&card[holder]=Ann", "Card=1", "card[0]=x", "Card.Number.x=1", "cardnumber=1"} {
		if _, _, err := formApply(t, p, newRecordingTokenizer(false), formURLEncoded, body, http.Header{}); err != nil {
			t.Errorf("%s: %v", body, err)
		}
	}
}

func TestFormTargetsCompile(t *testing.T) {
	if _, err := newFormLocator(formSpecs(""), []int{3}); err == nil || !strings.Contains(err.Error(), "target 3") {
		t.Errorf("empty field name: %v", err)
	}
	if _, err := newFormLocator(formSpecs("card", "cvc", "card"), []int{1, 2, 4}); err == nil ||
		!strings.Contains(err.Error(), "target 4") || !strings.Contains(err.Error(), "target 1") {
		t.Errorf("duplicate field: %v", err)
	}
}

// multipartBody joins parts (each "headers\n\nbody" written with \n) into a
// multipart body with line breaks nl.
func multipartBody(nl, preamble, epilogue string, parts ...string) string {
	var b strings.Builder
	b.WriteString(preamble)
	for _, p := range parts {
		b.WriteString("--" + formBoundary + nl)
		h, body, _ := strings.Cut(p, "\n\n")
		if h != "" {
			b.WriteString(strings.ReplaceAll(h, "\n", nl) + nl)
		}
		b.WriteString(nl + body + nl)
	}
	b.WriteString("--" + formBoundary + "--" + nl + epilogue)
	return b.String()
}

func TestFormMultipartLocatesTargetedParts(t *testing.T) {
	const cd = "Content-Disposition: form-data; "
	tests := []struct {
		name   string
		fields []string
		body   string
		want   []formFound
	}{
		{"CRLF fields", []string{"card", "cvc"},
			multipartBody("\r\n", "", "", cd+`name="a"`+"\n\n1", cd+`name="card"`+"\n\n4111111111111111", cd+`name="cvc"`+"\n\n123"),
			[]formFound{{"4111111111111111", "4111111111111111", 0}, {"123", "123", 1}}},
		{"LF fields", []string{"card", "cvc"},
			multipartBody("\n", "", "", cd+`name="card"`+"\n\n4111111111111111", cd+`name="a"`+"\n\n1", cd+`name="cvc"`+"\n\n123"),
			[]formFound{{"4111111111111111", "4111111111111111", 0}, {"123", "123", 1}}},
		{"CR before a delimiter in an LF body ends the line", []string{"card"},
			"--" + formBoundary + "\n" + cd + "name=card\n\n4111\r\n--" + formBoundary + "--\n",
			[]formFound{{"4111", "4111", 0}}},
		{"repeated part", []string{"card"},
			multipartBody("\r\n", "", "", cd+`name="card"`+"\n\n1", cd+`name="card"`+"\n\n2"),
			[]formFound{{"1", "1", 0}, {"2", "2", 0}}},
		{"file part with binary content", []string{"doc"},
			multipartBody("\r\n", "", "", cd+`name="doc"; filename="a.bin"`+"\nContent-Type: application/octet-stream\n\n\x00\xff\r\n--XyZ\r\n\r\n\x89PNG", cd+`name="a"`+"\n\n1"),
			[]formFound{{"\x00\xff\r\n--XyZ\r\n\r\n\x89PNG", "\x00\xff\r\n--XyZ\r\n\r\n\x89PNG", 0}}},
		{"CRLF inside a part body is part of it", []string{"card"},
			multipartBody("\r\n", "", "", cd+`name="card"`+"\n\n41\r\n11\r\n"),
			[]formFound{{"41\r\n11\r\n", "41\r\n11\r\n", 0}}},
		{"preamble and epilogue are ignored", []string{"card"},
			multipartBody("\r\n", "This is a preamble.\r\nname=card\r\nx--"+formBoundary+"\r\n", "\r\n--"+formBoundary+"\r\n"+cd+"name=card\r\n\r\nepilogue\r\n",
				cd+`name="card"`+"\n\n4111"),
			[]formFound{{"4111", "4111", 0}}},
		{"quoted name with escapes", []string{`ca"rd`, `a\b`},
			multipartBody("\r\n", "", "", cd+`name="ca\"rd"`+"\n\n1", cd+`name="a\\b"`+"\n\n2", cd+`name="card"`+"\n\n3"),
			[]formFound{{"1", "1", 0}, {"2", "2", 1}}},
		{"unquoted name", []string{"card"},
			multipartBody("\r\n", "", "", cd+"name=card\n\n1"),
			[]formFound{{"1", "1", 0}}},
		{"unicode name", []string{"kärtchen"},
			multipartBody("\r\n", "", "", cd+`name="kärtchen"`+"\n\n1"),
			[]formFound{{"1", "1", 0}}},
		{"RFC 2231 name", []string{"kärtchen"},
			multipartBody("\r\n", "", "", cd+`name*=UTF-8''k%C3%A4rtchen`+"\n\n1"),
			[]formFound{{"1", "1", 0}}},
		{"header names and disposition type in any case", []string{"card"},
			multipartBody("\r\n", "", "", "content-DISPOSITION:FORM-DATA;NAME=card\n\n1"),
			[]formFound{{"1", "1", 0}}},
		{"folded header", []string{"card"},
			multipartBody("\r\n", "", "", "Content-Disposition: form-data;\n\tname=\"card\"\n\n1"),
			[]formFound{{"1", "1", 0}}},
		{"any disposition type", []string{"card"},
			multipartBody("\r\n", "", "", `Content-Disposition: attachment; name="card"`+"\n\n1"),
			[]formFound{{"1", "1", 0}}},
		{"part without a disposition is not a field", []string{"card"},
			multipartBody("\r\n", "", "", "Content-Type: text/plain\n\n1", "\n\n2"),
			nil},
		{"identity transfer encodings", []string{"a", "b", "c"},
			multipartBody("\r\n", "", "", cd+"name=a\nContent-Transfer-Encoding: 7bit\n\n1", cd+"name=b\nContent-Transfer-Encoding: 8BIT\n\n2",
				cd+"name=c\nContent-Transfer-Encoding:  binary \n\n3", cd+"name=d\nContent-Transfer-Encoding: base64\n\nNA=="),
			[]formFound{{"1", "1", 0}, {"2", "2", 1}, {"3", "3", 2}}},
		{"empty part body is skipped", []string{"card"},
			multipartBody("\r\n", "", "", cd+"name=card\n\n"),
			nil},
		{"delimiter right after the headers", []string{"card", "cvc"},
			"--" + formBoundary + "\r\n" + cd + "name=card\r\n\r\n--" + formBoundary + "\r\n" + cd + "name=cvc\r\n\r\n123\r\n--" + formBoundary + "--",
			[]formFound{{"123", "123", 1}}},
		{"transport padding after delimiters", []string{"card"},
			"--" + formBoundary + " \t\r\n" + cd + "name=card\r\n\r\n4111\r\n--" + formBoundary + "-- \r\n",
			[]formFound{{"4111", "4111", 0}}},
		{"boundary inside a line is content", []string{"card"},
			multipartBody("\r\n", "", "", cd+"name=card\n\n41 --"+formBoundary+"\r\n11"),
			[]formFound{{"41 --" + formBoundary + "\r\n11", "41 --" + formBoundary + "\r\n11", 0}}},
		{"no parts", []string{"card"}, "--" + formBoundary + "--", nil},
		{"an empty part of another spelling carries nothing", []string{"card"},
			multipartBody("\r\n", "", "", cd+"name=Card\n\n", cd+"name=card\n\n4111"),
			[]formFound{{"4111", "4111", 0}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spans, err := formLocate(t, formMultipart, tt.body, tt.fields...)
			if err != nil {
				t.Fatal(err)
			}
			if got := formFoundOf(tt.body, spans); !slices.Equal(got, tt.want) {
				t.Fatalf("located %#v\nwant    %#v", got, tt.want)
			}
			for _, s := range spans {
				if s.Encoding != MultipartRaw {
					t.Errorf("span %+v: encoding %d, want MultipartRaw", s, s.Encoding)
				}
			}
		})
	}
}

func TestFormMultipartAgreesWithMimeMultipart(t *testing.T) {
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	if err := w.SetBoundary(formBoundary); err != nil {
		t.Fatal(err)
	}
	w.WriteField("card", "4111111111111111")
	w.WriteField("quote\"d", "x\r\ny")
	fw, _ := w.CreateFormFile("file", "c:\\dir\\a \"b\".txt")
	fw.Write([]byte("x--" + formBoundary + "\r\n--" + formBoundary[:5] + "\x00\xff"))
	w.WriteField("card", "5555555555554444")
	w.Close()
	body := buf.String()

	want := map[string][]string{}
	r := multipart.NewReader(strings.NewReader(body), formBoundary)
	for {
		p, err := r.NextRawPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		v, _ := io.ReadAll(p)
		want[p.FormName()] = append(want[p.FormName()], string(v))
	}
	for _, field := range []string{"card", "quote\"d", "file"} {
		spans, err := formLocate(t, formMultipart, body, field)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, s := range spans {
			got = append(got, s.Value)
		}
		if !slices.Equal(got, want[field]) {
			t.Errorf("%s: located %q, mime/multipart %q", field, got, want[field])
		}
	}
}

// formProgram compiles a Program with a header target first, so body
// target indexes start at 1, and form targets for fields (a "!fmt" suffix
// sets the target's alias format).
func formProgram(t testing.TB, op Operation, fields ...string) *Program {
	t.Helper()
	ts := []TargetSpec{{Kind: KindHeader, Path: "X-Card"}}
	for _, f := range fields {
		f, format, _ := strings.Cut(f, "!")
		ts = append(ts, TargetSpec{Kind: KindForm, Path: f, Format: format})
	}
	p, err := Compile(op, ts)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func formApply(t testing.TB, p *Program, tok Tokenizer, media, body string, header http.Header) (string, []Change, error) {
	t.Helper()
	msg := &Message{Header: header, Body: []byte(body), MediaType: media}
	if media == formMultipart {
		msg.Params = map[string]string{"boundary": formBoundary}
	}
	ch, err := p.Apply(context.Background(), msg, tok)
	return string(msg.Body), ch, err
}

func TestFormRedactKeepsBytesOutsideTargets(t *testing.T) {
	tests := []struct {
		name   string
		media  string
		fields []string
		in     string
		want   string
	}{
		{"urlencoded", formURLEncoded, []string{"card", "cvc"},
			"a=%7e1&card=4111111111111111&n%zz=%&cvc=123&z=a+b\r\n",
			"a=%7e1&card=tok_4111111111111111&n%zz=%&cvc=tok_123&z=a+b\r\n"},
		{"urlencoded alias is form-encoded", formURLEncoded, []string{"name"},
			"name=J%C3%BCrgen+M%C3%BCller&x=1",
			"name=tok_J%C3%BCrgen+M%C3%BCller&x=1"},
		{"urlencoded repeated field", formURLEncoded, []string{"card"},
			"card=1&card=&card=2",
			"card=tok_1&card=&card=tok_2"},
		{"multipart CRLF", formMultipart, []string{"card", "cvc"},
			multipartBody("\r\n", "pre\r\n", "epi\r\n", "Content-Disposition: form-data; name=\"card\"\n\n4111111111111111",
				"Content-Disposition: form-data; name=\"file\"; filename=\"f\"\nContent-Type: image/png\n\n\x89PNG\r\n\x1a\n",
				"Content-Disposition: form-data; name=cvc\n\n123"),
			multipartBody("\r\n", "pre\r\n", "epi\r\n", "Content-Disposition: form-data; name=\"card\"\n\ntok_4111111111111111",
				"Content-Disposition: form-data; name=\"file\"; filename=\"f\"\nContent-Type: image/png\n\n\x89PNG\r\n\x1a\n",
				"Content-Disposition: form-data; name=cvc\n\ntok_123")},
		{"multipart LF", formMultipart, []string{"card"},
			multipartBody("\n", "", "", "Content-Disposition: form-data; name=\"card\"\n\n4111 1111"),
			multipartBody("\n", "", "", "Content-Disposition: form-data; name=\"card\"\n\ntok_4111 1111")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok := newRecordingTokenizer(false)
			got, _, err := formApply(t, formProgram(t, Redact, tt.fields...), tok, tt.media, tt.in, http.Header{})
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Fatalf("got  %q\nwant %q", got, tt.want)
			}
			if len(tok.redacts) != 1 || len(tok.reveals) != 0 {
				t.Errorf("%d Redact and %d Reveal calls, want one Redact", len(tok.redacts), len(tok.reveals))
			}
		})
	}
}

func TestFormRedactMakesOneCallForBodyAndHeaders(t *testing.T) {
	tok := newRecordingTokenizer(false)
	p := formProgram(t, Redact, "card!FPE_SIX_T_FOUR", "cvc!UUID")
	h := http.Header{"X-Card": {"5555555555554444"}}
	got, ch, err := formApply(t, p, tok, formURLEncoded, "cvc=123&card=4111111111111111&card=4012888888881881", h)
	if err != nil {
		t.Fatal(err)
	}
	if want := "cvc=tok_123&card=tok_4111111111111111&card=tok_4012888888881881"; got != want {
		t.Errorf("body %q, want %q", got, want)
	}
	if h.Get("X-Card") != "tok_5555555555554444" {
		t.Errorf("header %q", h.Get("X-Card"))
	}
	if len(tok.redacts) != 1 {
		t.Fatalf("%d Redact calls, want 1", len(tok.redacts))
	}
	wantItems := []string{"123/UUID", "4111111111111111/FPE_SIX_T_FOUR", "4012888888881881/FPE_SIX_T_FOUR", "5555555555554444/"}
	var items []string
	for _, it := range tok.redacts[0] {
		items = append(items, it.Value+"/"+it.Format)
	}
	if !slices.Equal(items, wantItems) {
		t.Errorf("items %q, want %q", items, wantItems)
	}
	wantChanges := []Change{
		{Target: 0, Kind: KindHeader, Path: "X-Card", Count: 1},
		{Target: 1, Kind: KindForm, Path: "card", Count: 2},
		{Target: 2, Kind: KindForm, Path: "cvc", Count: 1},
	}
	if !slices.Equal(ch, wantChanges) {
		t.Errorf("changes %+v, want %+v", ch, wantChanges)
	}
}

func TestFormRevealWritesValuesFormEncoded(t *testing.T) {
	tok := newRecordingTokenizer(false)
	tok.toValue["tok_1"] = "a b&c=d/é"
	got, _, err := formApply(t, formProgram(t, Reveal, "v"), tok, formURLEncoded, "v=tok_1&v=unknown&w=tok_1", http.Header{})
	if err != nil {
		t.Fatal(err)
	}
	if want := "v=a+b%26c%3Dd%2F%C3%A9&v=unknown&w=tok_1"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	if len(tok.reveals) != 1 || len(tok.redacts) != 0 {
		t.Errorf("%d Reveal and %d Redact calls, want one Reveal", len(tok.reveals), len(tok.redacts))
	}
}

func TestFormMalformedBodyChangesNothing(t *testing.T) {
	tok := newRecordingTokenizer(false)
	h := http.Header{"X-Card": {"5555555555554444"}}
	const in = "card=4111111111111111&cvc=1%2"
	got, _, err := formApply(t, formProgram(t, Redact, "card", "cvc"), tok, formURLEncoded, in, h)
	if !errors.Is(err, ErrMalformed) || got != in || h.Get("X-Card") != "5555555555554444" || len(tok.redacts) != 0 {
		t.Fatalf("err %v, body %q, header %q, %d calls", err, got, h.Get("X-Card"), len(tok.redacts))
	}
}

// formRandomField is a random field name or value: ASCII letters, digits,
// punctuation, spaces, line breaks and non-ASCII runes.
func formRandomField(rng *rand.Rand, minLen int) string {
	const alphabet = "abcXYZ0189 +-_.~%&=;:/?#[]\"\\\r\n\t"
	runes := []rune{'é', 'ü', '€', '😀', 0}
	n := minLen + rng.IntN(12)
	var b strings.Builder
	for range n {
		if rng.IntN(8) == 0 {
			b.WriteRune(runes[rng.IntN(len(runes))])
		} else {
			b.WriteByte(alphabet[rng.IntN(len(alphabet))])
		}
	}
	return b.String()
}

func TestFormRedactThenRevealIsIdentity(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 11))
	replaced := map[string]int{}
	for iter := range 500 {
		media := formURLEncoded
		if iter%2 == 1 {
			media = formMultipart
		}
		var names, values []string
		for range 1 + rng.IntN(6) {
			if len(names) > 0 && rng.IntN(4) == 0 {
				names = append(names, names[rng.IntN(len(names))]) // repeated field
			} else {
				n := formRandomField(rng, 1)
				if media == formMultipart { // a header line holds no line break
					if n = strings.NewReplacer("\r", "", "\n", "").Replace(n); n == "" {
						n = "n"
					}
				}
				names = append(names, n)
			}
			values = append(values, formRandomField(rng, 0))
		}
		var targets []string
		for _, n := range names {
			if rng.IntN(2) == 0 && !slices.Contains(targets, n) {
				targets = append(targets, n)
			}
		}
		if len(targets) == 0 {
			targets = append(targets, names[0])
		}
		var body string
		if media == formURLEncoded {
			pairs := make([]string, len(names))
			for i := range names {
				pairs[i] = url.QueryEscape(names[i]) + "=" + url.QueryEscape(values[i])
			}
			body = strings.Join(pairs, "&") + []string{"", "\r\n", "\n"}[rng.IntN(3)]
		} else {
			nl := []string{"\r\n", "\n"}[rng.IntN(2)]
			quote := strings.NewReplacer(`\`, `\\`, `"`, `\"`)
			parts := make([]string, len(names))
			for i := range names {
				parts[i] = fmt.Sprintf("Content-Disposition: form-data; name=\"%s\"\n\n%s", quote.Replace(names[i]), values[i])
			}
			body = multipartBody(nl, "preamble"+nl, "epilogue"+nl, parts...)
		}
		tok := newRecordingTokenizer(false)
		red, changes, err := formApply(t, formProgram(t, Redact, targets...), tok, media, body, nil)
		if err != nil {
			t.Fatalf("iter %d: redact: %v\n%q", iter, err, body)
		}
		for _, c := range changes {
			replaced[media] += c.Count
		}
		back, _, err := formApply(t, formProgram(t, Reveal, targets...), tok, media, red, nil)
		if err != nil {
			t.Fatalf("iter %d: reveal: %v\n%q", iter, err, red)
		}
		if back != body {
			t.Fatalf("iter %d: round trip differs\n in  %q\n red %q\n out %q", iter, body, red, back)
		}
		if len(tok.redacts) > 1 || len(tok.reveals) > 1 {
			t.Fatalf("iter %d: %d Redact and %d Reveal calls", iter, len(tok.redacts), len(tok.reveals))
		}
	}
	t.Logf("values replaced: %v", replaced)
	if replaced[formURLEncoded] < 250 || replaced[formMultipart] < 250 {
		t.Errorf("too few values replaced to mean much: %v", replaced)
	}
}

// formCheckSpans checks the Locator contract: spans within the body,
// sorted, not overlapping, not empty, of known targets.
func formCheckSpans(t *testing.T, body []byte, spans []Span, targets int) {
	t.Helper()
	last := 0
	for i, s := range spans {
		if s.Start < last || s.End <= s.Start || s.End > len(body) {
			t.Fatalf("span %d [%d,%d) out of order, empty or out of bounds (previous end %d, body %d bytes)", i, s.Start, s.End, last, len(body))
		}
		if s.Value == "" || s.Target < 0 || s.Target >= targets {
			t.Fatalf("span %d: value %q, target %d", i, s.Value, s.Target)
		}
		last = s.End
	}
}

var formFuzzFields = []string{"card", "cvc", "a b", "ü", `q"x`}

// formFuzz locates, checks the spans, and redacts then reveals body,
// returning the spans and the revealed body (nil when the body is refused).
func formFuzz(t *testing.T, media string, body []byte) ([]Span, []byte) {
	orig := bytes.Clone(body)
	l, err := newFormLocator(formSpecs(formFuzzFields...), []int{1, 2, 3, 4, 5})
	if err != nil {
		t.Fatal(err)
	}
	msg := &Message{Body: body, MediaType: media, Params: map[string]string{"boundary": formBoundary}}
	spans, err := l.Locate(msg)
	if !bytes.Equal(msg.Body, orig) {
		t.Fatal("Locate changed the body")
	}
	if err != nil {
		if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrDuplicateKey) {
			t.Fatalf("error %v wraps neither ErrMalformed nor ErrDuplicateKey", err)
		}
		return nil, nil
	}
	formCheckSpans(t, body, spans, 6)
	for _, s := range spans {
		if s.Target == 0 {
			t.Fatalf("span of the header target")
		}
	}

	tok := newRecordingTokenizer(false)
	p := formProgram(t, Redact, formFuzzFields...)
	red := &Message{Body: bytes.Clone(body), MediaType: media, Params: msg.Params}
	for _, s := range spans {
		// This tokenizer's alias of v is "tok_"+v: a part value holding the
		// delimiter (not at a line start, so it is content) gives an alias
		// holding it, which Apply must refuse rather than write
		// (FuzzFormMultipart/1831399ac2e78c08). Real aliases never hold "--".
		if s.Forbid != "" && strings.Contains(s.Value, s.Forbid) {
			if _, err := p.Apply(context.Background(), red, tok); !errors.Is(err, ErrUnsafeValue) || !bytes.Equal(red.Body, body) {
				t.Fatalf("an alias holding the delimiter: err %v, body changed %v", err, !bytes.Equal(red.Body, body))
			}
			return nil, nil
		}
	}
	if _, err := p.Apply(context.Background(), red, tok); err != nil {
		t.Fatalf("redact: %v", err)
	}
	if len(spans) > 0 && len(tok.redacts) != 1 {
		t.Fatalf("%d Redact calls", len(tok.redacts))
	}
	again, err := l.Locate(red)
	if err != nil {
		t.Fatalf("redacted body refused: %v", err)
	}
	if len(again) != len(spans) {
		t.Fatalf("redacted body has %d targeted values, the original %d", len(again), len(spans))
	}
	for i, s := range again {
		if s.Value != "tok_"+spans[i].Value || s.Target != spans[i].Target {
			t.Fatalf("value %d of the redacted body is %q, want the alias of %q", i, s.Value, spans[i].Value)
		}
	}
	back := &Message{Body: red.Body, MediaType: media, Params: msg.Params}
	if _, err := formProgram(t, Reveal, formFuzzFields...).Apply(context.Background(), back, tok); err != nil {
		t.Fatalf("reveal: %v", err)
	}
	return spans, back.Body
}

func FuzzFormURLEncoded(f *testing.F) {
	for _, s := range []string{
		"a=1&card=4111111111111111&cvc=123",
		"card=1&card=2&a+b=x%20y&%C3%BC=%C3%BC",
		"card=41%0D%0A11\r\n",
		"note=100%&card=%zz",
		"&&=&card&card=&q%22x=1;2",
		"a=1;card=4111111111111111",
		"card=4111;cvc=123&CVC=1&a.b=2&card[]=3&+card=4",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		spans, back := formFuzz(t, formURLEncoded, body)
		if back == nil {
			return
		}
		formLenientReadsOnlyRedacted(t, body, spans)
		for _, s := range spans {
			if v, err := url.QueryUnescape(string(body[s.Start:s.End])); err != nil || v != s.Value {
				t.Fatalf("span [%d,%d) decodes to %q (%v), value %q", s.Start, s.End, v, err, s.Value)
			}
			if bytes.ContainsAny(body[s.Start:s.End], "&") {
				t.Fatalf("span [%d,%d) crosses a pair", s.Start, s.End)
			}
		}
		// Reveal writes values in canonical form encoding; elsewhere the
		// body is unchanged.
		var want []byte
		last := 0
		for _, s := range spans {
			want = append(append(want, body[last:s.Start]...), formEscape(s.Value)...)
			last = s.End
		}
		want = append(want, body[last:]...)
		if !bytes.Equal(back, want) {
			t.Fatalf("redact then reveal\n got  %q\n want %q", back, want)
		}
	})
}

// formLenientReadsOnlyRedacted reads an accepted urlencoded body as the
// most lenient parser would (pairs split on '&' and ';', leading spaces
// dropped, names compared by canonFormName, keys under a field belonging to
// it) and checks that every value such a parser reads for a targeted field
// lies inside a located span.
func formLenientReadsOnlyRedacted(t *testing.T, body []byte, spans []Span) {
	canon := map[string]bool{}
	for _, f := range formFuzzFields {
		canon[canonFormName(f)] = true
	}
	end := len(body)
	for end > 0 && (body[end-1] == '\n' || body[end-1] == '\r') {
		end--
	}
	for start := 0; start <= end; {
		stop := start + bytes.IndexAny(body[start:end], "&;")
		if stop < start {
			stop = end
		}
		p := start
		for p < stop && body[p] == ' ' {
			p++
		}
		if eq := bytes.IndexByte(body[p:stop], '='); eq >= 0 && p+eq+1 < stop {
			c := canonFormName(LenientUnescape(body[p : p+eq]))
			targeted := canon[c]
			for i := 1; i < len(c) && !targeted; i++ {
				targeted = c[i] == '[' && canon[c[:i]]
			}
			covered := false
			for _, s := range spans {
				covered = covered || s.Start <= p+eq+1 && stop <= s.End
			}
			if targeted && !covered {
				t.Fatalf("a lenient parser reads field %q with value [%d,%d) that was not located", c, p+eq+1, stop)
			}
		}
		start = stop + 1
	}
}

func FuzzFormMultipart(f *testing.F) {
	for _, s := range []string{
		multipartBody("\r\n", "", "", "Content-Disposition: form-data; name=card\n\n4111111111111111", "Content-Disposition: form-data; name=\"a b\"; filename=x\n\n\x00\r\n"),
		multipartBody("\n", "pre\n", "epi", "Content-Disposition: form-data; name=\"q\\\"x\"\n\n1", "Content-Disposition: form-data; name=cvc\nContent-Transfer-Encoding: 8bit\n\n123"),
		"--" + formBoundary + "\r\nContent-Disposition: form-data; name=card\r\n\r\n--" + formBoundary + "--",
		multipartBody("\r\n", "", "", "Content-Disposition: form-data; name=CARD\n\n4111", "Content-Disposition: form-data; name=\"a.b[]\"\n\n1"),
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		spans, back := formFuzz(t, formMultipart, body)
		if back == nil {
			return
		}
		for _, s := range spans {
			if string(body[s.Start:s.End]) != s.Value {
				t.Fatalf("span [%d,%d) is not its value", s.Start, s.End)
			}
		}
		if !bytes.Equal(back, body) {
			t.Fatalf("redact then reveal\n got  %q\n want %q", back, body)
		}
		multipartAgrees(t, body, spans)
	})
}

// multipartAgrees checks that every targeted part that mime/multipart reads
// from a body it parses to the end was located with the same bytes (but for
// a final CR, see below).
func multipartAgrees(t *testing.T, body []byte, spans []Span) {
	r := multipart.NewReader(bytes.NewReader(body), formBoundary)
	var want []string
	for {
		p, err := r.NextRawPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			return
		}
		v, err := io.ReadAll(p)
		if err != nil {
			return
		}
		// In an LF body mime/multipart keeps the CR of a CRLF before the
		// delimiter, which the locator reads as part of the line break.
		if w := strings.TrimSuffix(string(v), "\r"); slices.Contains(formFuzzFields, p.FormName()) && w != "" {
			want = append(want, w)
		}
	}
	got := make([]string, len(spans))
	for i, s := range spans {
		got[i] = s.Value
	}
	// want must be a subsequence of got: we also locate parts of other
	// disposition types, which FormName ignores.
	i := 0
	for _, w := range want {
		for i < len(got) && strings.TrimSuffix(got[i], "\r") != w {
			i++
		}
		if i == len(got) {
			t.Fatalf("mime/multipart reads targeted parts %q, located %q", want, got)
		}
		i++
	}
}

func TestRevealIntoMultipartRefusesADelimiterInTheValue(t *testing.T) {
	p, err := Compile(Reveal, []TargetSpec{{Kind: KindForm, Path: "pan"}})
	if err != nil {
		t.Fatal(err)
	}
	body := "--XyZ\r\nContent-Disposition: form-data; name=\"pan\"\r\n\r\ntok_1\r\n--XyZ--\r\n"
	for _, v := range []string{"4111\r\n--XyZ\r\nContent-Disposition: form-data; name=\"admin\"\r\n\r\nyes", "--XyZ--"} {
		msg := &Message{Body: []byte(body), MediaType: "multipart/form-data", Params: map[string]string{"boundary": "XyZ"}}
		tok := &fixedRevealer{value: v}
		if _, err := p.Apply(context.Background(), msg, tok); !errors.Is(err, ErrUnsafeValue) {
			t.Fatalf("err = %v, want ErrUnsafeValue", err)
		}
		if string(msg.Body) != body {
			t.Fatal("body changed")
		}
	}
}

// fixedRevealer reveals every alias to one value.
type fixedRevealer struct{ value string }

func (f *fixedRevealer) Redact(context.Context, []RedactItem) ([]string, error) { return nil, nil }
func (f *fixedRevealer) Reveal(_ context.Context, a []string) ([]string, error) {
	out := make([]string, len(a))
	for i := range out {
		out[i] = f.value
	}
	return out, nil
}
