package vaultapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aliasgate/aliasgate/auth"
	"github.com/aliasgate/aliasgate/internal/pan"
	"github.com/aliasgate/aliasgate/vault"
	"github.com/aliasgate/aliasgate/vault/memstore"
	"github.com/aliasgate/aliasgate/vaultapi"
)

// allowAll is a Guard that lets every request through as one client with
// every scope, so the fuzzer spends its time on the API's own parsing.
type allowAll struct{}

func (allowAll) Require(_ string, _ bool, _ string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := auth.Principal{ClientID: "ACfuzz", Account: "acct", Scopes: []string{auth.ScopeAliasesWrite, auth.ScopeAliasesReveal}}
		next.ServeHTTP(w, r.WithContext(auth.NewContext(r.Context(), p)))
	})
}

type fuzzAPI struct {
	h     http.Handler
	log   *bytes.Buffer
	alias string // a persistent alias of a known PAN
	close func()
}

func newFuzzAPI(tb testing.TB) *fuzzAPI {
	tb.Helper()
	p := memstore.New(memstore.Options{SweepInterval: -1})
	v := memstore.New(memstore.Options{SweepInterval: -1})
	kr, err := vault.OpenKeyring(context.Background(), p, bytes.Repeat([]byte{5}, 32))
	if err != nil {
		tb.Fatal(err)
	}
	svc, err := vault.New(p, v, kr, vault.Options{Env: "sandbox", VolatileTTL: time.Hour})
	if err != nil {
		tb.Fatal(err)
	}
	toks, err := svc.Redact(context.Background(), []vault.RedactRequest{{Value: card}})
	if err != nil {
		tb.Fatal(err)
	}
	buf := &bytes.Buffer{}
	logger := slog.New(slog.NewJSONHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	return &fuzzAPI{h: vaultapi.New(svc, allowAll{}, logger), log: buf, alias: toks[0].Alias,
		close: func() { p.Close(); v.Close() }}
}

// FuzzVaultAPI sends arbitrary bodies, media types and alias paths and
// queries to the vault API. It never panics and never answers 500; every
// answer is JSON (or an empty 204); an error answer and the log never hold
// a card-like number; a 2xx never carries "errors".
func FuzzVaultAPI(f *testing.F) {
	for _, s := range []struct {
		op   uint8
		ct   string
		body string
		arg  string
	}{
		{0, "application/json", `{"data":[{"value":"4111111111111111","classifiers":["pan"],"format":"FPE_SIX_T_FOUR"},{"value":"123","storage":"VOLATILE"}]}`, ""},
		{0, "application/vnd.api+json", `{"data":[{"alias":"{alias}","format":"PFPT"}]}`, ""},
		{0, "application/json", `{"data":[{"value":"4111111111111111","value":"5555555555554444"}]}`, ""},
		{0, "application/json", `{"data":[{"value":4111111111111111}]}`, ""},
		{0, "application/json", `{"data":[` + strings.Repeat(`{"value":"1"},`, 20) + `{"value":"2"}]}`, ""},
		{0, "application/json", `{"data":[{"value":"` + "\xff\xfe" + `"}]}`, ""},
		{0, "text/plain", `{"data":[]}`, ""},
		{1, "application/json", `{"data":{"classifiers":["a","b"]}}`, "{alias}"},
		{1, "application/json", `{"data":{"classifiers":["4111111111111111"]}}`, "{alias}"},
		{2, "", "", "{alias}"},
		{2, "", "", "4111111111111111"},
		{3, "", "", "{alias},tok_sandbox_nope,4111111111111111"},
		{4, "", "", "{alias}"},
		{0, "application/json", `{"data":[{"value":122105155,"format":"FPE_ACC_NUM_T_FOUR"},{"value":"078-05-1120","format":"FPE_SSN_T_FOUR","classifiers":["credit card"]}]}`, ""},
		{0, "application/json", `{"data":[{"value":"5454545454545454","format":"NON_LUHN_FPE_ALPHANUMERIC"},{"value":"x","format":"CUSTOM"}]}`, ""},
		{3, "", "", "{alias}&storage=VOLATILE"},
		{5, "application/json", `{"data":["{alias}","tok_sandbox_nope"],"storage":"PERSISTENT"}`, ""},
		{5, "application/json", `{"data":["4111111111111111"]}`, ""},
	} {
		f.Add(s.op, s.ct, []byte(s.body), s.arg)
	}
	var e *fuzzAPI
	runs := 0
	f.Cleanup(func() {
		if e != nil {
			e.close()
		}
	})
	f.Fuzz(func(t *testing.T, op uint8, ct string, body []byte, arg string) {
		if e == nil || runs%5000 == 0 {
			if e != nil {
				e.close()
			}
			e = newFuzzAPI(t)
		}
		runs++
		body = bytes.ReplaceAll(body, []byte("{alias}"), []byte(e.alias))
		arg = strings.ReplaceAll(arg, "{alias}", e.alias)
		var r *http.Request
		switch op % 6 {
		case 0:
			r = httptest.NewRequest("POST", "/aliases", bytes.NewReader(body))
		case 1:
			r = httptest.NewRequest("PUT", "/aliases/x", bytes.NewReader(body))
			r.URL.Path = "/aliases/" + arg
		case 2:
			r = httptest.NewRequest("GET", "/aliases/x", nil)
			r.URL.Path = "/aliases/" + arg
		case 3:
			r = httptest.NewRequest("GET", "/aliases", nil)
			r.URL.RawQuery = "q=" + url.QueryEscape(arg)
		case 4:
			r = httptest.NewRequest("DELETE", "/aliases/x", nil)
			r.URL.Path = "/aliases/" + arg
		case 5:
			r = httptest.NewRequest("POST", "/aliases/delete", bytes.NewReader(body))
		}
		if ct != "" {
			r.Header.Set("Content-Type", ct)
		}
		w := httptest.NewRecorder()
		e.h.ServeHTTP(w, r)
		logged := e.log.Bytes()
		defer e.log.Reset()

		if w.Code >= 500 && w.Code != http.StatusServiceUnavailable {
			t.Fatalf("%s %s: status %d: %s", r.Method, r.URL, w.Code, w.Body)
		}
		if w.Code >= 300 && w.Code < 400 {
			return // http.ServeMux cleaning the path (//, /./): a redirect, no API answer
		}
		if w.Code == http.StatusNoContent {
			if w.Body.Len() != 0 {
				t.Fatalf("204 with a body")
			}
			return
		}
		var doc map[string]any
		if err := json.Unmarshal(w.Body.Bytes(), &doc); err != nil {
			t.Fatalf("%s %s: %d answer is not JSON: %v", r.Method, r.URL, w.Code, err)
		}
		_, hasErrors := doc["errors"]
		switch {
		case w.Code >= 400 && !hasErrors:
			t.Fatalf("%s: %d without errors: %s", r.Method, w.Code, w.Body)
		case w.Code < 300 && hasErrors:
			t.Fatalf("%s: %d with errors: %s", r.Method, w.Code, w.Body)
		}
		if w.Code >= 400 && pan.Contains(w.Body.Bytes()) {
			t.Fatalf("%s: error answer %d holds a card-like number", r.Method, w.Code)
		}
		if pan.Contains(logged) {
			t.Fatalf("%s: the log holds a card-like number: %s", r.Method, pan.Mask(string(logged)))
		}
	})
}
