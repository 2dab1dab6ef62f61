package obs_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/aliasgate/aliasgate/internal/obs"
	"github.com/aliasgate/aliasgate/internal/pan"
)

// rawJSON is a JSON handler that scrubs nothing: what it writes is exactly
// what the redacting handler let through. It writes no time: the digits of
// a timestamp ("…14:44:26.673732904Z") held the test CVC 737 now and then,
// which TestRedactingHandlerHidesSensitiveKeysAndRuns took for a leak.
func rawJSON(buf *bytes.Buffer) *slog.Logger {
	return slog.New(obs.NewRedactingHandler(slog.NewJSONHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug,
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if len(groups) == 0 && a.Key == slog.TimeKey {
				return slog.Attr{}
			}
			return a
		}})))
}

func TestRedactingHandlerHidesSensitiveKeysAndRuns(t *testing.T) {
	var buf bytes.Buffer
	l := rawJSON(&buf)
	l.With("Authorization", "Bearer abc.def.ghi", slog.Group("card", "number", testPAN)).
		WithGroup("req "+testPAN).
		Info("charging "+testPAN,
			"pan", testPAN,
			"CVC", "737",
			"Proxy-Authorization", "Basic dXNlcjpwYXNz",
			"value", []byte(testPAN),
			"secret", errors.New("s3cret"),
			slog.Group("outer", slog.Group("inner", "client_secret", "hunter2", "note", "card "+testPAN)),
			"n", int64(4111111111111111),
			"err", fmt.Errorf("wrapped: %s", testPAN),
			"sensitive", obs.Sensitive(testPAN),
			"host", obs.Untrusted(testPAN+".example.com"),
			"route", "checkout",
		)
	out := buf.String()
	if pan.Contains(buf.Bytes()) {
		t.Fatalf("output holds a card-like run: %s", pan.Mask(out))
	}
	for _, secret := range []string{"737", "abc.def.ghi", "dXNlcjpwYXNz", "s3cret", "hunter2"} {
		if strings.Contains(out, secret) {
			t.Errorf("output holds %q:\n%s", secret, out)
		}
	}
	var m map[string]any
	if err := json.Unmarshal(buf.Bytes(), &m); err != nil {
		t.Fatalf("not one JSON line: %v\n%s", err, out)
	}
	if m["Authorization"] != obs.Redacted || m["card"].(map[string]any)["number"] != obs.Redacted {
		t.Errorf("attributes given to With are not redacted: %s", out)
	}
	g := m["req "+testMasked].(map[string]any)
	for _, k := range []string{"pan", "CVC", "Proxy-Authorization", "value", "secret"} {
		if g[k] != obs.Redacted {
			t.Errorf("%s = %v, want %s", k, g[k], obs.Redacted)
		}
	}
	inner := g["outer"].(map[string]any)["inner"].(map[string]any)
	if inner["client_secret"] != obs.Redacted || inner["note"] != "card "+testMasked {
		t.Errorf("nested group: %v", inner)
	}
	for k, want := range map[string]any{"n": testMasked, "err": "wrapped: " + testMasked,
		"sensitive": "[redacted len=16]", "host": testMasked + ".example.com", "route": "checkout"} {
		if g[k] != want {
			t.Errorf("%s = %v, want %v", k, g[k], want)
		}
	}
	if m["msg"] != "charging "+testMasked {
		t.Errorf("msg = %v", m["msg"])
	}
}

func TestIsSensitiveKey(t *testing.T) {
	for k, want := range map[string]bool{
		"pan": true, "PAN": true, "card_number": true, "Card-Number": true, "cvc": true, "value": true,
		"client_secret": true, "Authorization": true, "proxy-authorization": true, "Cookie": true, "body": true,
		"route": false, "client_id": false, "card_id": false, "network_token_id": false, "master_key": false,
		"error": false, "host": false, "path": false, "status": false,
	} {
		if got := obs.IsSensitiveKey(k); got != want {
			t.Errorf("IsSensitiveKey(%q) = %v, want %v", k, got, want)
		}
	}
}

func TestUntrusted(t *testing.T) {
	long := strings.Repeat("a", 250) + testPAN + "tail"
	tests := []struct{ in, want string }{
		{"api.example.com", "api.example.com"},
		{"/cards/" + testPAN, "/cards/" + testMasked},
		{"a\r\nInjected: yes\x00\x7f", "a\uFFFD\uFFFDInjected: yes\uFFFD\uFFFD"},
		{"caf\xc3\xa9 \xff", "café \uFFFD"},
		// Cut at 256 bytes in the middle of the card number: its head (six
		// digits, too short to be masked on its own) is dropped, not shown.
		{long, strings.Repeat("a", 250) + "…"},
	}
	// Groups apart by two separators, or by a control character shown as
	// U+FFFD: a card number to whoever reads the log (second review).
	for _, sep := range []string{"\t", "  ", "\r\n", "-\t", "\x00", "\u200b"} {
		in := testPAN[:4] + sep + testPAN[4:8] + sep + testPAN[8:12] + sep + testPAN[12:]
		got := obs.Untrusted(in).String()
		if digits := strings.Count(strings.Map(func(r rune) rune {
			if r >= '0' && r <= '9' {
				return r
			}
			return -1
		}, got), ""); digits-1 > 10 { // first 6 and last 4 kept
			t.Errorf("Untrusted(%q) = %q keeps the card number's middle digits", in, got)
		}
	}
	for _, tt := range tests {
		got := obs.Untrusted(tt.in).String()
		if got != tt.want {
			t.Errorf("Untrusted(%q) = %q, want %q", tt.in, got, tt.want)
		}
		if v := obs.Untrusted(tt.in).LogValue().String(); v != got {
			t.Errorf("LogValue %q differs from String %q", v, got)
		}
		if pan.Contains([]byte(got)) {
			t.Errorf("Untrusted(%q) holds a card-like run", tt.in)
		}
	}
}

// strings returns every key and string value in a decoded JSON document.
func strs(v any, out []string) []string {
	switch x := v.(type) {
	case string:
		out = append(out, x)
	case map[string]any:
		for k, e := range x {
			out = strs(e, append(out, k))
		}
	case []any:
		for _, e := range x {
			out = strs(e, out)
		}
	}
	return out
}

// FuzzRedactingHandler: whatever the message, keys, group names and
// values, a raw JSON handler under the redacting one writes no string
// holding a card-like run, and never the value of a sensitive key.
func FuzzRedactingHandler(f *testing.F) {
	f.Add(testPAN, "pan", "x")
	f.Add("note", "k", "4111 1111 1111 1111 / 5555555555554444")
	f.Add("\x00"+testPAN, "Proxy-Authorization", "Basic czNjcmV0")
	f.Fuzz(func(t *testing.T, msg, key, val string) {
		var buf bytes.Buffer
		rawJSON(&buf).WithGroup(msg).With(key, val).Info(msg, key, val,
			slog.Group(key, "value", val, key, errors.New(val)), "u", obs.Untrusted(val), "n", len(val))
		var m any
		if err := json.Unmarshal(buf.Bytes(), &m); err != nil {
			t.Fatalf("not JSON: %v", err)
		}
		for _, s := range strs(m, nil) {
			if pan.Contains([]byte(s)) {
				t.Fatalf("card-like run in %q", pan.Mask(s))
			}
		}
		if !obs.IsSensitiveKey(key) || val == obs.Redacted {
			return
		}
		buf.Reset()
		rawJSON(&buf).Info("m", key, val, slog.Group("g", "secret", val, key, []byte(val)))
		m = nil
		if err := json.Unmarshal(buf.Bytes(), &m); err != nil {
			t.Fatalf("not JSON: %v", err)
		}
		for _, s := range strs(m, nil) {
			if s == val && s != "m" && s != "g" && s != "secret" && s != key && s != "INFO" && s != "level" && s != "msg" && s != "time" {
				t.Fatalf("value of sensitive key %q logged: %s", key, buf.String())
			}
		}
	})
}

func TestGroupedCardNumbersAreMasked(t *testing.T) {
	tests := []struct{ in, want string }{
		{"/cards/4111 1111 1111 1111/x", "/cards/4111 11** **** 1111/x"},
		{"/c/4111-1111-1111-1111", "/c/4111-11**-****-1111"},
		{"amex 3782-822463-10005.", "amex 3782-82****-*0005."},
		{"order 12-4111 1111 1111 1111 now", "order 12-4111 11** **** 1111 now"},
		{"2026-11-23 12:00", "2026-11-23 12:00"},
		{"4111 1111 1111 1112", "4111 1111 1111 1112"}, // not Luhn-valid
		{"1 2 3", "1 2 3"},
	}
	for _, tt := range tests {
		if got := obs.Untrusted(tt.in).String(); got != tt.want {
			t.Errorf("Untrusted(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	if got := obs.MaskPath("/pay/4111-1111-1111-1111"); got != "/pay/4111-11**-****-1111" {
		t.Errorf("MaskPath = %q", got)
	}
}

// TestEverySpellingIsMasked: the scrubber, Untrusted and MaskPath use
// pan.Find, so a card number in groups, dots, no-break spaces, full-width
// digits or escapes is masked like a plain one (issue 17).
func TestEverySpellingIsMasked(t *testing.T) {
	spellings := []string{
		"4111.1111.1111.1111",
		"4111\u00a01111\u00a01111\u00a01111",
		"4111\u202f1111\u202f1111\u202f1111",
		"４１１１１１１１１１１１１１１１",
		`\u0034\u0031\u0031\u0031\u0031\u0031\u0031\u0031\u0031\u0031\u0031\u0031\u0031\u0031\u0031\u0031`,
		"%34%31%31%31+%31%31%31%31+1111%201111",
		"&#52;&#x31;&#49;&#49; 1111 1111 1111",
	}
	for _, s := range spellings {
		if got := obs.Untrusted("x " + s + " y").String(); pan.ContainsString(got) {
			t.Errorf("Untrusted left a card number: %q", got)
		}
		if got := obs.MaskPath("/cards/" + s); pan.ContainsString(got) {
			t.Errorf("MaskPath left a card number: %q", got)
		}
		var buf bytes.Buffer
		rawJSON(&buf).Info("charging "+s, "note", s, "err", errors.New("bad card "+s))
		if pan.Contains(buf.Bytes()) {
			t.Errorf("redacting handler left a card number: %s", buf.String())
		}
		buf.Reset()
		l, err := obs.NewLogger(&buf, "info", "text")
		if err != nil {
			t.Fatal(err)
		}
		l.Info("charging "+s, "note", s)
		if pan.Contains(buf.Bytes()) {
			t.Errorf("logger left a card number: %s", buf.String())
		}
	}
	if got := obs.Untrusted("pan 4111.1111.1111.1111").String(); got != "pan 4111.11**.****.1111" {
		t.Errorf("Untrusted = %q", got)
	}
}
