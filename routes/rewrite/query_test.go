package rewrite

import (
	"errors"
	"net/http"
	"slices"
	"testing"
)

// TestNestedName: a query field name splits into the keys Rack and PHP
// nest its value under, folded as the locators fold keys.
func TestNestedName(t *testing.T) {
	for name, want := range map[string][]string{
		"card":                {"CARD"},
		"card[number]":        {"CARD", "NUMBER"},
		"Card[Number][]":      {"CARD", "NUMBER", ""},
		"cards[][pan]":        {"CARDS", "", "PAN"},
		"cards[0][pan]x":      {"CARDS", "0", "PAN"},
		"card.x[number]":      {"CARD_X", "NUMBER"},
		"card[number":         {"CARD_NUMBER"},
		"[card][number]":      {"CARD", "NUMBER"},
		"card[number]\x00[x]": {"CARD", "NUMBER"},
		"card[a]b[c]":         {"CARD", "A"},
	} {
		if got := nestedName(name); !slices.Equal(got, want) {
			t.Errorf("nestedName(%q) = %q, want %q", name, got, want)
		}
	}
}

// TestCheckQueryJSONTargets: a query field that nests to a JSON target's
// value, or under it, is ErrQueryField; others are nil.
func TestCheckQueryJSONTargets(t *testing.T) {
	p, err := Compile(Redact, []TargetSpec{{Kind: KindJSON, Path: "card.number"}, {Kind: KindJSON, Path: "cards.#.pan"},
		{Kind: KindJSON, Path: "items.0.cvc"}, {Kind: KindJSON, Path: `card_holder\.pan`}, {Kind: KindJSON, Path: "#.cvv"}})
	if err != nil {
		t.Fatal(err)
	}
	if !p.ReadsQuery() {
		t.Fatal("ReadsQuery: false")
	}
	for q, refused := range map[string]bool{
		"card[number]=1":             true,
		"card%5BNUMBER%5D=1":         true,
		"card[number][x]=1":          true,
		"a=1;card[number]=1":         true,
		"cards[][pan]=1":             true,
		"cards[12][pan]=1":           true,
		"items[][cvc]=1":             true,
		"items[0][cvc]=1":            true,
		"card.holder.pan=1":          true, // PHP: card_holder.pan is card_holder_pan, the key card_holder.pan folded alike
		"card[number]=":              false,
		"card=1":                     false,
		"card[holder]=1":             false,
		"cards[x][pan]=1":            true, // PHP: an array whose element "x" holds pan; a foreach reads it
		"cards[%20][PAN]=1":          true,
		"_json[][cvv]=1":             true, // Rails: a top-level array body is params[:_json]
		"_JSON[0][cvv][]=1":          true,
		"_json[x][cvv]=1":            true,
		"0[cvv]=1":                   true,
		"_json[][pan]=1":             false,
		"_json=1":                    false,
		"x[cvv]=1":                   false,
		"_json[number]=1":            false,
		"cards[x][name]=1":           false,
		"checkout[card][number]=1":   true, // Rails' wrap_parameters: params[:checkout][:card][:number]
		"order[Items][0][CVC][]=1":   true,
		"checkout[card]=1":           false,
		"filter[card][brand]=1":      false,
		"a[b][card][number]=1":       false,
		"items[1][cvc]=1":            false,
		"number=1&card[number]":      false,
		"cardnumber=1&x[card]=1":     false,
		"card_number=4111&cvc=12345": false,
	} {
		err := p.CheckQuery(q)
		if refused != errors.Is(err, ErrQueryField) || !refused && err != nil {
			t.Errorf("CheckQuery(%q) = %v, want refused %v", q, err, refused)
		}
	}
}

// FuzzCheckQuery: CheckQuery reads any query, and CheckCookies any Cookie
// field, without panicking, and one with a targeted field appended is
// refused whatever precedes it.
func FuzzCheckQuery(f *testing.F) {
	for _, s := range []string{"", "a=1", "card[number]=1", "%", "a=1;b", "card[", "[]=&=", "card%00[number]=1"} {
		f.Add(s)
	}
	js, err := Compile(Redact, []TargetSpec{{Kind: KindJSON, Path: "card.number"}, {Kind: KindJSON, Path: "cards.#.pan"}})
	if err != nil {
		f.Fatal(err)
	}
	form, err := Compile(Redact, []TargetSpec{{Kind: KindForm, Path: "card[number]"}})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, q string) {
		for _, p := range []*Program{js, form} {
			_ = p.CheckQuery(q)
			if err := p.CheckQuery(q + "&card[number]=1"); err == nil {
				t.Errorf("CheckQuery(%q + a targeted field) = nil", q)
			}
		}
		_ = form.CheckCookies(http.Header{"Cookie": {q}})
		if err := form.CheckCookies(http.Header{"Cookie": {q + "; card[number]=1"}}); err == nil {
			t.Errorf("CheckCookies(%q + a targeted cookie) = nil", q)
		}
	})
}
