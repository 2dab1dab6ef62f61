package jsonapi

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/aliasgate/aliasgate/internal/pan"
)

func TestWriteErrorShapesAndHidesUnknownErrors(t *testing.T) {
	rec := httptest.NewRecorder()
	WriteError(rec, MediaType, Invalid("/data/0/value", "invalid_value", "value is empty"))
	var doc struct {
		Errors []ErrorObject `json:"errors"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	if rec.Code != 422 || rec.Header().Get("Content-Type") != MediaType || doc.Errors[0].Status != "422" ||
		doc.Errors[0].Source.Pointer != "/data/0/value" || doc.Errors[0].Code != "invalid_value" {
		t.Fatalf("got %d %s", rec.Code, rec.Body)
	}

	rec = httptest.NewRecorder()
	WriteError(rec, "application/json", errors.New("db password is hunter2"))
	if rec.Code != 500 || strings.Contains(rec.Body.String(), "hunter2") {
		t.Fatalf("internal error leaked: %d %s", rec.Code, rec.Body)
	}
}

func TestDecodeErrorsNeverQuoteTheBody(t *testing.T) {
	const card = "4111111111111111"
	tests := []struct {
		name   string
		body   string
		strict bool
		status int
	}{
		{"syntax", `{"pan":"` + card + `"`, false, 400},
		{"wrong type", `{"n":"` + card + `"}`, false, 400},
		{"unknown field that is a card number", `{"` + card + `":1}`, true, 400},
		// A number in exponent notation whose value is a card number: the
		// leak guard counts it as card data, and so must the masks here.
		{"unknown field that spells a card number in exponent notation", `{"` + card + `000e-3":1}`, true, 400},
		{"two values", `{} {}`, false, 400},
		{"empty", ``, false, 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var v struct {
				N int `json:"n"`
			}
			err := Decode([]byte(tt.body), tt.strict, &v)
			var e *Error
			if !errors.As(err, &e) || e.Status != tt.status {
				t.Fatalf("Decode = %v, want status %d", err, tt.status)
			}
			if strings.Contains(err.Error(), card) || strings.Contains(err.Error(), card+"000e-3") {
				t.Fatalf("error %q quotes the card number", err)
			}
		})
	}
}

func TestDecodeBodyLimit(t *testing.T) {
	r := httptest.NewRequest("POST", "/", strings.NewReader(`{"a":"`+strings.Repeat("x", 100)+`"}`))
	var v map[string]string
	err := DecodeBody(r, 50, false, &v)
	var e *Error
	if !errors.As(err, &e) || e.Status != http.StatusRequestEntityTooLarge {
		t.Fatalf("DecodeBody = %v, want 413", err)
	}
}

func TestCheckContentType(t *testing.T) {
	tests := []struct {
		ct string
		ok bool
	}{
		{"application/json", true},
		{"application/json; charset=utf-8", true},
		{MediaType, true},
		{"text/plain", false},
		{"", false},
		{"application/json;;", false},
		// The body is read as UTF-8: a body declared in another charset is refused.
		{"application/json; charset=UTF-8", true},
		{"application/json; charset=utf-7", false},
		{"application/json; charset=iso-8859-1", false},
		{"application/json; charset*=utf-8''IBM037", false},
		{MediaType + "; charset=utf-16", false},
		{MediaType + "; charset=\"utf-8\"", true},
		// Other labels clients send of UTF-8 itself (UTF8Charset).
		{"application/json; charset=utf8", true},
		{"application/json;charset=UTF8", true},
		{MediaType + "; charset=utf_8", true},
		{MediaType + "; charset=cp65001", true},
		{"application/json; charset=unicode-1-1-utf-8", true},
		{"application/json; charset=utf-8x", false},
		{"application/json; charset=utf", false},
		// JSON:API: no parameter but profile (and charset=utf-8); no extension is supported.
		{MediaType + `; profile="https://example.com/p"`, true},
		{MediaType + `; ext="https://example.com/e"`, false},
		{MediaType + "; version=1", false},
		{"application/json; version=1", true},
		{"", false}, // several values: see below
	}
	for i, tt := range tests {
		r := httptest.NewRequest("POST", "/", nil)
		r.Header.Set("Content-Type", tt.ct)
		if i == len(tests)-1 {
			r.Header["Content-Type"] = []string{MediaType, "application/json; charset=utf-7"}
		}
		err := CheckContentType(r, "application/json", MediaType)
		if (err == nil) != tt.ok {
			t.Errorf("CheckContentType(%q) = %v", tt.ct, err)
		}
		var e *Error
		if err != nil && (!errors.As(err, &e) || e.Status != 415) {
			t.Errorf("CheckContentType(%q) error is not a 415", tt.ct)
		}
	}
}

func FuzzDecode(f *testing.F) {
	f.Add([]byte(`{"data":[{"value":"4111111111111111"}]}`), true)
	f.Add([]byte(`{"4111111111111111":1}`), true)
	f.Fuzz(func(t *testing.T, b []byte, strict bool) {
		var v struct {
			Data []struct {
				Value string `json:"value"`
			} `json:"data"`
		}
		err := Decode(b, strict, &v)
		if err == nil {
			return
		}
		var e *Error
		if !errors.As(err, &e) || e.Status != 400 {
			t.Fatalf("Decode error %v is not a 400", err)
		}
		if msg := err.Error(); pan.Contains([]byte(msg)) {
			t.Fatalf("error %q holds a card-like run", msg)
		}
	})
}

// shaper is an ErrorDocumenter writing {"n":<status>}.
type shaper struct{ http.ResponseWriter }

func (shaper) ErrorDocument(e *Error) any { return map[string]int{"n": e.Status} }

// wrapper wraps a ResponseWriter the way middleware does.
type wrapper struct{ http.ResponseWriter }

func (w wrapper) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// WriteError uses the ErrorDocumenter of the response, found directly or
// through Unwrap, and JSON:API's document otherwise.
func TestWriteErrorUsesTheResponsesDocumenter(t *testing.T) {
	tests := []struct {
		name string
		wrap func(http.ResponseWriter) http.ResponseWriter
		want string
	}{
		{"no documenter", func(w http.ResponseWriter) http.ResponseWriter { return w }, `{"errors":[{"status":"418","code":"c","title":"T","detail":"d"}]}`},
		{"documenter", func(w http.ResponseWriter) http.ResponseWriter { return shaper{w} }, `{"n":418}`},
		{"documenter under middleware", func(w http.ResponseWriter) http.ResponseWriter { return wrapper{wrapper{shaper{w}}} }, `{"n":418}`},
		{"middleware without documenter", func(w http.ResponseWriter) http.ResponseWriter { return wrapper{w} }, `{"errors":[{"status":"418","code":"c","title":"T","detail":"d"}]}`},
	}
	for _, tt := range tests {
		rec := httptest.NewRecorder()
		WriteError(tt.wrap(rec), "application/json", NewError(418, "c", "T", "d"))
		if rec.Code != 418 || strings.TrimSpace(rec.Body.String()) != tt.want || rec.Header().Get("Content-Type") != "application/json" {
			t.Errorf("%s: %d %q %s", tt.name, rec.Code, rec.Header().Get("Content-Type"), rec.Body)
		}
	}
}

// TestDecodeRefusesTextItWouldReadOtherwise: encoding/json reads bytes
// that are not UTF-8, and a \u escape of half a surrogate pair, as U+FFFD
// without a word; a document holding either is refused (400 invalid_utf8,
// the offset given, never the bytes). Whole pairs, escaped backslashes
// before a "u", and text outside a complete document (left to the
// decoder's syntax error) are not.
func TestDecodeRefusesTextItWouldReadOtherwise(t *testing.T) {
	for _, tc := range []struct {
		body string
		code string // "" accepted
	}{
		{`{"v":"café"}`, ""},
		{`{"v":"caf\u00e9 \ud83d\ude00 \uD83D\uDE00"}`, ""},
		{`{"v":"\\ud800"}`, ""},
		{`{"v":"\\\ud83d\ude00"}`, ""},
		{`{"v":"\"\ud83d\ude00"}`, ""},
		{"{\"v\":\"caf\xe9\"}", "invalid_utf8"},
		{"{\"caf\xe9\":1}", "invalid_utf8"},
		{`{"v":"caf\ud800"}`, "invalid_utf8"},
		{`{"v":"\udc00\ud800"}`, "invalid_utf8"},
		{`{"v":"\ud800\u0041"}`, "invalid_utf8"},
		{`{"v":"\ud800"} `, "invalid_utf8"},
		{`{"v":"\\\ud800"}`, "invalid_utf8"},
		{"{\"v\":\"4111111111111111\xff\"}", "invalid_utf8"},
		{"{\"v\":1", "malformed_json"},
	} {
		var v any
		err := Decode([]byte(tc.body), false, &v)
		var e *Error
		switch {
		case tc.code == "" && err != nil:
			t.Errorf("%q: %v", tc.body, err)
		case tc.code != "" && (!errors.As(err, &e) || e.Objects[0].Code != tc.code):
			t.Errorf("%q: %v, want %s", tc.body, err, tc.code)
		case e != nil && strings.Contains(e.Error(), "4111"):
			t.Errorf("%q: the error quotes the body: %v", tc.body, err)
		}
		if tc.code == "invalid_utf8" {
			if err := CheckMembersExact([]byte(tc.body), &v); err == nil {
				t.Errorf("%q: CheckMembersExact accepts it", tc.body)
			}
		}
	}
}

// TestAnswersAreNotHTMLEscaped: a '&' in an answer was written \u0026,
// whose four hex digits joined the digits after it into a card-like run
// for a scanner of the raw answer (FuzzVaultAPI: an alias path
// "&0000000000A00000" gave the run 00260000000000 in the error's href),
// and links.next carried \u0026 between its parameters.
func TestAnswersAreNotHTMLEscaped(t *testing.T) {
	w := httptest.NewRecorder()
	WriteJSON(w, http.StatusOK, MediaType, map[string]any{"links": map[string]string{"next": "/cards?page[size]=5&page[after]=CRD1"}})
	if !strings.Contains(w.Body.String(), `"/cards?page[size]=5&page[after]=CRD1"`) {
		t.Errorf("links.next written as %s", w.Body)
	}
	if got, want := w.Header().Get("Content-Length"), strconv.Itoa(w.Body.Len()); got != want || !strings.HasSuffix(w.Body.String(), "}\n") {
		t.Errorf("Content-Length %s for %d bytes: %q", got, w.Body.Len(), w.Body)
	}
	w = httptest.NewRecorder()
	WriteError(w, MediaType, NewError(http.StatusNotFound, "not_found", "Not Found", "no alias /aliases/&0000000000A00000"))
	if pan.Contains(w.Body.Bytes()) || !strings.Contains(w.Body.String(), "&0000000000A00000") {
		t.Errorf("error written as %s", w.Body)
	}
}

func TestNegotiateRefusesWhatJSONAPIRefuses(t *testing.T) {
	for _, tt := range []struct {
		ctype, accept []string
		status        int // 0: accepted
	}{
		{nil, nil, 0},
		{nil, []string{"*/*"}, 0},
		{nil, []string{"text/html"}, 0}, // no JSON:API instance: not refused
		{nil, []string{MediaType}, 0},
		{nil, []string{"APPLICATION/VND.API+JSON"}, 0},
		{nil, []string{MediaType + ";q=0.5"}, 0},
		{nil, []string{MediaType + `; profile="https://a.example/p https://b.example/p"`}, 0},
		{nil, []string{MediaType + "; charset=UTF-8"}, 0},
		{nil, []string{MediaType + `; ext="https://a.example/x,y", ` + MediaType}, 0},
		{nil, []string{MediaType + `; ext="x"`, MediaType}, 0}, // two Accept fields
		{nil, []string{MediaType + `; ext="https://jsonapi.org/ext/atomic"`}, 406},
		{nil, []string{MediaType + `; ext="https://a.example/x, application/vnd.api+json"`}, 406}, // the comma is quoted
		{nil, []string{MediaType + "; foo=bar, */*"}, 406},                                        // JSON:API: every instance modified
		{nil, []string{MediaType + "; q=0"}, 406},
		{nil, []string{MediaType + "; charset=utf-16"}, 406},
		{nil, []string{MediaType + "; ext"}, 406},              // a malformed parameter is a parameter
		{nil, []string{MediaType + `; ext="a"; ext="b"`}, 406}, // so is a repeated one
		{[]string{MediaType + `; profile="a"; profile="b"`}, nil, 415},
		{[]string{MediaType}, nil, 0},
		{[]string{MediaType + "; charset=utf-8"}, nil, 0},
		{[]string{"application/x-www-form-urlencoded"}, nil, 0}, // not read here
		{[]string{MediaType + `; ext="https://jsonapi.org/ext/atomic"`}, nil, 415},
		{[]string{MediaType + "; charset=utf-7"}, nil, 415},
		{[]string{MediaType + "; version"}, nil, 415},
		{[]string{"application/json", MediaType + "; ext=x"}, nil, 415},
	} {
		r := httptest.NewRequest("GET", "/cards", nil)
		r.Header["Content-Type"] = tt.ctype
		r.Header["Accept"] = tt.accept
		err := Negotiate(r)
		var e *Error
		switch {
		case tt.status == 0 && err != nil:
			t.Errorf("Negotiate(Content-Type %q, Accept %q) = %v, want nil", tt.ctype, tt.accept, err)
		case tt.status != 0 && (!errors.As(err, &e) || e.Status != tt.status || e.Objects[0].Status != strconv.Itoa(tt.status)):
			t.Errorf("Negotiate(Content-Type %q, Accept %q) = %v, want %d", tt.ctype, tt.accept, err, tt.status)
		}
	}
}

// TestContentCodingsAreRefused: a body declared in a content coding is
// refused by CheckContentType and Negotiate alike (it was read as sent).
func TestContentCodingsAreRefused(t *testing.T) {
	for _, tt := range []struct {
		enc []string
		ok  bool
	}{
		{nil, true},
		{[]string{""}, true},
		{[]string{"identity"}, true},
		{[]string{"Identity, identity"}, true},
		{[]string{"gzip"}, false},
		{[]string{"br"}, false},
		{[]string{"identity, gzip"}, false},
		{[]string{"identity", "deflate"}, false},
		{[]string{"x-unknown"}, false},
	} {
		r := httptest.NewRequest("POST", "/cards", strings.NewReader(`{}`))
		r.Header.Set("Content-Type", MediaType)
		r.Header["Content-Encoding"] = tt.enc
		for name, err := range map[string]error{"CheckContentType": CheckContentType(r, MediaType), "Negotiate": Negotiate(r)} {
			var e *Error
			switch {
			case tt.ok && err != nil:
				t.Errorf("%s with Content-Encoding %q = %v", name, tt.enc, err)
			case !tt.ok && (!errors.As(err, &e) || e.Status != 415 || e.Objects[0].Code != "unsupported_content_encoding"):
				t.Errorf("%s with Content-Encoding %q = %v, want 415 unsupported_content_encoding", name, tt.enc, err)
			}
		}
	}
}
