package redacted

import (
	"context"
	"testing"
)

// TestRestorePutsBackTheValuesOfTheAliasesMadeOnly: Restore replaces the
// JSON strings that are exactly an alias of the request's redactions, and
// nothing else (an alias inside a longer string, another alias).
func TestRestorePutsBackTheValuesOfTheAliasesMadeOnly(t *testing.T) {
	v := Values{"tok_a": "4111111111111111", "tok_b": `1"23`}
	body := []byte(`{"pan_alias":"tok_a","cvc_alias":"tok_b","meta":{"x":"tok_ab","y":"tok_c"}}`)
	got := string(v.Restore(body))
	want := `{"pan_alias":"4111111111111111","cvc_alias":"1\"23","meta":{"x":"tok_ab","y":"tok_c"}}`
	if got != want {
		t.Fatalf("Restore = %s, want %s", got, want)
	}
	if string(body) != `{"pan_alias":"tok_a","cvc_alias":"tok_b","meta":{"x":"tok_ab","y":"tok_c"}}` {
		t.Fatalf("Restore changed its argument: %s", body)
	}
	var none Values
	if string(none.Restore(body)) != string(body) {
		t.Fatal("Restore of no values changed the body")
	}
	ctx := With(context.Background(), v)
	if From(ctx)["tok_a"] != "4111111111111111" || From(context.Background()) != nil || With(context.Background(), nil) != context.Background() {
		t.Fatal("With/From")
	}
}
