package rewrite

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

// payTok resolves one card reference.
type payTok struct {
	ref  string
	pay  Payment
	seen []string
}

func (t *payTok) Redact(context.Context, []RedactItem) ([]string, error) {
	return nil, errors.New("no")
}
func (t *payTok) Reveal(context.Context, []string) ([]string, error) { return nil, errors.New("no") }
func (t *payTok) Payment(_ context.Context, ref string) (Payment, error) {
	t.seen = append(t.seen, ref)
	if ref != t.ref {
		return nil, errors.New("unknown card")
	}
	return t.pay, nil
}

type plainTok struct{}

func (plainTok) Redact(context.Context, []RedactItem) ([]string, error) { return nil, nil }
func (plainTok) Reveal(context.Context, []string) ([]string, error)     { return nil, nil }

func paymentProgram(t *testing.T, kind Kind, paths map[string]string) *Program {
	t.Helper()
	var specs []TargetSpec
	for _, role := range Roles {
		if p, ok := paths[role]; ok {
			specs = append(specs, TargetSpec{Kind: kind, Path: p, Role: role})
		}
	}
	p, err := Compile(NetworkToken, specs)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestNetworkTokenProgram: the card reference is resolved once and each
// role's value is written into its field, placeholders and JSON numbers
// included; "" empties a field; JSON and form bodies.
func TestNetworkTokenProgram(t *testing.T) {
	tok := &payTok{ref: "tok_sandbox_abc", pay: Payment{RoleCard: "4895370000000007", RoleExpMonth: "04",
		RoleExpYear: "2030", RoleCryptogram: "AbCd+/==", RoleECI: "07", RoleCVC: ""}}
	p := paymentProgram(t, KindJSON, map[string]string{RoleCard: "card.number", RoleExpMonth: "card.exp_month",
		RoleExpYear: "card.exp_year", RoleCryptogram: "card.cryptogram", RoleECI: "card.eci", RoleCVC: "card.cvc"})
	msg := &Message{MediaType: "application/json", Body: []byte(
		`{"amount":100,"card":{"number":"tok_sandbox_abc","exp_month":0,"exp_year":"","cryptogram":"","eci":"","cvc":"tok_sandbox_cvc"}}`)}
	changes, err := p.Apply(context.Background(), msg, tok)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"amount":100,"card":{"number":"4895370000000007","exp_month":4,"exp_year":"2030","cryptogram":"AbCd+/==","eci":"07","cvc":""}}`
	if string(msg.Body) != want || len(changes) != 6 || len(tok.seen) != 1 {
		t.Fatalf("body %s\nchanges %v, resolver calls %v", msg.Body, changes, tok.seen)
	}

	form := paymentProgram(t, KindForm, map[string]string{RoleCard: "card[number]", RoleECI: "eci"})
	fm := &Message{MediaType: "application/x-www-form-urlencoded", Body: []byte("amount=1&card%5Bnumber%5D=tok_sandbox_abc&eci=-")} // an empty form value is not located: a placeholder
	if _, err := form.Apply(context.Background(), fm, tok); err != nil || string(fm.Body) != "amount=1&card%5Bnumber%5D=4895370000000007&eci=07" {
		t.Fatalf("form: %v %s", err, fm.Body)
	}

	for _, tc := range []struct {
		name string
		body string
		tok  Tokenizer
		want error
	}{
		{"unknown card", `{"card":{"number":"tok_other"}}`, tok, ErrTokenizer},
		{"empty reference", `{"card":{"number":""}}`, tok, ErrCardReference},
		{"no resolver", `{"card":{"number":"tok_sandbox_abc"}}`, plainTok{}, ErrNoResolver},
		{"malformed", `{"card":{"number":"tok_sandbox_abc"`, tok, ErrMalformed},
	} {
		m := &Message{MediaType: "application/json", Body: []byte(tc.body)}
		if _, err := p.Apply(context.Background(), m, tc.tok); !errors.Is(err, tc.want) || string(m.Body) != tc.body {
			t.Errorf("%s: %v (body %s), want %v and the body unchanged", tc.name, err, m.Body, tc.want)
		}
	}
	// No card target in the message: left as it is, no resolver call.
	m := &Message{MediaType: "application/json", Body: []byte(`{"other":1}`)}
	if ch, err := p.Apply(context.Background(), m, plainTok{}); err != nil || ch != nil || string(m.Body) != `{"other":1}` {
		t.Errorf("no card target: %v %v %s", ch, err, m.Body)
	}
}

func TestNetworkTokenCompileChecksRoles(t *testing.T) {
	for _, tc := range []struct {
		name  string
		specs []TargetSpec
		want  string
	}{
		{"no card", []TargetSpec{{Kind: KindJSON, Path: "a", Role: RoleECI}}, "role card"},
		{"no role", []TargetSpec{{Kind: KindJSON, Path: "a", Role: RoleCard}, {Kind: KindJSON, Path: "b"}}, "needs a role"},
		{"bad role", []TargetSpec{{Kind: KindJSON, Path: "a", Role: "pan"}}, "want one of"},
		{"twice", []TargetSpec{{Kind: KindJSON, Path: "a", Role: RoleCard}, {Kind: KindJSON, Path: "b", Role: RoleCard}}, "twice"},
		{"header", []TargetSpec{{Kind: KindHeader, Path: "X-Card", Role: RoleCard}}, "not headers"},
	} {
		if _, err := Compile(NetworkToken, tc.specs); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
	}
}

// FuzzNetworkTokenJSON: a NetworkToken Program never panics; it leaves a
// body it refuses unchanged, and a valid JSON body stays valid JSON with no
// trace of the card reference in the card field.
func FuzzNetworkTokenJSON(f *testing.F) {
	for _, s := range []string{
		`{"card":{"number":"tok_a","exp_month":0,"eci":"","cvc":"x"}}`,
		`{"card":{"number":"tok_a","number":"tok_b"}}`,
		`{"card":{"number":4111}}`, `[{"card":{"number":"tok_a"}}]`, `{"card":{"number":"tok_\u0061"}}`,
	} {
		f.Add([]byte(s))
	}
	p, err := Compile(NetworkToken, []TargetSpec{{Kind: KindJSON, Path: "card.number", Role: RoleCard},
		{Kind: KindJSON, Path: "card.exp_month", Role: RoleExpMonth}, {Kind: KindJSON, Path: "card.eci", Role: RoleECI},
		{Kind: KindJSON, Path: "card.cvc", Role: RoleCVC}})
	if err != nil {
		f.Fatal(err)
	}
	tok := &payTok{ref: "tok_a", pay: Payment{RoleCard: "4895370000000007", RoleExpMonth: "04", RoleECI: "07"}}
	f.Fuzz(func(t *testing.T, body []byte) {
		in := string(body)
		m := &Message{MediaType: "application/json", Body: []byte(in)}
		_, err := p.Apply(context.Background(), m, tok)
		if err != nil {
			if string(m.Body) != in {
				t.Fatalf("refused body changed: %q → %q", in, m.Body)
			}
			return
		}
		if json.Valid([]byte(in)) && !json.Valid(m.Body) {
			t.Fatalf("valid JSON became invalid: %q → %q", in, m.Body)
		}
	})
}
