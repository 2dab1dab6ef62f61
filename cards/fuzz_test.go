package cards

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aliasgate/aliasgate/internal/jsonapi"
	"github.com/aliasgate/aliasgate/internal/pan"
	"github.com/aliasgate/aliasgate/vault"
	"github.com/aliasgate/aliasgate/vault/memstore"
)

// fuzzEnv is a Card Management API over memory stores whose log goes to a
// buffer that the fuzz function checks and empties after every input.
type fuzzEnv struct {
	h      *Handler
	log    *bytes.Buffer
	cardID string
	close  func()
}

func newFuzzEnv(tb testing.TB) *fuzzEnv {
	tb.Helper()
	now := func() time.Time { return time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC) }
	p := memstore.New(memstore.Options{Now: now, SweepInterval: -1})
	v := memstore.New(memstore.Options{Now: now, SweepInterval: -1})
	kr, err := vault.OpenKeyring(context.Background(), p, bytes.Repeat([]byte{7}, 32))
	if err != nil {
		tb.Fatal(err)
	}
	svc, err := vault.New(p, v, kr, vault.Options{Env: "sandbox", VolatileTTL: time.Hour, Now: now})
	if err != nil {
		tb.Fatal(err)
	}
	buf := &bytes.Buffer{}
	logger := slog.New(slog.NewJSONHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	h, err := New(p, svc, fakeGuard{}, Options{VaultID: "tnt-fuzz", FingerprintKey: bytes.Repeat([]byte{9}, 32),
		Now: now, Logger: logger})
	if err != nil {
		tb.Fatal(err)
	}
	e := &fuzzEnv{h: h, log: buf, close: func() { p.Close(); v.Close() }}
	w := httptest.NewRecorder()
	r := httptest.NewRequest("POST", "/cards", strings.NewReader(cardBody(`"pan":"4111111111111111","cvc":"123","exp_month":5,"exp_year":28`)))
	r.Header.Set("Content-Type", jsonapi.MediaType)
	r.Header.Set("X-Test-PCI", "1")
	h.ServeHTTP(w, r)
	var doc struct{ Data struct{ ID string } }
	if w.Code != http.StatusCreated || json.Unmarshal(w.Body.Bytes(), &doc) != nil {
		tb.Fatalf("seed card: %d %s", w.Code, w.Body)
	}
	e.cardID = doc.Data.ID
	buf.Reset()
	return e
}

var networkTokenRE = regexp.MustCompile(`"network_token":"[0-9]+"`)

// fuzzCardRequests are the endpoints FuzzCardsAPI sends its body to; {id}
// is the seed card.
var fuzzCardRequests = []struct{ method, path string }{
	{"POST", "/cards"},
	{"PATCH", "/cards/{id}"},
	{"POST", "/cards/{id}/network-tokens"},
	{"POST", "/cards/{id}/cryptogram"},
	{"GET", "/cards/{id}?include="},
}

// FuzzCardsAPI sends arbitrary JSON:API bodies (and media types, trace
// headers and include parameters) to the Card Management API, as a PCI and
// as a non-PCI client. The API never panics and never answers 500; every
// answer is a JSON document in the JSON:API media type; an error document,
// a non-PCI answer and the log never hold a card-like number; a 2xx never
// comes with an "errors" member.
func FuzzCardsAPI(f *testing.F) {
	for _, s := range []struct {
		op   uint8
		ct   string
		body string
		tp   string
	}{
		{0, jsonapi.MediaType, cardBody(`"pan":"5555555555554444","cvc":"321","exp_month":12,"exp_year":2030,"meta":{"k":"v"}`), ""},
		{0, jsonapi.MediaType, cardBody(`"pan_alias":"tok_sandbox_nope","exp_month":1,"exp_year":30`), "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"},
		{0, jsonapi.MediaType, `{"data":{"type":"cards","attributes":{"pan":4111111111111111}}}`, ""},
		{0, "application/json", cardBody(`"pan":"4111111111111111"`), ""},
		{0, jsonapi.MediaType, `{"data":{"attributes":{"pan":"4111111111111111","pan":"5555555555554444","exp_month":5,"exp_year":28}}}`, ""},
		{0, jsonapi.MediaType, `{"data":{"attributes":{"meta":{"a":"` + strings.Repeat("[", 200) + `"}}}}`, ""},
		{1, jsonapi.MediaType, `{"data":{"type":"cards","attributes":{"cvc":"456","exp_month":4,"exp_year":29,"meta":null}}}`, ""},
		{1, jsonapi.MediaType, `{"data":{"id":"CRD1111111111111111111111","attributes":{}}}`, ""},
		{2, jsonapi.MediaType, ``, ""},
		{3, jsonapi.MediaType, `{"data":{"attributes":{}}}`, ""},
		{4, "", "card_updates,network_tokens", "00-41111111111111110000000000000000-00f067aa0ba902b7-01"},
		{0, jsonapi.MediaType, "{\"data\":{\"attributes\":{\"pan\":\"4111111111111111\xff\"}}}", ""},
		{0, jsonapi.MediaType, cardBody(`"pan":"4242424242424242","exp_month":1,"exp_year":20,"token_type":"pan","cardholder":{"name":"J","address":{"city":"X","postal_code":"4111 1111 1111 1111"}}`), ""},
		{1, jsonapi.MediaType, cardBody(`"cardholder":{"name":"4111111111111111","address":null},"token_type":"pan"`), ""},
		{3, jsonapi.MediaType, `{"data":{"attributes":{"transaction_type":"card_on_file"}}}`, ""},
	} {
		f.Add(s.op, s.ct, []byte(s.body), s.tp, true)
		f.Add(s.op, s.ct, []byte(s.body), s.tp, false)
	}
	var e *fuzzEnv
	runs := 0
	f.Cleanup(func() {
		if e != nil {
			e.close()
		}
	})
	f.Fuzz(func(t *testing.T, op uint8, ct string, body []byte, traceparent string, pci bool) {
		if e == nil || runs%5000 == 0 { // a fresh vault now and then keeps memory flat
			if e != nil {
				e.close()
			}
			e = newFuzzEnv(t)
		}
		runs++
		req := fuzzCardRequests[int(op)%len(fuzzCardRequests)]
		path := strings.ReplaceAll(req.path, "{id}", e.cardID)
		var r *http.Request
		if req.method == "GET" {
			r = httptest.NewRequest("GET", "/cards/"+e.cardID, nil)
			r.URL.RawQuery = "include=" + strings.ReplaceAll(string(body), "&", "%26")
		} else {
			r = httptest.NewRequest(req.method, path, bytes.NewReader(body))
			r.Header.Set("Content-Type", ct)
		}
		if traceparent != "" && !strings.ContainsAny(traceparent, "\r\n\x00") {
			r.Header.Set("traceparent", traceparent)
		}
		if pci {
			r.Header.Set("X-Test-PCI", "1")
		}
		r.Header.Set("X-Test-Scopes", "cards:read cards:write network-tokens:write")
		w := httptest.NewRecorder()
		e.h.ServeHTTP(w, r)
		logged := e.log.Bytes()
		defer e.log.Reset()

		if w.Code >= 500 && w.Code != http.StatusServiceUnavailable {
			t.Fatalf("%s %s: status %d: %s", req.method, path, w.Code, w.Body)
		}
		if got := w.Header().Get("Content-Type"); got != jsonapi.MediaType {
			t.Fatalf("%s %s: Content-Type %q", req.method, path, got)
		}
		var doc map[string]any
		if err := json.Unmarshal(w.Body.Bytes(), &doc); err != nil {
			t.Fatalf("%s %s: answer is not JSON: %v", req.method, path, err)
		}
		_, hasErrors := doc["errors"]
		switch {
		case w.Code >= 400 && !hasErrors:
			t.Fatalf("%s %s: %d without errors: %s", req.method, path, w.Code, w.Body)
		case w.Code < 300 && hasErrors:
			t.Fatalf("%s %s: %d with errors: %s", req.method, path, w.Code, w.Body)
		}
		// A network token (a token PAN, Luhn-valid by design) is shown to
		// every client with the scope; it is not card data.
		shown := networkTokenRE.ReplaceAll(w.Body.Bytes(), []byte(`"network_token":"-"`))
		if (w.Code >= 400 || !pci) && pan.Contains(shown) {
			t.Fatalf("%s %s: answer %d (pci %v) holds a card-like number: %s", req.method, path, w.Code, pci, shown)
		}
		if pan.Contains(logged) {
			t.Fatalf("%s %s: the log holds a card-like number: %s", req.method, path, pan.Mask(string(logged)))
		}
	})
}
