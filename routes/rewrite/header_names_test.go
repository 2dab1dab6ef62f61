package rewrite

import (
	"context"
	"errors"
	"net/http"
	"testing"
)

// TestHeaderNamesAsCGIServersReadThem: a redact Program refuses a header
// that CGI-style servers (PHP, WSGI, Rack) read as a targeted one under
// another name, when it holds a value the target reads, and leaves other
// names alone; a reveal Program does not look.
func TestHeaderNamesAsCGIServersReadThem(t *testing.T) {
	p, err := Compile(Redact, []TargetSpec{{Kind: KindHeader, Path: "x-card-number"},
		{Kind: KindHeader, Path: "X-Pay-Auth", HeaderPattern: `^Card (\d+)$`}})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name, value string
		refused     bool
	}{
		{"X_Card_Number", "4111111111111111", true},
		{"x_card_number", "4111111111111111", true},
		{"X-Card_number", "4111111111111111", true},
		{"X_card-Number", "4111111111111111", true},
		{"X-Card.Number", "4111111111111111", true},
		{"x.card.number", "4111111111111111", true},
		{"X.Card_Number", "4111111111111111", true},
		{"X_Card_Number", "", false},
		{"X_Pay_Auth", "Card 4111111111111111", true},
		{"X_Pay_Auth", "Bearer abc", false},
		{"X_Card_Numbers", "4111111111111111", false},
		{"X__Card_Number", "4111111111111111", false},
		{"X_Request_Id", "4111111111111111", false},
		{"X-Request.Id", "4111111111111111", false},
		{"X-Card-Number.", "4111111111111111", false},
	} {
		h := http.Header{c.name: {c.value}, "X-Card-Number": {"4111111111111111"}}
		_, err := p.Apply(context.Background(), &Message{Header: h}, newRecordingTokenizer(true))
		if got := errors.Is(err, ErrDuplicateKey); got != c.refused || !c.refused && err != nil {
			t.Errorf("%s: %q: err %v, want refused %v", c.name, c.value, err, c.refused)
		}
		if !c.refused && h.Get("X-Card-Number") == "4111111111111111" {
			t.Errorf("%s: the targeted header was not redacted", c.name)
		}
		if p.LocatesHeader(http.Header{c.name: {c.value}}, nil) != c.refused {
			t.Errorf("%s: %q: LocatesHeader %v, want %v", c.name, c.value, !c.refused, c.refused)
		}
	}
	r, err := Compile(Reveal, []TargetSpec{{Kind: KindHeader, Path: "X-Card-Number"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Apply(context.Background(), &Message{Header: http.Header{"X_card_number": {"x"}}}, newRecordingTokenizer(true)); err != nil {
		t.Errorf("reveal: %v", err)
	}
}
