package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// specExample is the example answer of a contract page, kept verbatim in
// cards/testdata (spec_<name>.json).
func specExample(t *testing.T, name string) map[string]any {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "cards", "testdata", "spec_"+name+".json"))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func jsonKind(v any) string {
	switch v.(type) {
	case string:
		return "string"
	case float64:
		return "number"
	case bool:
		return "bool"
	case []any:
		return "array"
	case map[string]any:
		return "object"
	case nil:
		return "null"
	}
	return fmt.Sprintf("%T", v)
}

// asAnswered is the network tokens page's provisioning example as the API
// answers it: network_token, bin and last4, JSON numbers there, are
// strings, as on the cryptogram page and as the shared design decides
// (DESIGN.md: a 19-digit token PAN does not survive a JSON number;
// docs/DECISIONS.md). Every other member is the page's.
func asAnswered(example map[string]any) map[string]any {
	a := example["data"].(map[string]any)["attributes"].(map[string]any)
	for _, k := range []string{"network_token", "bin", "last4"} {
		if n, ok := a[k].(float64); ok {
			a[k] = strconv.FormatFloat(n, 'f', -1, 64)
		}
	}
	return example
}

// specShape reports where got differs from the page's example want: a
// member of the example missing (unless named in missing) or of another
// JSON type, a member the example does not have (unless named in extra).
// The elements of an array are compared with the example's first.
func specShape(where string, want, got any, extra, missing []string) []string {
	if jsonKind(want) != jsonKind(got) {
		return []string{fmt.Sprintf("%s: %s, the page has %s", where, jsonKind(got), jsonKind(want))}
	}
	var out []string
	switch w := want.(type) {
	case map[string]any:
		g := got.(map[string]any)
		for k, wv := range w {
			if gv, ok := g[k]; ok {
				out = append(out, specShape(where+"."+k, wv, gv, extra, missing)...)
			} else if !slices.Contains(missing, k) {
				out = append(out, where+"."+k+": missing")
			}
		}
		for k := range g {
			if _, ok := w[k]; !ok && !slices.Contains(extra, k) {
				out = append(out, where+"."+k+": not on the page")
			}
		}
	case []any:
		if len(w) > 0 {
			for i, gv := range got.([]any) {
				out = append(out, specShape(fmt.Sprintf("%s[%d]", where, i), w[0], gv, extra, missing)...)
			}
		}
	}
	slices.Sort(out)
	return out
}

// TestCardsAPIAnswersHaveTheSpecPagesShapes sends each request of the two
// contract pages (cards; network tokens), as the pages write them, through
// a real gateway and compares every answer with the page's example: the
// status, the media type, every member with its JSON type, no member the
// page lacks but those docs/DECISIONS.md documents, and the id shapes.
// The one difference in type is the shared design's (asAnswered); the
// copy of the provisioning page in cards/testdata had been changed to
// strings, so the package's own comparisons could not tell a documented
// difference from any other.
func TestCardsAPIAnswersHaveTheSpecPagesShapes(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	env := testEnv(nil)
	cred := createClient(t, env, data, "--name", "shop", "--account", "acct_1", "--pci",
		"--scopes", "cards:write,cards:read,network-tokens:write")
	viewer := createClient(t, env, data, "--name", "viewer", "--account", "acct_1",
		"--scopes", "cards:write,cards:read,network-tokens:write")
	g := startGateway(t, env, "--data-dir", data)
	pci, notPCI := bearerToken(t, g, cred), bearerToken(t, g, viewer)
	bearer := pci // the client send asks as
	const ja = "application/vnd.api+json"
	reCard := regexp.MustCompile(`^CRD[1-9A-HJ-NP-Za-km-z]{22}$`)
	reToken := regexp.MustCompile(`^NTK[1-9A-HJ-NP-Za-km-z]{22}$`)
	reUpdate := regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

	// send makes a request as a page shows it: Accept */*, a Content-Type
	// only with a body.
	send := func(method, path, body string, wantStatus int, hdr ...string) (map[string]any, []byte) {
		t.Helper()
		var r io.Reader
		if body != "" {
			r = strings.NewReader(body)
		}
		req, err := http.NewRequest(method, g.inbound+path, r)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Accept", "*/*")
		if body != "" {
			req.Header.Set("Content-Type", ja)
		}
		for _, h := range hdr {
			k, v, _ := strings.Cut(h, ": ")
			req.Header.Set(k, v)
		}
		bearer(req)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		if res.StatusCode != wantStatus {
			t.Fatalf("%s %s: %d %s, want %d", method, path, res.StatusCode, b, wantStatus)
		}
		if wantStatus == http.StatusNoContent {
			if len(b) != 0 {
				t.Errorf("%s %s: 204 with a body %q", method, path, b)
			}
			return nil, b
		}
		if ct := res.Header.Get("Content-Type"); ct != ja {
			t.Errorf("%s %s: Content-Type %q", method, path, ct)
		}
		var doc map[string]any
		if err := json.Unmarshal(b, &doc); err != nil {
			t.Fatalf("%s %s: %v: %s", method, path, err, b)
		}
		return doc, b
	}
	same := func(what string, want, got any, extra, missing []string) {
		t.Helper()
		for _, d := range specShape(what, want, got, extra, missing) {
			t.Error(d)
		}
	}
	dataOf := func(doc map[string]any) map[string]any { return doc["data"].(map[string]any) }

	// Cards page: create, get, update, with the pages' request bodies.
	// Their expiry, 4/28, is in the past from May 2028, and an expired card
	// has an "expired" attribute no page shows: the year is two years
	// ahead of today, in the pages' two digits.
	yy := strconv.Itoa((time.Now().UTC().Year() + 2) % 100)
	created, _ := send("POST", "/cards", `{
  "data": {
    "attributes": {
      "pan": "4111111111111111",
      "cvc": "123",
      "exp_month": 4,
      "exp_year": `+yy+`
    }
  }
}`, http.StatusCreated)
	same("create", specExample(t, "create"), created, nil, nil)
	id, _ := dataOf(created)["id"].(string)
	if !reCard.MatchString(id) || dataOf(created)["type"] != "cards" {
		t.Fatalf("create: id %q type %v", id, dataOf(created)["type"])
	}
	got, _ := send("GET", "/cards/"+id, "", http.StatusOK)
	same("get", specExample(t, "get"), got, nil, nil)

	// The update page's example changes a card of 5/24 to 4/28 (4/yy).
	old, _ := send("POST", "/cards", `{"data":{"attributes":{"pan":"5555555555554444","cvc":"123","exp_month":5,"exp_year":24}}}`, http.StatusCreated)
	oldID := dataOf(old)["id"].(string)
	patched, _ := send("PATCH", "/cards/"+oldID, `{
  "data": {
    "attributes": {
      "cvc": "123",
      "exp_month": 4,
      "exp_year": `+yy+`
    }
  }
}`, http.StatusOK)
	same("update", specExample(t, "patch"), patched, nil, nil)
	inc, _ := patched["included"].([]any)
	if len(inc) != 1 || !reUpdate.MatchString(fmt.Sprint(inc[0].(map[string]any)["id"])) {
		t.Errorf("update: included %v", patched["included"])
	}
	// An update that changes nothing records no card update; its answer
	// still has the page's included, an empty array (it had none).
	// So does its replay (Idempotency-Key).
	for _, what := range []string{"update that changes nothing", "its replay"} {
		unchanged, _ := send("PATCH", "/cards/"+oldID, `{"data":{"attributes":{"exp_month":4,"exp_year":`+yy+`}}}`,
			http.StatusOK, "Idempotency-Key: same-expiry")
		same(what, specExample(t, "patch"), unchanged, nil, nil)
		if inc, ok := unchanged["included"].([]any); !ok || len(inc) != 0 {
			t.Errorf("%s: included %v, want []", what, unchanged["included"])
		}
	}
	withUpdates, _ := send("GET", "/cards/"+oldID+"?include=card_updates", "", http.StatusOK)
	same("get include=card_updates", specExample(t, "patch")["included"], withUpdates["included"], nil, nil)

	// Network tokens page: provision (200, no body), cryptogram (the
	// page's body), delete (204, no content).
	token, _ := send("POST", "/cards/"+id+"/network-tokens", "", http.StatusOK)
	same("provision", asAnswered(specExample(t, "network_token")), token, []string{"metadata"}, nil)
	tokenID, _ := dataOf(token)["id"].(string)
	if !reToken.MatchString(tokenID) || dataOf(token)["type"] != "network_tokens" {
		t.Errorf("provision: id %q type %v", tokenID, dataOf(token)["type"])
	}
	again, _ := send("POST", "/cards/"+id+"/network-tokens", "", http.StatusOK)
	same("provision again", asAnswered(specExample(t, "network_token")), again, []string{"metadata"}, nil)
	if dataOf(again)["id"] != tokenID {
		t.Errorf("provision again: another token %v", dataOf(again)["id"])
	}
	// No page shows a card's included token: it has the cryptogram page's
	// types, without a cryptogram.
	withToken, _ := send("GET", "/cards/"+id+"?include=network_tokens", "", http.StatusOK)
	same("get include=network_tokens", []any{specExample(t, "cryptogram")["data"]}, withToken["included"], nil, []string{"cryptogram"})
	crypto, _ := send("POST", "/cards/"+id+"/cryptogram", `{
    "data": {
      "attributes": {}
    }
  }`, http.StatusOK)
	same("cryptogram", specExample(t, "cryptogram"), crypto, nil, nil)
	if dataOf(crypto)["id"] != tokenID {
		t.Errorf("cryptogram: token %v, provisioned %s", dataOf(crypto)["id"], tokenID)
	}

	// A client without the PCI flag gets the same answers without the
	// clear card data (pan, cvc, the token PAN) and nothing else changed.
	bearer = notPCI
	got, _ = send("GET", "/cards/"+id, "", http.StatusOK)
	// enrollment_status: on every card that has or had a network token (docs/DECISIONS.md).
	same("get (not PCI)", specExample(t, "get"), got, []string{"enrollment_status"}, []string{"pan", "cvc"})
	again, _ = send("POST", "/cards/"+id+"/network-tokens", "", http.StatusOK)
	same("provision again (not PCI)", asAnswered(specExample(t, "network_token")), again, []string{"metadata"}, []string{"network_token"})
	withToken, _ = send("GET", "/cards/"+id+"?include=network_tokens", "", http.StatusOK)
	same("get include=network_tokens (not PCI)", []any{specExample(t, "cryptogram")["data"]}, withToken["included"], nil,
		[]string{"cryptogram", "network_token"})
	crypto, _ = send("POST", "/cards/"+id+"/cryptogram", `{"data":{"attributes":{}}}`, http.StatusOK)
	same("cryptogram (not PCI)", specExample(t, "cryptogram"), crypto, nil, []string{"network_token"})
	for what, doc := range map[string]map[string]any{"get": got, "provision": again, "include": withToken, "cryptogram": crypto} {
		b, _ := json.Marshal(doc)
		if strings.Contains(string(b), "4111111111111111") || strings.Contains(string(b), `"cvc":`) ||
			strings.Contains(string(b), `"network_token":`) {
			t.Errorf("%s (not PCI) holds clear card data: %s", what, b)
		}
	}

	bearer = pci
	send("DELETE", "/cards/"+id+"/network-tokens", "", http.StatusNoContent)
}

// TestCardsAPIRefusesWhatItDoesNotSupportAsJSONAPISays: JSON:API has a
// server answer 403 Forbidden to an unsupported request to create a
// resource with a client-generated id and to an unsupported request to
// update a relationship. A POST /cards naming data.id was answered 422,
// and a data.relationships with members was ignored: a PATCH applied its
// attributes (200) while the client took its relationships as set too.
// Both are 403 now, before anything is stored; an empty relationships
// object (or null), which asks for nothing, is still accepted.
func TestCardsAPIRefusesWhatItDoesNotSupportAsJSONAPISays(t *testing.T) {
	g, bearer := shopGateway(t, "cards:write,cards:read,network-tokens:write")
	const ja = "application/vnd.api+json"
	status, body := call(t, "POST", g.inbound+"/cards", ja,
		`{"data":{"type":"cards","attributes":{"pan":"4111111111111111","exp_month":4,"exp_year":2030}}}`, bearer)
	var doc struct{ Data struct{ ID string } }
	if status != 201 || json.Unmarshal(body, &doc) != nil {
		t.Fatalf("create: %d %s", status, body)
	}
	id := doc.Data.ID
	forbidden := func(what string, status int, body []byte, code, pointer string) {
		t.Helper()
		var e struct {
			Errors []struct {
				Status, Code string
				Source       struct{ Pointer string }
			}
		}
		if status != http.StatusForbidden || json.Unmarshal(body, &e) != nil || len(e.Errors) != 1 ||
			e.Errors[0].Status != "403" || e.Errors[0].Code != code || e.Errors[0].Source.Pointer != pointer {
			t.Errorf("%s: %d %s, want 403 %s at %s", what, status, body, code, pointer)
		}
	}
	status, body = call(t, "POST", g.inbound+"/cards", ja,
		`{"data":{"type":"cards","id":"CRD1111111111111111111111","attributes":{"pan":"5555555555554444","exp_month":4,"exp_year":2030}}}`, bearer)
	forbidden("create with a client-generated id", status, body, "client_id_not_supported", "/data/id")
	// Relationships that ask for a change (the card has no such token).
	rel := `"relationships":{"network_tokens":{"data":[{"type":"network_tokens","id":"NTK1111111111111111111111"}]}}`
	status, body = call(t, "POST", g.inbound+"/cards", ja,
		`{"data":{"type":"cards",`+rel+`,"attributes":{"pan":"5555555555554444","exp_month":4,"exp_year":2030}}}`, bearer)
	forbidden("create with relationships", status, body, "relationships_not_supported", "/data/relationships")
	status, body = call(t, "PATCH", g.inbound+"/cards/"+id, ja,
		`{"data":{"type":"cards","id":"`+id+`",`+rel+`,"attributes":{"exp_month":5}}}`, bearer)
	forbidden("update with relationships", status, body, "relationships_not_supported", "/data/relationships")

	// Nothing was stored or changed.
	status, body = call(t, "GET", g.inbound+"/cards", "", "", bearer)
	if status != 200 || strings.Count(string(body), `"type":"cards"`) != 1 {
		t.Errorf("cards after the refusals: %d %s", status, body)
	}
	status, body = call(t, "GET", g.inbound+"/cards/"+id+"?include=card_updates", "", "", bearer)
	if status != 200 || !strings.Contains(string(body), `"exp_month":4`) || !strings.Contains(string(body), `"included":[]`) {
		t.Errorf("card after the refused update: %d %s", status, body)
	}
	// Regression cover: relationships that ask for nothing are accepted.
	for _, r := range []string{`"relationships":{}`, `"relationships":null`} {
		status, body = call(t, "PATCH", g.inbound+"/cards/"+id, ja,
			`{"data":{"type":"cards","id":"`+id+`",`+r+`,"attributes":{"exp_month":6}}}`, bearer)
		if status != 200 {
			t.Errorf("update with %s: %d %s", r, status, body)
		}
	}
}

// TestCardIncludeLinksWhatItIncludes: GET /cards/{id}?include=… answered
// included resources that nothing in the document pointed at. JSON:API
// requires full linkage (every included resource identified by a
// relationship of the primary data), and client libraries find a card's
// included card updates and network token through data.relationships:
// without it they found none. Each relationship asked for is now in
// data.relationships, naming exactly what included holds of it (an empty
// array for none); without include the card keeps the page's shape.
func TestCardIncludeLinksWhatItIncludes(t *testing.T) {
	g, bearer := shopGateway(t, "cards:write,cards:read,network-tokens:write")
	const ja = "application/vnd.api+json"
	status, body := call(t, "POST", g.inbound+"/cards", ja,
		`{"data":{"attributes":{"pan":"4111111111111111","exp_month":4,"exp_year":2030}}}`, bearer)
	var created struct{ Data struct{ ID string } }
	if status != 201 || json.Unmarshal(body, &created) != nil {
		t.Fatalf("create: %d %s", status, body)
	}
	id := created.Data.ID
	type ident struct{ Type, ID string }
	get := func(query string) (map[string][]ident, []ident, []byte) {
		t.Helper()
		status, body := call(t, "GET", g.inbound+"/cards/"+id+query, "", "", bearer)
		var doc struct {
			Data struct {
				Relationships map[string]struct{ Data *[]ident }
			}
			Included []ident
		}
		if status != 200 || json.Unmarshal(body, &doc) != nil {
			t.Fatalf("GET %s: %d %s", query, status, body)
		}
		rel := map[string][]ident{}
		for name, r := range doc.Data.Relationships {
			if r.Data == nil {
				t.Errorf("GET %s: relationship %s without a data array: %s", query, name, body)
				continue
			}
			rel[name] = *r.Data
		}
		return rel, doc.Included, body
	}
	linked := func(query string, want map[string]int) {
		t.Helper()
		rel, included, body := get(query)
		if len(rel) != len(want) {
			t.Errorf("GET %s: relationships %v, want %v: %s", query, rel, want, body)
		}
		var all []ident
		for name, n := range want {
			ids, ok := rel[name]
			if !ok || len(ids) != n {
				t.Errorf("GET %s: relationship %s %v, want %d identifiers: %s", query, name, ids, n, body)
			}
			for _, i := range ids {
				if i.Type != name {
					t.Errorf("GET %s: relationship %s names a %s", query, name, i.Type)
				}
			}
			all = append(all, ids...)
		}
		if len(all) != len(included) {
			t.Errorf("GET %s: relationships name %v, included holds %v", query, all, included)
		}
		for _, inc := range included {
			if !slices.Contains(all, inc) {
				t.Errorf("GET %s: included %v is not linked: %s", query, inc, body)
			}
		}
	}
	linked("?include=card_updates", map[string]int{"card_updates": 0})
	linked("?include=network_tokens", map[string]int{"network_tokens": 0})
	for _, m := range []string{"5", "6"} {
		if status, body := call(t, "PATCH", g.inbound+"/cards/"+id, ja, `{"data":{"attributes":{"exp_month":`+m+`}}}`, bearer); status != 200 {
			t.Fatalf("update: %d %s", status, body)
		}
	}
	if status, body := call(t, "POST", g.inbound+"/cards/"+id+"/network-tokens", "", "", bearer); status != 200 {
		t.Fatalf("provision: %d %s", status, body)
	}
	linked("?include=card_updates", map[string]int{"card_updates": 2})
	linked("?include=card_updates,network_tokens", map[string]int{"card_updates": 2, "network_tokens": 1})
	// Regression cover: without include the card has the page's shape.
	if rel, included, body := get(""); len(rel) != 0 || included != nil || strings.Contains(string(body), "relationships") {
		t.Errorf("GET without include: %s", body)
	}
}

// TestAnotherAccountsCardAnswersAsNoCard is regression cover (it passes
// before this review's changes): on every endpoint that names a card, a
// card id of another account, an id no card has and ids of the wrong
// shape (another prefix, another length, characters outside base58,
// another letter case, a card number) get the same answer, status, body
// and header names, and the other account's card is left as it was.
func TestAnotherAccountsCardAnswersAsNoCard(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	env := testEnv(nil)
	owner := createClient(t, env, data, "--name", "owner", "--account", "acct_1", "--pci",
		"--scopes", "cards:write,cards:read,network-tokens:write")
	other := createClient(t, env, data, "--name", "other", "--account", "acct_2", "--pci",
		"--scopes", "cards:write,cards:read,network-tokens:write")
	g := startGateway(t, env, "--data-dir", data)
	asOwner, asOther := bearerToken(t, g, owner), bearerToken(t, g, other)
	const ja = "application/vnd.api+json"
	status, body := call(t, "POST", g.inbound+"/cards", ja,
		`{"data":{"attributes":{"pan":"4111111111111111","cvc":"123","exp_month":4,"exp_year":2030}}}`, asOwner)
	var created struct{ Data struct{ ID string } }
	if status != 201 || json.Unmarshal(body, &created) != nil {
		t.Fatalf("create: %d %s", status, body)
	}
	id := created.Data.ID
	if status, body = call(t, "POST", g.inbound+"/cards/"+id+"/network-tokens", "", "", asOwner); status != 200 {
		t.Fatalf("provision: %d %s", status, body)
	}
	before := func() []byte {
		_, b := call(t, "GET", g.inbound+"/cards/"+id+"?include=network_tokens,card_updates", "", "", asOwner)
		return regexp.MustCompile(`"trace_id":"[0-9a-f]+"`).ReplaceAll(b, nil)
	}
	was := before()

	answer := func(method, path, ctype, body string) (int, string, string) {
		t.Helper()
		req, err := http.NewRequest(method, g.inbound+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		if ctype != "" {
			req.Header.Set("Content-Type", ctype)
		}
		asOther(req)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		var names []string
		for k := range res.Header {
			if k != "Date" {
				names = append(names, k)
			}
		}
		slices.Sort(names)
		return res.StatusCode, string(b), strings.Join(names, ",")
	}
	endpoints := []struct{ method, suffix, ctype, body string }{
		{"GET", "", "", ""},
		{"PATCH", "", ja, `{"data":{"attributes":{"exp_month":5}}}`},
		{"POST", "/network-tokens", "", ""},
		{"POST", "/cryptogram", ja, `{"data":{"attributes":{}}}`},
		{"DELETE", "/network-tokens", "", ""},
		{"DELETE", "", "", ""},
	}
	for _, e := range endpoints {
		wantStatus, wantBody, wantHeaders := answer(e.method, "/cards/CRD1111111111111111111111"+e.suffix, e.ctype, e.body)
		if wantStatus != http.StatusNotFound {
			t.Errorf("%s no card%s: %d %s", e.method, e.suffix, wantStatus, wantBody)
		}
		for _, other := range []string{id, "NTK" + id[3:], id[:len(id)-1], id + "1", "CRD" + strings.Repeat("0", 22),
			"CRD" + strings.Repeat("l", 22), strings.ToLower(id), strings.ToUpper(id), "4111111111111111"} {
			status, body, headers := answer(e.method, "/cards/"+other+e.suffix, e.ctype, e.body)
			if status != wantStatus || body != wantBody || headers != wantHeaders {
				t.Errorf("%s /cards/%s%s: %d %s [%s], want what no card gets: %d %s [%s]",
					e.method, other, e.suffix, status, body, headers, wantStatus, wantBody, wantHeaders)
			}
		}
	}
	if now := before(); string(now) != string(was) {
		t.Errorf("the owner's card changed:\n%s\nwas\n%s", now, was)
	}
	// The same id percent-encoded is the same card (RFC 3986).
	if status, body := call(t, "GET", g.inbound+"/cards/%43"+id[1:], "", "", asOwner); status != 200 || !strings.Contains(string(body), id) {
		t.Errorf("GET of the percent-encoded id: %d %s", status, body)
	}
}

// TestCreateWithAnIDThatNamesNothingIsACreate: a POST /cards whose data.id
// is null or "" names no id: it is what client code sends for a resource
// not yet saved (a Python dataclass or a C# model serialized with its
// nulls, a Go struct with `json:"id"`), and JSON:API's 403 is for a
// client-generated id, which it is not. It was refused 403
// client_id_not_supported. A real id is still refused (regression cover
// in TestCardsAPIRefusesWhatItDoesNotSupportAsJSONAPISays).
func TestCreateWithAnIDThatNamesNothingIsACreate(t *testing.T) {
	g, bearer := shopGateway(t, "cards:write,cards:read")
	for i, id := range []string{`null`, `""`, ` null `} {
		pan := []string{"4111111111111111", "5555555555554444", "378282246310005"}[i]
		status, body := call(t, "POST", g.inbound+"/cards", "application/vnd.api+json",
			`{"data":{"type":"cards","id":`+id+`,"attributes":{"pan":"`+pan+`","exp_month":4,"exp_year":2030}}}`, bearer)
		var doc struct{ Data struct{ ID string } }
		if status != http.StatusCreated || json.Unmarshal(body, &doc) != nil || !strings.HasPrefix(doc.Data.ID, "CRD") {
			t.Errorf("create with data.id %s: %d %s, want 201 with a card id of the server's", id, status, body)
		}
	}
	// Any other value is still a client-generated id (or not an id): 403.
	for _, id := range []string{`"CRD1111111111111111111111"`, `" "`, `0`, `false`, `{}`} {
		status, body := call(t, "POST", g.inbound+"/cards", "application/vnd.api+json",
			`{"data":{"type":"cards","id":`+id+`,"attributes":{"pan":"6011111111111117","exp_month":4,"exp_year":2030}}}`, bearer)
		if status != http.StatusForbidden || !strings.Contains(string(body), `"client_id_not_supported"`) {
			t.Errorf("create with data.id %s: %d %s, want 403 client_id_not_supported", id, status, body)
		}
	}
}

// TestCardRelationshipsSentBackAsTheyAreAreAccepted: a JSON:API client
// sends its model's relationships with the resource: Ember Data a to-many
// without inverse on every save (empty on a create), other libraries what
// GET …?include= linked. Such a member names exactly what the card has and
// asks for no change; it was refused 403 relationships_not_supported (a
// create with empty card_updates and network_tokens, a PATCH echoing the
// card's own linkage), so those clients could neither create nor update a
// card. A relationship that names anything else is still refused, before
// anything is stored.
func TestCardRelationshipsSentBackAsTheyAreAreAccepted(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	env := testEnv(nil)
	cred := createClient(t, env, data, "--name", "shop", "--account", "acct_1", "--scopes", "cards:write,cards:read")
	g := startGateway(t, env, "--data-dir", data)
	bearer := bearerToken(t, g, cred)
	const ja = "application/vnd.api+json"
	status, body := call(t, "POST", g.inbound+"/cards", ja,
		`{"data":{"type":"cards","relationships":{"card_updates":{"data":[]},"network_tokens":{"data":[]}},`+
			`"attributes":{"pan":"4111111111111111","exp_month":4,"exp_year":2030}}}`, bearer)
	var doc struct{ Data struct{ ID string } }
	if status != http.StatusCreated || json.Unmarshal(body, &doc) != nil {
		t.Fatalf("create with the relationships a new card has: %d %s, want 201", status, body)
	}
	id := doc.Data.ID
	for i, month := range []int{5, 6} { // two card updates
		status, body = call(t, "PATCH", g.inbound+"/cards/"+id, ja, fmt.Sprintf(`{"data":{"type":"cards","id":%q,"attributes":{"exp_month":%d}}}`, id, month), bearer)
		if status != http.StatusOK {
			t.Fatalf("update %d: %d %s", i, status, body)
		}
	}
	status, body = call(t, "GET", g.inbound+"/cards/"+id+"?include=card_updates,network_tokens", "", "", bearer)
	var got struct {
		Data struct {
			Relationships map[string]struct {
				Data []struct{ Type, ID string }
			}
		}
	}
	if status != http.StatusOK || json.Unmarshal(body, &got) != nil || len(got.Data.Relationships["card_updates"].Data) != 2 {
		t.Fatalf("get with include: %d %s", status, body)
	}
	u := got.Data.Relationships["card_updates"].Data
	// Sent back, in another order: accepted, and the attribute applied.
	echo := fmt.Sprintf(`"relationships":{"network_tokens":{"data":[]},"card_updates":{"data":[{"type":"card_updates","id":%q},{"type":"card_updates","id":%q}]}}`,
		u[1].ID, u[0].ID)
	status, body = call(t, "PATCH", g.inbound+"/cards/"+id, ja, `{"data":{"type":"cards","id":"`+id+`",`+echo+`,"attributes":{"exp_month":7}}}`, bearer)
	if status != http.StatusOK || !strings.Contains(string(body), `"exp_month":7`) {
		t.Fatalf("update with the card's own relationships: %d %s, want 200", status, body)
	}
	// Anything else is a change: 403, and the card is left as it was.
	for _, rel := range []string{
		fmt.Sprintf(`{"card_updates":{"data":[{"type":"card_updates","id":%q}]}}`, u[0].ID), // one left out
		`{"card_updates":{"data":[]}}`, // all left out
		fmt.Sprintf(`{"card_updates":{"data":[{"type":"card_updates","id":%q},{"type":"card_updates","id":%q}]}}`, u[0].ID, u[0].ID), // one twice
		fmt.Sprintf(`{"card_updates":{"data":[{"type":"network_tokens","id":%q},{"type":"card_updates","id":%q}]}}`, u[0].ID, u[1].ID),
		`{"network_tokens":{"data":[{"type":"network_tokens","id":"NTK1111111111111111111111"}]}}`,
		`{"network_tokens":{"data":null}}`, `{"network_tokens":{}}`, `{"network_tokens":null}`, `{"other":{"data":[]}}`,
	} {
		status, body = call(t, "PATCH", g.inbound+"/cards/"+id, ja, `{"data":{"type":"cards","id":"`+id+`","relationships":`+rel+`,"attributes":{"exp_month":8}}}`, bearer)
		if status != http.StatusForbidden || !strings.Contains(string(body), `"relationships_not_supported"`) {
			t.Errorf("update with relationships %s: %d %s, want 403", rel, status, body)
		}
	}
	// The card's linkage read again (the accepted update above recorded
	// one more update), each identifier spelled by ident.
	status, body = call(t, "GET", g.inbound+"/cards/"+id+"?include=card_updates", "", "", bearer)
	if status != http.StatusOK || json.Unmarshal(body, &got) != nil {
		t.Fatalf("get with include: %d %s", status, body)
	}
	own := got.Data.Relationships["card_updates"].Data
	other := "cu_" + strings.Repeat("Z", len(own[0].ID)-3)
	linkage := func(first string) string {
		items := []string{first}
		for _, x := range own[1:] {
			items = append(items, fmt.Sprintf(`{"type":"card_updates","id":%q}`, x.ID))
		}
		return "[" + strings.Join(items, ",") + "]"
	}
	plain := linkage(fmt.Sprintf(`{"type":"card_updates","id":%q}`, own[0].ID))
	// Members spelled in another letter case (encoding/json reads them in
	// any case, the last one winning): an "id" naming another card update
	// next to an "ID" naming the card's own, a "data" naming another next
	// to a "DATA" naming the card's own, members named only in another
	// case; and members JSON:API does not have: 403 (failed before: 200).
	for _, rel := range []string{
		`{"card_updates":{"data":` + linkage(fmt.Sprintf(`{"type":"card_updates","id":%q,"ID":%q}`, other, own[0].ID)) + `}}`,
		`{"card_updates":{"data":` + linkage(fmt.Sprintf(`{"type":"card_updates","id":%q}`, other)) + `,"DATA":` + plain + `}}`,
		`{"card_updates":{"data":` + linkage(fmt.Sprintf(`{"TYPE":"card_updates","Id":%q}`, own[0].ID)) + `}}`,
		`{"card_updates":{"data":` + linkage(fmt.Sprintf(`{"type":"card_updates","id":%q,"card":"4111111111111111"}`, own[0].ID)) + `}}`,
		`{"card_updates":{"data":` + plain + `,"Data":[]}}`,
	} {
		status, body = call(t, "PATCH", g.inbound+"/cards/"+id, ja, `{"data":{"type":"cards","id":"`+id+`","relationships":`+rel+`,"attributes":{"exp_month":8}}}`, bearer)
		if status != http.StatusForbidden || !strings.Contains(string(body), `"relationships_not_supported"`) {
			t.Errorf("update with relationships %s: %d %s, want 403", rel, status, body)
		}
	}
	// The members JSON:API gives a relationship and an identifier besides
	// data, type and id are accepted.
	status, body = call(t, "PATCH", g.inbound+"/cards/"+id, ja, `{"data":{"type":"cards","id":"`+id+`","relationships":`+
		`{"card_updates":{"links":{},"meta":{},"data":`+linkage(fmt.Sprintf(`{"type":"card_updates","id":%q,"meta":{}}`, own[0].ID))+`}}`+
		`,"attributes":{"exp_month":7}}}`, bearer)
	if status != http.StatusOK {
		t.Errorf("update with links and meta in the relationship: %d %s, want 200", status, body)
	}
	status, body = call(t, "POST", g.inbound+"/cards", ja,
		`{"data":{"type":"cards","relationships":{"card_updates":{"data":[{"type":"card_updates","id":"x"}]}},`+
			`"attributes":{"pan":"5555555555554444","exp_month":4,"exp_year":2030}}}`, bearer)
	if status != http.StatusForbidden {
		t.Errorf("create naming a card update: %d %s, want 403", status, body)
	}
	status, body = call(t, "GET", g.inbound+"/cards/"+id, "", "", bearer)
	if status != http.StatusOK || !strings.Contains(string(body), `"exp_month":7`) {
		t.Errorf("card after the refused updates: %d %s", status, body)
	}
}
