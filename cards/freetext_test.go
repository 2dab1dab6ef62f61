package cards

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/aliasgate/aliasgate/internal/pan"
)

// TestMetaRefusesCardNumbersInEverySpelling: meta keys and values holding
// a card number in any spelling pan.Find knows are refused (issue 17:
// stored free text refuses card data), on create and on update, without
// repeating it (checkBad).
func TestMetaRefusesCardNumbersInEverySpelling(t *testing.T) {
	spellings := map[string]string{
		"grouped":         "card 4111 1111 1111 1111",
		"dashed":          "4111-1111-1111-1111",
		"dotted":          "4111.1111.1111.1111",
		"no-break":        "4111\u00a01111\u202f1111\u00a01111",
		"full-width":      "４１１１１１１１１１１１１１１１",
		"json escapes":    `\u0034\u0031\u0031\u0031111111111111`,
		"percent":         "%34%31%31%31+1111%201111-1111",
		"html escapes":    "&#52;&#x31;&#49;1&nbsp;1111 1111 1111",
		"escaped in JSON": "\u0034\u0031\u0031\u0031 1111 1111 1111", // after decoding by the API
	}
	e := setup(t)
	id, _ := e.create(`"pan":"4242424242424242","exp_month":5,"exp_year":2030,"meta":{"crm":"C-42 order 2026-11"}`)
	q := func(s string) string { b, _ := json.Marshal(s); return string(b) }
	const exp = `,"exp_month":5,"exp_year":2030`
	for name, sp := range spellings {
		t.Run(name, func(t *testing.T) {
			checkBad(t, e, "POST", "/cards", badCase{name: name + " value",
				body: cardBody(`"pan":"5555555555554444","meta":{"k":` + q(sp) + `}` + exp),
				code: http.StatusUnprocessableEntity, pointer: "/data/attributes/meta/k"})
			if len(sp) <= MaxMetaKeyLen {
				checkBad(t, e, "POST", "/cards", badCase{name: name + " key",
					body: cardBody(`"pan":"5555555555554444","meta":{` + q(sp) + `:"v"}` + exp),
					code: http.StatusUnprocessableEntity, pointer: "/data/attributes/meta"})
			}
			checkBad(t, e, "PATCH", "/cards/"+id, badCase{name: name + " update",
				body: `{"data":{"type":"cards","id":"` + id + `","attributes":{"meta":{"k":` + q(sp) + `}}}}`,
				code: http.StatusUnprocessableEntity, pointer: "/data/attributes/meta/k"})
		})
	}
	if len(e.store.cards) != 1 {
		t.Errorf("%d cards stored, want 1", len(e.store.cards))
	}
}

// TestNamesGroupedByUnderscoresAreNotEchoed: an attribute, member, meta
// key or query parameter name holding a card number whose digit groups are
// joined by '_' (as names group digits: pan.ContainsLooseString) is not
// repeated in the error's pointer or parameter. GET
// /cards?4111_1111_1111_1111=1 answered it in source.parameter before.
func TestNamesGroupedByUnderscoresAreNotEchoed(t *testing.T) {
	const name = "4111_1111_1111_1111"
	e := setup(t)
	id, _ := e.create(`"pan":"4242424242424242","exp_month":5,"exp_year":2030`)
	const exp = `,"exp_month":5,"exp_year":2030`
	for _, c := range []struct{ method, path, body string }{
		{"GET", "/cards?" + name + "=1", ""},
		{"GET", "/cards/" + id + "?" + name + "=1", ""},
		{"POST", "/cards", cardBody(`"pan":"5555555555554444","` + name + `":1` + exp)},
		{"POST", "/cards", cardBody(`"pan":"5555555555554444","cardholder":{"` + name + `":"x"}` + exp)},
		{"PATCH", "/cards/" + id, `{"data":{"type":"cards","id":"` + id + `","attributes":{"` + name + `":1}}}`},
	} {
		r := e.do(c.method, c.path, c.body)
		if r.code < 400 || strings.Contains(string(r.body), "4111_1111") || strings.Contains(string(r.body), "1111_1111") {
			t.Errorf("%s %s: %d %s", c.method, c.path, r.code, pan.MaskLoose(string(r.body)))
		}
	}
}

// TestFreeTextRefusesCardNumbersAReaderSees: meta keys and values and
// cardholder members are stored in clear and shown in every card answer
// (non-PCI clients and GET /cards included), so they follow the rule of
// stored shown text that API client names and alias classifiers follow
// (pan.ContainsShownString): a card number a reader sees there is refused
// whatever its digits' script and its groups' separators, on create and
// on update. Before, "٤١١١١١١١١١١١١١١١" (Arabic-Indic digits, which
// Python's int() and Java's Long.parseLong read as 4111111111111111),
// 4111_1111_1111_1111, 4111/1111/… and groups apart by two spaces were
// stored and shown as sent.
func TestFreeTextRefusesCardNumbersAReaderSees(t *testing.T) {
	spellings := map[string]string{
		"arabic-indic":          "٤١١١١١١١١١١١١١١١",
		"extended arabic-indic": "۴۱۱۱ ۱۱۱۱ ۱۱۱۱ ۱۱۱۱",
		"devanagari":            "४१११-११११-११११-११११",
		"mathematical bold":     "𝟒𝟏𝟏𝟏𝟏𝟏𝟏𝟏𝟏𝟏𝟏𝟏𝟏𝟏𝟏𝟏",
		"mixed scripts":         "4111 ١١١١ 1111 1111",
		"underscores":           "4111_1111_1111_1111",
		"slashes":               "4111/1111/1111/1111",
		"two spaces":            "4111  1111  1111  1111",
	}
	e := setup(t)
	id, _ := e.create(`"pan":"4242424242424242","exp_month":5,"exp_year":2030,"meta":{"crm":"C-42 order 2026-11"}`)
	q := func(s string) string { b, _ := json.Marshal(s); return string(b) }
	const exp = `,"exp_month":5,"exp_year":2030`
	patch := func(attrs string) string {
		return `{"data":{"type":"cards","id":"` + id + `","attributes":{` + attrs + `}}}`
	}
	for name, sp := range spellings {
		t.Run(name, func(t *testing.T) {
			for _, c := range []struct{ attrs, pointer string }{
				{`"meta":{"k":` + q(sp) + `}`, "/data/attributes/meta/k"},
				{`"cardholder":{"name":` + q(sp) + `}`, "/data/attributes/cardholder/name"},
				{`"cardholder":{"address":{"address1":` + q("Flat "+sp) + `}}`, "/data/attributes/cardholder/address/address1"},
			} {
				checkBad(t, e, "POST", "/cards", badCase{name: name + " " + c.pointer,
					body: cardBody(`"pan":"5555555555554444",` + c.attrs + exp), code: http.StatusUnprocessableEntity, pointer: c.pointer})
				checkBad(t, e, "PATCH", "/cards/"+id, badCase{name: name + " update " + c.pointer,
					body: patch(c.attrs), code: http.StatusUnprocessableEntity, pointer: c.pointer})
			}
			if len(sp) <= MaxMetaKeyLen {
				checkBad(t, e, "POST", "/cards", badCase{name: name + " key",
					body: cardBody(`"pan":"5555555555554444","meta":{` + q(sp) + `:"v"}` + exp),
					code: http.StatusUnprocessableEntity, pointer: "/data/attributes/meta"})
			}
		})
	}
	if len(e.store.cards) != 1 {
		t.Errorf("%d cards stored, want 1", len(e.store.cards))
	}
	r := e.do("GET", "/cards/"+id, "")
	if a := attrsOf(t, r.doc); a["cardholder"] != nil || len(a["meta"].(map[string]any)) != 1 {
		t.Errorf("the card was changed: %s", r.body)
	}
}

// TestFreeTextTakesDatesAndTimes: a card's meta and cardholder refused
// about one timestamp in ten ("2026-12-07 10:15:30": read through its
// colons, the 14 digits 20261207101530 pass the Luhn check) with 422
// invalid_meta, once they followed the names' rule. A ':' ends a number
// there (pan.ContainsShownValue); every such timestamp of a month is
// stored and shown as sent.
func TestFreeTextTakesDatesAndTimes(t *testing.T) {
	e := setup(t)
	id, _ := e.create(`"pan":"4242424242424242","exp_month":5,"exp_year":2030`)
	n := 0
	for day := 1; day <= 28; day++ {
		for minute := 0; minute < 60; minute += 7 {
			ts := fmt.Sprintf("2026-12-%02d %02d:%02d:30", day, minute%24, minute)
			if !pan.ContainsShownString(ts) {
				continue // only the ones the names' rule refuses
			}
			n++
			body := `{"data":{"type":"cards","id":"` + id + `","attributes":{"meta":{"synced_at":"` + ts +
				`"},"cardholder":{"address":{"address2":"delivered ` + ts + `"}}}}}`
			r := e.do("PATCH", "/cards/"+id, body)
			if r.code != http.StatusOK {
				t.Fatalf("meta and cardholder holding %q: %d %s", ts, r.code, r.body)
			}
			if a := attrsOf(t, r.doc); a["meta"].(map[string]any)["synced_at"] != ts {
				t.Fatalf("meta after the update: %v", a["meta"])
			}
		}
	}
	if n == 0 {
		t.Fatal("no timestamp of the month is read as a card number through its colons: the test tests nothing")
	}
}
