package main

import (
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/aliasgate/aliasgate/internal/obs/obstest"
)

// TestCardsAndAliasesReadOnlyUTF8JSONAPIBodies: the Card Management API
// and the vault API read request bodies as UTF-8, whatever the
// Content-Type said. A body declared in another charset (UTF-7,
// UTF-16, ISO 8859-1) was accepted and read as UTF-8, i.e. as something
// other than what its sender, and any reader that honours the declaration
// (a WAF, a front end), take it to be; JSON:API media type parameters
// other than profile (an ext the server does not support, anything else)
// were ignored where JSON:API has the server answer 415; and with two
// Content-Type headers the first one counted. Each is now 415 before
// anything is read or stored; charset=utf-8 and profile are still
// accepted.
func TestCardsAndAliasesReadOnlyUTF8JSONAPIBodies(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	env := testEnv(nil)
	cred := createClient(t, env, data, "--name", "shop", "--account", "acct_1", "--pci",
		"--scopes", "cards:write,cards:read,aliases:write")
	g := startGateway(t, env, "--data-dir", data, "--enable-vault-api")
	bearer := bearerToken(t, g, cred)
	const ja = "application/vnd.api+json"

	send := func(method, path string, ctypes []string, body string) (int, []byte) {
		t.Helper()
		req, err := http.NewRequest(method, g.inbound+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header["Content-Type"] = ctypes
		bearer(req)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, b
	}
	card := func(pan string) string {
		return `{"data":{"attributes":{"pan":"` + pan + `","cvc":"987","exp_month":4,"exp_year":2030}}}`
	}
	status, body := send("POST", "/cards", []string{ja + "; charset=UTF-8"}, card("4111111111111111"))
	var doc struct{ Data struct{ ID string } }
	if status != 201 || json.Unmarshal(body, &doc) != nil {
		t.Fatalf("create with charset=UTF-8: %d %s", status, body)
	}
	id := doc.Data.ID
	if status, body = send("POST", "/cards", []string{ja + `; profile="https://example.com/profiles/x"`}, card("5555555555554444")); status != 201 {
		t.Errorf("create with a profile: %d %s", status, body)
	}

	for _, c := range []struct {
		name, method, path string
		ctypes             []string
		body               string
	}{
		{"utf-7", "POST", "/cards", []string{ja + "; charset=utf-7"}, card("4242424242424242")},
		{"utf-16 (ASCII body)", "POST", "/cards", []string{ja + "; charset=utf-16"}, card("4242424242424242")},
		{"iso-8859-1", "POST", "/cards", []string{ja + "; charset=ISO-8859-1"}, card("4242424242424242")},
		{"rfc 2231 charset", "POST", "/cards", []string{ja + "; charset*=utf-8''IBM037"}, card("4242424242424242")},
		{"unsupported extension", "POST", "/cards", []string{ja + `; ext="https://jsonapi.org/ext/atomic"`}, card("4242424242424242")},
		{"unknown parameter", "POST", "/cards", []string{ja + "; version=2"}, card("4242424242424242")},
		{"two content types", "POST", "/cards", []string{ja, "application/json; charset=utf-7"}, card("4242424242424242")},
		{"patch utf-7", "PATCH", "/cards/" + id, []string{ja + "; charset=utf-7"}, `{"data":{"attributes":{"exp_month":5}}}`},
		{"patch extension", "PATCH", "/cards/" + id, []string{ja + `; ext="https://example.com/ext"`}, `{"data":{"attributes":{"exp_month":5}}}`},
		{"vault api utf-7", "POST", "/aliases", []string{"application/json; charset=utf-7"},
			`{"data":[{"value":"6011111111111117","format":"UUID"}]}`},
	} {
		status, body := send(c.method, c.path, c.ctypes, c.body)
		if status != http.StatusUnsupportedMediaType {
			t.Errorf("%s: %d %s, want 415", c.name, status, body)
		}
		obstest.AssertNoPAN(t, c.name, body)
	}
	// Nothing was stored or changed by the refused requests.
	status, body = call(t, "GET", g.inbound+"/cards", "", "", bearer)
	if status != 200 || strings.Count(string(body), `"type":"cards"`) != 2 || strings.Contains(string(body), `"last4":"4242"`) {
		t.Errorf("cards after the refusals: %d %s", status, body)
	}
	status, body = call(t, "GET", g.inbound+"/cards/"+id, "", "", bearer)
	if status != 200 || !strings.Contains(string(body), `"exp_month":4`) {
		t.Errorf("card after the refused PATCHes: %d %s", status, body)
	}
}

// TestCryptogramRequestsOfAnotherShapeAreRefused: the cryptogram request
// may name the payment's use (transaction_type, which sets the ECI). A
// JSON body whose data or attributes was not an object, or one longer
// than the API reads (cut, then unreadable), was ignored, so the
// transaction_type in it was dropped and the cryptogram made for the
// default use: a Mastercard e-commerce cryptogram (ECI 06) for a payment
// the merchant said was card on file (07). They are refused now, before a
// counter value is used; so is a body that is no JSON, which was still
// ignored (TestCryptogramRequestsThatAreNoJSONAreRefused).
func TestCryptogramRequestsOfAnotherShapeAreRefused(t *testing.T) {
	g, bearer := shopGateway(t, "cards:write,cards:read,network-tokens:write")
	const ja = "application/vnd.api+json"
	status, body := call(t, "POST", g.inbound+"/cards", ja,
		`{"data":{"attributes":{"pan":"5555555555554444","exp_month":4,"exp_year":2030}}}`, bearer)
	var card struct{ Data struct{ ID string } }
	if status != 201 || json.Unmarshal(body, &card) != nil {
		t.Fatalf("create: %d %s", status, body)
	}
	path := g.inbound + "/cards/" + card.Data.ID + "/cryptogram"
	if status, body = call(t, "POST", g.inbound+"/cards/"+card.Data.ID+"/network-tokens", "", "", bearer); status != 200 {
		t.Fatalf("provision: %d %s", status, body)
	}
	eci := func(body []byte) string {
		var doc struct {
			Data struct {
				Attributes struct{ Cryptogram struct{ ECI string } }
			}
		}
		json.Unmarshal(body, &doc)
		return doc.Data.Attributes.Cryptogram.ECI
	}
	onFile := `{"data":{"attributes":{"transaction_type":"card_on_file"}}}`
	for _, c := range []struct {
		name, body string
		status     int
		eci        string
	}{
		{"the page's body", `{"data":{"attributes":{}}}`, 200, "06"},
		{"card on file", onFile, 200, "07"},
		{"no body", "", 200, "06"},
		{"no JSON", "card_on_file", 400, ""}, // TestCryptogramRequestsThatAreNoJSONAreRefused
		{"data an array", `{"data":[{"attributes":{"transaction_type":"card_on_file"}}]}`, 400, ""},
		{"attributes an array", `{"data":{"attributes":[{"transaction_type":"card_on_file"}]}}`, 422, ""},
		{"attributes a string", `{"data":{"attributes":"card_on_file"}}`, 422, ""},
		{"document an array", `[` + onFile + `]`, 400, ""},
		{"over the body limit", strings.Repeat(" ", 64<<10) + onFile, 413, ""},
	} {
		status, body := call(t, "POST", path, ja, c.body, bearer)
		if status != c.status || eci(body) != c.eci {
			t.Errorf("%s: %d %s, want %d (ECI %q)", c.name, status, body, c.status, c.eci)
		}
		obstest.AssertNoPAN(t, c.name, body)
	}
}

// TestAPIsRefuseTextTheyWouldReadOtherwise: encoding/json reads bytes that
// are not UTF-8, and a \u escape of half a surrogate pair, as U+FFFD
// without a word. Two different values sent to the vault API, "caf\xe9"
// (ISO 8859-1) and "caf\ud800", were stored as one and got the same alias,
// which reveals neither; a card's meta was stored as other text than sent.
// Such documents are refused now (400 invalid_utf8), nothing stored; text
// in UTF-8 and whole surrogate pairs are read as before.
func TestAPIsRefuseTextTheyWouldReadOtherwise(t *testing.T) {
	g, bearer := shopGateway(t, "cards:write,cards:read,aliases:write,aliases:reveal", "--enable-vault-api")
	alias := func(value string) (int, string) {
		t.Helper()
		status, body := call(t, "POST", g.inbound+"/aliases", "application/json",
			`{"data":[{"value":"`+value+`","format":"UUID"}]}`, bearer)
		var doc struct {
			Data []struct {
				Aliases []struct{ Alias string }
			}
		}
		if json.Unmarshal(body, &doc) == nil && len(doc.Data) == 1 && len(doc.Data[0].Aliases) == 1 {
			return status, doc.Data[0].Aliases[0].Alias
		}
		return status, string(body)
	}
	for _, v := range []string{"caf\xe9", `caf\ud800`, `caf\udc00`, `caf\ud800\u0041`} {
		if status, got := alias(v); status != 400 || !strings.Contains(got, "invalid_utf8") {
			t.Errorf("value %q: %d %s, want 400 invalid_utf8", v, status, got)
		}
	}
	// Text in UTF-8 and whole pairs are values of their own.
	s1, a1 := alias("café")
	s2, a2 := alias(`caf\u00e9 \ud83d\ude00`)
	if s1 != 201 || s2 != 201 || a1 == a2 {
		t.Errorf("UTF-8 values: %d %s, %d %s", s1, a1, s2, a2)
	}
	status, body := call(t, "POST", g.inbound+"/cards", "application/vnd.api+json",
		"{\"data\":{\"attributes\":{\"pan\":\"4111111111111111\",\"exp_month\":4,\"exp_year\":2030,\"meta\":{\"k\":\"caf\xe9\"}}}}", bearer)
	if status != 400 || !strings.Contains(string(body), "invalid_utf8") {
		t.Errorf("card with ISO 8859-1 meta: %d %s", status, body)
	}
	obstest.AssertNoPAN(t, "card refusal", body)
	if status, body = call(t, "GET", g.inbound+"/cards", "", "", bearer); status != 200 || strings.Contains(string(body), `"type":"cards"`) {
		t.Errorf("a card was stored: %d %s", status, body)
	}
}

// TestCryptogramWithoutATransactionTypeIsTheTokenTypes: a cryptogram
// request whose transaction_type is null or "" (an SDK's unset optional
// field) is made for the token type's use, as one without the member is;
// they were made for e-commerce, so a card-on-file account's Mastercard
// merchant-initiated payment got ECI 06 instead of 07. A named use still
// wins.
func TestCryptogramWithoutATransactionTypeIsTheTokenTypes(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	env := testEnv(map[string]string{"ALIASGATE_CARDS_TOKEN_TYPE": "card_on_file"})
	cred := createClient(t, env, data, "--name", "shop", "--account", "acct_1",
		"--scopes", "cards:write,cards:read,network-tokens:write")
	g := startGateway(t, env, "--data-dir", data)
	bearer := bearerToken(t, g, cred)
	const ja = "application/vnd.api+json"
	status, body := call(t, "POST", g.inbound+"/cards", ja,
		`{"data":{"attributes":{"pan":"5555555555554444","exp_month":4,"exp_year":2030}}}`, bearer)
	var card struct{ Data struct{ ID string } }
	if status != 201 || json.Unmarshal(body, &card) != nil {
		t.Fatalf("create: %d %s", status, body)
	}
	if status, body = call(t, "POST", g.inbound+"/cards/"+card.Data.ID+"/network-tokens", "", "", bearer); status != 200 {
		t.Fatalf("provision: %d %s", status, body)
	}
	for _, c := range []struct{ name, attrs, eci string }{
		{"no member", `{}`, "07"},
		{"null", `{"transaction_type":null}`, "07"},
		{"empty", `{"transaction_type":""}`, "07"},
		{"ecommerce", `{"transaction_type":"ecommerce"}`, "06"},
		{"card on file", `{"transaction_type":"card_on_file"}`, "07"},
	} {
		status, body := call(t, "POST", g.inbound+"/cards/"+card.Data.ID+"/cryptogram", ja, `{"data":{"attributes":`+c.attrs+`}}`, bearer)
		var doc struct {
			Data struct {
				Attributes struct{ Cryptogram struct{ ECI string } }
			}
		}
		if status != 200 || json.Unmarshal(body, &doc) != nil || doc.Data.Attributes.Cryptogram.ECI != c.eci {
			t.Errorf("%s: %d %s, want ECI %s", c.name, status, body, c.eci)
		}
	}
}

// TestCryptogramRequestsOfBrokenJSONAreRefused: a cryptogram request body
// that is a JSON document gone wrong — cut short, followed by more bytes
// or a second document, or led by a byte order mark — is refused (400
// malformed_json, as POST /cards answers it) instead of being ignored like
// a body that is no JSON at all: its transaction_type was dropped and the
// card-on-file payment got the e-commerce ECI (06). Such a body still
// works once whole, and a body that is no JSON is still ignored.
func TestCryptogramRequestsOfBrokenJSONAreRefused(t *testing.T) {
	g, bearer := shopGateway(t, "cards:write,cards:read,network-tokens:write")
	const ja = "application/vnd.api+json"
	status, body := call(t, "POST", g.inbound+"/cards", ja,
		`{"data":{"attributes":{"pan":"5555555555554444","exp_month":4,"exp_year":2030}}}`, bearer)
	var card struct{ Data struct{ ID string } }
	if status != 201 || json.Unmarshal(body, &card) != nil {
		t.Fatalf("create: %d %s", status, body)
	}
	if status, body = call(t, "POST", g.inbound+"/cards/"+card.Data.ID+"/network-tokens", "", "", bearer); status != 200 {
		t.Fatalf("provision: %d %s", status, body)
	}
	onFile := `{"data":{"attributes":{"transaction_type":"card_on_file"}}}`
	for _, c := range []struct{ name, body string }{
		{"cut short", onFile[:len(onFile)-1]},
		{"trailing bytes", onFile + "x"},
		{"two documents", onFile + `{}`},
		{"byte order mark", "\xef\xbb\xbf" + onFile},
		{"white space, then cut short", "\r\n " + onFile[:20]},
	} {
		status, body := call(t, "POST", g.inbound+"/cards/"+card.Data.ID+"/cryptogram", ja, c.body, bearer)
		if status != 400 || !strings.Contains(string(body), `"malformed_json"`) {
			t.Errorf("%s: %d %s, want 400 malformed_json", c.name, status, body)
		}
	}
	for _, c := range []struct{ name, body, eci string }{
		{"whole", onFile, "07"},
		{"white space around", " " + onFile + "\n", "07"},
		{"no body", "", "06"},
		{"white space only", " \r\n\t", "06"},
		{"null", "null", "06"},
	} {
		status, body := call(t, "POST", g.inbound+"/cards/"+card.Data.ID+"/cryptogram", ja, c.body, bearer)
		var doc struct {
			Data struct {
				Attributes struct{ Cryptogram struct{ ECI string } }
			}
		}
		if status != 200 || json.Unmarshal(body, &doc) != nil || doc.Data.Attributes.Cryptogram.ECI != c.eci {
			t.Errorf("%s: %d %s, want ECI %s", c.name, status, body, c.eci)
		}
	}
}

// TestCryptogramRequestsThatAreNoJSONAreRefused: a cryptogram request
// whose body is no JSON was ignored, so a transaction_type it named was
// dropped and the cryptogram made for the default use: a form
// (transaction_type=card_on_file, as curl -F or an HTML form sends it), a
// multipart form, XML, text or YAML saying card on file got a Mastercard
// e-commerce cryptogram (ECI 06) for a merchant-initiated payment (07).
// A body that is not blank must be JSON: else 400 malformed_json, as
// POST /cards answers. No body, or white space only, is the default use
// (TestCryptogramRequestsOfBrokenJSONAreRefused).
func TestCryptogramRequestsThatAreNoJSONAreRefused(t *testing.T) {
	g, bearer := shopGateway(t, "cards:write,cards:read,network-tokens:write")
	status, body := call(t, "POST", g.inbound+"/cards", "application/vnd.api+json",
		`{"data":{"attributes":{"pan":"5555555555554444","exp_month":4,"exp_year":2030}}}`, bearer)
	var card struct{ Data struct{ ID string } }
	if status != 201 || json.Unmarshal(body, &card) != nil {
		t.Fatalf("create: %d %s", status, body)
	}
	if status, body = call(t, "POST", g.inbound+"/cards/"+card.Data.ID+"/network-tokens", "", "", bearer); status != 200 {
		t.Fatalf("provision: %d %s", status, body)
	}
	for _, c := range []struct{ ctype, body string }{
		{"application/x-www-form-urlencoded", "transaction_type=card_on_file"},
		{"application/x-www-form-urlencoded", "data[attributes][transaction_type]=card_on_file"},
		{"multipart/form-data; boundary=x", "--x\r\nContent-Disposition: form-data; name=\"transaction_type\"\r\n\r\ncard_on_file\r\n--x--\r\n"},
		{"application/xml", "<data><attributes><transaction_type>card_on_file</transaction_type></attributes></data>"},
		{"text/plain", "card_on_file"},
		{"application/vnd.api+json", "card_on_file"},
		{"application/json", "data:\n  attributes:\n    transaction_type: card_on_file\n"},
		{"", "transaction_type=card_on_file"},
	} {
		status, body := call(t, "POST", g.inbound+"/cards/"+card.Data.ID+"/cryptogram", c.ctype, c.body, bearer)
		if status != 400 || !strings.Contains(string(body), `"malformed_json"`) {
			t.Errorf("%s %q: %d %s, want 400 malformed_json", c.ctype, c.body, status, body)
		}
	}
	// A JSON body is read whatever it is declared as (curl -d sends a form
	// type).
	status, body = call(t, "POST", g.inbound+"/cards/"+card.Data.ID+"/cryptogram", "application/x-www-form-urlencoded",
		`{"data":{"attributes":{"transaction_type":"card_on_file"}}}`, bearer)
	if status != 200 || !strings.Contains(string(body), `"eci":"07"`) {
		t.Errorf("a JSON body declared as a form: %d %s, want 200 with ECI 07", status, body)
	}
}

// TestCardsAPINegotiatesMediaTypesOnEveryEndpoint: JSON:API's content
// negotiation, through a real gateway, on each endpoint of the Card
// Management API. An Accept that takes the JSON:API media type only with
// a parameter the server does not support (an ext, any parameter but
// profile and a UTF-8 charset, or q=0) was answered 200 with the
// unparameterised media type: JSON:API has the server answer 406. A
// JSON:API Content-Type with such a parameter was refused (415) on POST
// and PATCH only: provisioning, the cryptogram (which reads its body),
// DELETE and GET went on, the cryptogram reading a body declared
// charset=utf-7 as UTF-8. Both are refused now on every endpoint, before
// anything is read or written; what clients send (*/*, no Accept, the
// media type with q, profile or charset=utf-8, an Accept listing another
// type beside a parameterised one) is still served.
func TestCardsAPINegotiatesMediaTypesOnEveryEndpoint(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	// More requests than the default client burst (100).
	env := testEnv(map[string]string{"ALIASGATE_LIMITS_CLIENT_RATE": "100000", "ALIASGATE_LIMITS_CLIENT_BURST": "100000"})
	cred := createClient(t, env, data, "--name", "shop", "--account", "acct_1", "--pci",
		"--scopes", "cards:write,cards:read,network-tokens:write")
	g := startGateway(t, env, "--data-dir", data)
	bearer := bearerToken(t, g, cred)
	const ja = "application/vnd.api+json"

	send := func(method, path string, hdr map[string]string, body string) (int, http.Header, []byte) {
		t.Helper()
		req, err := http.NewRequest(method, g.inbound+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		bearer(req)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, res.Header, b
	}
	cardBody := `{"data":{"attributes":{"pan":"4111111111111111","cvc":"123","exp_month":4,"exp_year":2030}}}`
	status, _, body := send("POST", "/cards", map[string]string{"Content-Type": ja}, cardBody)
	var doc struct{ Data struct{ ID string } }
	if status != 201 || json.Unmarshal(body, &doc) != nil {
		t.Fatalf("create: %d %s", status, body)
	}
	id := doc.Data.ID
	if status, _, body = send("POST", "/cards/"+id+"/network-tokens", nil, ""); status != 200 {
		t.Fatalf("provision: %d %s", status, body)
	}

	type endpoint struct{ method, path, ctype, body string }
	endpoints := []endpoint{
		{"GET", "/cards", "", ""},
		{"GET", "/cards/" + id, "", ""},
		{"POST", "/cards", ja, `{"data":{"attributes":{"pan":"5555555555554444","exp_month":4,"exp_year":2030}}}`},
		{"PATCH", "/cards/" + id, ja, `{"data":{"attributes":{"exp_month":5}}}`},
		{"POST", "/cards/" + id + "/cryptogram", ja, `{"data":{"attributes":{}}}`},
		{"POST", "/cards/" + id + "/network-tokens", "", ""},
		{"DELETE", "/cards/" + id + "/network-tokens", "", ""},
		{"DELETE", "/cards/" + id, "", ""},
	}
	refused := func(what string, status, want int, h http.Header, body []byte, code string) {
		t.Helper()
		var e struct {
			Errors []struct{ Status, Code string }
		}
		if status != want || h.Get("Content-Type") != ja || json.Unmarshal(body, &e) != nil || len(e.Errors) != 1 ||
			e.Errors[0].Status != strconv.Itoa(want) || e.Errors[0].Code != code {
			t.Errorf("%s: %d %s %s, want %d %s", what, status, h.Get("Content-Type"), body, want, code)
		}
		obstest.AssertNoPAN(t, what, body)
	}
	for _, accept := range []string{
		ja + `; ext="https://jsonapi.org/ext/atomic"`,
		ja + `; ext="https://jsonapi.org/ext/atomic", ` + ja + `; foo=bar`,
		ja + "; version=1.1",
		ja + "; charset=utf-7",
		ja + "; q=0",
		ja + "; ext",
		ja + `; ext="a"; ext="b"`, // a repeated parameter: unreadable, still a parameter
	} {
		for _, e := range endpoints {
			hdr := map[string]string{"Accept": accept}
			if e.ctype != "" {
				hdr["Content-Type"] = e.ctype
			}
			status, h, body := send(e.method, e.path, hdr, e.body)
			refused(fmt.Sprintf("%s %s Accept %q", e.method, e.path, accept), status, http.StatusNotAcceptable, h, body, "not_acceptable")
		}
	}
	for _, ctype := range []string{ja + `; ext="https://jsonapi.org/ext/atomic"`, ja + "; charset=utf-7", ja + "; version=1",
		ja + `; profile="a"; profile="b"`} {
		for _, e := range endpoints {
			status, h, body := send(e.method, e.path, map[string]string{"Content-Type": ctype}, e.body)
			code := "unsupported_media_type"
			if strings.Contains(ctype, "charset") {
				code = "unsupported_charset"
			}
			refused(fmt.Sprintf("%s %s Content-Type %q", e.method, e.path, ctype), status, http.StatusUnsupportedMediaType, h, body, code)
		}
	}
	// Nothing was done by the refused requests: one card, as made, its
	// token still active.
	status, _, body = send("GET", "/cards", nil, "")
	if status != 200 || strings.Count(string(body), `"type":"cards"`) != 1 {
		t.Errorf("cards after the refusals: %d %s", status, body)
	}
	status, _, body = send("GET", "/cards/"+id+"?include=network_tokens", nil, "")
	if status != 200 || !strings.Contains(string(body), `"exp_month":4`) || !strings.Contains(string(body), `"state":"active"`) {
		t.Errorf("card after the refusals: %d %s", status, body)
	}

	// Regression cover: what clients send is served.
	for _, accept := range []string{"", "*/*", "application/json", ja, ja + "; q=0.9", ja + `; profile="https://example.com/p"`,
		ja + "; charset=utf-8", ja + `; ext="https://jsonapi.org/ext/atomic", ` + ja, "application/json, " + ja + "; q=0.5"} {
		hdr := map[string]string{}
		if accept != "" {
			hdr["Accept"] = accept
		}
		if status, _, body := send("GET", "/cards/"+id, hdr, ""); status != 200 {
			t.Errorf("GET with Accept %q: %d %s", accept, status, body)
		}
	}
	for _, ctype := range []string{ja, ja + "; charset=utf-8", ja + `; profile="https://example.com/p"`} {
		if status, _, body := send("POST", "/cards/"+id+"/cryptogram", map[string]string{"Content-Type": ctype}, `{"data":{"attributes":{}}}`); status != 200 {
			t.Errorf("cryptogram with Content-Type %q: %d %s", ctype, status, body)
		}
	}
}

// TestAPIsRefuseBodiesInAContentCoding: the Card Management API and the
// vault API read a request body as sent, whatever its Content-Encoding: a
// body declared gzip or br was read as plain JSON and a card (or alias)
// made from it, while a reader that honours the declaration (a WAF, a
// front end) decodes it, fails, and may pass it on unread; a real gzip
// body was answered 400 malformed_json. Each is 415
// unsupported_content_encoding now (RFC 9110: a content coding the server
// does not accept), before anything is read or stored; identity is read.
func TestAPIsRefuseBodiesInAContentCoding(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	env := testEnv(nil)
	cred := createClient(t, env, data, "--name", "shop", "--account", "acct_1", "--pci",
		"--scopes", "cards:write,cards:read,network-tokens:write,aliases:write")
	g := startGateway(t, env, "--data-dir", data, "--enable-vault-api")
	bearer := bearerToken(t, g, cred)
	const ja = "application/vnd.api+json"
	send := func(method, path, ctype, enc, body string) (int, []byte) {
		t.Helper()
		req, err := http.NewRequest(method, g.inbound+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", ctype)
		if enc != "" {
			req.Header.Set("Content-Encoding", enc)
		}
		bearer(req)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, b
	}
	card := func(pan string) string {
		return `{"data":{"attributes":{"pan":"` + pan + `","exp_month":4,"exp_year":2030}}}`
	}
	status, body := send("POST", "/cards", ja, "identity", card("4111111111111111"))
	var doc struct{ Data struct{ ID string } }
	if status != 201 || json.Unmarshal(body, &doc) != nil {
		t.Fatalf("create with Content-Encoding identity: %d %s", status, body)
	}
	id := doc.Data.ID
	if status, body = send("POST", "/cards/"+id+"/network-tokens", ja, "", ""); status != 200 {
		t.Fatalf("provision: %d %s", status, body)
	}
	var gz strings.Builder
	zw := gzip.NewWriter(&gz)
	_, _ = zw.Write([]byte(card("4242424242424242")))
	_ = zw.Close()
	for _, c := range []struct{ name, method, path, ctype, enc, body string }{
		{"create declared gzip", "POST", "/cards", ja, "gzip", card("5555555555554444")},
		{"create declared br", "POST", "/cards", ja, "br", card("5555555555554444")},
		{"create declared identity, gzip", "POST", "/cards", ja, "identity, gzip", card("5555555555554444")},
		{"create in gzip", "POST", "/cards", ja, "gzip", gz.String()},
		{"update declared gzip", "PATCH", "/cards/" + id, ja, "gzip", `{"data":{"attributes":{"exp_month":5}}}`},
		{"cryptogram declared gzip", "POST", "/cards/" + id + "/cryptogram", ja, "gzip", `{"data":{"attributes":{"transaction_type":"card_on_file"}}}`},
		{"alias declared gzip", "POST", "/aliases", "application/json", "gzip",
			`{"data":[{"value":"6011111111111117","format":"UUID"}]}`},
	} {
		status, body := send(c.method, c.path, c.ctype, c.enc, c.body)
		var e struct{ Errors []struct{ Code string } }
		if status != http.StatusUnsupportedMediaType || json.Unmarshal(body, &e) != nil || len(e.Errors) != 1 ||
			e.Errors[0].Code != "unsupported_content_encoding" {
			t.Errorf("%s: %d %s, want 415 unsupported_content_encoding", c.name, status, body)
		}
		obstest.AssertNoPAN(t, c.name, body)
	}
	// Nothing was stored or changed by the refused requests.
	status, body = send("GET", "/cards", ja, "", "")
	if status != 200 || strings.Count(string(body), `"type":"cards"`) != 1 {
		t.Errorf("cards after the refusals: %d %s", status, body)
	}
	status, body = send("GET", "/cards/"+id, ja, "", "")
	if status != 200 || !strings.Contains(string(body), `"exp_month":4`) {
		t.Errorf("card after the refused update: %d %s", status, body)
	}
}

// shopGateway starts a gateway on a data dir of its own (with args) and
// returns it and the bearer token of a client "shop" of account acct_1
// holding scopes (comma-separated).
func shopGateway(t *testing.T, scopes string, args ...string) (*gatewayProc, func(*http.Request)) {
	t.Helper()
	data := filepath.Join(t.TempDir(), "data")
	env := testEnv(nil)
	cred := createClient(t, env, data, "--name", "shop", "--account", "acct_1", "--scopes", scopes)
	g := startGateway(t, env, append([]string{"--data-dir", data}, args...)...)
	return g, bearerToken(t, g, cred)
}

// TestCryptogramRequestsNamingAnotherResourceOrAttributeAreRefused: the
// cryptogram request's data.type and data.id were not read, and every
// attribute but transaction_type was ignored. A document naming another
// resource type ("cards") or another network token (one the card no longer
// has) got a cryptogram of the card's current token, where the other
// /cards documents answer 409 type_mismatch and id_mismatch (JSON:API);
// an attribute the endpoint does not know — transactionType, as a client
// library names it — was dropped, and the card-on-file payment got the
// e-commerce ECI (06). They are refused now, before a counter value is
// used: 409 for the type or id, 422 unknown_attribute with its pointer.
// The page's body, the type network_tokens, the token's own id and an id
// null or "" are served as before.
func TestCryptogramRequestsNamingAnotherResourceOrAttributeAreRefused(t *testing.T) {
	g, bearer := shopGateway(t, "cards:write,cards:read,network-tokens:write")
	const ja = "application/vnd.api+json"
	status, body := call(t, "POST", g.inbound+"/cards", ja,
		`{"data":{"attributes":{"pan":"5555555555554444","exp_month":4,"exp_year":2030}}}`, bearer)
	var card struct{ Data struct{ ID string } }
	if status != 201 || json.Unmarshal(body, &card) != nil {
		t.Fatalf("create: %d %s", status, body)
	}
	tokens := g.inbound + "/cards/" + card.Data.ID + "/network-tokens"
	provision := func() string {
		t.Helper()
		status, body := call(t, "POST", tokens, "", "", bearer)
		var tok struct{ Data struct{ ID string } }
		if status != 200 || json.Unmarshal(body, &tok) != nil || tok.Data.ID == "" {
			t.Fatalf("provision: %d %s", status, body)
		}
		return tok.Data.ID
	}
	old := provision()
	if status, body = call(t, "DELETE", tokens, "", "", bearer); status != 204 {
		t.Fatalf("delete the token: %d %s", status, body)
	}
	cur := provision()
	path := g.inbound + "/cards/" + card.Data.ID + "/cryptogram"
	type answer struct {
		Data struct {
			ID         string
			Attributes struct{ Cryptogram struct{ ECI string } }
		}
		Errors []struct {
			Code   string
			Source struct{ Pointer string }
		}
	}
	for _, c := range []struct {
		name, body    string
		status        int
		code, pointer string
		eci           string
	}{
		{"the page's body", `{"data":{"attributes":{}}}`, 200, "", "", "06"},
		{"type network_tokens", `{"data":{"type":"network_tokens","attributes":{"transaction_type":"card_on_file"}}}`, 200, "", "", "07"},
		{"the token's id", `{"data":{"type":"network_tokens","id":"` + cur + `","attributes":{}}}`, 200, "", "", "06"},
		{"id null", `{"data":{"id":null,"attributes":{}}}`, 200, "", "", "06"},
		{"id empty", `{"data":{"id":"","attributes":{}}}`, 200, "", "", "06"},
		{"type cards", `{"data":{"type":"cards","attributes":{}}}`, 409, "type_mismatch", "/data/type", ""},
		{"type a number", `{"data":{"type":1,"attributes":{}}}`, 409, "type_mismatch", "/data/type", ""},
		{"the deleted token's id", `{"data":{"type":"network_tokens","id":"` + old + `","attributes":{}}}`, 409, "id_mismatch", "/data/id", ""},
		{"the card's id", `{"data":{"id":"` + card.Data.ID + `","attributes":{}}}`, 409, "id_mismatch", "/data/id", ""},
		{"transactionType", `{"data":{"attributes":{"transactionType":"card_on_file"}}}`, 422, "unknown_attribute",
			"/data/attributes/transactionType", ""},
		{"another attribute beside transaction_type", `{"data":{"attributes":{"transaction_type":"card_on_file","eci":"05"}}}`, 422,
			"unknown_attribute", "/data/attributes/eci", ""},
	} {
		status, body := call(t, "POST", path, ja, c.body, bearer)
		var a answer
		json.Unmarshal(body, &a)
		switch {
		case status != c.status:
			t.Errorf("%s: %d %s, want %d", c.name, status, body, c.status)
		case c.status == 200 && (a.Data.ID != cur || a.Data.Attributes.Cryptogram.ECI != c.eci):
			t.Errorf("%s: %s, want token %s with ECI %s", c.name, body, cur, c.eci)
		case c.status != 200 && (len(a.Errors) != 1 || a.Errors[0].Code != c.code || a.Errors[0].Source.Pointer != c.pointer):
			t.Errorf("%s: %s, want one error %s at %s", c.name, body, c.code, c.pointer)
		}
		obstest.AssertNoPAN(t, c.name, body)
	}
}

// TestNoCryptogramForAnExpiredNetworkToken: a network token follows its
// card's expiry, and a card that expired is accepted (an account updater
// refreshes those). A token whose expiry had passed (shown as such:
// exp_month 4, exp_year 2024) still got a cryptogram (200), for a payment
// the network declines as expired. The request is refused now (409
// network_token_expired), and once the card's expiry is updated (PATCH;
// the token follows it) the token makes cryptograms again.
func TestNoCryptogramForAnExpiredNetworkToken(t *testing.T) {
	g, bearer := shopGateway(t, "cards:write,cards:read,network-tokens:write")
	const ja = "application/vnd.api+json"
	status, body := call(t, "POST", g.inbound+"/cards", ja,
		`{"data":{"attributes":{"pan":"5555555555554444","exp_month":4,"exp_year":2024}}}`, bearer)
	var card struct{ Data struct{ ID string } }
	if status != 201 || json.Unmarshal(body, &card) != nil {
		t.Fatalf("create: %d %s", status, body)
	}
	if status, body = call(t, "POST", g.inbound+"/cards/"+card.Data.ID+"/network-tokens", "", "", bearer); status != 200 ||
		!strings.Contains(string(body), `"exp_year":2024`) {
		t.Fatalf("provision: %d %s", status, body)
	}
	cryptogram := g.inbound + "/cards/" + card.Data.ID + "/cryptogram"
	status, body = call(t, "POST", cryptogram, ja, `{"data":{"attributes":{}}}`, bearer)
	if status != 409 || !strings.Contains(string(body), `"code":"network_token_expired"`) || strings.Contains(string(body), `"cryptogram"`) {
		t.Errorf("cryptogram of an expired token: %d %s, want 409 network_token_expired", status, body)
	}
	if status, body = call(t, "PATCH", g.inbound+"/cards/"+card.Data.ID, ja,
		`{"data":{"attributes":{"exp_month":4,"exp_year":2030}}}`, bearer); status != 200 {
		t.Fatalf("update the expiry: %d %s", status, body)
	}
	status, body = call(t, "POST", cryptogram, ja, `{"data":{"attributes":{}}}`, bearer)
	if status != 200 || !strings.Contains(string(body), `"cryptogram"`) || !strings.Contains(string(body), `"exp_year":2030`) {
		t.Errorf("cryptogram once the expiry is updated: %d %s", status, body)
	}
}

// TestAReplacedCVCIsDeleted: a PATCH that gives a card a new CVC stores it
// under a new alias; the CVC it replaced stayed in the volatile store,
// revealable through its alias until it expired (up to the volatile TTL, an
// hour by default), although the card no longer had it — a reissue and a
// card's deletion delete the card's CVC. It is deleted now once the card
// is stored with the new one; the new CVC is revealed as before.
func TestAReplacedCVCIsDeleted(t *testing.T) {
	g, bearer := shopGateway(t, "cards:write,cards:read,aliases:reveal", "--enable-vault-api")
	const ja = "application/vnd.api+json"
	cvcAlias := func(body []byte) string {
		var doc struct {
			Data struct {
				ID         string
				Attributes struct {
					CVCAlias string `json:"cvc_alias"`
				}
			}
		}
		json.Unmarshal(body, &doc)
		return doc.Data.Attributes.CVCAlias
	}
	status, body := call(t, "POST", g.inbound+"/cards", ja,
		`{"data":{"attributes":{"pan":"4111111111111111","cvc":"737","exp_month":4,"exp_year":2030}}}`, bearer)
	var card struct{ Data struct{ ID string } }
	if status != 201 || json.Unmarshal(body, &card) != nil || cvcAlias(body) == "" {
		t.Fatalf("create: %d %s", status, body)
	}
	old := cvcAlias(body)
	status, body = call(t, "PATCH", g.inbound+"/cards/"+card.Data.ID, ja, `{"data":{"attributes":{"cvc":"123"}}}`, bearer)
	if status != 200 || cvcAlias(body) == "" || cvcAlias(body) == old {
		t.Fatalf("update the CVC: %d %s", status, body)
	}
	cur := cvcAlias(body)
	if status, body = call(t, "GET", g.inbound+"/aliases/"+old, "", "", bearer); status != 404 || strings.Contains(string(body), "737") {
		t.Errorf("the replaced CVC's alias: %d %s, want 404", status, body)
	}
	if status, body = call(t, "GET", g.inbound+"/aliases/"+cur, "", "", bearer); status != 200 || !strings.Contains(string(body), `"123"`) {
		t.Errorf("the new CVC's alias: %d %s, want 200 with the CVC", status, body)
	}
}
