package rewrite

import (
	"bytes"
	"context"
	"errors"
	"testing"
)

// TestInvalidUTF8 feeds targeted values holding invalid UTF-8 to every body
// kind. Each either refuses the body as malformed (and leaves it alone) or
// replaces the whole value, invalid bytes included, by its alias: never a
// part of it, so no digit of the card number is left behind.
func TestInvalidUTF8(t *testing.T) {
	const card = "4111111111111111"
	multipart := "--" + formBoundary + "\r\nContent-Disposition: form-data; name=card\r\n\r\n" + card + "\xff\xfe\r\n--" + formBoundary + "--\r\n"
	tests := []struct {
		name      string
		p         *Program
		media     string
		body      string
		malformed bool // the kind refuses it
	}{
		{"json string", jsonProgram(t, Redact, "card"), "application/json", "{\"card\":\"" + card + "\xff\"}", false},
		{"json string, overlong encoding", jsonProgram(t, Redact, "card"), "application/json", "{\"card\":\"\xc0\xaf" + card + "\"}", false},
		{"json key", jsonProgram(t, Redact, "card"), "application/json", "{\"car\xffd\":\"x\",\"card\":\"" + card + "\"}", false},
		{"form value", formProgram(t, Redact, "card"), formURLEncoded, "card=" + card + "%FF%FE&x=\xff", false},
		{"multipart part", formProgram(t, Redact, "card"), formMultipart, multipart, false},
		{"xml text", xmlProgram(t, Redact, "/p/card"), "application/xml", "<p><card>" + card + "\xff</card></p>", true},
		{"regex", regexProgram(t, Redact, `[0-9]{13,19}`), "text/plain", "\xff\xfe" + card + "\xff", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok := newRecordingTokenizer(true)
			msg := &Message{Body: []byte(tt.body), MediaType: tt.media, Params: map[string]string{"boundary": formBoundary}}
			_, err := tt.p.Apply(context.Background(), msg, tok)
			if tt.malformed {
				if !errors.Is(err, ErrMalformed) || string(msg.Body) != tt.body {
					t.Fatalf("err = %v, body changed %v; want ErrMalformed and no change", err, string(msg.Body) != tt.body)
				}
				return
			}
			if err != nil {
				t.Fatalf("apply: %v", err)
			}
			if bytes.Contains(msg.Body, []byte(card[:6])) && bytes.Contains(msg.Body, []byte(card[12:])) {
				t.Fatalf("card digits left in %q", msg.Body)
			}
			if len(tok.redacts) != 1 || len(tok.redacts[0]) == 0 {
				t.Fatalf("tokenizer calls %v", tok.redacts)
			}
		})
	}
}

func xmlProgram(t testing.TB, op Operation, paths ...string) *Program {
	t.Helper()
	specs := make([]TargetSpec, len(paths))
	for i, p := range paths {
		specs[i] = TargetSpec{Kind: KindXML, Path: p}
	}
	p, err := Compile(op, specs)
	if err != nil {
		t.Fatal(err)
	}
	return p
}
