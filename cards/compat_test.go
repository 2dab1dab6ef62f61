package cards

import (
	"encoding/json"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/aliasgate/aliasgate/cards/tsp"
	"github.com/aliasgate/aliasgate/internal/obs/obstest"
)

// TestSpecPatchExampleIsReproducible: the cards page's PATCH example — a
// card that expired in 5/24 updated with cvc 123, exp_month 4, exp_year 28
// — gives the page's answer: the card with the new expiry, and one
// card_updates record whose changed_fields and updated_values are the
// page's, value for value.
func TestSpecPatchExampleIsReproducible(t *testing.T) {
	e := setup(t)
	id, cr := e.create(`"pan":"4111111111111111","cvc":"123","exp_month":5,"exp_year":24`, pci)
	if a := attrsOf(t, cr.doc); a["expired"] != true || a["exp_year"] != 24.0 {
		t.Fatalf("an expired card is created and flagged: %v", a)
	}
	spec := loadSpec(t, "patch")
	req := `{"data":{"attributes":{"cvc":"123","exp_month":4,"exp_year":28}}}` // the page's request body
	r := e.do("PATCH", "/cards/"+id, req, pci)
	if r.code != 200 {
		t.Fatalf("PATCH: %d %s", r.code, r.body)
	}
	a := attrsOf(t, r.doc)
	if a["exp_month"] != 4.0 || a["exp_year"] != 28.0 || a["pan"] != "4111111111111111" || a["cvc"] != "123" {
		t.Errorf("card after the PATCH: %v", a)
	}
	if _, ok := a["expired"]; ok {
		t.Errorf("a card valid until 4/28 is flagged expired: %v", a)
	}
	inc := r.doc["included"].([]any)
	want := spec["included"].([]any)[0].(map[string]any)["attributes"].(map[string]any)
	got := inc[0].(map[string]any)["attributes"].(map[string]any)
	for _, k := range []string{"changed_fields", "updated_values", "event"} {
		if !reflect.DeepEqual(got[k], want[k]) {
			t.Errorf("card_updates %s = %v, the page has %v", k, got[k], want[k])
		}
	}
	sameShape(t, "patch", spec, r.doc, nil, nil)
}

// TestExpiredCardsAreFlagged: "expired" appears once the expiry month has
// ended (UTC) and not before, on GET and in lists; filter-free lists show
// it per card.
func TestExpiredCardsAreFlagged(t *testing.T) {
	e := setup(t) // 2026-11-23
	for _, tc := range []struct {
		month, year int
		expired     bool
	}{
		{11, 26, false}, {10, 26, true}, {12, 2025, true}, {1, 2000, true}, {12, 2076, false},
	} {
		e2 := setup(t)
		id, _ := e2.create(strings.NewReplacer("M", itoa(tc.month), "Y", itoa(tc.year)).Replace(`"pan":"4111111111111111","exp_month":M,"exp_year":Y`))
		r := e2.do("GET", "/cards/"+id, "")
		if got := attrsOf(t, r.doc)["expired"] == true; got != tc.expired {
			t.Errorf("%d/%d: expired = %v, want %v", tc.month, tc.year, got, tc.expired)
		}
	}
	id, _ := e.create(`"pan":"4111111111111111","exp_month":11,"exp_year":26`)
	e.clk.Add(8 * 24 * time.Hour) // 2026-12-01
	if r := e.do("GET", "/cards/"+id, ""); attrsOf(t, r.doc)["expired"] != true {
		t.Errorf("not flagged after its month ended: %s", r.body)
	}
	if r := e.do("GET", "/cards", ""); !strings.Contains(string(r.body), `"expired":true`) {
		t.Errorf("the list does not flag it: %s", r.body)
	}
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }

// TestCardholderAndTokenTypeAreStored: the create body VGS clients send
// (cardholder object, token_type "pan") is accepted, stored and returned;
// PATCH replaces or removes the cardholder and records the change without
// its values; malformed cardholders are 422 at the member's pointer,
// never echoing a card number.
func TestCardholderAndTokenTypeAreStored(t *testing.T) {
	e := setup(t)
	holder := `{"name":"Jane Doe","address":{"address1":"1 Main St","city":"Springfield","region":"IL","postal_code":"62701","country":"US"}}`
	id, cr := e.create(`"pan":"4111111111111111","cvc":"123","exp_month":4,"exp_year":28,"token_type":"pan","cardholder":`+holder, pci)
	var want any
	json.Unmarshal([]byte(holder), &want)
	if a := attrsOf(t, cr.doc); !reflect.DeepEqual(a["cardholder"], want) || a["token_type"] != "pan" {
		t.Fatalf("create: %v", a)
	}
	if a := attrsOf(t, e.do("GET", "/cards/"+id, "").doc); !reflect.DeepEqual(a["cardholder"], want) {
		t.Fatalf("get: %v", a)
	}
	r := e.do("PATCH", "/cards/"+id, cardBody(`"cardholder":{"name":"Jane Roe"},"token_type":"pan"`))
	if a := attrsOf(t, r.doc); r.code != 200 || !reflect.DeepEqual(a["cardholder"], map[string]any{"name": "Jane Roe"}) {
		t.Fatalf("patch: %d %s", r.code, r.body)
	}
	if strings.Contains(string(r.body), "Jane Doe") || !strings.Contains(string(r.body), `"changed_fields":["cardholder"]`) {
		t.Errorf("card update of a cardholder change: %s", r.body)
	}
	r = e.do("PATCH", "/cards/"+id, cardBody(`"cardholder":null`))
	if _, ok := attrsOf(t, r.doc)["cardholder"]; r.code != 200 || ok {
		t.Errorf("cardholder null: %d %s", r.code, r.body)
	}
	for _, tc := range []badCase{
		{"token_type network", "", cardBody(`"pan":"4111111111111111","exp_month":4,"exp_year":28,"token_type":"network_token"`), 422, "/data/attributes/token_type"},
		{"cardholder string", "", cardBody(`"pan":"4111111111111111","exp_month":4,"exp_year":28,"cardholder":"Jane"`), 422, "/data/attributes/cardholder"},
		{"cardholder unknown member", "", cardBody(`"pan":"4111111111111111","exp_month":4,"exp_year":28,"cardholder":{"email":"x@y"}`), 422, "/data/attributes/cardholder/email"},
		{"cardholder PAN as name", "", cardBody(`"pan":"4242424242424242","exp_month":4,"exp_year":28,"cardholder":{"name":"4111 1111 1111 1111"}`), 422, "/data/attributes/cardholder/name"},
		{"address PAN", "", cardBody(`"pan":"4242424242424242","exp_month":4,"exp_year":28,"cardholder":{"address":{"city":"4111111111111111"}}}`), 422, "/data/attributes/cardholder/address/city"},
		{"address number", "", cardBody(`"pan":"4242424242424242","exp_month":4,"exp_year":28,"cardholder":{"address":{"postal_code":62701}}`), 422, "/data/attributes/cardholder/address/postal_code"},
		{"name too long", "", cardBody(`"pan":"4242424242424242","exp_month":4,"exp_year":28,"cardholder":{"name":"` + strings.Repeat("n", MaxCardholderLen+1) + `"}`), 422, "/data/attributes/cardholder/name"},
		{"name control", "", cardBody(`"pan":"4242424242424242","exp_month":4,"exp_year":28,"cardholder":{"name":"a\u0000b"}`), 422, "/data/attributes/cardholder/name"},
	} {
		t.Run(tc.name, func(t *testing.T) { checkBad(t, e, "POST", "/cards", tc) })
	}
}

// TestTokenTimestampsFollowTheirPage: network token timestamps have the
// network tokens page's shape, with the microseconds kept.
func TestTokenTimestampsFollowTheirPage(t *testing.T) {
	e := setup(t)
	e.clk.Add(783411 * time.Microsecond)
	id, _ := e.create(`"pan":"4111111111111111","exp_month":4,"exp_year":28`)
	r := e.do("POST", "/cards/"+id+"/network-tokens", "", ntw)
	if r.code != http.StatusOK {
		t.Fatalf("provision: %d %s", r.code, r.body)
	}
	a := attrsOf(t, r.doc)
	if a["created_at"] != "2026-11-23T12:00:00.783411" {
		t.Errorf("created_at %v", a["created_at"])
	}
	for _, name := range []string{"network_token", "cryptogram"} {
		ex := attrsOf(t, loadSpec(t, name))
		if !reTokenTime.MatchString(ex["created_at"].(string)) || !reTokenTime.MatchString(ex["updated_at"].(string)) {
			t.Errorf("the page's %s timestamps do not match the format: %v %v", name, ex["created_at"], ex["updated_at"])
		}
	}
	obstest.AssertNoPAN(t, "token", r.body)
}

// TestCryptogramsByBrandAndUse: through the API, a Mastercard card's
// cryptogram is a UCAF with ECI 06 for e-commerce and 07 on file, each
// verified by the simulator; an unknown transaction_type is 422.
func TestCryptogramsByBrandAndUse(t *testing.T) {
	e := setup(t)
	id, _ := e.create(`"pan":"5555555555554444","exp_month":4,"exp_year":30`)
	r := e.do("POST", "/cards/"+id+"/network-tokens", "", ntw, pci)
	if r.code != 200 {
		t.Fatalf("provision: %d %s", r.code, r.body)
	}
	tokenPAN := attrsOf(t, r.doc)["network_token"].(string)
	sim := e.h.tsp.(*tsp.Simulator)
	for i, tc := range []struct{ body, eci string }{
		{`{"data":{"attributes":{}}}`, "06"},
		{`{"data":{"attributes":{"transaction_type":"ecommerce"}}}`, "06"},
		{`{"data":{"attributes":{"transaction_type":"card_on_file"}}}`, "07"},
		{``, "06"},
	} {
		r := e.do("POST", "/cards/"+id+"/cryptogram", tc.body, ntw)
		if r.code != 200 {
			t.Fatalf("%s: %d %s", tc.body, r.code, r.body)
		}
		c := attrsOf(t, r.doc)["cryptogram"].(map[string]any)
		if c["type"] != "UCAF" || c["eci"] != tc.eci {
			t.Errorf("%s: cryptogram %v, want UCAF %s", tc.body, c, tc.eci)
		}
		cg := tsp.Cryptogram{ECI: c["eci"].(string), Type: c["type"].(string), Value: c["value"].(string)}
		if err := sim.Verify(tokenPAN, cg, uint64(i+1), e.clk.Now()); err != nil {
			t.Errorf("%s: verify: %v", tc.body, err)
		}
	}
	if r := e.do("POST", "/cards/"+id+"/cryptogram", `{"data":{"attributes":{"transaction_type":"moto"}}}`, ntw); r.code != 422 ||
		!strings.Contains(string(r.body), "/data/attributes/transaction_type") {
		t.Errorf("unknown transaction_type: %d %s", r.code, r.body)
	}
}
