package rewrite

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"testing"
)

// TestRevealReportsTargetsWithUnknownAliases checks Message.Unknown (issue
// 21): from its one Reveal call, Apply names every target (once, in target
// order) that held a value the Tokenizer answered "" for, leaves those
// values as they are, reveals the others and does not fail; it counts
// those values in Message.UnknownValues, each distinct one once (the same
// unknown alias in two headers is one guess).
func TestRevealReportsTargetsWithUnknownAliases(t *testing.T) {
	known := map[string]string{"tok_a": "4111111111111111", "tok_b": "5555555555554444"}
	mp := func(parts ...string) string { return multipartBody("\r\n", "", "", parts...) }
	const cd = "Content-Disposition: form-data; name="
	tests := []struct {
		name    string
		specs   []TargetSpec
		media   string
		header  http.Header
		body    string
		want    string
		wantHdr http.Header
		unknown []TargetRef
	}{
		{"json", []TargetSpec{{Kind: KindJSON, Path: "card.number"}, {Kind: KindJSON, Path: "items.#.pan"}, {Kind: KindJSON, Path: "cvc"}},
			"application/json", nil,
			`{"card":{"number":"tok_a"},"items":[{"pan":"tok_b"},{"pan":"tok_zz"},{"pan":"tok_yy"}],"cvc":"nope"}`,
			`{"card":{"number":"4111111111111111"},"items":[{"pan":"5555555555554444"},{"pan":"tok_zz"},{"pan":"tok_yy"}],"cvc":"nope"}`,
			nil,
			[]TargetRef{{KindJSON, "items.#.pan"}, {KindJSON, "cvc"}}},
		{"json all known", []TargetSpec{{Kind: KindJSON, Path: "a"}, {Kind: KindJSON, Path: "b"}},
			"application/json", nil,
			`{"a":"tok_a","b":""}`, `{"a":"4111111111111111","b":""}`, nil, nil},
		{"form urlencoded", []TargetSpec{{Kind: KindForm, Path: "card"}, {Kind: KindForm, Path: "cvc"}},
			formURLEncoded, nil,
			"card=tok_a&cvc=tok_x&card=tok_q", "card=4111111111111111&cvc=tok_x&card=tok_q", nil,
			[]TargetRef{{KindForm, "card"}, {KindForm, "cvc"}}},
		{"form multipart", []TargetSpec{{Kind: KindForm, Path: "card"}, {Kind: KindForm, Path: "cvc"}},
			formMultipart, nil,
			mp(cd+"card\n\ntok_a", cd+"cvc\n\ntok_x"), mp(cd+"card\n\n4111111111111111", cd+"cvc\n\ntok_x"), nil,
			[]TargetRef{{KindForm, "cvc"}}},
		{"xml", []TargetSpec{{Kind: KindXML, Path: "/p/card"}, {Kind: KindXML, Path: "/p/cvc"}},
			"application/xml", nil,
			"<p><cvc>tok_b</cvc><card>tok_x</card></p>", "<p><cvc>5555555555554444</cvc><card>tok_x</card></p>", nil,
			[]TargetRef{{KindXML, "/p/card"}}},
		{"regex", []TargetSpec{{Kind: KindRegex, Path: `tok_[a-z]+`}},
			"text/plain", nil,
			"x tok_a y tok_unknown z", "x 4111111111111111 y tok_unknown z", nil,
			[]TargetRef{{KindRegex, `tok_[a-z]+`}}},
		{"headers and body", []TargetSpec{{Kind: KindHeader, Path: "X-Card"}, {Kind: KindJSON, Path: "pan"}, {Kind: KindHeader, Path: "Authorization", HeaderPattern: `^Card (\S+)$`}},
			"application/json", http.Header{"X-Card": {"tok_a", "tok_gone"}, "Authorization": {"Card tok_gone"}},
			`{"pan":"tok_b"}`, `{"pan":"5555555555554444"}`,
			http.Header{"X-Card": {"4111111111111111", "tok_gone"}, "Authorization": {"Card tok_gone"}},
			[]TargetRef{{KindHeader, "X-Card"}, {KindHeader, "Authorization"}}},
		{"header only", []TargetSpec{{Kind: KindHeader, Path: "X-Card"}},
			"", http.Header{"X-Card": {"tok_gone"}},
			"", "", http.Header{"X-Card": {"tok_gone"}},
			[]TargetRef{{KindHeader, "X-Card"}}},
	}
	values := map[string]int{"json": 3, "json all known": 0, "form urlencoded": 2, "form multipart": 1, "xml": 1, "regex": 1,
		"headers and body": 1, "header only": 1}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Compile(Reveal, tt.specs)
			if err != nil {
				t.Fatal(err)
			}
			tok := newRecordingTokenizer(false)
			for a, v := range known {
				tok.toValue[a] = v
			}
			h := tt.header
			if h == nil {
				h = http.Header{}
			}
			msg := &Message{Header: h, Body: []byte(tt.body), MediaType: tt.media, Params: map[string]string{"boundary": formBoundary},
				Unknown: []TargetRef{{"stale", "from a previous message"}}, UnknownValues: 99}
			if _, err := p.Apply(context.Background(), msg, tok); err != nil {
				t.Fatalf("Apply: %v", err)
			}
			if len(tok.reveals) != 1 || len(tok.redacts) != 0 {
				t.Fatalf("%d Reveal and %d Redact calls, want one Reveal", len(tok.reveals), len(tok.redacts))
			}
			if string(msg.Body) != tt.want {
				t.Errorf("body %q\nwant %q", msg.Body, tt.want)
			}
			for k, v := range tt.wantHdr {
				if !slices.Equal(h[k], v) {
					t.Errorf("header %s = %q, want %q", k, h[k], v)
				}
			}
			if !slices.Equal(msg.Unknown, tt.unknown) {
				t.Errorf("Unknown = %+v, want %+v", msg.Unknown, tt.unknown)
			}
			if want, ok := values[tt.name]; !ok || msg.UnknownValues != want {
				t.Errorf("UnknownValues = %d, want %d (listed: %v)", msg.UnknownValues, want, ok)
			}
		})
	}
}

func TestUnknownIsNilAfterRedactAndWithoutValues(t *testing.T) {
	p := jsonProgram(t, Redact, "pan")
	msg := &Message{Body: []byte(`{"pan":"4111111111111111"}`), Unknown: []TargetRef{{KindJSON, "stale"}}}
	if _, err := p.Apply(context.Background(), msg, newRecordingTokenizer(false)); err != nil || msg.Unknown != nil {
		t.Fatalf("redact: err %v, Unknown %+v", err, msg.Unknown)
	}
	p = jsonProgram(t, Reveal, "pan")
	msg = &Message{Body: []byte(`{"other":"tok_x"}`), Unknown: []TargetRef{{KindJSON, "stale"}}}
	tok := newRecordingTokenizer(false)
	if _, err := p.Apply(context.Background(), msg, tok); err != nil || msg.Unknown != nil || len(tok.reveals) != 0 {
		t.Fatalf("nothing located: err %v, Unknown %+v, %d calls", err, msg.Unknown, len(tok.reveals))
	}
	// A failed Apply leaves the message, Unknown included, as it was.
	stale := []TargetRef{{KindJSON, "stale"}}
	msg = &Message{Body: []byte(`{"pan":"tok_x"`), Unknown: stale}
	if _, err := p.Apply(context.Background(), msg, tok); err == nil || !slices.Equal(msg.Unknown, stale) {
		t.Fatalf("malformed: err %v, Unknown %+v", err, msg.Unknown)
	}
}

// emptyRedactor answers "" for every value it is asked to redact.
type emptyRedactor struct{ Tokenizer }

func (emptyRedactor) Redact(_ context.Context, items []RedactItem) ([]string, error) {
	return make([]string, len(items)), nil
}

// TestEmptyAliasFailsClosed: a Tokenizer that answers "" for a value
// would leave it in clear; Apply refuses instead.
func TestEmptyAliasFailsClosed(t *testing.T) {
	p, err := Compile(Redact, []TargetSpec{{Kind: KindJSON, Path: "card.number"}})
	if err != nil {
		t.Fatal(err)
	}
	msg := &Message{Body: []byte(`{"card":{"number":"4111111111111111"}}`), MediaType: "application/json"}
	if _, err := p.Apply(context.Background(), msg, emptyRedactor{}); !errors.Is(err, ErrTokenizer) {
		t.Fatalf("Apply: %v, want ErrTokenizer", err)
	}
}
